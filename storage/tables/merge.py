"""Supersession: a later row for the same key supersedes the earlier one.

The one home of that rule: the in-place writer keeps only the latest row per key
when it rewrites a file (:mod:`.rewrite`), and readers apply it to tables written
the old way, where a corrected value was appended as a new row with the same key
(versions whose log does not say their keys are unique: :mod:`.log`). For each key
-- meter ``(site_id, channel, interval_start_utc)``, prices ``(iso, node,
market_run, interval_start_utc)``, index ``(index, period_start)`` -- the row with
the latest ``ingested_at_utc`` wins, ties broken by the larger ``source_sha256``
(:data:`TIEBREAK`; deterministic whatever the file order). Readers hand it the rows
they read, the number of files those came from and whether the version has unique
keys (then rows from several files are only sorted).

The rows of one data file are already sorted and unique by key (the append writes
them so), which the fast paths here rely on: a single file needs neither sort nor
dedupe, and partitions whose time ranges do not overlap are merged without a sort.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..keys import composite_key, sort_order

#: columns that break ties between rows of the same key (latest ingest wins)
TIEBREAK = ("ingested_at_utc", "source_sha256")


def dedupe_latest(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep, per ``keys``, the row with the greatest ``(ingested_at_utc, source_sha256)``;
    the result is sorted by ``keys``.

    Fast path: rows already strictly increasing by ``keys`` are returned as they are.
    The sort runs on one int64 (``storage.keys.composite_key``: key rank x number of
    distinct ingests + ingest rank) when the key space allows, else on Arrow columns.
    """
    if table.num_rows <= 1:
        return table
    deduped = _dedupe_on_composite_key(table, keys)
    if deduped is not None:
        return deduped
    if _strictly_increasing(table, keys):
        return table
    return _dedupe_by_sort(table, keys)


def _dedupe_on_composite_key(table: pa.Table, keys: list[str]) -> pa.Table | None:
    """:func:`dedupe_latest` sorting one int64 (key rank x ingests + ingest rank);
    None when the key or the tie-break does not fit one int64."""
    key = composite_key(table, keys)
    if key is None:
        return None
    tie = composite_key(table, list(TIEBREAK))
    if tie is None:
        return None
    if bool(np.all(key[1:] > key[:-1])):
        return table
    uniq, tie_rank = np.unique(tie, return_inverse=True)
    radix = len(uniq)
    if int(key.max()) >= (2**62) // radix:
        return None
    order = np.argsort(key * radix + tie_rank, kind="stable")
    ks = key[order]
    last = np.empty(len(ks), dtype=bool)          # the last row of each run of equal keys
    last[:-1] = ks[1:] != ks[:-1]
    last[-1] = True
    return table.take(order[last])


def _dedupe_by_sort(table: pa.Table, keys: list[str]) -> pa.Table:
    """:func:`dedupe_latest` with Arrow's multi-column sort."""
    n = table.num_rows
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in (*keys, *TIEBREAK)])
    table = table.take(order)
    # keep the last row of each run of equal keys
    differs = None
    for k in keys:
        col = table.column(k)
        ne = pc.not_equal(col.slice(0, n - 1), col.slice(1))
        differs = ne if differs is None else pc.or_(differs, ne)
    keep = pa.concat_arrays([differs.combine_chunks() if isinstance(differs, pa.ChunkedArray)
                             else differs, pa.array([True])])
    return table.filter(keep)


def _strictly_increasing(table: pa.Table, keys: list[str]) -> bool:
    """True if rows are strictly increasing by the lexicographic ``keys`` (no duplicates)."""
    n = table.num_rows
    greater = None     # row i+1 > row i on the keys compared so far
    equal = None       # row i+1 == row i on the keys compared so far
    for k in keys:
        col = table.column(k)
        a, b = col.slice(0, n - 1), col.slice(1)
        gt, eq = pc.greater(b, a), pc.equal(b, a)
        if greater is None:
            greater, equal = gt, eq
        else:
            greater = pc.or_(greater, pc.and_(equal, gt))
            equal = pc.and_(equal, eq)
    return bool(pc.all(greater).as_py())


def latest(rows: pa.Table, files: int, keys: list[str], *, unique: bool = False) -> pa.Table:
    """The rows read from ``files`` data files, superseded rows dropped, sorted by
    ``keys``. The rows of a single data file are already sorted and unique (see
    :mod:`storage.tables.append`), so they are returned as read; rows of a version
    with ``unique`` keys are only sorted."""
    if files <= 1:
        return rows
    rows = rows.combine_chunks()
    if unique:
        order = sort_order(rows, keys)
        return rows if order is None else rows.take(order)
    return dedupe_latest(rows, keys)


def latest_parts(parts: list[tuple[pa.Table, int]], keys: list[str],
                 schema: pa.Schema, *, unique: bool = False) -> pa.Table | None:
    """:func:`latest` over partitions read by :func:`storage.tables.scan.read_parts`
    (each with its number of files), sorted by ``keys``, projected to ``schema``;
    None when the partitions may share keys.

    Each partition is deduped on its own (a single file is already sorted and
    unique). When the partitions' ranges of the last key (time) do not overlap,
    no key is in two partitions, so they are merged without a sort (runs of the
    leading key, e.g. the channel, interleaved as zero-copy slices). Otherwise
    (e.g. a site whose zone changed between ingests) the caller reads every
    column and dedupes all rows together.
    """
    if not parts:
        return schema.empty_table()
    if len(parts) == 1:
        return latest(parts[0][0], parts[0][1], keys, unique=unique).select(schema.names)
    if len(keys) > 2:
        return None
    keep = set(schema.names) | set(keys)
    tables = []
    for t, n in parts:
        t = latest(t, n, keys, unique=unique)
        tables.append(t.select([c for c in t.column_names if c in keep]))
    merged = merge_disjoint(tables, keys)
    return None if merged is None else merged.select(schema.names)


def merge_disjoint(tables: list[pa.Table], keys: list[str]) -> pa.Table | None:
    """Merge tables each sorted and unique by ``keys`` (one or two columns, the last
    one a time) whose time ranges are disjoint; None if the ranges overlap.

    With two keys (e.g. channel, time) the result is, for each leading value in
    order, its run from each table in time order: zero-copy slices, no sort.
    """
    ordered = _in_time_order(tables, keys[-1])
    if ordered is None:
        return None
    if len(keys) == 1:
        return pa.concat_tables(ordered)
    runs = _runs_by_leading_key(ordered, keys[0])
    if None in runs:                          # a null key: let the general path decide
        return None
    return pa.concat_tables([s for v in sorted(runs) for s in runs[v]])


def _in_time_order(tables: list[pa.Table], time_key: str) -> list[pa.Table] | None:
    """``tables`` ordered by their ``time_key`` range; None if two ranges overlap."""
    ranges = []
    for i, t in enumerate(tables):
        mm = pc.min_max(t.column(time_key))
        ranges.append((mm["min"].value, mm["max"].value, i))
    ranges.sort(key=lambda r: (r[0], r[1]))
    if any(a[1] >= b[0] for a, b in zip(ranges, ranges[1:])):
        return None
    return [tables[i] for _, _, i in ranges]


def _runs_by_leading_key(tables: list[pa.Table], lead: str) -> dict[Any, list[pa.Table]]:
    """For each value of the ``lead`` column, its run of rows in each table (each
    table sorted by ``lead`` first), as zero-copy slices in table order."""
    runs: dict[Any, list[pa.Table]] = {}
    for t in tables:
        col = t.column(lead).combine_chunks()
        n = len(col)
        heads = np.flatnonzero(pc.not_equal(col.slice(1), col.slice(0, n - 1))
                               .to_numpy(zero_copy_only=False)) + 1
        starts = np.r_[0, heads]
        ends = np.r_[heads, n]
        values = pc.take(col, pa.array(starts)).to_pylist()
        for v, a, b in zip(values, starts.tolist(), ends.tolist()):
            runs.setdefault(v, []).append(t.slice(a, b - a))
    return runs


__all__ = ["TIEBREAK", "dedupe_latest", "latest", "latest_parts", "merge_disjoint"]
