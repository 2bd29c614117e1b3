"""``m2c ingest meter|prices|index|awards|statements|grid-factors FILE...``: data files into the versioned tables.

Every call validates ALL its files first and writes nothing if any row is bad
(exit 2, the message names file, line and field); otherwise it appends one commit,
the new data version, and prints rows new / superseded / unchanged / rejected.
The same file ingested again is recognised by its SHA-256 and adds nothing.

``ingest meter`` uses ``--format csv|parquet|nem12`` for the INPUT file format (as
the spec says; default: detected), so machine-readable output is ``--output json``
(or ``--json``) on every ingest command; ``prices`` and ``index`` also accept
``--format json`` for the output, like the other commands.

With ``--api`` the files are uploaded in one request (``POST /v1/ingest/{table}``) and
land in the server's store, all or nothing, exactly as a local call.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import Settings
from .backend import open_backend
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
                             "authority (CSV: storage/readers/grid_factors.py)", grid_factors_command)):
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


def _ingest(settings: Settings, table: str, files: list[Path], file_format: str | None) -> dict:
    """The ingest report document (``storage.ingest.IngestReport.to_dict``)."""
    with open_backend(settings) as be:
        return be.ingest(table, files, file_format)


def meter_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "meter", args.files, args.file_format), args.output)


def prices_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "prices", args.files, None), args.output)


def index_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "index", args.files, None), args.output)


def awards_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "awards", args.files, None), args.output)


def statements_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "statements", args.files, None), args.output)


def grid_factors_command(args: argparse.Namespace, settings: Settings) -> int:
    return _print(_ingest(settings, "grid_factors", args.files, None), args.output)


def _print(report: dict, output: str) -> int:
    if output == "json":
        print_json(report)
        return 0
    files, table = report["files"], report["table"]
    width = max(len(f["name"]) for f in files)
    for f in files:
        detail = f"{f['rows']} rows" + (f" ({f['format']})" if f.get("format") else "")
        print(f"{f['name'].ljust(width)}  {f['sha256'][:12]}  {f['message']:<32} {detail}")
        for note in f.get("notes") or []:
            print(f"{'':{width}}  note: {note}")
    print(f"{table}: {report['rows_new']} new, {report['rows_superseded']} superseded, "
          f"{report['rows_unchanged']} unchanged, {report['rows_rejected']} rejected")
    if report["written"]:
        print(f"new data version: {table} v{report['version']}")
    elif report["version"] is None:
        print(f"nothing written; {table} has no data yet")
    else:
        print(f"nothing written; current data version: {table} v{report['version']}")
    return 0
