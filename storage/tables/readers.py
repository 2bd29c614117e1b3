"""Typed reads of the tables: meter rows of one site, prices of one node, values of one
index, one whole partition, and the partition inventory; each as of a data version.

Each read resolves its ``as_of`` to a version (:class:`.log.DeltaLog`), maps its
request to partitions and a row filter, reads the files (:mod:`.scan`) and drops
superseded rows (:mod:`.merge`) -- unless the version's keys are unique
(``Snapshot.keys_unique``: written in place), when rows of several files are only
put in key order.
"""
from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError
from engine.schema import INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA
from engine.timebase import US_PER_MINUTE

from .log import DeltaLog
from .merge import latest, latest_parts
from .scan import as_dictionary, as_plain, project, read_parts, read_rows
from .specs import months_overlapping, table_spec


def read_meter(delta_log: DeltaLog, site_id: str, tz: str, start_us: int, end_us: int, *,
               channels: list[str] | None = None, columns: list[str] | None = None,
               dictionary: tuple[str, ...] = (),
               as_of: int | datetime | None = None) -> pa.Table:
    """Deduped meter rows of one site with ``interval_start_utc`` in ``[start, end)``
    (UTC us), sorted by ``(channel, interval_start_utc)``; METER_SCHEMA.

    ``tz`` is the site's zone: it maps the range to the site-local month
    partitions to read. ``channels`` limits the channels (None = all);
    ``columns`` limits the columns returned (None = all; METER_SCHEMA order):
    the others are not read at all, which is most of the cost of a read.
    ``dictionary`` names string columns to return dictionary-encoded
    (:func:`.scan.as_dictionary`): for a 1-minute site-month, reading ``channel``
    and ``quality`` that way takes 1.3 ms instead of 6.5.
    """
    plain, schema = _meter_read_schemas(columns, dictionary)
    version = delta_log.resolve_as_of("meter", as_of)
    months = months_overlapping(start_us, end_us, tz)
    if version is None or not months:
        return schema.empty_table()
    flt = (pc.field("channel").isin(pa.array(list(channels), pa.string()))
           if channels is not None else None)
    where = {"site_id": [site_id], "month": months}
    keys = ["channel", "interval_start_utc"]
    parts = read_parts(delta_log, "meter", version, where, flt, time_range=(start_us, end_us),
                       columns=schema.names, dictionary=dictionary)
    if any(n > 1 for _, n in parts):     # deduped on plain strings (several files: rare)
        parts = [(t.cast(as_plain(t.schema)), n) for t, n in parts]
    unique = delta_log.snapshot("meter", version).keys_unique
    rows = latest_parts(parts, keys, plain, unique=unique)
    if rows is None:                   # partitions that may share keys: dedupe them all
        rows, files = read_rows(delta_log, "meter", version, where, flt,
                                time_range=(start_us, end_us))
        rows = latest(rows, files, keys, unique=unique).select(schema.names)
    return rows if rows.schema == schema else rows.cast(schema)


def _meter_read_schemas(columns: list[str] | None,
                        dictionary: tuple[str, ...]) -> tuple[pa.Schema, pa.Schema]:
    """The schema of a meter read with plain strings, and as returned (``dictionary``
    columns dictionary-encoded: string columns of the read, else ``InputError``)."""
    plain = project(METER_SCHEMA, columns)
    unknown = sorted(set(dictionary) - {f.name for f in plain if pa.types.is_string(f.type)})
    if unknown:
        raise InputError(f"column(s) {unknown} cannot be read dictionary-encoded: "
                         "not string columns of the read")
    return plain, as_dictionary(plain, dictionary)


def meter_rows_cross(delta_log: DeltaLog, site_id: str, tz: str, start_us: int,
                     boundary_us: int, end_us: int, *,
                     as_of: int | datetime | None = None) -> bool:
    """Could a read of ``[boundary_us, end_us)`` miss a stored meter row of
    ``site_id`` that a read of ``[start_us, end_us)`` sees and that reaches past
    ``boundary_us``? Answered from the Delta log's per-file statistics, no data file
    read; True whenever the statistics cannot rule it out.

    A file is safe when all its rows end by the boundary, or when the shorter read
    opens its partition and it holds no row before the boundary. Anything else (a
    row reaching across the boundary; a row after it stored under an earlier month
    because the site's zone changed between ingests) answers True. Statistics
    truncate times to the millisecond; a start off the millisecond is off every
    interval grid, and VEE drops such a row anyway.
    """
    version = delta_log.resolve_as_of("meter", as_of)
    months = months_overlapping(start_us, end_us, tz)
    if version is None or not months:
        return False
    files = delta_log.snapshot("meter", version).files
    mask = pc.and_(pc.equal(files.column("site_id"), site_id),
                   pc.is_in(files.column("month"), value_set=pa.array(months, pa.string())))
    files = files.filter(mask)
    if files.num_rows == 0:
        return False
    reach = pc.add(files.column("max_us"),
                   pc.multiply(files.column("max_minutes"), US_PER_MINUTE))
    ends_before = pc.less_equal(reach, boundary_us)
    later = pa.array(months_overlapping(boundary_us, end_us, tz), pa.string())
    opened_and_after = pc.and_(pc.is_in(files.column("month"), value_set=later),
                               pc.greater_equal(files.column("min_us"), boundary_us))
    safe = pc.fill_null(pc.or_(ends_before, opened_and_after), False)
    return not pc.all(safe).as_py()


def read_prices(delta_log: DeltaLog, iso: str, node: str, market_run: str, start_us: int,
                end_us: int, *, as_of: int | datetime | None = None) -> pa.Table:
    """Deduped prices of one node and market run in ``[start, end)`` (UTC us),
    sorted by ``interval_start_utc``; PRICE_SCHEMA."""
    version = delta_log.resolve_as_of("prices", as_of)
    months = months_overlapping(start_us, end_us, None)
    if version is None or not months:
        return PRICE_SCHEMA.empty_table()
    flt = (pc.field("iso") == iso) & (pc.field("node") == node)
    rows, files = read_rows(delta_log, "prices", version,
                            {"market_run": [market_run], "month": months},
                            flt, time_range=(start_us, end_us))
    return latest(rows, files, ["interval_start_utc"], unique=_unique(delta_log, "prices", version))


def read_index(delta_log: DeltaLog, index: str, start: date, end: date, *,
               as_of: int | datetime | None = None) -> pa.Table:
    """Deduped values of one index with ``period_start`` in ``[start, end)``, sorted
    by ``period_start``; INDEX_SCHEMA."""
    version = delta_log.resolve_as_of("index", as_of)
    if version is None or end <= start:
        return INDEX_SCHEMA.empty_table()
    flt = ((pc.field("period_start") >= pa.scalar(start, pa.date32()))
           & (pc.field("period_start") < pa.scalar(end, pa.date32())))
    rows, files = read_rows(delta_log, "index", version, {"index": [index]}, flt)
    return latest(rows, files, ["period_start"], unique=_unique(delta_log, "index", version))


def read_partition(delta_log: DeltaLog, table: str, partition: dict[str, str], *,
                   as_of: int | datetime | None = None,
                   time_range: tuple[int, int] | None = None) -> pa.Table:
    """All deduped rows of one partition (e.g. ``{"site_id": s, "month": m}``), sorted
    by the key. Used by ingest to compare new rows with current values.
    ``time_range`` = ``[start, end)`` on ``interval_start_utc`` (tables that have it):
    only those rows, and only the files whose log statistics reach into it are read."""
    spec = table_spec(table)
    version = delta_log.resolve_as_of(table, as_of)
    if version is None:
        return spec.schema.empty_table()
    rows, files = read_rows(delta_log, table, version,
                            {k: [v] for k, v in partition.items()}, None, time_range=time_range)
    return latest(rows, files, [k for k in spec.key if k not in partition],
                  unique=_unique(delta_log, table, version))


def _unique(delta_log: DeltaLog, table: str, version: int) -> bool:
    return delta_log.snapshot(table, version).keys_unique


def partitions(delta_log: DeltaLog, table: str, *,
               as_of: int | datetime | None = None) -> list[tuple[str, ...]]:
    """Sorted distinct partition values of ``table`` at a version, from the Delta log."""
    spec = table_spec(table)
    version = delta_log.resolve_as_of(table, as_of)
    if version is None:
        return []
    files = delta_log.snapshot(table, version).files
    return sorted(set(zip(*(files.column(p).to_pylist() for p in spec.partition_by))))


__all__ = ["read_meter", "meter_rows_cross", "read_prices", "read_index", "read_partition",
           "partitions"]
