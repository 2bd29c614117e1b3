"""Readers of the canonical input formats (``shared/spec/interfaces.md``, "Input files").

Meter intervals, CSV or Parquet, one row per channel per interval::

    site_id,channel,interval_start,interval_minutes,kwh,quality
    TX-DC1,gt1,2026-10-01T05:00:00Z,5,20833.3,A

* ``interval_start``: ISO 8601 WITH an offset, interval-beginning; stored as UTC.
* ``interval_minutes``: 1, 5, 15, 30 or 60.
* ``kwh``: decimal energy >= 0, converted exactly to integer Wh (``engine.units``:
  half-even only beyond 3 decimals). Direction comes from the channel's kind.
* ``quality``: A actual (default when empty or absent), E estimated, S substituted,
  F final substitute. An optional ``method`` column carries a source method code.

Prices: ``iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh``, with
optional ``energy_usd_per_mwh,congestion_usd_per_mwh,loss_usd_per_mwh``; market_run
DA or RT; prices may be negative; stored as integer micro-USD/MWh.

Indices: ``index,period_start,value,unit`` (``HENRY_HUB,2026-10-01,3.12,usd_per_mmbtu``);
values stored x 1e6 exactly.

Each reader takes the file's bytes and its name (for messages) and returns a
:class:`~storage.readers.rows.ReadResult`, or raises ``ValidationError`` naming
file, line and field. A duplicate key inside one file is an error (which of the two
rows is meant?).
"""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.errors import ValidationError

from .columns import (CsvColumns, Problems, check_one_of, check_unique, first_row,
                      interval_minutes, iso_dates, read_csv_columns, require_nonempty,
                      scaled_decimal, utc_timestamps)
from .rows import INDEX_ROWS_SCHEMA, METER_ROWS_SCHEMA, PRICE_ROWS_SCHEMA, ReadResult

METER_QUALITIES = ("A", "E", "S", "F")
MARKET_RUNS = ("DA", "RT")
METER_REQUIRED = ("site_id", "channel", "interval_start", "interval_minutes", "kwh")
PRICE_REQUIRED = ("iso", "node", "market_run", "interval_start", "interval_minutes",
                  "lmp_usd_per_mwh")
PRICE_OPTIONAL = ("energy_usd_per_mwh", "congestion_usd_per_mwh", "loss_usd_per_mwh")
INDEX_REQUIRED = ("index", "period_start", "value", "unit")


def _meter_from_columns(cols: dict[str, pa.Array], lines: np.ndarray, name: str,
                        fmt: str) -> ReadResult:
    problems = Problems(name)
    n = len(lines)
    line_of = lambda row: int(lines[row])  # noqa: E731
    if n == 0:
        raise ValidationError("no data rows", file=name, line=2 if fmt == "csv" else None)
    site = _as_string(cols["site_id"])
    channel = _as_string(cols["channel"])
    require_nonempty(site, "site_id", problems, line_of)
    require_nonempty(channel, "channel", problems, line_of)
    ts = utc_timestamps(cols["interval_start"], "interval_start", problems, line_of)
    minutes = interval_minutes(cols["interval_minutes"], "interval_minutes", problems, line_of)
    wh = scaled_decimal(_as_string(cols["kwh"]), 3, "kwh", problems, line_of)
    if wh is not None:
        row = first_row(pc.less(wh, 0))
        if row is not None:
            problems.add(line_of(row), "kwh", f"energy must be >= 0 (direction comes from the "
                         f"channel kind); got {cols['kwh'][row].as_py()}")
    if "quality" in cols:
        quality = pc.utf8_upper(_as_string(cols["quality"]))
        quality = pc.if_else(pc.equal(quality, ""), "A", quality)
        check_one_of(quality, METER_QUALITIES, "quality", problems, line_of)
    else:
        quality = pa.array(np.full(n, "A", dtype=object), pa.string())
    if "method" in cols:
        method = _as_string(cols["method"])
        method = pc.if_else(pc.equal(method, ""), pa.scalar(None, pa.string()), method)
    else:
        method = pa.nulls(n, pa.string())
    problems.raise_if_any()
    table = pa.table({"site_id": site, "channel": channel, "interval_start_utc": ts,
                      "interval_minutes": minutes, "energy_wh": wh, "quality": quality,
                      "method": method, "line": pa.array(lines, pa.int64())},
                     schema=METER_ROWS_SCHEMA)
    check_unique(table, ["site_id", "channel", "interval_start_utc"], lines, problems,
                 "interval (same site, channel and interval_start)")
    problems.raise_if_any()
    return ReadResult(table, fmt)


def _as_string(col: pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_string(col.type):
        return col
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return pc.cast(col, pa.string())


def read_meter_csv(data: bytes, name: str) -> ReadResult:
    """Canonical meter CSV -> canonical meter rows."""
    c: CsvColumns = read_csv_columns(data, name, METER_REQUIRED, ("quality", "method"))
    return _meter_from_columns(c.columns, c.lines, name, "csv")


def read_meter_parquet(data: bytes, name: str) -> ReadResult:
    """Canonical meter Parquet (same columns as the CSV; ``interval_start`` a zone-aware
    timestamp or an ISO string with offset; ``kwh`` decimal, integer, float or string)
    -> canonical meter rows. Error "lines" are 1-based row numbers."""
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"not a readable Parquet file: {exc}", file=name) from None
    cols = {n.strip().lower(): table.column(n).combine_chunks() for n in table.column_names}
    missing = [c for c in METER_REQUIRED if c not in cols]
    if missing:
        raise ValidationError(f"missing column(s) {', '.join(missing)}", file=name, field=missing[0])
    for c in METER_REQUIRED:
        if cols[c].null_count:
            row = first_row(cols[c].is_null())
            assert row is not None                   # null_count > 0
            raise ValidationError("a value is required", file=name, line=row + 1, field=c)
    for c in ("quality", "method"):
        if c in cols:
            cols[c] = pc.fill_null(_as_string(cols[c]), "")
    lines = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return _meter_from_columns(cols, lines, name, "parquet")


def _rows_with(data: bytes, name: str, required: tuple[str, ...], optional: tuple[str, ...],
               nonempty: tuple[str, ...]) -> tuple[CsvColumns, Problems]:
    """A CSV's columns and the problems found so far: at least one data row, and a
    value in every ``nonempty`` column."""
    c = read_csv_columns(data, name, required, optional)
    if c.num_rows == 0:
        raise ValidationError("no data rows", file=name, line=2)
    problems = Problems(name)
    for f in nonempty:
        require_nonempty(c.columns[f], f, problems, c.line)
    return c, problems


def read_prices_csv(data: bytes, name: str) -> ReadResult:
    """Prices CSV -> canonical price rows (USD/MWh decimals -> micro-USD/MWh)."""
    c, problems = _rows_with(data, name, PRICE_REQUIRED, PRICE_OPTIONAL, ("iso", "node"))
    line_of = c.line
    run = pc.utf8_upper(c.columns["market_run"])
    check_one_of(run, MARKET_RUNS, "market_run", problems, line_of)
    ts = utc_timestamps(c.columns["interval_start"], "interval_start", problems, line_of)
    minutes = interval_minutes(c.columns["interval_minutes"], "interval_minutes", problems, line_of)
    prices = {"lmp_microusd_per_mwh": scaled_decimal(c.columns["lmp_usd_per_mwh"], 6,
                                                     "lmp_usd_per_mwh", problems, line_of)}
    for f in PRICE_OPTIONAL:
        out = f.replace("_usd_per_mwh", "_microusd_per_mwh")
        prices[out] = (scaled_decimal(c.columns[f], 6, f, problems, line_of, allow_empty=True)
                       if f in c.columns else pa.nulls(c.num_rows, pa.int64()))
    problems.raise_if_any()
    table = pa.table({"iso": c.columns["iso"], "node": c.columns["node"], "market_run": run,
                      "interval_start_utc": ts, "interval_minutes": minutes, **prices,
                      "line": pa.array(c.lines, pa.int64())}, schema=PRICE_ROWS_SCHEMA)
    check_unique(table, ["iso", "node", "market_run", "interval_start_utc"], c.lines, problems,
                 "price interval (same iso, node, market_run and interval_start)")
    problems.raise_if_any()
    return ReadResult(table, "csv")


def read_index_csv(data: bytes, name: str) -> ReadResult:
    """Index CSV -> canonical index rows (value decimals -> value x 1e6, exact)."""
    c, problems = _rows_with(data, name, INDEX_REQUIRED, (), ("index", "unit"))
    line_of = c.line
    day = iso_dates(c.columns["period_start"], "period_start", problems, line_of)
    value = scaled_decimal(c.columns["value"], 6, "value", problems, line_of)
    problems.raise_if_any()
    table = pa.table({"index": c.columns["index"], "period_start": day, "value_micro": value,
                      "unit": c.columns["unit"], "line": pa.array(c.lines, pa.int64())},
                     schema=INDEX_ROWS_SCHEMA)
    check_unique(table, ["index", "period_start"], c.lines, problems,
                 "index value (same index and period_start)")
    problems.raise_if_any()
    return ReadResult(table, "csv")


__all__ = ["read_meter_csv", "read_meter_parquet", "read_prices_csv", "read_index_csv",
           "METER_QUALITIES", "MARKET_RUNS"]
