"""Readers of the canonical input formats (``shared/spec/interfaces.md``, "Input files").

Meter intervals, CSV or Parquet, one row per channel per interval::

    site_id,channel,interval_start,interval_minutes,kwh,quality
    TX-DC1,gt1,2026-10-01T05:00:00Z,5,20833.3,A

* ``interval_start``: ISO 8601 WITH an offset, interval-beginning; stored as UTC.
* ``interval_minutes``: 1, 5, 15, 30 or 60.
* ``kwh``: decimal energy >= 0, converted exactly to integer Wh (``engine.units``:
  half-even only beyond 3 decimals), at most ``engine.units.max_interval_wh`` (10 GW
  over the interval; the channel's nameplate bound is checked at ingest). Direction
  comes from the channel's kind.
* ``quality``: A actual (default when empty or absent), E estimated, S substituted,
  F final substitute. An optional ``method`` column carries a source method code.

Prices: ``iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh``, with
optional ``energy_usd_per_mwh,congestion_usd_per_mwh,loss_usd_per_mwh``; market_run
DA or RT; prices may be negative, within +/- ``engine.units.MAX_ABS_PRICE_USD_PER_MWH``;
stored as integer micro-USD/MWh. When a row gives all three components, their sum
must equal the LMP within :data:`LMP_COMPONENTS_TOLERANCE_USD_PER_MWH` (0.01, the
rounding of published components); a row giving some but not all is refused.

Indices: ``index,period_start,value,unit`` (``HENRY_HUB,2026-10-01,3.12,usd_per_mmbtu``);
values stored x 1e6 exactly.

Numbers, instants and column types are read strictly (``storage.readers.columns``):
``1_000``, ``1e3``, full-width digits, a ``kwh`` column of binary, list or struct
type, years outside 1970..2199 or a sub-microsecond ``timestamp[ns]`` are refused.

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
from engine.units import MAX_ABS_PRICE_USD_PER_MWH, MICRO, max_interval_wh

from .columns import (CsvColumns, Problems, check_one_of, check_unique, first_row,
                      interval_minutes, iso_dates, read_csv_columns, require_nonempty,
                      scaled_decimal, utc_timestamps)
from .rows import INDEX_ROWS_SCHEMA, METER_ROWS_SCHEMA, PRICE_ROWS_SCHEMA, ReadResult

METER_QUALITIES = ("A", "E", "S", "F")
MARKET_RUNS = ("DA", "RT", "FMM")          # FMM: CAISO fifteen-minute market
METER_REQUIRED = ("site_id", "channel", "interval_start", "interval_minutes", "kwh")
PRICE_REQUIRED = ("iso", "node", "market_run", "interval_start", "interval_minutes",
                  "lmp_usd_per_mwh")
PRICE_OPTIONAL = ("energy_usd_per_mwh", "congestion_usd_per_mwh", "loss_usd_per_mwh")
INDEX_REQUIRED = ("index", "period_start", "value", "unit")
#: |lmp - (energy + congestion + loss)| allowed, USD/MWh (published components are rounded)
LMP_COMPONENTS_TOLERANCE_USD_PER_MWH = "0.01"
_LMP_TOLERANCE_MICRO = 10_000


def _meter_from_columns(cols: dict[str, pa.Array], lines: np.ndarray, name: str,
                        fmt: str) -> ReadResult:
    problems = Problems(name)
    n = len(lines)
    line_of = lambda row: int(lines[row])  # noqa: E731
    if n == 0:
        raise ValidationError("no data rows", file=name, line=2 if fmt == "csv" else None)
    site = _text(cols["site_id"], "site_id", problems)
    channel = _text(cols["channel"], "channel", problems)
    if site is not None:
        require_nonempty(site, "site_id", problems, line_of)
    if channel is not None:
        require_nonempty(channel, "channel", problems, line_of)
    ts = utc_timestamps(cols["interval_start"], "interval_start", problems, line_of)
    minutes = interval_minutes(cols["interval_minutes"], "interval_minutes", problems, line_of)
    wh = scaled_decimal(cols["kwh"], 3, "kwh", problems, line_of)
    if wh is not None:
        row = first_row(pc.less(wh, 0))
        if row is not None:
            problems.add(line_of(row), "kwh", f"energy must be >= 0 (direction comes from the "
                         f"channel kind); got {cols['kwh'][row].as_py()}")
        elif minutes is not None:
            check_energy_bound(wh, minutes, "kwh", problems, line_of)
    if "quality" in cols:
        quality = _text(cols["quality"], "quality", problems)
        if quality is not None:
            quality = pc.utf8_upper(quality)
            quality = pc.if_else(pc.equal(quality, ""), "A", quality)
            check_one_of(quality, METER_QUALITIES, "quality", problems, line_of)
    else:
        quality = pa.array(np.full(n, "A", dtype=object), pa.string())
    if "method" in cols:
        method = _text(cols["method"], "method", problems)
        if method is not None:
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


def check_energy_bound(wh: pa.Array, minutes: pa.Array, fld: str, problems: Problems,
                       line_of) -> None:
    """Every interval's energy <= ``engine.units.max_interval_wh`` of its length."""
    row = first_row(pc.greater(wh, _limit_for(pc.cast(minutes, pa.int64()))))
    if row is not None:
        m = minutes[row].as_py()
        problems.add(line_of(row), fld, f"{kwh_text(wh[row].as_py())} kWh in {m} minutes is "
                     f"above the {kwh_text(max_interval_wh(m))} kWh any channel can measure "
                     f"(10 GW); check the unit (kWh) and the meter multiplier")


def kwh_text(wh: int) -> str:
    """Exact kWh of an integer Wh, as a plain decimal (``166666.667``)."""
    return _millionths(wh * 1000)                       # Wh x 1000 = millionths of a kWh


def _limit_for(minutes: pa.Array) -> pa.Array:
    """The absolute bound in Wh of each interval length (few distinct lengths)."""
    table = {m: max_interval_wh(m) for m in pc.unique(minutes).to_pylist()}
    keys = pa.array(list(table), pa.int64())
    return pc.take(pa.array(list(table.values()), pa.int64()), pc.index_in(minutes, keys))


def _text(col: pa.Array, fld: str, problems: Problems) -> pa.Array | None:
    """A text column as strings: text, dictionary-encoded text or integers (Parquet);
    any other type (binary, float, list, struct, ...) is refused naming the column."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_string(col.type):
        return col
    if pa.types.is_large_string(col.type) or pa.types.is_integer(col.type):
        return pc.cast(col, pa.string())
    problems.add(1, fld, f"expected text; the column has type {col.type}")
    return None


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
            text = _text(cols[c], c, Problems(name))
            if text is None:
                raise ValidationError(f"expected text; the column has type {cols[c].type}",
                                      file=name, line=1, field=c)
            cols[c] = pc.fill_null(text, "")
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
    _check_prices(prices, problems, line_of)
    problems.raise_if_any()
    table = pa.table({"iso": c.columns["iso"], "node": c.columns["node"], "market_run": run,
                      "interval_start_utc": ts, "interval_minutes": minutes, **prices,
                      "line": pa.array(c.lines, pa.int64())}, schema=PRICE_ROWS_SCHEMA)
    check_unique(table, ["iso", "node", "market_run", "interval_start_utc"], c.lines, problems,
                 "price interval (same iso, node, market_run and interval_start)")
    problems.raise_if_any()
    return ReadResult(table, "csv")


def _millionths(micro: int) -> str:
    """An integer count of millionths as a plain decimal, trailing zeros dropped."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}".rstrip("0").rstrip(".") if frac else f"{sign}{whole}"


def _check_prices(prices: dict[str, pa.Array], problems: Problems, line_of) -> None:
    """Prices within +/- MAX_ABS_PRICE_USD_PER_MWH; components all or none, summing
    to the LMP within LMP_COMPONENTS_TOLERANCE_USD_PER_MWH."""
    bound = MAX_ABS_PRICE_USD_PER_MWH * MICRO
    for col, values in prices.items():
        row = first_row(pc.greater(pc.abs(values), bound))
        if row is not None:
            problems.add(line_of(row), col.replace("_microusd_per_mwh", "_usd_per_mwh"),
                         f"{_millionths(values[row].as_py())} USD/MWh is beyond the +/- "
                         f"{MAX_ABS_PRICE_USD_PER_MWH:,} USD/MWh any market clears at")
    if problems.items:
        return
    names = [f.replace("_usd_per_mwh", "_microusd_per_mwh") for f in PRICE_OPTIONAL]
    given = [pc.is_valid(prices[n]) for n in names]
    some = pc.or_(pc.or_(given[0], given[1]), given[2])
    every = pc.and_(pc.and_(given[0], given[1]), given[2])
    row = first_row(pc.and_(some, pc.invert(every)))
    if row is not None:
        missing = [f for f, g in zip(PRICE_OPTIONAL, given) if not g[row].as_py()]
        problems.add(line_of(row), missing[0], f"give all of {', '.join(PRICE_OPTIONAL)} or "
                     f"none of them; this row lacks {', '.join(missing)}")
        return
    lmp = prices["lmp_microusd_per_mwh"]
    parts = pc.add(pc.add(prices[names[0]], prices[names[1]]), prices[names[2]])
    diff = pc.abs(pc.subtract(lmp, parts))                  # null where no components
    row = first_row(pc.greater(diff, _LMP_TOLERANCE_MICRO))
    if row is not None:
        problems.add(line_of(row), "lmp_usd_per_mwh",
                     f"{_millionths(lmp[row].as_py())} differs from energy + congestion + loss = "
                     f"{_millionths(parts[row].as_py())} by {_millionths(diff[row].as_py())} USD/MWh (more "
                     f"than {LMP_COMPONENTS_TOLERANCE_USD_PER_MWH})")


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
