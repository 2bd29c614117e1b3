"""Shared plumbing of the file readers: CSV to string columns, exact column converters.

Every converter has a vectorised fast path (Arrow casts: decimal strings to scaled
int64 exactly, ISO 8601 with offset to UTC microseconds) and, only when the fast
path refuses a value, a row-by-row path with the authoritative rules of
``engine.units`` that finds the first bad row and names its line and field. So a
clean million-row file never runs Python per row, and a bad one still gets an exact
message.

Line numbers are 1-based lines of the file as an editor shows them (the header is
line 1). For Parquet input the "line" is the 1-based row number.

Values are read strictly, so that a file means one thing:

* a decimal in text is ASCII digits with one optional sign and one optional decimal
  point (``-12.5``, ``+3``, ``.25``, ``7.``): no exponent, no digit separators
  (``1_000``), no other digits (full-width ``１２``), no inner spaces (a CSV cell is
  trimmed first), at most :data:`MAX_NUMBER_CHARS` characters. Numeric Parquet
  columns (integer, decimal, float) are taken as numbers; any other column type
  (binary, list, struct, ...) is refused naming the column;
* an integer in text (``interval_minutes``) is ASCII digits with an optional sign;
* instants are between :data:`EARLIEST_INSTANT` and :data:`LATEST_INSTANT` (UTC), to
  the microsecond: a ``timestamp[ns]`` value or an ISO string with a non-zero digit
  below the microsecond is refused rather than truncated; dates likewise.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from engine.errors import ValidationError
from engine.schema import UTC_TS
from engine.timebase import ALLOWED_INTERVAL_MINUTES, to_us
from engine.units import DECIMAL_TEXT, MAX_NUMBER_CHARS, decimal_to_scaled

INT64_MAX = 2**63 - 1
MAX_PROBLEMS = 20
#: instants (interval starts) accepted in input files, UTC: [EARLIEST, LATEST)
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_INSTANT = datetime(2200, 1, 1, tzinfo=timezone.utc)
_EARLIEST_US, _LATEST_US = to_us(EARLIEST_INSTANT), to_us(LATEST_INSTANT)
_EARLIEST_DAY, _LATEST_DAY = ((t.date() - date(1970, 1, 1)).days
                               for t in (EARLIEST_INSTANT, LATEST_INSTANT))
#: Arrow regex (RE2) of a decimal in text: the grammar of ``engine.units.DECIMAL_TEXT``
_DECIMAL_RE2 = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_SUBMICRO = re.compile(r"[.,][0-9]{6}([0-9]+)")


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
    try:
        header = next(csv.reader([first]))
    except csv.Error as exc:
        raise ValidationError(f"not readable as CSV: {exc}", file=name, line=1) from None
    cols = _check_header(header, name, required)
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
        raise ValidationError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name,
                              line=data.count(b"\n", 0, exc.start) + 1) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationError("the file is empty", file=name, line=1) from None
    except csv.Error as exc:
        raise ValidationError(f"not readable as CSV: {exc}", file=name, line=1) from None
    cols = _check_header(header, name, required)
    wanted = [(i, c) for i, c in enumerate(cols) if c in (*required, *optional)]
    values: dict[str, list[str]] = {c: [] for _, c in wanted}
    lines: list[int] = []
    start = reader.line_num + 1
    for row in csv_rows(reader, name):
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


def csv_rows(reader, name: str):
    """The rows of a ``csv.reader``, its own errors (a bare carriage return inside a
    field, a NUL, a field over the size limit) raised as ``ValidationError`` naming
    the line."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ValidationError(f"not readable as CSV: {exc}", file=name, line=line) from None
        yield row


# -- converters: each returns an Arrow array or records a problem and returns None -----

LineOf = Callable[[int], int]


def scaled_decimal(col: pa.Array, digits: int, fld: str, problems: Problems, line_of: LineOf,
                   *, allow_empty: bool = False) -> pa.Array | None:
    """Decimals -> int64 counts of ``10**-digits`` (exact; half-even beyond, as
    ``engine.units.decimal_to_scaled``).

    Text is read by the strict grammar of the module docstring; empty strings are
    nulls if ``allow_empty``. Integer, decimal and float columns (Parquet) are taken
    as numbers (a float by its shortest repr, so ``20833.3`` means 20833.3; NaN and
    infinities are refused). Any other column type is refused."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    kind = col.type
    if pa.types.is_integer(kind) or pa.types.is_decimal(kind) or pa.types.is_floating(kind):
        return _scaled_number(col, digits, fld, problems, line_of)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        problems.add(line_of(0) if len(col) else 1, fld,
                     f"expected decimal numbers (text, or an integer, decimal or float "
                     f"column); the column has type {kind}")
        return None
    col = col.cast(pa.string())
    empty = pc.equal(col, "")
    has_empty = bool(pc.any(empty).as_py()) if len(col) else False
    if has_empty and not allow_empty:
        row = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        problems.add(line_of(row), fld, "a value is required")
        return None
    work = pc.if_else(empty, pa.scalar(None, pa.string()), col) if has_empty else col
    # Arrow's cast also takes an exponent (1e3): the grammar is checked first
    if len(work) and pc.all(pc.match_substring_regex(work, _DECIMAL_RE2)).as_py() is not False:
        fast = _arrow_scaled(work, digits)
        if fast is not None:
            return fast
    return _python_scaled(work.to_pylist(), digits, fld, problems, line_of)


def _arrow_scaled(col: pa.Array, digits: int) -> pa.Array | None:
    """Arrow's exact decimal cast, or None if it refuses any value (more digits than
    ``digits``, out of range, unparsable): the row-by-row path decides then."""
    try:
        dec = pc.cast(col, pa.decimal128(28, digits))
        return pc.cast(pc.multiply(dec, pa.scalar(10**digits, pa.decimal128(digits + 1, 0))),
                       pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _python_scaled(values: list, digits: int, fld: str, problems: Problems,
                   line_of: LineOf) -> pa.Array | None:
    out: list[int | None] = []
    scale = 10**digits
    for row, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, str) and (len(v) > MAX_NUMBER_CHARS or not DECIMAL_TEXT.fullmatch(v)):
            problems.add(line_of(row), fld, f"not a number: {_shown(v)} (a decimal: ASCII digits, "
                         "an optional sign and decimal point; no exponent or separators)")
            return None
        try:
            x = decimal_to_scaled(v, scale)
        except ValueError:
            problems.add(line_of(row), fld, f"not a number: {_shown(v)} (not finite)")
            return None
        if abs(x) > INT64_MAX:
            problems.add(line_of(row), fld, f"value out of range: {_shown(v)}")
            return None
        out.append(x)
    return pa.array(out, pa.int64())


def _scaled_number(col: pa.Array, digits: int, fld: str, problems: Problems,
                   line_of: LineOf) -> pa.Array | None:
    """A numeric column -> int64 counts of ``10**-digits``."""
    if pa.types.is_floating(col.type):
        bad = first_row(pc.invert(pc.is_finite(col)))
        if bad is not None:
            problems.add(line_of(bad), fld, f"not a number: {col[bad].as_py()} (not finite)")
            return None
        fast = _arrow_scaled(pc.cast(col, pa.string()), digits)   # shortest repr, as Python's
        if fast is not None:
            return fast
        return _python_scaled(col.to_pylist(), digits, fld, problems, line_of)
    try:
        if pa.types.is_integer(col.type):
            return pc.multiply_checked(pc.cast(col, pa.int64()), pa.scalar(10**digits, pa.int64()))
        fast = _arrow_scaled(pc.cast(col, pa.string()), digits)       # a decimal column
        return fast if fast is not None else _python_scaled(col.to_pylist(), digits, fld,
                                                            problems, line_of)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _python_scaled(col.to_pylist(), digits, fld, problems, line_of)


def _shown(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def utc_timestamps(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """ISO 8601 strings WITH an offset (``Z``, ``-05:00``) -> timestamp[us, UTC].

    Timestamp columns (Parquet) must be zone-aware; a naive one is refused, as is a
    value with a non-zero digit below the microsecond (``timestamp[ns]``), and any
    instant outside [:data:`EARLIEST_INSTANT`, :data:`LATEST_INSTANT`)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            problems.add(1, fld, "timestamps without a time zone offset are not accepted")
            return None
        out = _timestamp_to_us(col, fld, problems, line_of)
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        out = _text_to_us(col.cast(pa.string()), fld, problems, line_of)
    else:
        problems.add(1, fld, f"expected ISO 8601 timestamps with an offset, got type {col.type}")
        return None
    return None if out is None else _in_range(out, fld, problems, line_of)


def _timestamp_to_us(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    per_us = {"s": None, "ms": None, "us": None, "ns": 1000}[col.type.unit]
    if per_us is not None:
        ticks = col.cast(pa.int64())
        whole = pc.divide(ticks, per_us)                       # integer division
        row = first_row(pc.not_equal(pc.multiply(whole, per_us), ticks))
        if row is not None:
            problems.add(line_of(row), fld, f"{ticks[row].as_py()} ns has a digit below the "
                         "microsecond; interval starts are stored to the microsecond")
            return None
        return whole.cast(UTC_TS)
    try:
        return pc.cast(col, UTC_TS)                   # s, ms: exact; overflow is refused
    except pa.ArrowInvalid:
        problems.add(1, fld, "a timestamp is out of range")
        return None


def _text_to_us(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    try:
        return pc.cast(col, UTC_TS)
    except pa.ArrowInvalid:
        pass
    out = []
    for row, v in enumerate(col.to_pylist()):
        extra = _SUBMICRO.search(v or "")
        if extra and extra.group(1).strip("0"):
            problems.add(line_of(row), fld, f"timestamp {_shown(v)} has a digit below the "
                         "microsecond; interval starts are stored to the microsecond")
            return None
        try:
            dt = datetime.fromisoformat(v.replace("z", "Z")) if v and len(v) <= 64 else None
        except ValueError:
            dt = None
        if dt is None:
            problems.add(line_of(row), fld, f"not an ISO 8601 timestamp: {_shown(v)}")
            return None
        if dt.tzinfo is None:
            problems.add(line_of(row), fld, f"timestamp {_shown(v)} has no offset (use Z or ±HH:MM)")
            return None
        out.append(to_us(dt))                 # Arrow refused a form Python accepts
    return pa.array(out, UTC_TS)


def _in_range(ts: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    us = ts.cast(pa.int64())
    row = first_row(pc.or_(pc.less(us, _EARLIEST_US), pc.greater_equal(us, _LATEST_US)))
    if row is not None:
        at = np.datetime_as_string(np.datetime64(us[row].as_py(), "us"), unit="s")
        problems.add(line_of(row), fld, f"{at}Z is outside the accepted "
                     f"range {EARLIEST_INSTANT:%Y-%m-%d} .. {LATEST_INSTANT:%Y-%m-%d} (UTC)")
        return None
    return ts


def iso_dates(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """``YYYY-MM-DD`` strings (or a date column) -> date32, within
    [:data:`EARLIEST_INSTANT`, :data:`LATEST_INSTANT`)."""
    if pa.types.is_date(col.type):
        days = pc.cast(col, pa.date32())
    elif not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        problems.add(1, fld, f"expected dates YYYY-MM-DD, got type {col.type}")
        return None
    else:
        days = None
        try:
            days = pc.cast(pc.strptime(col, "%Y-%m-%d", "s", error_is_null=False), pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if days is None:
            for row, v in enumerate(col.to_pylist()):
                try:
                    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v or ""):
                        raise ValueError
                    date.fromisoformat(v)
                except (TypeError, ValueError):
                    problems.add(line_of(row), fld, f"not a date YYYY-MM-DD: {_shown(v)}")
                    return None
            days = pa.array([date.fromisoformat(v) for v in col.to_pylist()], pa.date32())
    n = days.cast(pa.int32())
    outside = first_row(pc.or_(pc.less(n, _EARLIEST_DAY), pc.greater_equal(n, _LATEST_DAY)))
    if outside is not None:
        problems.add(line_of(outside), fld, f"{days[outside].as_py()} is outside the accepted range "
                     f"{EARLIEST_INSTANT:%Y-%m-%d} .. {LATEST_INSTANT:%Y-%m-%d}")
        return None
    return days


def interval_minutes(col: pa.Array, fld: str, problems: Problems, line_of: LineOf) -> pa.Array | None:
    """Interval lengths in minutes, each one of ``ALLOWED_INTERVAL_MINUTES`` -> int16.

    Text must be ASCII digits (an optional sign); Parquet columns may be integers (or
    floats with integral values); other types are refused."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    numeric = pa.types.is_integer(col.type) or pa.types.is_floating(col.type) \
        or pa.types.is_decimal(col.type)
    if not numeric and not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        problems.add(line_of(0) if len(col) else 1, fld,
                     f"expected integer minutes; the column has type {col.type}")
        return None
    try:
        mins = pc.cast(col, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = []
        for row, v in enumerate(col.to_pylist()):
            if isinstance(v, str) and _INTEGER_TEXT.fullmatch(v):
                v = int(v) if len(v) <= 18 else v          # too long: refused just below
            elif not isinstance(v, int) or isinstance(v, bool):
                problems.add(line_of(row), fld, f"not an integer number of minutes: {_shown(v)}")
                return None
            if v not in ALLOWED_INTERVAL_MINUTES:
                problems.add(line_of(row), fld, f"interval_minutes must be one of "
                             f"{', '.join(map(str, ALLOWED_INTERVAL_MINUTES))}; got {_shown(str(v))}")
                return None
            values.append(v)
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
