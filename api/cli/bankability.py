"""``m2c bankability schema | run FILE.yaml [--paths N] [--seed S] [--wait] | show ID``.

``run`` validates the model document (exit 2 naming the file and the field: a negative
cost, a DSCR target <= 0, sigma < 0, more paths than ``M2C_BANKABILITY_MAX_PATHS``, ...)
and submits a ``bankability`` job; the references to stored data (contracts, channels,
the horizon against the contract terms) are checked when the job plans, before any
work. ``show`` prints a published result: a table (debt sizing, distributions,
probabilities, the P50 cash flows), the summary as JSON, the P50 cash flows or every
path as CSV (``--part``), or the printable HTML report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.errors import ValidationError

from ..settings import Settings
from .backend import open_backend
from .output import add_format, print_json, table
from .submit import add_job_options, print_job, submit_and_follow


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bankability", help="bankability runs: P50/P90/P99, DSCR, debt, IRR, NPV, LCOE",
                              description="Cash flows of a project over its contracts' terms, over "
                                          "thousands of stochastic paths, with revenue from the contract "
                                          "engine; debt sized as lenders do.")
    sub = p.add_subparsers(dest="bankability_command", required=True)
    sc = sub.add_parser("schema", help="the model document's JSON Schema (draft 2020-12)")
    sc.set_defaults(handler=cmd_schema)
    run = sub.add_parser("run", help="validate a model document and run it as a job")
    run.add_argument("file", metavar="FILE.yaml", help="the model document (YAML or JSON)")
    run.add_argument("--paths", type=int, metavar="N", help="number of paths (overrides the document)")
    run.add_argument("--seed", type=int, metavar="S", help="random seed (overrides the document)")
    add_job_options(run)
    run.set_defaults(handler=cmd_run)
    show = sub.add_parser("show", help="a published result")
    show.add_argument("result_id", metavar="ID", help="the result id (the job id)")
    add_format(show, ("table", "json", "csv", "html"))
    show.add_argument("--part", choices=("cashflow", "paths"), default="cashflow",
                      help="with --format csv: the P50 cash flows (default) or one row per path")
    show.set_defaults(handler=cmd_show)


def load_document(path: Path) -> Any:
    """A model document from a file, through the one strict YAML reader
    (``storage.readers.yaml_doc``: no aliases, no duplicate keys, UTF-8, size cap); JSON
    is YAML too."""
    from storage.readers.yaml_doc import read_yaml_file
    return read_yaml_file(path, what="bankability model")


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        print_json(be.bankability_schema())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.finance.model import parse_model
    path = Path(args.file)
    doc = load_document(path)
    try:
        parse_model(doc, str(path), max_paths=settings.bankability_max_paths, paths=args.paths, seed=args.seed)
    except ValidationError as exc:
        raise doc.locate(exc) from None          # the same error, with the field's line
    spec: dict[str, Any] = {"kind": "bankability", "model": dict(doc)}
    if args.paths is not None:
        spec["paths"] = args.paths
    if args.seed is not None:
        spec["seed"] = args.seed
    job = submit_and_follow(spec, args, settings)
    return print_job(job, args, render_job_result)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _num(x: float | None, places: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{places}f}"


def render_job_result(result: dict) -> str:
    irr, dscr = result.get("equity_irr_aftertax") or {}, result.get("min_dscr") or {}
    lines = [f"debt USD {_num(result.get('debt_usd'), 0)} (binding case {result.get('binding_case')}); "
             f"{result.get('paths')} paths, seed {result.get('seed')}",
             table([("", "P10", "P50", "P90", "P99", "mean"),
                    ("equity IRR after tax", *(_pct(irr.get(k)) for k in ("P10", "P50", "P90", "P99", "mean"))),
                    ("minimum DSCR", *(_num(dscr.get(k)) for k in ("P10", "P50", "P90", "P99", "mean")))],
                   right={1, 2, 3, 4, 5}),
             "probabilities: " + ", ".join(f"{k.replace('_', ' ')} {_pct(v)}"
                                           for k, v in sorted((result.get("probabilities") or {}).items())),
             f"m2c bankability show {result.get('result_id')}"]
    return "\n".join(lines)


_ROWS = (("equity_irr_aftertax", "equity IRR after tax", _pct),
         ("equity_irr_pretax", "equity IRR before tax", _pct),
         ("project_irr_aftertax", "project IRR after tax", _pct),
         ("project_irr_pretax", "project IRR before tax", _pct),
         ("npv_aftertax_usd", "NPV after tax (USD)", lambda x: _num(x, 0)), ("min_dscr", "minimum DSCR", _num),
         ("avg_dscr", "average DSCR", _num), ("min_dscr_year", "year of the minimum DSCR", lambda x: _num(x, 0)),
         ("llcr", "LLCR", _num), ("lcoe_nominal_usd_per_mwh", "LCOE nominal (USD/MWh)", _num),
         ("lcoe_real_usd_per_mwh", "LCOE real (USD/MWh)", _num),
         ("lppa_nominal_usd_per_mwh", "levelized PPA price (USD/MWh)", _num),
         ("energy_mwh_mean", "energy per year (MWh)", lambda x: _num(x, 0)),
         ("supportable_debt_usd", "debt each path supports (USD)", lambda x: _num(x, 0)))


def render_summary(s: dict) -> str:
    debt, d = s["debt"], s["distributions"]
    out = [f"{s.get('name') or 'bankability'}: {', '.join(s['project']['contracts'])}; COD {s['project']['cod']}, "
           f"{s['project']['horizon_years']} years; {s['project']['paths']} paths, seed {s['project']['seed']}"]
    sizes = ", ".join(f"{c['case']} at {c['dscr']:.2f}x: {_num(debt['case_sizes_usd'].get(c['case']), 0)}"
                      for c in debt["cases"])
    out.append(f"debt USD {_num(debt['size_usd'], 0)} ({debt['binding_case'] or debt['sizing']} binds"
               f"{'; capped by gearing' if debt['capped_by_gearing'] else ''}; {sizes}); "
               f"{_pct(debt['debt_fraction'])} of USD {_num(debt['total_capital_cost_usd'], 0)}; "
               f"{debt['tenor_years']} years at {_pct(debt['rate'])}")
    rows = [("", "P10", "P50", "P90", "P99", "mean", "undefined")]
    for name, label, fmt in _ROWS:
        if name in d:
            x = d[name]
            rows.append((label, *(fmt(x.get(k)) for k in ("P10", "P50", "P90", "P99", "mean")), str(x["undefined"])))
    out.append(table(rows, right={1, 2, 3, 4, 5, 6}))
    out.append("probabilities: " + ", ".join(f"{k.replace('_', ' ')} {_pct(v)}"
                                             for k, v in sorted(s["probabilities"].items())))
    cf = [("year", "revenue", "opex", "fuel", "CFADS", "debt service", "tax", "equity", "DSCR")]
    for r in s["p50_cashflow"]:
        cf.append((str(r["year"]), *(_num(r[c] / 100, 0) for c in ("revenue_cents", "opex_cents", "fuel_cents",
                                                                    "cfads_cents")),
                   _num((r["interest_cents"] + r["principal_cents"]) / 100, 0), _num(r["tax_cents"] / 100, 0),
                   _num(r["equity_cash_flow_cents"] / 100, 0), _num(r["dscr"])))
    out.append("P50 cash flows (USD; revenue = the contract engine's invoice totals):")
    out.append(table(cf, right=set(range(1, 9))))
    return "\n".join(out)


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format if args.format in ("json", "html", "csv") else "json"
    with open_backend(settings) as be:
        got = be.bankability_result(args.result_id, fmt, args.part)
    if isinstance(got, str):                        # the report or a CSV, as published
        sys.stdout.write(got)
    elif args.format == "json":
        print_json(got)
    else:
        print(render_summary(got))
    return 0
