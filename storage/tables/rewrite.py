"""Supersession inside the table: one commit per write, in which rows with new keys are
appended and each file holding a row that a written row supersedes is rewritten.

For every key, the latest row (``ingested_at_utc``, then ``source_sha256``:
:data:`.merge.TIEBREAK`) is the one the table holds; the rows it superseded stay in
the files of earlier versions, readable through Delta time travel as of those
versions until ``m2c tables vacuum`` removes files no version still needed names.
So the table means the same to every Delta reader (delta-rs, Spark, DuckDB,
Polars: each reads the current files and sees one row per key), and to meter2cash.

Planning a write on the base version (:func:`plan_upsert`):

1. **Where could its keys already be?** The files whose key-partition values
   (``TableSpec.key_partitions``: the site, the market run, the index) are the
   written rows' and whose ``interval_start_utc`` statistics overlap theirs (a file
   without statistics always). New intervals after the stored ones overlap nothing:
   no file is read, and the write is a plain append.
2. **Which of those hold one?** Their key columns are read and joined with the
   written keys.
3. The files that do are read whole, merged with the written rows, the latest row
   per key kept, and written again -- one file per partition, sorted by key, in the
   table's encodings (:mod:`.datafiles`) -- and retired by the same commit (Delta
   remove actions). Every other written row goes to a new file of its partition.

Only a file that actually holds a superseded key is rewritten. The commit goes on
top of the base or is planned again (:mod:`.commit`), so no concurrent writer can
slip a second row for a key in between.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..parallel_io import map_io
from .commit import Changes, Reach, commit_changes
from .datafiles import in_write_order, partition_runs, write_partitions
from .log import DeltaLog
from .merge import dedupe_latest
from .scan import STATS_MARGIN_US, read_files
from .specs import TableSpec, table_spec

log = logging.getLogger(__name__)

_TIME = "interval_start_utc"


def upsert_commit(delta_log: DeltaLog, table: str, data: pa.Table, *,
                  metadata: dict[str, Any] | None = None, refreshed: bool = False) -> int:
    """Write ``data`` (unique keys; cast to the table's schema) as ONE commit and return
    its version: new keys appended, files holding superseded keys rewritten.
    ``refreshed``: the caller has just brought the table's head up to date."""
    spec = table_spec(table)
    data = in_write_order(spec, data)
    version, _ = commit_changes(delta_log, spec,
                                lambda base: plan_upsert(delta_log, spec, data, base, metadata),
                                refreshed=refreshed)
    assert version is not None
    return version


def plan_upsert(delta_log: DeltaLog, spec: TableSpec, data: pa.Table, base: int | None,
                metadata: dict[str, Any] | None = None) -> Changes:
    """The :class:`.commit.Changes` writing ``data`` (in write order) on version ``base``
    (see the module docstring). Its files are written; the commit is the caller's."""
    reach = reach_of(spec, data)
    retired = no_files(spec)
    rows = data
    if base is not None:
        candidates = candidate_files(delta_log.snapshot(spec.name, base).files, spec, reach)
        holding = files_holding(delta_log, spec, candidates, data)
        if holding.num_rows:
            old = read_files(delta_log, spec.name, holding)
            pool = pa.concat_tables([*old, data]).combine_chunks()
            rows = in_write_order(spec, dedupe_latest(pool, list(spec.key)))
            retired = holding
    files = write_partitions(delta_log, spec, rows)
    return Changes("ingest", files, retired, rows_added=data.num_rows, reach=reach,
                   metadata=dict(metadata or {}),
                   summary={"files_added": len(files), "files_rewritten": retired.num_rows})


def reach_of(spec: TableSpec, data: pa.Table) -> list[Reach]:
    """One :class:`.commit.Reach` per set of key-partition values of ``data`` (in write
    order), with the ``interval_start_utc`` range of its rows (None for a table without
    that column)."""
    cols = list(spec.key_partitions)
    if data.num_rows == 0:
        return []
    timed = _TIME in data.column_names
    if cols == list(spec.partition_by[:len(cols)]):       # sorted first: runs of rows
        runs = partition_runs(data, tuple(cols))
        starts = np.asarray([a for a, _ in runs], dtype=np.int64)
        firsts = data.select(cols).take(pa.array(starts)).to_pylist() if cols else [{}]
        if not timed:
            return [Reach(tuple((c, row[c]) for c in cols)) for row in firsts]
        t = data.column(_TIME).combine_chunks().cast(pa.int64()).to_numpy()
        lo, hi = np.minimum.reduceat(t, starts).tolist(), np.maximum.reduceat(t, starts).tolist()
        return [Reach(tuple((c, row[c]) for c in cols), a, b) for row, a, b in zip(firsts, lo, hi)]
    if timed:
        groups = data.select(cols).append_column(
            "_t", data.column(_TIME).cast(pa.int64())).group_by(cols).aggregate(
            [("_t", "min"), ("_t", "max")])
        return [Reach(tuple(zip(cols, vals)), lo, hi) for *vals, lo, hi in zip(
            *(groups.column(c).to_pylist() for c in cols),
            groups.column("_t_min").to_pylist(), groups.column("_t_max").to_pylist())]
    groups = data.select(cols).group_by(cols).aggregate([])
    return [Reach(tuple(zip(cols, vals)))
            for vals in zip(*(groups.column(c).to_pylist() for c in cols))]


#: above this many reaches, candidates are found with one hash join, below by a mask each
_JOIN_ABOVE = 32


def candidate_files(files: pa.Table, spec: TableSpec, reach: list[Reach]) -> pa.Table:
    """The files that may hold a key within ``reach`` (statistics cannot rule it out)."""
    if files.num_rows == 0 or not reach:
        return files.slice(0, 0)
    if len(reach) > _JOIN_ABOVE:
        return _candidates_by_join(files, spec, reach)
    lo, hi = files.column("min_us"), files.column("max_us")
    mask = None
    for r in reach:
        m = None
        for c, v in r.partition:
            eq = pc.equal(files.column(c), v)
            m = eq if m is None else pc.and_(m, eq)
        if r.min_us is not None and r.max_us is not None:
            overlap = pc.fill_null(pc.and_(pc.greater_equal(hi, r.min_us - STATS_MARGIN_US),
                                           pc.less_equal(lo, r.max_us)), True)
            m = overlap if m is None else pc.and_(m, overlap)
        if m is None:                      # no key-partition column, no time range: all
            return files
        mask = m if mask is None else pc.or_(mask, m)
    return files.filter(mask)


def _candidates_by_join(files: pa.Table, spec: TableSpec, reach: list[Reach]) -> pa.Table:
    """:func:`candidate_files` for many reaches: one join on the key-partition columns."""
    cols = list(spec.key_partitions)
    if not cols:                            # one reach: the union of the ranges
        los = [r.min_us for r in reach if r.min_us is not None]
        his = [r.max_us for r in reach if r.max_us is not None]
        whole = (Reach((), min(los), max(his)) if len(los) == len(his) == len(reach)
                 else Reach(()))
        return candidate_files(files, spec, [whole])
    idx = pa.array(np.arange(files.num_rows, dtype=np.int64))
    left = files.select(cols).append_column("_i", idx).append_column(
        "_lo", files.column("min_us")).append_column("_hi", files.column("max_us"))
    right = pa.table({**{c: pa.array([dict(r.partition).get(c) for r in reach], pa.string())
                         for c in cols},
                      "_rlo": pa.array([r.min_us for r in reach], pa.int64()),
                      "_rhi": pa.array([r.max_us for r in reach], pa.int64())})
    pairs = left.join(right, keys=cols, join_type="inner")
    overlap = pc.and_(pc.greater_equal(pairs.column("_hi"),
                                       pc.subtract(pairs.column("_rlo"), STATS_MARGIN_US)),
                      pc.less_equal(pairs.column("_lo"), pairs.column("_rhi")))
    hit = pairs.filter(pc.fill_null(overlap, True)).column("_i")  # unknown range: a candidate
    return files.take(pc.unique(hit).sort()) if len(hit) else files.slice(0, 0)


def files_holding(delta_log: DeltaLog, spec: TableSpec, files: pa.Table,
                  data: pa.Table) -> pa.Table:
    """The rows of ``files`` holding at least one key of ``data`` (their key columns are
    read and joined with the keys of ``data``)."""
    if files.num_rows == 0:
        return files
    key = list(spec.key)
    stored = pa.concat_tables(map_io(lambda i: _keys_of(delta_log, spec, files, i),
                                     range(files.num_rows)))
    hit = stored.join(data.select(key), keys=key, join_type="left semi")
    holding = sorted(set(hit.column("_file").to_pylist()))
    return files.take(pa.array(holding, pa.int64())) if holding else files.slice(0, 0)


def _keys_of(delta_log: DeltaLog, spec: TableSpec, files: pa.Table, i: int) -> pa.Table:
    """The key columns of file ``i`` of ``files``, tagged with ``_file`` = i."""
    t = read_files(delta_log, spec.name, files.slice(i, 1), list(spec.key))[0]
    return t.append_column("_file", pa.array(np.full(t.num_rows, i, np.int32)))


def no_files(spec: TableSpec) -> pa.Table:
    """An empty file list (the columns :func:`.datafiles.remove_actions` reads)."""
    return pa.table({"rel_path": pa.array([], pa.string()), "size": pa.array([], pa.int64()),
                     **{c: pa.array([], pa.string()) for c in spec.partition_by}})


__all__ = ["upsert_commit", "plan_upsert", "reach_of", "candidate_files", "files_holding",
           "no_files"]
