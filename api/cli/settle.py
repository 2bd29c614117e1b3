"""``m2c settle (--period YYYY-MM | --from YYYY-MM --to YYYY-MM) [--contract ID ...] [--wait]``:
month-end settlement, a backfill of consecutive months (one job, each month its own
invoices), or with ``--check`` the readiness of the period(s) without running a job
(``jobs.readiness``: exit 0 ready, 2 not ready).

A period whose meter data is beyond its completeness limits fails the job with the
list of what is short; ``--allow-incomplete`` publishes it as ``estimated`` invoices
instead (``engine.completeness``).
"""
from __future__ import annotations

import argparse

from engine.errors import InputError

from ..settings import Settings
from .output import data_versions_text, emit, table
from .submit import add_job_options, print_job, submit_and_follow


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("settle", help="month-end settlement of a billing period",
                              description="Settle every contract active in a billing period "
                                          "(or the ones named) and publish draft invoices.")
    p.add_argument("--period", metavar="YYYY-MM", help="billing period (contract-local month)")
    p.add_argument("--from", dest="from_period", metavar="YYYY-MM",
                   help="first period of a backfill (with --to): each month its own invoices")
    p.add_argument("--to", dest="to_period", metavar="YYYY-MM", help="last period of a backfill")
    p.add_argument("--contract", action="append", dest="contracts", metavar="ID",
                   help="settle only this contract (repeatable)")
    p.add_argument("--check", action="store_true",
                   help="report readiness (meter completeness per site and channel, prices, "
                        "indices) without settling; exit 0 if ready, 2 if not")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="publish periods beyond their meter completeness limits as 'estimated' "
                        "invoices instead of failing")
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
        text += "\ndata versions: " + data_versions_text(dv)
    return text


def render_readiness(doc: dict) -> str:
    """The readiness document (``jobs.readiness``) as a table and notes."""
    rows = [("CONTRACT", "PERIOD", "SITE", "CHANNEL", "INTERVALS", "ACTUAL", "ESTIMATED", "MISSING",
             "MAX EST/MISS %", "")]
    notes = []
    for e in doc["contracts"]:
        if e["status"] == "approved":
            rows.append((e["contract_id"], e["period"], "", "", "", "", "", "", "",
                         f"approved (v{e['approved_version']})"))
            continue
        for s in e["sites"]:
            if "site" in s:
                short = {x["channel"] for x in s["shortfalls"]}
                limits = f"{s['limits']['max_estimated_pct']}/{s['limits']['max_missing_pct']}"
                counts = [("(site)", s["site"], None)] + [(n, c, n) for n, c in s["channels"].items()]
                rows += [(e["contract_id"], e["period"], s["site_id"], name, c["intervals_expected"],
                          c["actual"], c["estimated"], c["missing"], limits,
                          "SHORT" if key in short else "ok") for name, c, key in counts]
            notes += [f"{e['contract_id']} {e['period']} {s['site_id']}: {m}"
                      for m in s["problems"] + s["market"]]
    out = [table(rows, right={4, 5, 6, 7}), *notes, *doc.get("problems", [])]
    if doc["ready"]:
        out.append(f"ready: {len(doc['contracts'])} contract-period(s); data versions "
                   + ", ".join(f"{k} {v}" for k, v in sorted(doc["data_versions"].items())))
    else:
        bad = sum(e["status"] not in ("ready", "approved") for e in doc["contracts"])
        out.append(f"NOT READY: {bad} of {len(doc['contracts'])} contract-period(s) short of meter "
                   f"or market data (--allow-incomplete publishes meter shortfalls as 'estimated' "
                   f"invoices)")
    return "\n".join(out)


def _periods(args: argparse.Namespace) -> dict:
    ranged = (args.from_period, args.to_period)
    if args.period and any(ranged):
        raise InputError("give --period, or --from and --to, not both")
    if args.period:
        return {"period": args.period}
    if not all(ranged):
        raise InputError("give --period YYYY-MM, or --from YYYY-MM and --to YYYY-MM")
    return {"from_period": args.from_period, "to_period": args.to_period}


def settle_command(args: argparse.Namespace, settings: Settings) -> int:
    spec = {"kind": "settlement", **_periods(args)}
    if args.contracts:
        spec["contracts"] = args.contracts
    if args.check:
        return check_command(spec, args, settings)
    if args.allow_incomplete:
        spec["allow_incomplete"] = True
    job = submit_and_follow(spec, args, settings)
    return print_job(job, args, render_settlement)


def check_command(spec: dict, args: argparse.Namespace, settings: Settings) -> int:
    """``--check``: readiness of the spec's periods (validated as the job would be);
    nothing runs on Ray and nothing is written."""
    from jobs.readiness import readiness
    from jobs.specs import parse_spec
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

    parsed = parse_spec(spec, source="m2c settle")
    if settings.api_url:
        doc = _remote_readiness(parsed.periods, parsed.contracts, settings)
    else:
        store = ObjectStore.from_config(settings.storage_config())
        doc = readiness(store, Tables(store), parsed.periods, contracts=parsed.contracts)
    emit(args, doc, lambda: render_readiness(doc))
    return 0 if doc["ready"] else 2


def _remote_readiness(periods: list[str], contracts: list[str] | None, settings: Settings) -> dict:
    """``GET /v1/settlements/{period}/readiness`` per period, merged into one document."""
    from ..client import ApiClient
    params = {"contract": contracts} if contracts else None
    with ApiClient(settings.api_url, settings.api_key) as client:
        docs = [client._request("GET", f"/v1/settlements/{p}/readiness", params=params).json()
                for p in periods]
    return {"ready": all(d["ready"] for d in docs), "periods": periods,
            "data_versions": docs[-1]["data_versions"],
            "contracts": [e for d in docs for e in d["contracts"]],
            "problems": sorted({m for d in docs for m in d.get("problems", [])})}
