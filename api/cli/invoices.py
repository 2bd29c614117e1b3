"""``m2c invoices list | show | approve | explain | reproduce``: invoices, versions, audit.

``explain CONTRACT PERIOD LINE_ID`` writes the interval-level rows behind one
invoice line (CSV or Parquet, by the ``--out`` suffix): every interval's quantity,
rate, exact amount in pico-dollars, TOU bucket, VEE quality and contract version.
Their amounts sum exactly to the line's unrounded amount.

``reproduce CONTRACT PERIOD`` re-settles a stored version as of the inputs its
lineage records and compares the bytes: the audit that a re-run as of the same
versions gives the same invoice, whatever landed since.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError, NotFoundError

from ..settings import Settings
from .output import add_format, emit, table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("invoices", help="invoices and their versions")
    sub = p.add_subparsers(dest="invoices_command", required=True)
    ls = sub.add_parser("list", help="invoice versions")
    ls.add_argument("--contract")
    ls.add_argument("--period", metavar="YYYY-MM")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one invoice (latest version or --version N)")
    _target(show)
    add_format(show, ("table", "json", "html"))
    show.set_defaults(handler=cmd_show)
    ap = sub.add_parser("approve", help="approve the latest draft (approved invoices are immutable)")
    _target(ap)
    ap.add_argument("--accept-estimated", action="store_true",
                    help="approve an 'estimated' invoice (meter data beyond its completeness "
                         "limits); the approval records it")
    add_format(ap)
    ap.set_defaults(handler=cmd_approve)
    ex = sub.add_parser("explain", help="interval-level rows behind one invoice line")
    _target(ex)
    ex.add_argument("line_id", metavar="LINE_ID")
    ex.add_argument("--out", metavar="FILE.csv|FILE.parquet",
                    help="write here (default: CSV on stdout)")
    ex.set_defaults(handler=cmd_explain)
    rp = sub.add_parser("reproduce", help="re-settle a version as of its recorded inputs and "
                                          "compare the bytes (exit 0 identical, 1 different)")
    _target(rp)
    add_format(rp)
    rp.set_defaults(handler=cmd_reproduce)


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("contract_id", metavar="CONTRACT")
    p.add_argument("period", metavar="PERIOD")
    p.add_argument("--version", type=int, help="invoice version (default: latest)")


def _invoices(settings: Settings):
    from storage.invoices import InvoiceStore
    from storage.objectstore import ObjectStore
    return InvoiceStore(ObjectStore.from_config(settings.storage_config()))


def render_invoice(doc: dict) -> str:
    head = [f"{doc['contract_id']}  {doc['period']} ({doc['timezone']})  version {doc['version']}  "
            f"{doc['status']}" + (f"  adjusts v{doc['adjusts']}" if doc.get("adjusts") else ""),
            f"seller {doc['parties']['seller']}  ->  buyer {doc['parties']['buyer']}", ""]
    rows = [("LINE", "QUANTITY", "UNIT", "RATE", "RATE UNIT", "AMOUNT USD")]
    rows += [(ln["line_id"], ln["quantity"], ln["quantity_unit"], ln["rate"], ln["rate_unit"],
              ln["amount_usd"]) for ln in doc["lines"]]
    rows.append(("TOTAL", "", "", "", "", doc["total_usd"]))
    adj = doc.get("adjustment")
    if adj:
        rows.append(("", "", "", "", "", ""))
        rows.append((f"ADJUSTMENT of v{adj['replaces_version']}", "", "", "", "billed", adj["billed_total_usd"]))
        rows += [(f"  {d['line_id']}", d["quantity_delta"], d["quantity_unit"], "", "delta",
                  d["amount_delta_usd"]) for d in adj["delta_lines"]]
        rows += [(f"  cause: {c}", "", "", "", "", v) for c, v in adj["attribution_usd"].items()]
        rows.append(("NET ADJUSTMENT", "", "", "", "", adj["delta_usd"]))
    lin, vee = doc["lineage"], doc["vee"]
    tail = ["", "data versions: " + ", ".join(f"{k} {v}" for k, v in sorted(lin["data_versions"].items()))
            + f"; contract v{doc['contract_version']} sha256 {lin['contract_sha256'][:12]}; run {lin['run_id']}",
            f"VEE: {vee['intervals_expected']} intervals expected, {vee['actual']} actual, "
            f"{vee['estimated']} estimated, {vee['missing']} missing"]
    for short in (doc.get("completeness") or {}).get("shortfalls", []):     # an estimated invoice
        tail.append(f"ESTIMATED beyond the completeness limits: site {short['site_id']} "
                    f"{short.get('channel') or '(all channels read)'}: {short['estimated']} estimated "
                    f"({short['estimated_pct']} %, max {short['max_estimated_pct']} %), "
                    f"{short['missing']} missing ({short['missing_pct']} %, max {short['max_missing_pct']} %)")
    return "\n".join(head) + "\n" + table(rows, right={1, 3, 5}) + "\n" + "\n".join(tail)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    inv = _invoices(settings)
    out = []
    for cid, period, version in inv.list(contract_id=args.contract, period=args.period):
        doc, _ = inv.get(cid, period, version)
        out.append({"contract_id": cid, "period": period, "version": version,
                    "status": doc["status"], "total_usd": doc["total_usd"], "adjusts": doc.get("adjusts"),
                    "superseded_by": doc.get("superseded_by")})
    rows = [("CONTRACT", "PERIOD", "VERSION", "STATUS", "ADJUSTS", "TOTAL USD")]
    rows += [(o["contract_id"], o["period"], f"v{o['version']}", o["status"],
              f"v{o['adjusts']}" if o["adjusts"] else "", o["total_usd"]) for o in out]
    emit(args, out, table(rows, right={5}) if out else "no invoices")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    if settings.api_url:
        from ..client import ApiClient
        with ApiClient(settings.api_url, settings.api_key) as client:
            if args.format == "html":
                print(client.get_invoice(args.contract_id, args.period, args.version, fmt="html"))
                return 0
            doc = client.get_invoice(args.contract_id, args.period, args.version)
            html = None
    else:
        doc, html = _invoices(settings).get(args.contract_id, args.period, args.version)
    if args.format == "html":
        print(html)
    else:
        emit(args, doc, lambda: render_invoice(doc))
    return 0


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    inv = _invoices(settings)
    version = inv.approve(args.contract_id, args.period, version=args.version,
                          now_utc=datetime.now(timezone.utc), accept_estimated=args.accept_estimated)
    doc, _ = inv.get(args.contract_id, args.period, version)
    accepted = ", estimates accepted" if doc["approval"].get("accepted_estimated") else ""
    emit(args, doc, f"{args.contract_id} {args.period} v{version}: approved (total "
                    f"{doc['total_usd']} USD{accepted})")
    return 0


def explain_rows(doc: dict, detail: pa.Table, line_id: str) -> pa.Table:
    """The detail rows behind ``line_id`` (``<line>`` or ``<line>@v<N>``)."""
    known = [ln["line_id"] for ln in doc["lines"]]
    if line_id not in known:
        raise NotFoundError(f"invoice {doc['contract_id']} {doc['period']} v{doc['version']} has no "
                            f"line {line_id!r}; lines: {', '.join(known)}")
    base, _, ver = line_id.partition("@v")
    mask = pc.equal(detail.column("line_id"), base)
    if ver:
        mask = pc.and_(mask, pc.equal(detail.column("contract_version"), int(ver)))
    rows = detail.filter(mask)
    if rows.num_rows == 0:
        raise InputError(f"line {line_id} is a period-level charge (no interval rows); its "
                         f"determinants are in the line itself")
    return rows


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    inv = _invoices(settings)
    doc, _ = inv.get(args.contract_id, args.period, args.version)
    rows = explain_rows(doc, inv.detail(args.contract_id, args.period, doc["version"]), args.line_id)
    if args.out and Path(args.out).suffix == ".parquet":
        pq.write_table(rows, args.out)
    elif args.out:
        pacsv.write_csv(rows, args.out)
    else:
        pacsv.write_csv(rows, sys.stdout.buffer)
    if args.out:
        print(f"{rows.num_rows} interval rows of {args.line_id} -> {args.out}", file=sys.stderr)
    return 0


def cmd_reproduce(args: argparse.Namespace, settings: Settings) -> int:
    """Audit: the stored invoice bytes against a re-settlement as of the data versions,
    contract version and code recorded in its lineage."""
    import hashlib

    from jobs.rebill import reproduce_invoice
    from storage.tables import Tables
    inv = _invoices(settings)
    doc, _ = inv.get(args.contract_id, args.period, args.version)
    stored = inv.raw_json(args.contract_id, args.period, doc["version"])
    again = reproduce_invoice(inv.store, Tables(inv.store), args.contract_id, args.period, doc["version"])
    same = stored == again
    out = {"contract_id": args.contract_id, "period": args.period, "version": doc["version"],
           "identical": same, "stored_sha256": hashlib.sha256(stored).hexdigest(),
           "reproduced_sha256": hashlib.sha256(again).hexdigest(),
           "data_versions": doc["lineage"]["data_versions"]}
    dv = ", ".join(f"{k} {v}" for k, v in sorted(out["data_versions"].items()))
    verdict = "identical bytes" if same else "DIFFERENT bytes"
    emit(args, out, f"{args.contract_id} {args.period} v{doc['version']} re-settled as of {dv}: "
                    f"{verdict} (sha256 {out['reproduced_sha256'][:16]})")
    return 0 if same else 1
