"""``m2c invoices list | show | approve | explain | reproduce``: invoices, versions, audit.

``explain CONTRACT PERIOD LINE_ID`` writes the interval-level rows behind one
invoice line (CSV or Parquet, by the ``--out`` suffix): every interval's quantity,
rate, exact amount in pico-dollars, TOU bucket, VEE quality and contract version.
Their amounts sum exactly to the line's unrounded amount.

``reproduce CONTRACT PERIOD`` re-settles a stored version as of the inputs its
lineage records and compares the bytes: the audit that a re-run as of the same
versions gives the same invoice, whatever landed since. It re-settles in this
process, so it is local-only.

``list``, ``show``, ``approve`` and ``explain`` run through :mod:`api.cli.backend`: on
the local store, or on the API named by ``--api`` (the approval then records the
key that approved).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import ConflictError

from ..settings import Settings
from .backend import local_only, open_backend
from .output import add_format, emit, table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("invoices", help="invoices and their versions")
    sub = p.add_subparsers(dest="invoices_command", required=True)
    ls = sub.add_parser("list", help="invoice versions")
    ls.add_argument("--contract")
    ls.add_argument("--period", metavar="YYYY-MM")
    ls.add_argument("--status", choices=["draft", "estimated", "approved", "superseded"],
                    help="only versions in this status")
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
    """The local invoice store (``reproduce`` only: every other command uses the backend)."""
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
    with open_backend(settings) as be:
        out = be.list_invoices(args.contract, args.period, getattr(args, "status", None))
    rows = [("CONTRACT", "PERIOD", "VERSION", "STATUS", "ADJUSTS", "TOTAL USD")]
    rows += [(o["contract_id"], o["period"], f"v{o['version']}", o["status"],
              f"v{o['adjusts']}" if o["adjusts"] else "", o["total_usd"]) for o in out]
    emit(args, out, table(rows, right={5}) if out else "no invoices")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        if args.format == "html":
            print(be.invoice_html(args.contract_id, args.period, args.version))
            return 0
        doc = be.get_invoice(args.contract_id, args.period, args.version)
    emit(args, doc, lambda: render_invoice(doc))
    return 0


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    """Approve; exit 1 (nothing changes) if the version is already approved: the API
    answers a repeat with the original approval, the command says it did nothing."""
    with open_backend(settings) as be:
        doc, created = be.approve_invoice(args.contract_id, args.period, args.version,
                                          accept_estimated=getattr(args, "accept_estimated", False))
    version = doc["version"]
    if not created:
        a = doc.get("approval") or {}
        raise ConflictError(f"invoice {args.contract_id} {args.period} v{version} is already "
                            f"approved (at {a.get('approved_at_utc', '?')}{_by(a)}); nothing changed")
    accepted = ", estimates accepted" if (doc.get("approval") or {}).get("accepted_estimated") else ""
    emit(args, doc, f"{args.contract_id} {args.period} v{version}: approved (total "
                    f"{doc['total_usd']} USD{accepted})")
    return 0


def _by(approval: dict) -> str:
    who = approval.get("approved_by")
    if isinstance(who, dict):
        name = who.get("key_id") and f"key {who['key_id']} ({who.get('role')})" or who.get("user")
        return f" by {name} via {who.get('source')}" if name else f" via {who.get('source')}"
    return f" by {who}" if who else ""


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    fmt = "parquet" if args.out and Path(args.out).suffix == ".parquet" else "csv"
    with open_backend(settings) as be:
        data, rows = be.explain_line(args.contract_id, args.period, args.version, args.line_id,
                                     fmt)
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"{rows} interval rows of {args.line_id} -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


@local_only("invoices reproduce", "it re-settles the invoice in this process, against this "
                                  "machine's store")
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
