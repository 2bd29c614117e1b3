"""``m2c tables``: the state and upkeep of the versioned tables (``storage.maintenance``).

* ``m2c tables list [TABLE]``: version, how corrections supersede (in place, or on
  read for a table written the old way), files, partitions, rows, bytes, partitions
  with several files, the last checkpoint;
* ``m2c tables optimize [TABLE]``: one file per partition, sorted, in the table's
  encodings, one commit per table, then a checkpoint. What every reader reads does
  not change; a table written the old way is upgraded (corrections then supersede
  in place, and plain Delta readers see what meter2cash sees);
* ``m2c tables vacuum [TABLE] --retain 30d``: delete data files removed from the
  table more than that long ago. Refused (exit 1, nothing deleted) if that would
  make a version unreadable that an invoice, a published result or a job's pinned
  inputs still name, listing them; ``--keep-named`` vacuums the rest and keeps
  those versions readable, ``--release V,...`` lets the given versions go.
  ``--dry-run`` lists what would be deleted.

All tables when TABLE is omitted (``--release`` needs one). These commands work on
the store this process is configured with (``M2C_STORAGE``): they are local-only,
and refused under ``--api``.
"""
from __future__ import annotations

import argparse
import re
from datetime import timedelta

from engine.errors import InputError

from ..settings import Settings
from .backend import local_only
from .output import add_format, emit, table

_WHY = "it maintains the files of the store this process is configured with (M2C_STORAGE)"

_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<unit>[wdhm])$")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
          "m": timedelta(minutes=1)}


def _duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip().lower())
    if not m:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (a number and a unit: 30d, 12h, 90m, 2w)")
    return float(m.group("n")) * _UNITS[m.group("unit")]


def _versions(text: str) -> list[int]:
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of versions: {text!r} (e.g. 12,15)") from None
    if not out or any(v < 0 for v in out):
        raise argparse.ArgumentTypeError(f"not a list of versions: {text!r} (e.g. 12,15)")
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    # table names are checked when a command runs (storage.tables.table_spec): building the
    # parser imports nothing heavy
    p = subparsers.add_parser("tables", help="state and upkeep of the versioned tables (local-only)")
    sub = p.add_subparsers(dest="tables_command", required=True)
    ls = sub.add_parser("list", help="each table's version, files, partitions, checkpoint")
    ls.add_argument("table", nargs="?", help="one table (default: all)")
    add_format(ls)
    ls.set_defaults(handler=list_command)
    op = sub.add_parser("optimize", help="compact each partition into one sorted file; checkpoint")
    op.add_argument("table", nargs="?", help="one table (default: all)")
    add_format(op)
    op.set_defaults(handler=optimize_command)
    va = sub.add_parser("vacuum", help="delete files removed from a table longer ago than --retain")
    va.add_argument("table", nargs="?", help="one table (default: all)")
    va.add_argument("--retain", required=True, type=_duration, metavar="DURATION",
                    help="keep files removed less than this long ago (30d, 12h, 2w)")
    va.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    va.add_argument("--keep-named", action="store_true",
                    help="keep every version a lineage names readable; vacuum the rest")
    va.add_argument("--release", type=_versions, default=[], metavar="V[,V...]",
                    help="let these named versions go (needs TABLE)")
    add_format(va)
    va.set_defaults(handler=vacuum_command)


def _store(settings: Settings):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(settings.storage_config())


def _tables(name: str | None) -> list[str]:
    from storage.tables import TABLES, table_spec
    return [table_spec(name).name] if name else sorted(TABLES)


@local_only("tables list", _WHY)
def list_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.maintenance import table_status
    store = _store(settings)
    docs = [table_status(store, t) for t in _tables(args.table)]

    def text() -> str:
        rows = [["table", "version", "supersession", "files", "partitions", "several files",
                 "rows", "MB", "checkpoint"]]
        for d in docs:
            if d["version"] is None:
                rows.append([d["table"], "-", "(no data)", "", "", "", "", "", ""])
                continue
            rows.append([d["table"], d["version"], d["supersession"], d["files"], d["partitions"],
                         d["partitions_with_several_files"], f"{d['rows']:,}",
                         f"{d['bytes'] / 1e6:.1f}",
                         "-" if d["checkpoint"] is None else
                         f"v{d['checkpoint']} (+{d['commits_since_checkpoint']})"])
        return table(rows, right={1, 3, 4, 5, 6, 7})
    emit(args, docs, text)
    return 0


@local_only("tables optimize", _WHY)
def optimize_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.maintenance import optimize
    store = _store(settings)
    docs = [optimize(store, t).to_dict() for t in _tables(args.table)]

    def text() -> str:
        out = []
        for d in docs:
            if d["version_before"] is None:
                out.append(f"{d['table']}: no data")
            elif d["version"] == d["version_before"] and not d["upgraded"]:
                out.append(f"{d['table']}: nothing to compact ({d['files_before']} file(s), "
                           f"one per partition) at version {d['version']}")
            else:
                up = (" (upgraded: corrections now supersede in place; "
                      f"{d['rows_dropped']:,} superseded row(s) left the current files)"
                      if d["upgraded"] else "")
                out.append(f"{d['table']}: {d['files_before']} -> {d['files_after']} file(s), "
                           f"{d['partitions_compacted']} partition(s) compacted, version "
                           f"{d['version_before']} -> {d['version']}, checkpoint at "
                           f"v{d['checkpoint']}, {d['seconds']:.2f} s{up}")
        return "\n".join(out)
    emit(args, docs, text)
    return 0


@local_only("tables vacuum", _WHY)
def vacuum_command(args: argparse.Namespace, settings: Settings) -> int:
    from storage.maintenance import lineage_versions, vacuum
    store = _store(settings)
    if args.release and not args.table:
        raise InputError("--release names versions of one table: give the TABLE")
    names = _tables(args.table)
    lineage = lineage_versions(store)

    def run(name: str, dry_run: bool) -> dict:
        return vacuum(store, name, args.retain, dry_run=dry_run, keep_named=args.keep_named,
                      release=args.release, lineage=lineage).to_dict()
    if len(names) > 1 and not args.dry_run:
        for name in names:                 # refused for one table: none is vacuumed
            run(name, True)
    docs = [run(name, args.dry_run) for name in names]

    def text() -> str:
        out = []
        for d in docs:
            verb = "would delete" if d["dry_run"] else "deleted"
            line = f"{d['table']}: {verb} {len(d['files'])} file(s)"
            if d["kept_versions"]:
                line += f"; kept readable: version(s) {', '.join(map(str, d['kept_versions']))}"
            if d["released_versions"]:
                line += f"; released: version(s) {', '.join(map(str, d['released_versions']))}"
            out.append(line)
            if d["dry_run"]:
                out += [f"  {f}" for f in d["files"]]
        return "\n".join(out)
    emit(args, docs, text)
    return 0
