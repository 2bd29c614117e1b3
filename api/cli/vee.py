"""``m2c vee SITE --period YYYY-MM``: the validation and estimation report of one site-month.

The report is of exactly what a settlement bills: the site-local month read and
validated by :func:`jobs.settle_inputs.validate_site_month` (the same reads, history
and VEE a settlement's map runs; as of the current meter data version or
``--as-of N``), with the findings (spikes, gaps, DST, limits) a settlement does not
need. Printed as a table (default) or one JSON document (``--format json``). VEE
never writes: the stored rows stay exactly as ingested. With ``--api`` the server
builds the same report from its store (``GET /v1/sites/{site}/vee/{period}``).

Exit code 2 when the site has no meter data at all in the month (every channel has
a ``no_data`` finding): the report is still printed, and stderr says so.
"""
from __future__ import annotations

import argparse
import sys

from ..settings import Settings
from .backend import open_backend
from .output import add_format, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vee", help="validation and estimation report for one site-month")
    p.add_argument("site", metavar="SITE", help="site_id from the site registry")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="site-local month")
    add_format(p)
    p.add_argument("--as-of", type=int, default=None, metavar="VERSION",
                   help="meter data version to read (default: the current one)")
    p.set_defaults(handler=vee_command)


def vee_command(args: argparse.Namespace, settings: Settings) -> int:
    from engine.vee import format_report
    with open_backend(settings) as be:
        doc = be.vee_report(args.site, args.period, args.as_of)
    emit(args, doc, lambda: format_report(doc))
    if doc["channels"] and doc["findings_by_check"].get("no_data", 0) == len(doc["channels"]):
        as_of = "" if args.as_of is None else f" as of meter data version {args.as_of}"
        print(f"error: no meter data for site {args.site} in {args.period}{as_of}",
              file=sys.stderr)
        return 2
    return 0
