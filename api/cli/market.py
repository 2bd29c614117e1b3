"""``m2c market``: ISO shadow settlement, statement reconciliation, bid to bill.

* ``m2c market shadow --iso ERCOT --resource R --from DATE --to DATE`` shadow-settles a
  resource over operating days in this process (``--job`` runs it as a
  ``shadow_settlement`` job on Ray instead, partitioned resource x day, and publishes
  the result) and prints the totals per charge type and day, or every line with
  ``--lines``;
* ``m2c market reconcile --statement ID [--version V] [--tolerance USD]`` reconciles a
  stored statement against the shadow settlement line by line: the dispute report
  (each mismatch with its determinants on both sides), totals per charge type, and
  the deltas of this version against the one before it. Exit 0 even with
  mismatches (they are the report), 2 for a bad request;
* ``m2c market statements`` lists the stored statements; ``m2c market rules --iso``
  the rule modules, their operating-date ranges and sources.

``--format table|json|csv|html`` on each.
"""
from __future__ import annotations

import argparse
from datetime import date
from decimal import Decimal, InvalidOperation

from engine.errors import InputError

from ..settings import Settings
from .backend import local_only, open_backend
from .output import add_format, emit, print_json, table

FORMATS = ("table", "json", "csv", "html")


def _date(v: str) -> date:
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {v!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("market", help="ISO shadow settlement and statement reconciliation")
    sub = p.add_subparsers(dest="market_command", required=True)
    s = sub.add_parser("shadow", help="shadow-settle a resource over operating days")
    s.add_argument("--iso", required=True, choices=["ERCOT", "PJM", "CAISO"])
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
    ls = sub.add_parser("statements", help="list stored statements")
    add_format(ls, ("table", "json"))
    ls.set_defaults(handler=statements_command)
    ru = sub.add_parser("rules", help="the rule modules of an ISO")
    ru.add_argument("--iso", required=True, choices=["ERCOT", "PJM", "CAISO"])
    add_format(ru, ("table", "json"))
    ru.set_defaults(handler=rules_command)


def _store(settings: Settings):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(settings.storage_config())


def _tolerance(text: str) -> int:
    try:
        v = Decimal(text)
    except InvalidOperation:
        raise InputError(f"--tolerance: not an amount in USD: {text!r}") from None
    if not v.is_finite() or v < 0:
        raise InputError(f"--tolerance must be >= 0 USD, got {text}")
    return int((v * 10**6).to_integral_value())


def _render(args: argparse.Namespace, doc: dict, title: str, sections: list[tuple[str, list[dict]]],
            csv_rows: list[dict], text) -> None:
    from engine.market.report import html_table, page, to_csv
    if args.format == "csv":
        print(to_csv(csv_rows), end="")
    elif args.format == "html":
        facts = {k: v for k, v in doc.items() if isinstance(v, (str, int)) or v is None}
        print(page(title, [(h, html_table(rows, bad="status")) for h, rows in sections], facts))
    else:
        emit(args, doc, text)


def shadow_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.job or settings.api_url:
        return _shadow_job(args, settings)
    from engine.market.report import shadow_rows
    from engine.market.shadow import totals
    from engine.money import cents_to_str
    from jobs.market import shadow_in_process
    if len(args.resources) != 1:
        raise InputError("name one --resource (or use --job for several)")
    lines, versions = shadow_in_process(_store(settings), args.iso, args.resources[0],
                                        args.from_date, args.to_date)
    rows = shadow_rows(lines)
    daily: dict[tuple[str, str], int] = {}
    for r in lines.select(["operating_date", "charge_type", "amount_cents"]).to_pylist():
        k = (r["operating_date"].isoformat(), r["charge_type"])
        daily[k] = daily.get(k, 0) + r["amount_cents"]
    day_rows = [{"operating_date": d, "charge_type": c, "amount_usd": cents_to_str(v)}
                for (d, c), v in sorted(daily.items())]
    tot = {k: cents_to_str(v) for k, v in totals(lines).items()}
    doc = {"iso": args.iso, "resource_id": args.resources[0], "from_date": args.from_date.isoformat(),
           "to_date": args.to_date.isoformat(), "data_versions": versions.to_dict(),
           "totals_usd": tot, "lines": rows if args.lines else len(rows), "daily": day_rows}

    def text() -> str:
        body = ([["charge", "interval (UTC)", "min", "quantity MWh", "price", "amount USD"]]
                + [[r["charge_type"], r["interval_start_utc"], r["interval_minutes"],
                    r["quantity_mwh"], r["price_usd_per_mwh"], r["amount_usd"]] for r in rows]
                if args.lines else
                [["operating day", "charge", "amount USD"]]
                + [[r["operating_date"], r["charge_type"], r["amount_usd"]] for r in day_rows])
        tail = [["total " + k, v] for k, v in tot.items()]
        return (f"{args.iso} {args.resources[0]} {doc['from_date']}..{doc['to_date']}: "
                f"{len(rows)} lines\n" + table(body, right={len(body[0]) - 1})
                + ("\n\n" + table([["charge", "amount USD"], *tail], right={1}) if tail else ""))
    _render(args, doc, f"Shadow settlement {args.iso} {args.resources[0]}",
            [("Lines" if args.lines else "Daily totals", rows if args.lines else day_rows)],
            rows if args.lines else day_rows, text)
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


@local_only("market reconcile", "it reconciles in this process against this machine's store; "
                              "the API's is GET /v1/market/statements/{id}/reconcile")
def reconcile_command(args: argparse.Namespace, settings: Settings) -> int:
    from engine.market.reconcile import delta_totals, mismatches
    from engine.market.report import delta_rows, reconcile_rows, summary_rows, usd_micro
    from jobs.market import reconcile_statement
    res = reconcile_statement(_store(settings), args.statement, version=args.version,
                              tolerance_microusd=_tolerance(args.tolerance))
    rec = res["reconcile"]
    shown = reconcile_rows(rec if args.all else mismatches(rec))
    summ = summary_rows(res["summary"])
    deltas = delta_rows(res["deltas"]) if res["deltas"] is not None else []
    doc = {"statement_id": res["statement_id"], "iso": res["iso"], "version": res["version"],
           "previous_version": res["previous_version"], "versions": res["versions"],
           "first_day": res["first_day"].isoformat(), "last_day": res["last_day"].isoformat(),
           "resources": res["resources"], "tolerance_usd": usd_micro(res["tolerance_microusd"]),
           "data_versions": res["data_versions"], "totals": summ,
           "mismatches": res["summary"]["total"]["mismatches"],
           "lines": shown, "version_deltas": deltas,
           "version_delta_totals": {k: {c: usd_micro(x) for c, x in v.items()}
                                    for k, v in delta_totals(res["deltas"]).items()}
           if res["deltas"] is not None else {}}

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
    _render(args, doc, f"Statement {doc['statement_id']} version {doc['version']}: dispute report",
            [("Totals by charge type", summ), ("Mismatches" if not args.all else "Lines", shown),
             (f"Changes against {doc['previous_version']}", deltas)], shown, text)
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


@local_only("market rules", "it lists the ISO rule modules installed with this m2c, not the "
                          "server's")
def rules_command(args: argparse.Namespace, settings: Settings) -> int:
    from engine.market.rules import describe
    rows = describe(args.iso)
    if args.format == "json":
        print_json(rows)
        return 0
    print(table([["module", "charge types", "from", "to", "confirmed", "source"]]
                + [[r["module"], ",".join(r["charge_types"]), r["valid_from"] or "", r["valid_to"] or "",
                    "yes" if r["confirmed"] else "no", r["source"]] for r in rows]))
    return 0
