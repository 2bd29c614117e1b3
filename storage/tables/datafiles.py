"""Data files written by meter2cash itself, and the Delta actions that add or retire them.

The in-place writer (:mod:`.rewrite`) and compaction (:mod:`storage.maintenance`)
write their Parquet files with pyarrow and commit them with delta-rs
(``DeltaTable.create_write_transaction``), rather than through ``write_deltalake``,
so that a commit can retire the very files it rewrites and every file keeps the
layout the readers rely on:

* **one partition per file, rows sorted by key, one row per key** (the fast paths
  of :mod:`.merge`);
* **the table's encodings**: the ``TableSpec.delta_encoded`` integers
  DELTA_BINARY_PACKED without a dictionary, every other column dictionary-encoded;
  uncompressed when some column is delta-encoded (as delta-rs writes them with
  these writer properties: the encoding already packs the integers, and Snappy on
  top saves ~1 % of a 1-minute site-month while its read takes 15 % longer),
  Snappy otherwise; one row group.

Paths, actions and statistics follow what delta-rs writes, so any Delta reader
(delta-rs, Spark, DuckDB, Polars) reads these files like its own:
``<col>=<value, percent-encoded>/.../part-00000-<uuid>-c000.parquet`` relative to the
table (delta-rs percent-encodes it once more in the log); statistics ``numRecords``,
``minValues``/``maxValues`` of every stored column (timestamps to the millisecond,
the minimum rounded down and the maximum up so both stay bounds; strings longer than
:data:`MAX_STRING_STAT` have none) and ``nullCount``.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.errors import InputError

from ..errors import storage_errors
from ..keys import duplicate_pair, sort_order
from .log import DeltaLog
from .specs import TableSpec, table_spec

#: string statistics longer than this are left out (a bound must be exact or absent)
MAX_STRING_STAT = 64


@dataclass(frozen=True)
class DataFile:
    """One data file written and not yet committed (or committed by the caller)."""
    rel_path: str                    # relative to the table, as on disk / in the bucket
    partition: dict[str, str]
    rows: int
    size: int
    stats: str

    def add_action(self, *, data_change: bool) -> Any:
        from deltalake.transaction import AddAction
        return AddAction(self.rel_path, self.size, self.partition, int(time.time() * 1000),
                         data_change, self.stats)


def in_write_order(spec: TableSpec, data: pa.Table) -> pa.Table:
    """``data`` cast to the table's schema and sorted by partition then key;
    ``InputError`` if a key appears twice."""
    data = data.select(spec.schema.names).cast(spec.schema)
    order = sort_order(data, list(dict.fromkeys((*spec.partition_by, *spec.key))))
    if order is not None:
        data = data.take(order)
    if duplicate_pair(data, list(spec.key)) is not None:
        raise InputError(f"append to {spec.name}: the same key appears twice in one commit; "
                         f"a commit holds at most one row per ({', '.join(spec.key)})")
    return data


def write_partitions(delta_log: DeltaLog, spec: TableSpec, data: pa.Table) -> list[DataFile]:
    """Write ``data`` (the table's schema, sorted by partition then key, as
    :func:`in_write_order` leaves it) as one file per partition.

    A day's ingest of a fleet is thousands of small partitions, so the per-file work is
    kept small: the statistics of every file come from one vectorised pass
    (:func:`run_stats`); files are encoded in memory one after the other (CPU: threads
    would only contend for the GIL), then written :data:`WRITE_BATCH_BYTES` at a time --
    on S3 side by side (each PUT is a round trip), on a local folder one after the
    other (measured: threads make file creation no faster there)."""
    if data.num_rows == 0:
        return []
    bounds = partition_runs(data, spec.partition_by)
    body = data.select(spec.file_schema.names)
    stats = run_stats(body, bounds)
    keys = list(zip(*(data.column(c).take(pa.array([a for a, _ in bounds])).to_pylist()
                      for c in spec.partition_by)))
    out: list[DataFile] = []
    batch: list[tuple[DataFile, bytes]] = []
    pending = 0
    for pv, (a, b), st in zip(keys, bounds, stats):
        f, blob = encode_file(spec, dict(zip(spec.partition_by, map(str, pv))),
                              body.slice(a, b - a), st)
        batch.append((f, blob))
        pending += len(blob)
        if pending >= WRITE_BATCH_BYTES:
            out += _write_batch(delta_log, spec, batch)
            batch, pending = [], 0
    return out + _write_batch(delta_log, spec, batch)


#: encoded bytes held before they are written (bounds a large commit's memory)
WRITE_BATCH_BYTES = 64 << 20
#: threads writing files (shared by every write of the process)
FILE_THREADS = 8
_file_pool: ThreadPoolExecutor | None = None
_file_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _file_pool
    with _file_pool_lock:
        if _file_pool is None:
            _file_pool = ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="m2c-datafile")
        return _file_pool


def _write_batch(delta_log: DeltaLog, spec: TableSpec,
                 batch: list[tuple[DataFile, bytes]]) -> list[DataFile]:
    """Write encoded files side by side; their :class:`DataFile` in order."""
    if not batch:
        return []
    if not delta_log.store.is_s3:             # parent folders first, once each
        for parent in sorted({Path(delta_log.table_path(spec.name, f.rel_path)).parent
                              for f, _ in batch}):
            parent.mkdir(parents=True, exist_ok=True)

    def write(item: tuple[DataFile, bytes]) -> DataFile:
        f, blob = item
        write_bytes(delta_log, spec, f.rel_path, blob)
        return f
    if len(batch) <= 2:
        return [write(item) for item in batch]
    return list(_pool().map(write, batch))


def partition_runs(data: pa.Table, partition_by: tuple[str, ...]) -> list[tuple[int, int]]:
    """``[start, end)`` row ranges of ``data`` (sorted by ``partition_by``) holding one
    partition each, in order."""
    n = data.num_rows
    if n == 0:
        return []
    change = np.zeros(n - 1, dtype=bool)
    for c in partition_by:
        col = data.column(c).combine_chunks()
        change |= pc.not_equal(col.slice(1), col.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    heads = np.flatnonzero(change) + 1
    starts = np.r_[0, heads].tolist()
    return list(zip(starts, [*starts[1:], n]))


def encode_file(spec: TableSpec, partition: dict[str, str], body: pa.Table,
                stats: str) -> tuple[DataFile, bytes]:
    """The stored columns ``body`` of ONE partition encoded as a Parquet file, and its
    :class:`DataFile` (a new name under the partition's folder)."""
    folder = "/".join(f"{c}={quote(partition[c], safe='')}" for c in spec.partition_by)
    name = f"part-00000-{uuid.uuid4()}-c000.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(body, sink, **_parquet_options(spec))
    blob = sink.getvalue().to_pybytes()
    return DataFile(f"{folder}/{name}" if folder else name, partition, body.num_rows, len(blob),
                    stats), blob


def write_bytes(delta_log: DeltaLog, spec: TableSpec, rel_path: str, blob: bytes) -> None:
    """One data file: a plain create (no fsync, as delta-rs writes; the commit makes it
    part of the table) on a local folder, a PUT with its SHA-256 on S3."""
    with storage_errors("write data file", f"{spec.name}/{rel_path}"):
        if delta_log.store.is_s3:
            delta_log.store.put(f"tables/{spec.name}/{rel_path}", blob)
        else:
            with open(delta_log.table_path(spec.name, rel_path), "xb") as out:
                out.write(blob)


@functools.lru_cache(maxsize=None)
def _options(name: str) -> tuple[tuple[str, Any], ...]:
    spec = table_spec(name)
    delta = [c for c in spec.delta_encoded if c in spec.file_schema.names]
    return (("use_dictionary", [c for c in spec.file_schema.names if c not in delta]),
            ("column_encoding", {c: "DELTA_BINARY_PACKED" for c in delta}),
            ("compression", "none" if delta else "snappy"),
            ("row_group_size", 1 << 30), ("write_statistics", True))


def _parquet_options(spec: TableSpec) -> dict[str, Any]:
    """``pq.write_table`` options of the table's files (see the module docstring)."""
    return dict(_options(spec.name))


def remove_actions(spec: TableSpec, files: pa.Table, *, data_change: bool) -> list[Any]:
    """Remove actions retiring ``files`` (rows of :attr:`.log.Snapshot.files`)."""
    from deltalake.transaction import RemoveAction
    now = int(time.time() * 1000)
    rows = files.select(["rel_path", "size", *spec.partition_by]).to_pylist()
    return [RemoveAction(r["rel_path"], data_change, now, r["size"],
                         {p: r[p] for p in spec.partition_by}) for r in rows]


# -- statistics -----------------------------------------------------------------------

def run_stats(body: pa.Table, runs: list[tuple[int, int]]) -> list[str]:
    """The Delta ``stats`` JSON of each row range ``runs`` of ``body`` (the rows of one
    file each; see the module docstring), every column reduced in one numpy pass."""
    starts = np.asarray([a for a, _ in runs], dtype=np.int64)
    counts = np.asarray([b - a for a, b in runs], dtype=np.int64)
    mins: list[dict[str, Any]] = [{} for _ in runs]
    maxs: list[dict[str, Any]] = [{} for _ in runs]
    nulls: list[dict[str, int]] = [{} for _ in runs]
    for field in body.schema:
        col = body.column(field.name).combine_chunks()
        null = np.add.reduceat(col.is_null().to_numpy(zero_copy_only=False).astype(np.int64),
                               starts) if col.null_count else np.zeros(len(runs), np.int64)
        bounds = _run_bounds(field.type, col, starts, (null < counts).tolist())
        for i, n in enumerate(null.tolist()):
            nulls[i][field.name] = n
            if bounds is not None and n < counts[i]:
                lo, hi = bounds[0][i], bounds[1][i]
                if lo is not None and hi is not None:
                    mins[i][field.name], maxs[i][field.name] = lo, hi
    return [json.dumps({"numRecords": int(c), "minValues": lo, "maxValues": hi, "nullCount": nc},
                       separators=(",", ":"))
            for c, lo, hi, nc in zip(counts.tolist(), mins, maxs, nulls)]


def _run_bounds(type_: pa.DataType, col: pa.Array, starts: np.ndarray, some: list[bool]
                ) -> tuple[list[Any], list[Any]] | None:
    """JSON (mins, maxs) per run of one column (None where a run has no bound: all
    null (``some`` false), or a string too long), or None where Delta statistics
    cannot hold them."""
    if pa.types.is_dictionary(type_):
        col = col.cast(type_.value_type)
        type_ = type_.value_type
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        enc = pc.dictionary_encode(col)
        values = np.asarray(enc.dictionary.to_pylist(), dtype=object)
        order = np.argsort(values, kind="stable")
        by_rank = values[order]                       # rank -> value
        rank = np.empty(len(values), dtype=np.int64)
        rank[order] = np.arange(len(values), dtype=np.int64)
        codes = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        codes = rank[codes] if len(values) else codes
        lo, hi = _reduce(codes, col, starts, len(values), -1)
        out_lo = [None if i < 0 or i >= len(values) else by_rank[i] for i in lo.tolist()]
        out_hi = [None if i < 0 or i >= len(values) else by_rank[i] for i in hi.tolist()]
        return ([v if v is None or len(v) <= MAX_STRING_STAT else None for v in out_lo],
                [v if v is None or len(v) <= MAX_STRING_STAT else None for v in out_hi])
    if pa.types.is_timestamp(type_):
        unit_us = {"s": 1_000_000, "ms": 1_000, "us": 1}.get(type_.unit)
        if unit_us is None:
            return None
        v = pc.fill_null(col.cast(pa.int64()), 0).to_numpy(zero_copy_only=False) * unit_us
        lo, hi = _reduce(v, col, starts, 0, 0)
        return ([_iso_ms(int(x) // 1000) if ok else None for x, ok in zip(lo.tolist(), some)],
                [_iso_ms(-(-int(x) // 1000)) if ok else None for x, ok in zip(hi.tolist(), some)])
    if pa.types.is_date32(type_):
        v = pc.fill_null(col.cast(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        lo, hi = _reduce(v, col, starts, 0, 0)
        return ([_date(x) if ok else None for x, ok in zip(lo.tolist(), some)],
                [_date(x) if ok else None for x, ok in zip(hi.tolist(), some)])
    if pa.types.is_integer(type_) or pa.types.is_boolean(type_):
        v = pc.fill_null(col.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        lo, hi = _reduce(v, col, starts, 0, 0)
        conv = bool if pa.types.is_boolean(type_) else int
        return ([conv(x) if ok else None for x, ok in zip(lo.tolist(), some)],
                [conv(x) if ok else None for x, ok in zip(hi.tolist(), some)])
    if pa.types.is_floating(type_):
        v = pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        if not np.isfinite(v[~np.isnan(v)]).all():
            return None
        with np.errstate(all="ignore"):
            lo, hi = np.fmin.reduceat(v, starts), np.fmax.reduceat(v, starts)
        return ([None if np.isnan(x) else float(x) for x in lo],
                [None if np.isnan(x) else float(x) for x in hi])
    return None


def _reduce(v: np.ndarray, col: pa.Array, starts: np.ndarray, top: int, bottom: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per-run min and max of ``v`` (int64), nulls of ``col`` left out; a run of nulls
    only gets ``top`` / ``bottom`` (0: the caller ignores those runs)."""
    if col.null_count:
        null = col.is_null().to_numpy(zero_copy_only=False)
        hi_fill = np.iinfo(np.int64).min if bottom == 0 else bottom
        lo_fill = np.iinfo(np.int64).max if top == 0 else top
        lo = np.minimum.reduceat(np.where(null, lo_fill, v), starts)
        hi = np.maximum.reduceat(np.where(null, hi_fill, v), starts)
        return np.where(lo == lo_fill, top, lo), np.where(hi == hi_fill, bottom, hi)
    return np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_DATE = dt.date(1970, 1, 1)


def _date(days: int) -> str:
    return (_EPOCH_DATE + dt.timedelta(days=int(days))).isoformat()


def _iso_ms(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of milliseconds since the epoch (as delta-rs writes)."""
    t = _EPOCH + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


__all__ = ["DataFile", "in_write_order", "write_partitions", "encode_file", "write_bytes",
           "partition_runs",
           "run_stats", "remove_actions", "MAX_STRING_STAT"]
