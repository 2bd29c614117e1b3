"""Shared plumbing of the file readers: CSV to string columns, exact column converters.

Every converter has a vectorised fast path (Arrow casts: decimal strings to scaled
int64 exactly, ISO 8601 with offset to UTC microseconds) and, only when the fast
path refuses a value, a row-by-row path with the authoritative rules of
``engine.units`` that finds the first bad row and names its line and field. So a
clean million-row file never runs Python per row, and a bad one still gets an exact
message.

Line numbers are 1-based lines of the file as an editor shows them (the header is
line 1). For Parquet input the "line" is the 1-based row number.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.errors import ValidationError
from engine.schema import UTC_TS
from engine.timebase import ALLOWED_INTERVAL_MINUTES, to_us
from engine.units import decimal_to_scaled

INT64_MAX = 2**63 - 1
MAX_PROBLEMS = 20


@dataclass
class Problems:
    """Collects the first problem of each check; raises one ValidationError, earliest line first."""
    file: str
    items: list[tuple[int, str, str]] = field(default_factory=list)   # (line, field, message)

    def add(self, line: int | None, fld: str | None, message: str) -> None:
        self.items.append((line or 0, fld or "", message))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = sorted(self.items)
        line, fld, msg = items[0]
        more = f" (and {len(items) - 1} more problem(s))" if len(items) > 1 else ""
        raise ValidationError(msg + more, file=self.file, line=line or None, field=fld or None,
                              problems=[f"{self.file}:{ln}: field '{f}': {m}"
                                        for ln, f, m in items[:MAX_PROBLEMS]])


@dataclass
class CsvColumns:
    """A CSV file as string columns plus the file line of every row."""
    columns: dict[str, pa.Array]
    lines: np.ndarray          # int64, 1-based line of each row

    @property
    def num_rows(self) -> int:
        return len(self.lines)

    def line(self, row: int) -> int:
        return int(self.lines[row])


def read_csv_columns(data: bytes, name: str, required: Sequence[str],
                     optional: Sequence[str] = ()) -> CsvColumns:
    """Parse a headed CSV into string columns (names lower-cased and stripped).

    Missing required columns, an empty file, or a row with the wrong number of fields
    raise ValidationError. Files without quotes or blank lines take the Arrow reader
    (line = row + 2); others the ``csv`` module, which tracks physical lines exactly.
    """
    text_head = data[:4096].lstrip(b"\xef\xbb\xbf")
    if not text_head.strip():
        raise ValidationError("the file is empty", file=name, line=1)
    data = data.rstrip(b"\r\n \t") + b"\n"      # blank lines at the end are harmless
    try:
        # Arrow's reader treats every newline as a row end (newlines_in_values=False) and
        # keeps blank lines as rows, so any file it accepts has row i on line i + 2;
        # anything odd (blank line, quoted newline, ragged row) falls to the exact reader.
        return _read_arrow(data, name, required, optional)
    except pa.ArrowInvalid:
        pass
    return _read_python(data, name, required, optional)


def _check_header(header: list[str], name: str, required: Sequence[str]) -> list[str]:
    cols = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in cols]
    if missing:
        raise ValidationError(f"missing column(s) {', '.join(missing)}; the header has "
                              f"{', '.join(cols) or 'nothing'}", file=name, line=1,
                              field=missing[0])
    dup = sorted({c for c in cols if cols.count(c) > 1})
    if dup:
        raise ValidationError(f"duplicate column(s) {', '.join(dup)}", file=name, line=1, field=dup[0])
    return cols


def _read_arrow(data, name, required, optional) -> CsvColumns:
    body = data.lstrip(b"\xef\xbb\xbf")
    first = body.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    cols = _check_header(next(csv.reader([first])), name, required)
    wanted = [c for c in cols if c in (*required, *optional)]
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=cols, skip_rows=1, use_threads=True),
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in cols}, include_columns=wanted,
            strings_can_be_null=False, quoted_strings_can_be_null=False))
    if body.count(b"\n") != table.num_rows + 1:
        # a quoted newline made a record span lines: only the csv module numbers them right
        raise pa.ArrowInvalid("record spans lines")
    out = {c: pc.utf8_trim_whitespace(table.column(c).combine_chunks()) for c in wanted}
    blank = None
    for col in out.values():
        e = pc.equal(col, "")
        blank = e if blank is None else pc.and_(blank, e)
    row = first_row(blank) if blank is not None else None
    if row is not None:
        raise ValidationError("empty line", file=name, line=row + 2)
    return CsvColumns(out, np.arange(2, table.num_rows + 2, dtype=np.int64))


def _read_python(data, name, required, optional) -> CsvColumns:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("the file is empty", file=name, line=1) from None
    cols = _check_header(header, name, required)
    wanted = [(i, c) for i, c in enumerate(cols) if c in (*required, *optional)]
    values: dict[str, list[str]] = {c: [] for _, c in wanted}
    lines: list[int] = []
    start = reader.line_num + 1
    for row in reader:
        if not row or all(not v.strip() for v in row):
            raise ValidationError("empty line", file=name, line=start)
        if len(row) != len(cols):
            raise ValidationError(f"expected {len(cols)} fields, found {len(row)}",
                                  file=name, line=start)
        for i, c in wanted:
            values[c].append(row[i].strip())
        lines.append(start)
        start = reader.line_num + 1
    return CsvColumns({c: pa.array(v, pa.string()) for c, v in values.items()},
                      np.asarray(lines, dtype=np.int64))


# -- converters: each returns an Arrow array or records a problem and returns None -----

LineOf = Callable[[int], int]


def scaled_decimal(col: pa.Array, digits: int, fld: str, problems: Problems, line_of: LineOf,
                   *, allow_empty: bool = False) -> pa.Array | None:
    """Decimal strings -> int64 counts of ``10**-digits`` (exact; half-even beyond, as
    ``engine.units.decimal_to_scaled``). Empty strings are nulls if ``allow_empty``."""
    col = col.cast(pa.string()) if not pa.types.is_string(col.type) else col
    empty = pc.equal(col, "")
    has_empty = bool(pc.any(empty).as_py()) if len(col) else False
    if has_empty and not allow_empty:
        row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        problems.add(line_of(row), fld, "a value is required")
        return None
    work = pc.if_else(empty, pa.scalar(None, pa.string()), col) if has_empty else col
    try:
        dec = pc.cast(work, pa.decimal128(28, digits))
        return pc.cast(pc.multiply(dec, pa.scalar(10**digits, pa.decimal128(digits + 1, 0))),
                       pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: list[int | None] = []
    scale = 10**digits
    for row, v in enumerate(work.to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            x = decimal_to_scaled(v, scale)
        except ValueError:
            problems.add(line_of(row), fld, f"not a number: {v!r}")
            return None
        if abs(x) > INT64_MAX:
            problems.add(line_of(row), fld, f"value out of range: {v!r}")
            return None
        out.append(x)
    return pa.array(out, pa.int64())


def utc_timestamps(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """ISO 8601 strings WITH an offset (``Z``, ``-05:00``) -> timestamp[us, UTC].

    Timestamp columns (Parquet) must be zone-aware; a naive one is refused."""
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            problems.add(1, fld, "timestamps without a time zone offset are not accepted")
            return None
        return pc.cast(col, UTC_TS)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        problems.add(1, fld, f"expected ISO 8601 timestamps with an offset, got type {col.type}")
        return None
    try:
        return pc.cast(col, UTC_TS)
    except pa.ArrowInvalid:
        pass
    for row, v in enumerate(col.to_pylist()):
        try:
            dt = datetime.fromisoformat(v.replace("z", "Z")) if v else None
        except ValueError:
            dt = None
        if dt is None:
            problems.add(line_of(row), fld, f"not an ISO 8601 timestamp: {v!r}")
            return None
        if dt.tzinfo is None:
            problems.add(line_of(row), fld, f"timestamp {v!r} has no offset (use Z or ±HH:MM)")
            return None
    # Arrow refused a form Python accepts: convert row by row
    return pa.array([to_us(datetime.fromisoformat(v)) for v in col.to_pylist()], UTC_TS)


def iso_dates(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """``YYYY-MM-DD`` strings (or a date column) -> date32."""
    if pa.types.is_date(col.type):
        return pc.cast(col, pa.date32())
    try:
        return pc.cast(pc.strptime(col, "%Y-%m-%d", "s", error_is_null=False), pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for row, v in enumerate(col.to_pylist()):
        try:
            date.fromisoformat(v)
        except (TypeError, ValueError):
            problems.add(line_of(row), fld, f"not a date YYYY-MM-DD: {v!r}")
            return None
    return pa.array([date.fromisoformat(v) for v in col.to_pylist()], pa.date32())


def interval_minutes(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """Interval lengths in minutes, each one of ``ALLOWED_INTERVAL_MINUTES`` -> int16."""
    try:
        mins = pc.cast(col, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = []
        for row, v in enumerate(col.to_pylist()):
            try:
                values.append(int(str(v)))
            except ValueError:
                problems.add(line_of(row), fld, f"not an integer: {v!r}")
                return None
        mins = pa.array(values, pa.int64())
    bad = pc.invert(pc.is_in(mins, value_set=pa.array(ALLOWED_INTERVAL_MINUTES, pa.int64())))
    if len(mins) and pc.any(bad).as_py():
        row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        problems.add(line_of(row), fld, f"interval_minutes must be one of "
                     f"{', '.join(map(str, ALLOWED_INTERVAL_MINUTES))}; got {mins[row].as_py()}")
        return None
    return pc.cast(mins, pa.int16())


def first_row(mask: pa.Array) -> int | None:
    """Index of the first True of a boolean array (nulls are False), or None."""
    if len(mask) == 0:
        return None
    m = pc.fill_null(mask, False)
    if not pc.any(m).as_py():
        return None
    return int(np.flatnonzero(m.to_numpy(zero_copy_only=False))[0])


def require_nonempty(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> None:
    row = first_row(pc.equal(col, ""))
    if row is not None:
        problems.add(line_of(row), fld, "a value is required")


def check_one_of(col: pa.Array, allowed: Sequence[str], fld: str, problems: Problems,
                 line_of: LineOf) -> None:
    row = first_row(pc.invert(pc.is_in(col, value_set=pa.array(list(allowed), pa.string()))))
    if row is not None:
        problems.add(line_of(row), fld, f"must be one of {', '.join(allowed)}; got {col[row].as_py()!r}")


def check_unique(table: pa.Table, keys: list[str], lines: np.ndarray, problems: Problems,
                 what: str) -> None:
    """No two rows of ``table`` share ``keys``; names both lines of the first duplicate."""
    from ..keys import duplicate_pair
    pair = duplicate_pair(table, keys)
    if pair is None:
        return
    a, b = pair
    la, lb = sorted((int(lines[a]), int(lines[b])))
    desc = ", ".join(f"{k}={table.column(k)[a].as_py()}" for k in keys)
    problems.add(lb, keys[-1], f"duplicate {what} ({desc}); first at line {la}")


__all__ = ["Problems", "CsvColumns", "read_csv_columns", "scaled_decimal", "utc_timestamps",
           "iso_dates", "interval_minutes", "first_row", "require_nonempty", "check_one_of",
           "check_unique", "INT64_MAX"]
