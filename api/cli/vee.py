"""``m2c vee SITE --period YYYY-MM``: the validation and estimation report of one site-month.

Reads the site's deduped meter rows of the local month, plus ``--history-days``
(default 7) local days before it for like-day estimation, through
``storage.tables`` (as of the current data version, or ``--as-of N``), runs
``engine.vee.run_vee`` with NERC holidays as like-day Sundays, and prints the
report (``--format table``, the default, or one JSON document with ``json``).
VEE never writes: the stored rows stay exactly as ingested.
"""
from __future__ import annotations

import argparse
import json
from datetime import date, timedelta

from engine.calendar import nerc_holidays
from engine.errors import InputError, UnknownReferenceError
from engine.sites import Site
from engine.timebase import local_midnight_us, local_month_bounds_us, parse_period
from engine.vee import VeeConfig, VeeResult, format_report, report, run_vee

from ..settings import Settings

DEFAULT_HISTORY_DAYS = 7


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vee", help="validation and estimation report for one site-month")
    p.add_argument("site", metavar="SITE", help="site_id from the site registry")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="site-local month")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--as-of", type=int, default=None, metavar="VERSION",
                   help="meter data version to read (default: the current one)")
    p.add_argument("--history-days", type=int, default=DEFAULT_HISTORY_DAYS, metavar="N",
                   help=f"local days before the month read for like-day estimation "
                        f"(default {DEFAULT_HISTORY_DAYS})")
    p.set_defaults(handler=vee_command)


def vee_site_period(tables, site: Site, period: str, *, as_of: int | None = None,
                    history_days: int = DEFAULT_HISTORY_DAYS,
                    config: VeeConfig | None = None) -> VeeResult:
    """Read one site-month (and its history) from ``tables`` and run VEE on it.

    ``tables`` is a ``storage.tables.Tables``. The range is the site-local month;
    the history starts at the local midnight ``history_days`` days before it.
    """
    try:
        year, month = parse_period(period)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if history_days < 0:
        raise InputError("--history-days must be >= 0")
    start_us, end_us = local_month_bounds_us(period, site.timezone)
    first = date(year, month, 1)
    hist_us = local_midnight_us(first - timedelta(days=history_days), site.timezone)
    rows = tables.read_meter(site.site_id, site.timezone, hist_us, end_us, as_of=as_of)
    holidays = [d for y in range(year - 1, year + 1) for d in nerc_holidays(y)]
    return run_vee(rows, site, start_us, end_us, config=config, holidays=holidays)


def vee_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.objectstore import ObjectStore
    from storage.sites import load_sites
    from storage.tables import Tables

    store = ObjectStore.from_config(settings.storage_config())
    sites = load_sites(store)
    site = sites.get(args.site)
    if site is None:
        known = ", ".join(sorted(sites)) or "none; load a registry with `m2c sites load`"
        raise UnknownReferenceError(f"unknown site {args.site!r} (known: {known})")
    result = vee_site_period(Tables(store), site, args.period, as_of=args.as_of,
                             history_days=args.history_days)
    doc = report(result, period=args.period)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(format_report(doc))
    return 0
