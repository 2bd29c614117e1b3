"""``m2c rebill --contract ID --from YYYY-MM --to YYYY-MM [--as-of VERSION|TIME] [--reason TEXT]``.

Re-settles past periods of one contract against its approved invoices and prints the
adjustment summary: one row per changed period with the delta and its attribution
(meter data, prices/indices, contract amendments, method), the net amount to bill,
and the data versions the whole job read.
"""
from __future__ import annotations

import argparse

from ..settings import Settings
from .output import table
from .submit import add_job_options, print_job, submit_and_follow

CAUSE_HEADERS = (("meter", "METER"), ("market", "PRICES/INDEX"), ("contract", "CONTRACT"),
                 ("method", "METHOD"))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rebill", help="re-settle past periods; adjustments against what was billed",
        description="Re-settle every period in a range with current (or as-of) data and the "
                    "contract versions now in force, compare each with its latest approved "
                    "invoice, publish an adjusting invoice version for each period that "
                    "changed, and print why it changed.")
    p.add_argument("--contract", required=True, metavar="ID", help="contract id")
    p.add_argument("--from", dest="from_period", required=True, metavar="YYYY-MM",
                   help="first billing period")
    p.add_argument("--to", dest="to_period", required=True, metavar="YYYY-MM",
                   help="last billing period (inclusive)")
    p.add_argument("--as-of", dest="as_of", metavar="VERSION|TIME",
                   help="a meter data version (integer; prices and indices as they stood when "
                        "it landed) or an ISO 8601 instant with offset; default: latest data")
    p.add_argument("--reason", metavar="TEXT", help="why (recorded on every adjusting invoice)")
    add_job_options(p)
    p.set_defaults(handler=rebill_command)


def parse_as_of(value: str | None) -> int | str | None:
    """``"7"`` -> 7 (a data version); anything else is passed on as an instant."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else value


def render_rebill(result: dict) -> str:
    summary = result.get("summary") or {}
    changed = [p for p in result.get("periods", []) if p.get("outcome") != "unchanged"]
    out = []
    if changed:
        rows = [("PERIOD", "BILLED", "REBILLED", "DELTA USD", *(h for _, h in CAUSE_HEADERS),
                 "INVOICE")]
        for p in changed:
            att = p.get("attribution_usd") or {}
            rows.append((p["period"], f"{p['billed_usd']} (v{p['billed_version']})", p["rebilled_usd"],
                         p["delta_usd"], *(att.get(c, "0.00") for c, _ in CAUSE_HEADERS),
                         f"v{p['version']} {p['outcome']}"))
        by = summary.get("by_cause_usd") or {}
        rows.append(("NET", summary.get("billed_usd", ""), summary.get("rebilled_usd", ""),
                     summary.get("net_adjustment_usd", ""), *(by.get(c, "0.00") for c, _ in CAUSE_HEADERS),
                     ""))
        out.append(table(rows, right={1, 2, 3, 4, 5, 6, 7}))
    unchanged = summary.get("periods", 0) - summary.get("changed_periods", 0)
    out.append(f"{result.get('contract_id')} {result.get('from_period')}..{result.get('to_period')}: "
               f"{summary.get('changed_periods', 0)} period(s) changed, {unchanged} unchanged; "
               f"net adjustment to bill: USD {summary.get('net_adjustment_usd', '0.00')}")
    dv = result.get("data_versions") or {}
    out.append("read: data versions " + ", ".join(f"{k} {v}" for k, v in sorted(dv.items()))
               + f"; contract versions <= {result.get('contract_version_cap')}")
    if result.get("reason"):
        out.append(f"reason: {result['reason']}")
    return "\n".join(out)


def rebill_command(args: argparse.Namespace, settings: Settings) -> int:
    spec: dict = {"kind": "rebill", "contract": args.contract, "from_period": args.from_period,
                  "to_period": args.to_period}
    if args.as_of is not None:
        spec["as_of"] = parse_as_of(args.as_of)
    if args.reason:
        spec["reason"] = args.reason
    job = submit_and_follow(spec, args, settings)
    return print_job(job, args, render_rebill)
