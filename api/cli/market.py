"""``m2c market``: ISO shadow settlement, statement reconciliation, bid to bill.

* ``m2c market shadow --iso ERCOT --resource R --from DATE --to DATE`` shadow-settles a
  resource over operating days and prints the totals per charge type and day, or every
  line with ``--lines``. Locally it runs in this process; with ``--api`` the server
  computes it within the request (``GET /v1/market/shadow``, a quarter at most) and
  the same document comes back. ``--job`` runs a ``shadow_settlement`` job on Ray
  instead (several resources, any range; partitioned resource x day) and publishes
  the result, here or on the server;
* ``m2c market reconcile --statement ID [--version V] [--tolerance USD] [--all]``
  reconciles a stored statement against the shadow settlement line by line: the
  dispute report (each mismatch with its determinants on both sides), totals per
  charge type, and the deltas of this version against the one before it. Exit 0 even
  with mismatches (they are the report), 2 for a bad request;
* ``m2c market chain --site S --period YYYY-MM`` shows the chain of a site-month from
  bid to bill: awards -> metered -> ISO settlement -> PPA invoice, each stage
  reconciled to the next (``engine.market.bidtobill``); ``--intervals`` adds every
  ISO interval (``--format csv`` is them);
* ``m2c market statements`` lists the stored statements; ``m2c market rules --iso``
  the rule modules, their operating-date ranges and sources.

Every command goes through :func:`api.cli.backend.open_backend`: the documents come from
``api.views`` here or from the API's routes (which call the same views), and CSV and
HTML are rendered from them by ``engine.market.report``, so the output is the same
bytes with or without ``--api``. ``--format table|json|csv|html``.
"""
from __future__ import annotations

import argparse
from datetime import date

from engine.errors import InputError

from ..settings import Settings
from .backend import open_backend
from .output import add_format, emit, print_json, table

FORMATS = ("table", "json", "csv", "html")
ISOS = ["ERCOT", "PJM", "CAISO"]


def _date(v: str) -> date:
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {v!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("market", help="ISO shadow settlement, reconciliation, bid to bill")
    sub = p.add_subparsers(dest="market_command", required=True)
    s = sub.add_parser("shadow", help="shadow-settle a resource over operating days")
    s.add_argument("--iso", required=True, choices=ISOS)
    s.add_argument("--resource", required=True, action="append", dest="resources",
                   help="resource id (repeat for several with --job)")
    s.add_argument("--from", dest="from_date", required=True, type=_date, metavar="DATE")
    s.add_argument("--to", dest="to_date", required=True, type=_date, metavar="DATE")
    s.add_argument("--lines", action="store_true", help="every line, not the daily totals")
    s.add_argument("--job", action="store_true",
                   help="run as a shadow_settlement job on Ray and publish the result")
    s.add_argument("--wait", action="store_true", help="with --job: wait for the job")
    s.add_argument("--idempotency-key", metavar="KEY")
    add_format(s, FORMATS)
    s.set_defaults(handler=shadow_command)
    r = sub.add_parser("reconcile", help="a statement against the shadow settlement")
    r.add_argument("--statement", required=True, metavar="ID")
    r.add_argument("--version", default=None, help="statement version (default: the latest)")
    r.add_argument("--tolerance", default="0.01", metavar="USD",
                   help="tolerance per line in USD (default 0.01)")
    r.add_argument("--all", action="store_true", help="every line, not only the mismatches")
    add_format(r, FORMATS)
    r.set_defaults(handler=reconcile_command)
    c = sub.add_parser("chain", help="bid to bill: awards -> metered -> ISO settlement -> "
                                     "PPA invoice of a site-month")
    c.add_argument("--site", required=True, metavar="SITE")
    c.add_argument("--period", required=True, metavar="YYYY-MM")
    c.add_argument("--intervals", action="store_true",
                   help="every ISO settlement interval (always with --format csv)")
    add_format(c, FORMATS)
    c.set_defaults(handler=chain_command)
    ls = sub.add_parser("statements", help="list stored statements")
    add_format(ls, ("table", "json"))
    ls.set_defaults(handler=statements_command)
    ru = sub.add_parser("rules", help="the rule modules of an ISO")
    ru.add_argument("--iso", required=True, choices=ISOS)
    add_format(ru, ("table", "json"))
    ru.set_defaults(handler=rules_command)


def _render(args: argparse.Namespace, doc: dict, csv, html, text) -> None:
    if args.format == "csv":
        print(csv(doc), end="")
    elif args.format == "html":
        print(html(doc))
    else:
        emit(args, doc, text)


def shadow_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.job:
        return _shadow_job(args, settings)
    from engine.market.report import shadow_csv, shadow_html
    if len(args.resources) != 1:
        raise InputError("name one --resource (or use --job for several)")
    if args.to_date < args.from_date:
        raise InputError(f"--to {args.to_date} is before --from {args.from_date}")
    with open_backend(settings) as be:
        doc = be.market_shadow(args.iso, args.resources[0], args.from_date, args.to_date,
                               lines=args.lines)

    def text() -> str:
        rows = doc["lines"]
        body = ([["charge", "interval (UTC)", "min", "quantity MWh", "price", "amount USD"]]
                + [[r["charge_type"], r["interval_start_utc"], r["interval_minutes"],
                    r["quantity_mwh"], r["price_usd_per_mwh"], r["amount_usd"]] for r in rows]
                if args.lines else
                [["operating day", "charge", "amount USD"]]
                + [[r["operating_date"], r["charge_type"], r["amount_usd"]] for r in doc["daily"]])
        count = len(rows) if isinstance(rows, list) else rows
        tail = [["total " + k, v] for k, v in doc["totals_usd"].items()]
        return (f"{doc['iso']} {doc['resource_id']} {doc['from_date']}..{doc['to_date']}: "
                f"{count} lines\n" + table(body, right={len(body[0]) - 1})
                + ("\n\n" + table([["charge", "amount USD"], *tail], right={1}) if tail else ""))
    _render(args, doc, shadow_csv, shadow_html, text)
    return 0


def _shadow_job(args: argparse.Namespace, settings: Settings) -> int:
    from .submit import print_job, submit_and_follow
    spec = {"kind": "shadow_settlement", "iso": args.iso, "resources": args.resources,
            "from_date": args.from_date.isoformat(), "to_date": args.to_date.isoformat()}
    if args.format not in ("table", "json"):
        raise InputError("--job prints the job: use --format table or json, then "
                         "GET /v1/market/shadow/<id>?format=csv for the lines")
    job = submit_and_follow(spec, args, settings)

    def render(result: dict) -> str:
        from engine.money import cents_to_str
        rows = [["charge", "amount USD"]] + [[k, cents_to_str(v)]
                                              for k, v in result.get("totals_cents", {}).items()]
        return f"result {result.get('result_id')}: {result.get('lines')} lines\n" + table(rows, {1})
    return print_job(job, args, render)


def reconcile_command(args: argparse.Namespace, settings: Settings) -> int:
    from engine.market.report import reconcile_csv, reconcile_html
    with open_backend(settings) as be:
        doc = be.market_reconcile(args.statement, version=args.version,
                                  tolerance_usd=args.tolerance, all_lines=args.all)
    summ, shown, deltas = doc["totals"], doc["lines"], doc["version_deltas"]

    def text() -> str:
        out = [f"statement {doc['statement_id']} ({doc['iso']}) version {doc['version']}: "
               f"{doc['mismatches']} mismatch(es) beyond {doc['tolerance_usd']} USD"]
        out.append(table([["charge", "lines", "mismatches", "statement USD", "shadow USD",
                           "difference USD"]]
                         + [[r["charge_type"], r["lines"], r["mismatches"], r["statement_usd"],
                             r["shadow_usd"], r["difference_usd"]] for r in summ],
                         right={1, 2, 3, 4, 5}))
        if shown:
            out.append("")
            out.append(table([["charge", "resource", "interval (UTC)", "status", "statement",
                               "shadow", "diff", "qty st/sh MWh", "price st/sh"]]
                             + [[r["charge_type"], r["resource_id"], r["interval_start_utc"],
                                 r["status"], r["statement_usd"], r["shadow_usd"],
                                 r["difference_usd"],
                                 f"{r['statement_quantity_mwh']}/{r['shadow_quantity_mwh']}",
                                 f"{r['statement_price_usd_per_mwh']}/{r['shadow_price_usd_per_mwh']}"]
                                for r in shown], right={4, 5, 6}))
        if deltas:
            out.append(f"\nchanges against version {doc['previous_version']}:")
            out.append(table([["charge", "resource", "interval (UTC)", "previous", "current",
                               "delta", "price effect", "quantity effect"]]
                             + [[r["charge_type"], r["resource_id"], r["interval_start_utc"],
                                 r["previous_usd"], r["current_usd"], r["delta_usd"],
                                 r["price_effect_usd"], r["quantity_effect_usd"]] for r in deltas],
                             right={3, 4, 5, 6, 7}))
        return "\n".join(out)
    _render(args, doc, reconcile_csv, reconcile_html, text)
    return 0


def _cells(rows: list[dict], cols: list[str]) -> list[list]:
    """The table cells of ``rows``' ``cols``, "-" where a value is absent."""
    return [[r[c] if r[c] is not None else "-" for c in cols] for r in rows]


def chain_command(args: argparse.Namespace, settings: Settings) -> int:
    from engine.market.report import chain_csv, chain_html, chain_invoice_rows, chain_stage_rows
    with open_backend(settings) as be:
        doc = be.market_chain(args.site, args.period,
                              intervals=args.intervals or args.format in ("csv", "html"))

    def text() -> str:
        out = [f"bid to bill {doc['site_id']} {doc['period']} ({doc.get('iso') or 'no ISO'}), "
               f"{doc['window_utc']['start']} .. {doc['window_utc']['end']}"]
        if doc.get("note"):
            out.append(doc["note"])
        stages = chain_stage_rows(doc)
        if stages:
            cols = ["resource_id", "da_position_mwh", "metered_mwh", "physical_at_rt_usd",
                    "position_spread_usd", "shadow_energy_usd", "shadow_exact_intervals",
                    "statement_energy_usd", "statement_intervals_differing"]
            out.append("\nawards -> metered -> ISO settlement (ISO convention: > 0 a charge)")
            out.append(table([["resource", "DA MWh", "metered MWh", "physical@RT", "DA spread",
                               "shadow energy", "exact", "statement energy", "differing"]]
                             + _cells(stages, cols),
                             right=set(range(1, len(cols)))))
        inv = chain_invoice_rows(doc)
        if inv:
            cols = ["contract_id", "line_id", "contract_price", "site_amount_usd",
                    "share_of_iso_revenue_usd", "energy_difference_usd", "price_difference_usd",
                    "rate_rounding_usd", "reconciles"]
            out.append("\nPPA invoice (> 0 the buyer pays) against the ISO")
            out.append(table([["contract", "line", "priced at", "site amount", "share of ISO",
                               "energy diff", "price diff", "rate rounding", "reconciles"]]
                             + _cells(inv, cols),
                             right={3, 4, 5, 6, 7}))
            for r in inv:
                if r["reasons"]:
                    out.append(f"  {r['contract_id']} {r['line_id']}: {r['reasons']}")
        s = doc["summary"]
        out.append(f"\nmarket revenue {s['market_revenue_usd']} USD; pass-through lines "
                   f"{s['pass_through_usd']} USD")
        return "\n".join(out)
    _render(args, doc, chain_csv, chain_html, text)
    return 0


def statements_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        rows = be.market_statements()
    emit(args, rows, lambda: table([["statement", "iso", "first day", "last day", "versions",
                                     "rows"]] + [[r["statement_id"], r["iso"], r["first_day"],
                                                  r["last_day"], ",".join(r["versions"]),
                                                  r["rows"]] for r in rows], right={5})
         if rows else "no statements stored")
    return 0


def rules_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        rows = be.market_rules(args.iso)
    if args.format == "json":
        print_json(rows)
        return 0
    print(table([["module", "charge types", "from", "to", "confirmed", "source"]]
                + [[r["module"], ",".join(r["charge_types"]), r["valid_from"] or "", r["valid_to"] or "",
                    "yes" if r["confirmed"] else "no", r["source"]] for r in rows]))
    return 0
