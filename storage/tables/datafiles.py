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
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.errors import InputError

from ..errors import storage_errors
from ..keys import duplicate_pair, sort_order
from ..parallel_io import map_io
from .log import DeltaLog
from .specs import TableSpec

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
    ``append._in_write_order`` leaves it) as one file per partition, side by side."""
    if data.num_rows == 0:
        return []
    bounds = partition_runs(data, spec.partition_by)
    return map_io(lambda ab: write_file(delta_log, spec, data.slice(ab[0], ab[1] - ab[0])),
                  bounds)


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


def write_file(delta_log: DeltaLog, spec: TableSpec, rows: pa.Table) -> DataFile:
    """Write the rows of ONE partition as one data file; its :class:`DataFile`."""
    partition = {c: str(rows.column(c)[0].as_py()) for c in spec.partition_by}
    rel = "/".join([*(f"{c}={quote(partition[c], safe='')}" for c in spec.partition_by),
                    f"part-00000-{uuid.uuid4()}-c000.parquet"])
    body = rows.select(spec.file_schema.names)
    fs, _ = delta_log.filesystem()
    target = delta_log.table_path(spec.name, rel)
    with storage_errors("write data file", f"{spec.name}/{rel}"):
        if not delta_log.store.is_s3:
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(target) as out:
            pq.write_table(body, out, **_parquet_options(spec))
        size = fs.get_file_info(target).size
    return DataFile(rel, partition, body.num_rows, int(size), _stats(body))


def _parquet_options(spec: TableSpec) -> dict[str, Any]:
    delta = [c for c in spec.delta_encoded if c in spec.file_schema.names]
    return {"use_dictionary": [c for c in spec.file_schema.names if c not in delta],
            "column_encoding": {c: "DELTA_BINARY_PACKED" for c in delta},
            "compression": "none" if delta else "snappy",
            "row_group_size": 1 << 30, "write_statistics": True}


def remove_actions(spec: TableSpec, files: pa.Table, *, data_change: bool) -> list[Any]:
    """Remove actions retiring ``files`` (rows of :attr:`.log.Snapshot.files`)."""
    from deltalake.transaction import RemoveAction
    now = int(time.time() * 1000)
    rows = files.select(["rel_path", "size", *spec.partition_by]).to_pylist()
    return [RemoveAction(r["rel_path"], data_change, now, r["size"],
                         {p: r[p] for p in spec.partition_by}) for r in rows]


# -- statistics -----------------------------------------------------------------------

def _stats(body: pa.Table) -> str:
    """The Delta ``stats`` JSON of a file's rows (see the module docstring)."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for field in body.schema:
        col = body.column(field.name)
        nulls[field.name] = col.null_count
        if col.null_count == len(col):
            continue
        bounds = _bounds(field.type, col)
        if bounds is not None:
            mins[field.name], maxs[field.name] = bounds
    return json.dumps({"numRecords": body.num_rows, "minValues": mins, "maxValues": maxs,
                       "nullCount": nulls}, separators=(",", ":"))


def _bounds(type_: pa.DataType, col: pa.ChunkedArray) -> tuple[Any, Any] | None:
    """JSON (min, max) of one column, or None where Delta statistics cannot hold them."""
    if pa.types.is_dictionary(type_):
        col = col.cast(type_.value_type)
        type_ = type_.value_type
    if not (pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_string(type_)
            or pa.types.is_timestamp(type_) or pa.types.is_date32(type_)
            or pa.types.is_boolean(type_)):
        return None
    mm = pc.min_max(col)
    lo, hi = mm["min"], mm["max"]
    if pa.types.is_timestamp(type_):
        unit_us = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[type_.unit]
        if unit_us is None:
            return None
        lo_us, hi_us = lo.cast(pa.int64()).as_py() * unit_us, hi.cast(pa.int64()).as_py() * unit_us
        return _iso_ms(lo_us // 1000), _iso_ms(-(-hi_us // 1000))
    if pa.types.is_date32(type_):
        return lo.as_py().isoformat(), hi.as_py().isoformat()
    lo_v, hi_v = lo.as_py(), hi.as_py()
    if pa.types.is_floating(type_) and not (math.isfinite(lo_v) and math.isfinite(hi_v)):
        return None
    if pa.types.is_string(type_) and max(len(lo_v), len(hi_v)) > MAX_STRING_STAT:
        return None
    return lo_v, hi_v


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _iso_ms(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of milliseconds since the epoch (as delta-rs writes)."""
    t = _EPOCH + dt.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


__all__ = ["DataFile", "in_write_order", "write_partitions", "write_file", "partition_runs", "remove_actions",
           "MAX_STRING_STAT"]
