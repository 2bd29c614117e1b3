"""Table maintenance: compaction, a vacuum that keeps every version a lineage names,
checkpoints, and each table's state. ``m2c tables ...`` (``api/cli/tables.py``)
calls these; they run where the store is (no job, no API).

* :func:`optimize` rewrites the files of each partition holding more than one into
  ONE file per partition, sorted by key, in the table's encodings
  (:mod:`storage.tables.datafiles`), in one commit, then writes a checkpoint. What
  meter2cash reads does not change (the same rows, the same bytes), and for a table
  already superseded in place no row changes for any reader: Delta's
  ``dataChange=false``. A table written the old way (``delta.appendOnly``,
  corrections appended and superseded on read) is upgraded: its
  ``delta.appendOnly`` is turned off (one metadata commit), and the compaction keeps
  only the latest row per key in every partition (and across the partitions a key
  can move between: a site whose zone changed), so from that commit on every Delta
  reader sees what meter2cash sees, and later ingests supersede in place.
* :func:`vacuum` deletes data files no longer in the current version once removed
  longer ago than ``retain`` (delta-rs ``vacuum``). A file some *named* version
  still needs would make that version unreadable; the versions named are those an
  invoice's lineage, a published result, a job's pinned inputs or a certificate
  issuance record
  (:func:`lineage_versions`). If the retention would remove one, nothing is deleted
  and :class:`~engine.errors.ConflictError` lists each such version and what names
  it -- unless the caller keeps them (``keep_named``: the files they need stay) or
  releases them explicitly, by number (``release``). What was deleted, kept and
  released is recorded in the VACUUM commits of the table's log.
* Checkpoints: ingest writes one every ``delta.checkpointInterval`` (50) commits;
  :func:`optimize` writes one after its commit, so a table with thousands of ingests
  opens from one checkpoint and a short tail of log entries.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import ConflictError, InputError

from .errors import storage_errors
from .objectstore import ObjectStore
from .parallel_io import map_io
from .tables import TABLES, Tables, table_spec
from .tables.commit import Changes, commit_changes
from .tables.datafiles import in_write_order, write_partitions
from .tables.log import DeltaLog
from .tables.merge import dedupe_latest
from .tables.rewrite import no_files
from .tables.scan import STATS_MARGIN_US, read_files
from .tables.specs import TableSpec

log = logging.getLogger(__name__)

#: where lineage names data versions: invoice documents, published results' manifests,
#: jobs' pinned inputs (``jobs.settle_inputs.pins_key``), and the certificate registry's
#: issuances (the meter version the energy of each certificate was read from)
LINEAGE_SOURCES = (
    ("invoice", "invoices/", re.compile(r"^invoices/(?P<what>[^/]+/[^/]+/v\d+)/invoice\.json$")),
    ("result", "results/", re.compile(r"^results/(?P<what>[^/]+/[^/]+)/manifest\.json$")),
    ("job", "runs/", re.compile(r"^runs/(?P<what>[^/]+)/pins-[^/]+\.json$")),
    ("certificate issuance", "certificates/log/",
     re.compile(r"^certificates/log/(?P<what>\d+)\.json$")),
)
#: keys under which a lineage document maps table names to data versions
VERSION_MAPS = ("data_versions", "data")


# -- optimize -------------------------------------------------------------------------

@dataclass
class OptimizeReport:
    table: str
    version_before: int | None
    version: int | None                   # after (== before: nothing to do)
    upgraded: bool = False                # an append-only table turned in place
    partitions_compacted: int = 0
    files_before: int = 0
    files_after: int = 0
    files_removed: int = 0
    files_added: int = 0
    rows_dropped: int = 0                 # superseded rows removed (upgrade only)
    checkpoint: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def optimize(store: ObjectStore, table: str) -> OptimizeReport:
    """Compact ``table`` (see the module docstring); a missing table is left alone."""
    spec = table_spec(table)
    tables = Tables(store)
    delta_log = tables.delta_log
    t0 = time.perf_counter()
    before = delta_log.version(table)
    report = OptimizeReport(table, before, before)
    if before is None:
        return report
    report.files_before = delta_log.snapshot(table, before).files.num_rows
    if delta_log.snapshot(table, before).append_only:
        _turn_off_append_only(delta_log, table)
        report.upgraded = True
    version, changes = commit_changes(delta_log, spec, lambda base: _plan_compaction(
        delta_log, spec, base))
    report.version = version
    report.partitions_compacted = changes.summary.get("partitions", 0)
    report.files_removed = changes.retired.num_rows
    report.files_added = len(changes.files)
    report.rows_dropped = changes.summary.get("rows_dropped", 0)
    if version is not None:
        report.files_after = delta_log.snapshot(table, version).files.num_rows
        report.checkpoint = checkpoint(delta_log, table)
    report.seconds = round(time.perf_counter() - t0, 3)
    log.info("optimize %s: %s", table, report.to_dict())
    return report


def _turn_off_append_only(delta_log: DeltaLog, table: str) -> None:
    """One metadata commit: ``delta.appendOnly`` false (corrections may now retire files)."""
    with delta_log.locked_head(table) as dt, storage_errors("upgrade", table):
        dt.alter.set_table_properties({"delta.appendOnly": "false"})
    log.info("%s: delta.appendOnly turned off; supersession moves into the table", table)


def _plan_compaction(delta_log: DeltaLog, spec: TableSpec, base: int | None) -> Changes:
    """One file per partition for every group of files that needs it: a partition with
    several files; on a version without unique keys, also partitions whose rows may
    share keys (same key-partition values, overlapping times), merged and deduped."""
    if base is None:
        return Changes("optimize", [], no_files(spec), rows_added=0)
    snap = delta_log.snapshot(spec.name, base)
    groups = _compaction_groups(snap.files, spec, dedupe=not snap.keys_unique)
    files, retired, rows_in, rows_out = [], [], 0, 0
    for group in groups:
        old = read_files(delta_log, spec.name, group)
        rows = pa.concat_tables(old).combine_chunks()
        rows_in += rows.num_rows
        if not snap.keys_unique:
            rows = dedupe_latest(rows, list(spec.key))
        rows = in_write_order(spec, rows)
        rows_out += rows.num_rows
        files += write_partitions(delta_log, spec, rows)
        retired.append(group)
    gone = pa.concat_tables(retired) if retired else no_files(spec)
    return Changes("optimize", files, gone, rows_added=0, data_change=rows_out != rows_in,
                   establishes_unique=not snap.keys_unique,
                   summary={"partitions": len({tuple(f.partition.items()) for f in files}),
                            "rows_dropped": rows_in - rows_out})


def _compaction_groups(files: pa.Table, spec: TableSpec, *, dedupe: bool) -> list[pa.Table]:
    """The file groups to rewrite, each as rows of ``files``: per partition with more
    than one file; with ``dedupe``, partitions of one key-partition value whose time
    ranges overlap are one group (a key may sit in both)."""
    if files.num_rows == 0:
        return []
    part_cols = list(spec.partition_by)
    rows = files.append_column("_i", pa.array(range(files.num_rows), pa.int64()))
    by_part: dict[tuple, list[int]] = {}
    for i, *pv in zip(rows.column("_i").to_pylist(), *(rows.column(c).to_pylist() for c in part_cols)):
        by_part.setdefault(tuple(pv), []).append(i)
    clusters: list[list[tuple]] = [[p] for p in sorted(by_part)]
    if dedupe:
        clusters = _overlapping(files, spec, by_part)
    out = []
    for cluster in clusters:
        idx = sorted(i for p in cluster for i in by_part[p])
        if len(idx) > 1:
            out.append(files.take(pa.array(idx, pa.int64())))
    return out


def _overlapping(files: pa.Table, spec: TableSpec,
                 by_part: dict[tuple, list[int]]) -> list[list[tuple]]:
    """Partitions merged into clusters: same key-partition values and overlapping
    ``interval_start_utc`` ranges (unknown ranges overlap everything of their values)."""
    part_cols = list(spec.partition_by)
    keyed = [part_cols.index(c) for c in spec.key_partitions]
    lo = files.column("min_us").to_pylist()
    hi = files.column("max_us").to_pylist()
    ranges: dict[tuple, tuple[int, int]] = {}
    for p, idx in by_part.items():
        los, his = [lo[i] for i in idx], [hi[i] for i in idx]
        if None not in los and None not in his:
            ranges[p] = (min(los), max(his) + STATS_MARGIN_US)
    clusters: list[list[tuple]] = []
    by_key: dict[tuple, list[tuple]] = {}
    for p in sorted(by_part):
        by_key.setdefault(tuple(p[k] for k in keyed), []).append(p)
    for parts in by_key.values():
        if any(p not in ranges for p in parts):
            clusters.append(parts)
            continue
        parts = sorted(parts, key=lambda p: ranges[p])
        current, reach = [parts[0]], ranges[parts[0]][1]
        for p in parts[1:]:
            if ranges[p][0] <= reach:
                current.append(p)
                reach = max(reach, ranges[p][1])
            else:
                clusters.append(current)
                current, reach = [p], ranges[p][1]
        clusters.append(current)
    return clusters


def checkpoint(delta_log: DeltaLog, table: str) -> int | None:
    """Write a checkpoint of the current version of ``table``; that version."""
    with delta_log.locked_head(table) as dt, storage_errors("checkpoint", table):
        if dt is None:
            return None
        dt.create_checkpoint()
        return int(dt.version())


# -- vacuum ---------------------------------------------------------------------------

@dataclass
class VacuumReport:
    table: str
    retain_hours: float
    dry_run: bool
    files: list[str] = field(default_factory=list)          # deleted (or to delete)
    kept_versions: list[int] = field(default_factory=list)  # named versions kept readable
    released_versions: list[int] = field(default_factory=list)
    named_versions: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def vacuum(store: ObjectStore, table: str, retain: timedelta, *, dry_run: bool = False,
           keep_named: bool = False, release: Iterable[int] = (),
           lineage: dict[str, dict[int, list[str]]] | None = None) -> VacuumReport:
    """Delete the data files of ``table`` removed more than ``retain`` ago and no longer
    in the current version -- refusing (``ConflictError``, nothing deleted) if that
    would make a version a lineage names unreadable, unless ``keep_named`` (keep the
    files those versions need) or the version is in ``release``. ``lineage``: what
    :func:`lineage_versions` returned, when the caller already has it."""
    if retain < timedelta(0):
        raise InputError("the retention must not be negative")
    table_spec(table)
    tables = Tables(store)
    delta_log = tables.delta_log
    hours = retain.total_seconds() / 3600
    report = VacuumReport(table, round(hours, 6), dry_run)
    head = delta_log.version(table)
    if head is None:
        return report
    release = set(release)
    lineage = lineage_versions(store) if lineage is None else lineage
    named = {v: who for v, who in lineage.get(table, {}).items() if v <= head}
    report.named_versions = len(named)
    would = set(_vacuum(delta_log, table, hours, dry_run=True))
    hit = {v: who for v, who in named.items()
           if would & set(delta_log.snapshot(table, v).files.column("rel_path").to_pylist())}
    blocked = {v: who for v, who in hit.items() if v not in release}
    if blocked and not keep_named:
        raise ConflictError(_refusal(table, retain, blocked))
    keep = sorted(v for v in named if v not in release)
    report.kept_versions = sorted(v for v in hit if v not in release)
    report.released_versions = sorted(v for v in hit if v in release)
    meta = {"retain_hours": report.retain_hours, "kept_versions": report.kept_versions,
            "released_versions": {str(v): hit[v] for v in report.released_versions}}
    report.files = sorted(_vacuum(delta_log, table, hours, dry_run=dry_run, keep=keep,
                                  metadata=meta))
    log.info("vacuum %s: %d file(s) %s; named versions kept %s, released %s", table,
             len(report.files), "to delete" if dry_run else "deleted", report.kept_versions,
             report.released_versions)
    return report


def _vacuum(delta_log: DeltaLog, table: str, hours: float, *, dry_run: bool,
            keep: list[int] | None = None, metadata: dict | None = None) -> list[str]:
    from deltalake import CommitProperties
    with delta_log.locked_head(table) as dt, storage_errors("vacuum", table):
        props = CommitProperties(custom_metadata={
            "m2c.operation": "vacuum",
            "m2c.metadata": json.dumps(metadata or {}, sort_keys=True)})
        # delta-rs takes whole hours: a fraction is rounded up (keeps more, never less)
        return list(dt.vacuum(retention_hours=math.ceil(hours), dry_run=dry_run,
                              enforce_retention_duration=False, keep_versions=keep or None,
                              commit_properties=props))


def _refusal(table: str, retain: timedelta, blocked: dict[int, list[str]]) -> str:
    lines = [f"vacuum {table} with a retention of {_duration(retain)} would make "
             f"{len(blocked)} data version(s) unreadable that a lineage still names:"]
    for v in sorted(blocked):
        who = blocked[v]
        shown = ", ".join(who[:5]) + (f" and {len(who) - 5} more" if len(who) > 5 else "")
        lines.append(f"  version {v}: {shown}")
    lines.append("nothing was deleted. Keep those versions readable and vacuum the rest with "
                 "--keep-named, or let given versions go with --release "
                 + ",".join(str(v) for v in sorted(blocked)) + " (their invoices could then "
                 "no longer be reproduced)")
    return "\n".join(lines)


def _duration(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 24 and hours % 24 == 0 else f"{hours:g} hours"


def lineage_versions(store: ObjectStore) -> dict[str, dict[int, list[str]]]:
    """table -> data version -> what names it (``invoice C/P/vN``, ``result K/ID``,
    ``job ID``, ``certificate issuance SEQ``), from every invoice document, result
    manifest, job pin file and certificate log entry (:data:`LINEAGE_SOURCES`)."""
    keys: list[tuple[str, str, str]] = []
    for kind, prefix, pattern in LINEAGE_SOURCES:
        for key in store.list(prefix):
            m = pattern.match(key)
            if m:
                keys.append((kind, m.group("what"), key))
    docs = map_io(lambda k: store.get_or_none(k[2]), keys)
    out: dict[str, dict[int, list[str]]] = {}
    for (kind, what, key), raw in zip(keys, docs):
        if raw is None:
            continue
        try:
            doc = json.loads(raw)
        except ValueError:
            log.warning("lineage: %s is not JSON; skipped", key)
            continue
        for table, version in _named_versions(doc):
            out.setdefault(table, {}).setdefault(version, [])
            label = f"{kind} {what}"
            if label not in out[table][version]:
                out[table][version].append(label)
    return out


def _named_versions(doc: Any) -> Iterable[tuple[str, int]]:
    """(table, version) of every version map (:data:`VERSION_MAPS`) in a JSON document."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if k in VERSION_MAPS and isinstance(v, dict):
                    for table, version in v.items():
                        if (table in TABLES and isinstance(version, int)
                                and not isinstance(version, bool)):
                            yield table, version
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)


# -- state ----------------------------------------------------------------------------

def table_status(store: ObjectStore, table: str) -> dict[str, Any]:
    """One table's state: version, how it supersedes, files, partitions, rows, bytes,
    partitions with several files, the last checkpoint and the commits since."""
    spec = table_spec(table)
    delta_log = Tables(store).delta_log
    version = delta_log.version(table)
    status: dict[str, Any] = {"table": table, "version": version}
    if version is None:
        return status
    snap = delta_log.snapshot(table, version)
    files = snap.files
    parts = files.group_by(list(spec.partition_by)).aggregate([("rel_path", "count")])
    last = store.get_or_none(f"tables/{table}/_delta_log/_last_checkpoint")
    cp = json.loads(last).get("version") if last else None
    status.update({
        "supersession": "on read (append-only)" if snap.append_only else "in place",
        "keys_unique": snap.keys_unique,
        "files": files.num_rows, "partitions": parts.num_rows,
        "rows": int(pc.sum(files.column("num_records")).as_py() or 0),
        "bytes": int(pc.sum(files.column("size")).as_py() or 0),
        "partitions_with_several_files": int(pc.sum(pc.greater(
            parts.column("rel_path_count"), 1)).as_py() or 0),
        "checkpoint": cp, "commits_since_checkpoint": version - (cp if cp is not None else -1)})
    return status


__all__ = ["optimize", "vacuum", "checkpoint", "table_status", "lineage_versions",
           "OptimizeReport", "VacuumReport", "LINEAGE_SOURCES"]
