"""``m2c scenarios schema | run FILE.yaml [--wait] | list | show ID``: what-if scenarios.

``run`` reads the scenario document (YAML or JSON, through the one YAML reader),
checks it (the schema, every op's parameters, a battery's feasibility, the variant
limit: exit 2 naming the variant and field, before anything runs), ingests each
``price_curve`` ``file:`` as its own version of the prices table (iso ``CURVE``, node
= the curve's name), and submits the ``scenario`` job, which is checked against the
store before it is recorded (every contract, term, site, channel, index and curve it
names: exit 2, or 422 from the API) and, with ``--wait`` (always when it runs in this
process), followed. ``show`` prints a result: per-variant totals (``table``), the
summary document (``json``), the result table (``csv``: variant x contract x period x
line) or the printable report (``html``). Every command goes where the backend says
(``api.cli.backend``): with ``m2c --api URL``, the API (``POST /v1/jobs``, ``POST
/v1/ingest/prices`` for a curve, ``GET /v1/scenarios``), else this machine.
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import sys
import tempfile
from pathlib import Path

from engine.errors import ValidationError

from ..settings import Settings
from .backend import open_backend
from .output import add_format, emit, print_json, table
from .submit import add_job_options, print_job, submit_and_follow

#: the largest scenario document read
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scenarios", help="what-if scenarios: variants re-settled by the billing engine")
    sub = p.add_subparsers(dest="scenarios_command", required=True)
    sc = sub.add_parser("schema", help="print the scenario document's JSON Schema")
    sc.set_defaults(handler=cmd_schema)
    run = sub.add_parser("run", help="check a scenario document and run it")
    run.add_argument("file", metavar="FILE.yaml", help="the scenario document (YAML or JSON)")
    add_job_options(run)
    run.set_defaults(handler=cmd_run)
    ls = sub.add_parser("list", help="stored scenario results")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one scenario result")
    show.add_argument("result_id", metavar="ID", help="the result id (the job id)")
    add_format(show, ("table", "json", "csv", "html"))
    show.set_defaults(handler=cmd_show)


# ---------------------------------------------------------------- the document
def read_document(path: Path) -> dict:
    """The scenario document of ``path`` (YAML or JSON), through the one YAML reader
    (``storage.readers.yaml_doc``: UTF-8, no aliases, no key twice, plain data), at
    most ``MAX_DOCUMENT_BYTES``."""
    from storage.readers.yaml_doc import read_yaml_file
    return dict(read_yaml_file(path, max_bytes=MAX_DOCUMENT_BYTES, what="scenario document"))


def _curve_files(doc: dict, base_dir: Path) -> list[tuple[str, Path, str]]:
    """(curve name, file, field path) of every ``price_curve`` with a ``file:``."""
    out = []
    groups = [(f"variants[{i}]", v.get("transforms") or []) for i, v in enumerate(doc.get("variants") or [])]
    if isinstance(doc.get("sweep"), dict):
        groups.append(("sweep", doc["sweep"].get("transforms") or []))
    for where, transforms in groups:
        for j, t in enumerate(transforms):
            if isinstance(t, dict) and t.get("op") == "price_curve" and t.get("file"):
                out.append((str(t.get("curve")), (base_dir / str(t["file"])).resolve(),
                            f"{where}.transforms[{j}].file"))
    return out


def _without_files(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for v in (doc.get("variants") or []) + ([doc["sweep"]] if isinstance(doc.get("sweep"), dict) else []):
        for t in v.get("transforms") or []:
            if isinstance(t, dict) and t.get("op") == "price_curve":
                t.pop("file", None)
    return doc


def curve_file(name: str, path: Path, where: str, out_dir: Path) -> Path:
    """A price curve file as a prices file under iso ``CURVE``, node ``name``: its
    ``interval_start``, ``interval_minutes`` and ``lmp_usd_per_mwh`` columns (others
    ignored), written to ``out_dir`` for the prices ingest (validation, idempotency by
    content, one table version)."""
    from engine.scenario.prices import CURVE_ISO, CURVE_RUN
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read curve file {path}: {exc}", field=where) from None
    rows = list(csv.DictReader(io.StringIO(text)))
    need = ("interval_start", "interval_minutes", "lmp_usd_per_mwh")
    if not rows or any(k not in rows[0] for k in need):
        raise ValidationError(f"a curve file has the columns {', '.join(need)}", file=str(path), field=where)
    out = out_dir / f"curve-{name}.csv"
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(("iso", "node", "market_run", *need))
        for r in rows:
            w.writerow((CURVE_ISO, name, CURVE_RUN, *(r[k] for k in need)))
    return out


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        print_json(be.scenario_schema())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.scenario import parse_scenario
    path = Path(args.file)
    doc = read_document(path)
    parse_scenario(_without_files(doc), source=str(path))
    curves = _curve_files(doc, path.parent)
    if curves:
        with open_backend(settings) as be, tempfile.TemporaryDirectory(prefix="m2c-curve-") as tmp:
            for name, file, where in curves:
                report = be.ingest("prices", [curve_file(name, file, where, Path(tmp))], None)
                print(f"curve {name}: {file.name} in prices version {report.get('version')}", file=sys.stderr)
    job = submit_and_follow({"kind": "scenario", "document": _without_files(doc)}, args, settings)
    return print_job(job, args, render_job_result)


def render_job_result(result: dict) -> str:
    lines = [f"scenario {result.get('scenario')}: {result.get('variants')} variants, "
             f"{result.get('failed')} failed; result {result.get('result_id')}",
             f"base total {result.get('base_total_usd')} USD"]
    stats = result.get("total_usd") or {}
    if stats:
        lines.append("totals: " + ", ".join(f"{k[:-4]} {v}" for k, v in stats.items()))
    for r in result.get("largest") or []:
        lines.append(f"  {r['variant']}: {r['total_usd']} ({r['delta_usd']:>})")
    lines.append(f"m2c scenarios show {result.get('result_id')} --format html > report.html")
    return "\n".join(lines)


# ---------------------------------------------------------------- results
def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        data = be.list_scenarios()

    def text() -> str:
        rows = [("ID", "SCENARIO", "VARIANTS", "FAILED", "BASE TOTAL USD")]
        rows += [(r["result_id"], r["scenario"], r["variants"], r["failed"], r["base_total_usd"])
                 for r in data]
        return table(rows, right={2, 3, 4}) if len(rows) > 1 else "no scenario results"
    emit(args, data, text)
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format
    with open_backend(settings) as be:
        body = be.scenario_result(args.result_id, "json" if fmt == "table" else fmt)
    if fmt in ("csv", "html"):
        sys.stdout.write(body if isinstance(body, str) else str(body))
        return 0
    doc = body if isinstance(body, dict) else json.loads(body)
    emit(args, doc, lambda: render_summary(doc))
    return 0


def render_summary(doc: dict) -> str:
    head = [f"scenario {doc['scenario']}: {doc['variants']} variants ({doc['failed']} failed), "
            f"{doc['periods'][0]}..{doc['periods'][-1]}, {len(doc['contracts'])} contracts" if doc["periods"]
            else f"scenario {doc['scenario']}"]
    rows = [("VARIANT", "STATUS", "TOTAL USD", "DELTA USD")]
    rows += [(v["variant"], v["status"], v["total_usd"] if v["status"] == "ok" else "",
              v["delta_usd"] if v["status"] == "ok" else "") for v in doc["variant_totals"]]
    out = "\n".join(head) + "\n" + table(rows, right={2, 3})
    if doc["failures"]:
        out += "\nfailed:\n" + "\n".join(f"  {f['variant']}: {f['reason']}" for f in doc["failures"])
    return out
