"""``m2c settle --period YYYY-MM [--contract ID ...] [--wait]``: month-end settlement."""
from __future__ import annotations

import argparse

from ..settings import Settings
from .output import table
from .submit import add_job_options, print_job, submit_and_follow


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("settle", help="month-end settlement of a billing period",
                              description="Settle every contract active in a billing period "
                                          "(or the ones named) and publish draft invoices.")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="billing period (contract-local month)")
    p.add_argument("--contract", action="append", dest="contracts", metavar="ID",
                   help="settle only this contract (repeatable)")
    add_job_options(p)
    p.set_defaults(handler=settle_command)


def render_settlement(result: dict) -> str:
    rows = [("CONTRACT", "PERIOD", "VERSION", "STATUS", "OUTCOME", "TOTAL USD")]
    for inv in result.get("invoices", []):
        rows.append((inv["contract_id"], inv["period"], f"v{inv['version']}", inv.get("status") or "",
                     inv.get("outcome") or "", inv["total_usd"]))
    if len(rows) == 1:
        return "no contract to settle in this period"
    dv = result.get("data_versions") or {}
    text = table(rows, right={5})
    if dv:
        text += "\ndata versions: " + ", ".join(f"{k} {v}" for k, v in sorted(dv.items()))
    return text


def settle_command(args: argparse.Namespace, settings: Settings) -> int:
    spec = {"kind": "settlement", "period": args.period}
    if args.contracts:
        spec["contracts"] = args.contracts
    job = submit_and_follow(spec, args, settings)
    return print_job(job, args, render_settlement)
