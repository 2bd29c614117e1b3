"""``m2c ingest meter|prices|index|awards|statements|grid-factors FILE...``: data files into the versioned tables.

Every call validates ALL its files first and writes nothing if any row is bad
(exit 2, the message names file, line and field); otherwise it appends one commit,
the new data version, and prints rows new / superseded / unchanged / rejected.
The same file ingested again is recognised by its SHA-256 and adds nothing.

``ingest meter`` uses ``--format csv|parquet|nem12`` for the INPUT file format (as
the spec says; default: detected), so machine-readable output is ``--output json``
(or ``--json``) on every ingest command; ``prices`` and ``index`` also accept
``--format json`` for the output, like the other commands.
"""
from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from ..settings import Settings
from .output import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ingest", help="ingest meter intervals, market prices or indices")
    sub = p.add_subparsers(dest="ingest_command", required=True)
    meter = sub.add_parser("meter", help="meter interval files (canonical CSV/Parquet, NEM12)")
    meter.add_argument("files", nargs="+", type=Path, metavar="FILE")
    meter.add_argument("--format", dest="file_format", choices=["csv", "parquet", "nem12"],
                       default=None, help="input file format (default: NEM12 if the file starts "
                                          "with a 100 record, else by extension)")
    _output_options(meter)
    meter.set_defaults(handler=meter_command)
    for name, helptext in (("prices", "market price CSV files"),
                           ("index", "fuel / price index CSV files")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("files", nargs="+", type=Path, metavar="FILE")
        q.add_argument("--format", dest="output", choices=["text", "json"], default=argparse.SUPPRESS,
                       help="output format (same as --output)")
        _output_options(q)
        q.set_defaults(handler=prices_command if name == "prices" else index_command)
    for name, helptext, handler in (
            ("awards", "ISO awards, schedules and base points (CSV)", awards_command),
            ("statements", "ISO settlement statements (CSV, or an ERCOT settlement extract)",
             statements_command),
            ("grid-factors", "hourly grid emission factors and carbon-free share per balancing "
                             "authority (CSV; storage/readers/grid_factors.py)", grid_factors_command)):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("files", nargs="+", type=Path, metavar="FILE")
        q.add_argument("--format", dest="output", choices=["text", "json"], default=argparse.SUPPRESS,
                       help="output format (same as --output)")
        _output_options(q)
        q.set_defaults(handler=handler)


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", choices=["text", "json"], default="text",
                   help="text (default) or one JSON document on stdout")
    p.add_argument("--json", dest="output", action="store_const", const="json",
                   help="same as --output json")


def _store(settings: Settings):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(settings.storage_config())


def meter_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_meter
    from storage.sites import load_sites
    store = _store(settings)
    report = ingest_meter(store, args.files, args.file_format, sites=load_sites(store),
                          now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def prices_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_prices
    report = ingest_prices(_store(settings), args.files, now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def index_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_index
    report = ingest_index(_store(settings), args.files, now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def awards_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_awards
    from storage.sites import load_sites
    store = _store(settings)
    report = ingest_awards(store, args.files, sites=load_sites(store),
                           now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def statements_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_statements
    from storage.sites import load_sites
    store = _store(settings)
    report = ingest_statements(store, args.files, sites=load_sites(store),
                               now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def grid_factors_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.ingest import ingest_grid_factors
    report = ingest_grid_factors(_store(settings), args.files, now_utc=datetime.now(timezone.utc))
    return _print(report, args.output)


def _print(report, output: str) -> int:
    if output == "json":
        print_json(report.to_dict())
        return 0
    width = max(len(f.name) for f in report.files)
    for f in report.files:
        detail = f"{f.rows} rows" + (f" ({f.format})" if f.format else "")
        print(f"{f.name.ljust(width)}  {f.sha256[:12]}  {f.message:<32} {detail}")
        for note in f.notes:
            print(f"{'':{width}}  note: {note}")
    print(f"{report.table}: {report.rows_new} new, {report.rows_superseded} superseded, "
          f"{report.rows_unchanged} unchanged, {report.rows_rejected} rejected")
    if report.written:
        print(f"new data version: {report.table} v{report.version}")
    elif report.version is None:
        print(f"nothing written; {report.table} has no data yet")
    else:
        print(f"nothing written; current data version: {report.table} v{report.version}")
    return 0
