"""AEMO NEM12 interval meter data -> canonical meter rows.

Record structure (AEMO "Meter Data File Format Specification NEM12 & NEM13")::

    100,NEM12,<DateTime yyyymmddhhmm>,<FromParticipant>,<ToParticipant>     header, first
    200,<NMI>,<NMIConfiguration>,<RegisterID>,<NMISuffix>,<MDMDataStreamIdentifier>,
        <MeterSerialNumber>,<UOM>,<IntervalLength>,<NextScheduledReadDate>  one data stream
    300,<IntervalDate yyyymmdd>,<v1>..<vN>,<QualityMethod>,<ReasonCode>,
        <ReasonDescription>,<UpdateDateTime>,<MSATSLoadDateTime>            one day, N = 1440/len
    400,<StartInterval>,<EndInterval>,<QualityMethod>,<ReasonCode>,<ReasonDescription>
                                                                           per-interval quality
    500,...                                                                B2B details (ignored)
    900                                                                    end, last

Mapping to meter2cash:

* ``site_id`` = NMI, ``channel`` = NMISuffix (``E1`` import, ``B1`` export, ...): the
  site registry must know both (checked at ingest, not here).
* Time: NEM12 dates are in NEM time, a fixed UTC+10 with no daylight saving
  (Australia/Brisbane). Value ``i`` (1-based) covers the ``i``-th interval of the
  day, i.e. it BEGINS at ``date 00:00 + (i-1) * IntervalLength`` NEM time (the
  first interval ends at 00:00 + len); stored as the UTC interval beginning.
* ``IntervalLength`` must be 5, 15 or 30 minutes, and every 300 record must carry
  exactly ``1440 / IntervalLength`` values and then its five trailing fields
  (QualityMethod, ReasonCode, ReasonDescription, UpdateDateTime, MSATSLoadDateTime;
  they may be empty, the delimiters may not be missing): a record cut short after the
  quality flag is refused.
* UOM: ``Wh``, ``kWh``, ``MWh`` (any case) are converted exactly to integer Wh.
  Streams of other quantities (``kVArh``, ``VArh``, ``kVAh``, voltage, ...) are not
  active energy: they are validated, then skipped, and a note says so.
* Quality: the 300 record's QualityMethod is a flag and an optional 2-digit method
  (``F14`` -> quality ``F``, method ``14``). Flags: A actual, E estimated, F final
  substitute, S substituted, N null (no data: those intervals are NOT stored, so VEE
  sees them missing), V variable (then 400 records must give the quality of every
  interval). 400 records may only follow a 300 record flagged V.
* Values must be decimal numbers >= 0 (ASCII digits and one decimal point:
  ``engine.units.DECIMAL_TEXT``), at most ``engine.units.max_interval_wh`` of the
  interval (10 GW); integers (IntervalLength, StartInterval, ...) ASCII digits;
  IntervalDate within 1970..2199.

Any violation raises ``ValidationError`` with the file, the 1-based line and the
NEM12 field name (e.g. ``IntervalLength``, ``IntervalValue17``, ``QualityMethod``).
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone

import pyarrow as pa

from engine.errors import ValidationError
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, to_us
from engine.units import DECIMAL_TEXT, decimal_to_scaled, max_interval_wh

from .columns import Problems, check_unique, csv_rows
from .rows import METER_ROWS_SCHEMA, ReadResult

#: NEM time is UTC+10 all year (no DST)
NEM_UTC_OFFSET_US = 10 * US_PER_HOUR
NEM12_INTERVAL_MINUTES = (5, 15, 30)
#: active-energy units -> Wh per unit
ENERGY_UOM_WH = {"WH": 1, "KWH": 1_000, "MWH": 1_000_000}
#: other quantities NEM12 streams carry; validated and skipped (not active energy)
OTHER_UOMS = {"VARH", "KVARH", "MVARH", "VAH", "KVAH", "MVAH", "W", "KW", "MW", "VAR", "KVAR",
              "MVAR", "VA", "KVA", "MVA", "V", "KV", "A", "KA", "PF", "DEG"}
QUALITY_FLAGS = ("A", "E", "F", "N", "S", "V")
#: trailing fields of a 300 record after the values
TRAILER_300 = ("QualityMethod", "ReasonCode", "ReasonDescription", "UpdateDateTime",
               "MSATSLoadDateTime")
#: IntervalDate years accepted (as the canonical readers' instants)
YEARS = (1970, 2199)
_DIGITS = re.compile(r"[0-9]{1,9}")


def looks_like_nem12(data: bytes) -> bool:
    """True if the file starts with a ``100,`` header record (NEM12; a NEM13 file is
    then refused by :func:`read_nem12` with a clear message rather than mistaken for CSV)."""
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"100,")


class _Stream:
    """The current 200 record's data stream."""

    def __init__(self, nmi: str, suffix: str, uom: str, minutes: int, line: int):
        self.nmi, self.suffix, self.uom, self.minutes, self.line = nmi, suffix, uom, minutes, line
        self.n = 1440 // minutes
        self.wh_per_unit = ENERGY_UOM_WH.get(uom.upper())
        self.dates: set[str] = set()


def read_nem12(data: bytes, name: str) -> ReadResult:
    """Parse a NEM12 file (see the module docstring) into canonical meter rows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not text ({exc.reason} at byte {exc.start})", file=name,
                              line=data.count(b"\n", 0, exc.start) + 1) from None
    p = _Parser(name)
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for row in csv_rows(reader, name):
        p.record([f.strip() for f in row], line)
        line = reader.line_num + 1
    return p.finish(line)


class _Parser:
    def __init__(self, name: str):
        self.name = name
        self.seen_header = False
        self.ended = False
        self.stream: _Stream | None = None
        self.day: dict | None = None          # pending 300 record flagged V awaiting 400s
        self.last_kind: str | None = None
        self.cols: dict[str, list] = {k: [] for k in METER_ROWS_SCHEMA.names}
        self.notes: list[str] = []
        self.skipped: dict[tuple[str, str], str] = {}
        self.stream_lines: dict[tuple[str, str], int] = {}
        self.null_intervals = 0
        self.days = 0

    def err(self, message: str, line: int, fld: str | None = None) -> ValidationError:
        return ValidationError(message, file=self.name, line=line, field=fld)

    # -- records ------------------------------------------------------------------------

    def record(self, row: list[str], line: int) -> None:
        blank = not row or all(not f for f in row)
        if self.ended:
            if blank:
                return
            raise self.err("data after the 900 end record", line, "RecordIndicator")
        if not self.seen_header:
            if blank:
                raise self.err("a NEM12 file must start with a 100 header record; found an "
                               "empty line", line, "RecordIndicator")
            if row[0] != "100":
                raise self.err(f"a NEM12 file must start with a 100 header record; found "
                               f"record {row[0]!r}", line, "RecordIndicator")
        if blank:
            raise self.err("empty line inside NEM12 data", line, "RecordIndicator")
        kind = row[0]
        if kind != "400":
            self._close_day()
        handler = {"100": self._r100, "200": self._r200, "300": self._r300, "400": self._r400,
                   "500": self._r500, "900": self._r900}.get(kind)
        if handler is None:
            hint = " (NEM13 accumulation data is not supported)" if kind in ("250", "550") else ""
            raise self.err(f"unknown record indicator {kind!r}{hint}", line, "RecordIndicator")
        handler(row, line)
        self.last_kind = kind

    def _r100(self, row, line):
        if self.seen_header:
            raise self.err("a second 100 header record", line, "RecordIndicator")
        if len(row) < 2 or row[1].upper() != "NEM12":
            got = row[1] if len(row) > 1 else ""
            raise self.err(f"VersionHeader must be NEM12, got {got!r}", line, "VersionHeader")
        self.seen_header = True

    def _r200(self, row, line):
        if len(row) < 9:
            raise self.err(f"200 record needs at least 9 fields, found {len(row)}", line,
                           "IntervalLength")
        nmi, suffix, uom, length = row[1], row[4], row[7], row[8]
        if not nmi:
            raise self.err("NMI is required", line, "NMI")
        if not suffix:
            raise self.err("NMISuffix is required", line, "NMISuffix")
        if not _DIGITS.fullmatch(length):
            raise self.err(f"IntervalLength must be a number of minutes, got {length[:20]!r}",
                           line, "IntervalLength")
        minutes = int(length)
        if minutes not in NEM12_INTERVAL_MINUTES:
            raise self.err(f"IntervalLength must be one of "
                           f"{', '.join(map(str, NEM12_INTERVAL_MINUTES))} minutes, got {minutes}",
                           line, "IntervalLength")
        if not uom:
            raise self.err("UOM is required", line, "UOM")
        if uom.upper() not in ENERGY_UOM_WH and uom.upper() not in OTHER_UOMS:
            raise self.err(f"unknown UOM {uom!r}", line, "UOM")
        self.stream = _Stream(nmi, suffix, uom, minutes, line)
        self.stream_lines.setdefault((nmi, suffix), line)
        if self.stream.wh_per_unit is None and (nmi, suffix) not in self.skipped:
            self.skipped[(nmi, suffix)] = uom
            self.notes.append(f"skipped stream {nmi}/{suffix} (line {line}): UOM {uom} is not "
                              "active energy")

    def _r300(self, row, line):
        s = self.stream
        if s is None:
            raise self.err("300 record before any 200 record", line, "RecordIndicator")
        d = self._date(row[1] if len(row) > 1 else "", line)
        if row[1] in s.dates:
            raise self.err(f"a second 300 record for {row[1]} in stream {s.nmi}/{s.suffix}",
                           line, "IntervalDate")
        s.dates.add(row[1])
        n = s.n
        if len(row) < 2 + n + 1:
            raise self.err(f"incomplete 300 record: IntervalLength {s.minutes} (line {s.line}) "
                           f"needs {n} interval values and a QualityMethod, found "
                           f"{max(len(row) - 2, 0)} fields after the date", line,
                           "IntervalValue")
        qm = row[2 + n]
        if qm[:1].isdigit() or qm[:1] == ".":
            raise self.err(f"more than {n} interval values: the record does not match "
                           f"IntervalLength {s.minutes} (line {s.line})", line, "QualityMethod")
        if len(row) != 2 + n + len(TRAILER_300):
            missing = TRAILER_300[max(len(row) - 2 - n, 1):]
            what = (f"ends after {TRAILER_300[len(row) - 3 - n]}: {', '.join(missing)} missing"
                    if missing else f"has {len(row) - 2 - n - len(TRAILER_300)} field(s) too many")
            raise self.err(f"incomplete 300 record: it {what} (a 300 record has {2 + n + 5} "
                           f"fields for IntervalLength {s.minutes}; empty fields keep their "
                           "commas)", line, missing[0] if missing else "MSATSLoadDateTime")
        flag, method = self._quality(qm, line, "QualityMethod", allow_v=True)
        raw_values = row[2:2 + n]
        values = self._values(raw_values, s, line) if s.wh_per_unit else None
        self.days += 1
        day_start = to_us(datetime(d.year, d.month, d.day, tzinfo=timezone.utc)) - NEM_UTC_OFFSET_US
        if flag == "V":
            self.day = {"line": line, "start": day_start, "values": values,
                        "quality": [None] * n, "method": [None] * n}
            return
        if values is not None:
            self._emit(day_start, values, [flag] * n, [method] * n, line)

    def _r400(self, row, line):
        if self.day is None:
            raise self.err("400 record must follow a 300 record whose QualityMethod is V",
                           line, "RecordIndicator")
        assert self.stream is not None           # a 300 record (self.day) follows a 200
        n = self.stream.n
        if len(row) < 4:
            raise self.err(f"400 record needs StartInterval, EndInterval and QualityMethod, "
                           f"found {len(row) - 1} fields", line, "QualityMethod")
        if not (_DIGITS.fullmatch(row[1]) and _DIGITS.fullmatch(row[2])):
            raise self.err(f"StartInterval/EndInterval must be integers, got {row[1][:20]!r}, "
                           f"{row[2][:20]!r}", line, "StartInterval")
        first, last = int(row[1]), int(row[2])
        if not 1 <= first <= last <= n:
            raise self.err(f"interval range {first}..{last} outside 1..{n}", line,
                           "EndInterval" if first >= 1 else "StartInterval")
        flag, method = self._quality(row[3], line, "QualityMethod", allow_v=False)
        for i in range(first - 1, last):
            if self.day["quality"][i] is not None:
                raise self.err(f"interval {i + 1} already has a quality from an earlier 400 "
                               f"record", line, "StartInterval")
            self.day["quality"][i] = flag
            self.day["method"][i] = method

    def _r500(self, row, line):
        if self.last_kind not in ("300", "400", "500"):
            raise self.err("500 record must follow a 300 or 400 record", line, "RecordIndicator")

    def _r900(self, row, line):
        self.ended = True

    # -- helpers ------------------------------------------------------------------------

    def _close_day(self) -> None:
        day = self.day
        if day is None:
            return
        self.day = None
        missing = [i + 1 for i, q in enumerate(day["quality"]) if q is None]
        if missing:
            raise self.err(f"QualityMethod V needs 400 records covering every interval; "
                           f"interval(s) {_ranges(missing)} have none", day["line"], "QualityMethod")
        if day["values"] is not None:
            self._emit(day["start"], day["values"], day["quality"], day["method"], day["line"])

    def _emit(self, day_start: int, values: list[int], quality: list[str],
              method: list[str | None], line: int) -> None:
        s = self.stream
        assert s is not None                     # values are emitted inside a 200 record
        step = s.minutes * US_PER_MINUTE
        c = self.cols
        for i, (v, q, m) in enumerate(zip(values, quality, method)):
            if q == "N":                     # null data: no value, VEE will see it missing
                self.null_intervals += 1
                continue
            c["site_id"].append(s.nmi)
            c["channel"].append(s.suffix)
            c["interval_start_utc"].append(day_start + i * step)
            c["interval_minutes"].append(s.minutes)
            c["energy_wh"].append(v)
            c["quality"].append(q)
            c["method"].append(m)
            c["line"].append(line)

    def _date(self, raw: str, line: int) -> date:
        try:
            if not re.fullmatch(r"[0-9]{8}", raw):
                raise ValueError
            day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            raise self.err(f"IntervalDate must be yyyymmdd, got {raw[:20]!r}", line,
                           "IntervalDate") from None
        if not YEARS[0] <= day.year <= YEARS[1]:
            raise self.err(f"IntervalDate {raw} is outside the accepted years "
                           f"{YEARS[0]}..{YEARS[1]}", line, "IntervalDate")
        return day

    def _quality(self, qm: str, line: int, fld: str, *, allow_v: bool) -> tuple[str, str | None]:
        flag, method = (qm[:1].upper(), qm[1:] or None) if qm else ("", None)
        allowed = QUALITY_FLAGS if allow_v else tuple(f for f in QUALITY_FLAGS if f != "V")
        if flag not in allowed or (method is not None and not (method.isdigit() and len(method) == 2)):
            raise self.err(f"QualityMethod must be a flag ({', '.join(allowed)}) optionally "
                           f"followed by a 2-digit method, got {qm!r}", line, fld)
        if flag in ("V", "N") and method is not None:
            raise self.err(f"quality flag {flag} takes no method, got {qm!r}", line, fld)
        return flag, method

    def _values(self, raw: list[str], s: _Stream, line: int) -> list[int]:
        out = []
        limit = max_interval_wh(s.minutes)
        for i, v in enumerate(raw, start=1):
            try:
                if not DECIMAL_TEXT.fullmatch(v):
                    raise ValueError(v)
                wh = decimal_to_scaled(v, s.wh_per_unit)  # type: ignore[arg-type]  # only called when set
            except ValueError:
                raise self.err(f"not a number: {v[:40]!r}", line, f"IntervalValue{i}") from None
            if wh < 0:
                raise self.err(f"energy must be >= 0, got {v} {s.uom}", line, f"IntervalValue{i}")
            if wh > limit:
                raise self.err(f"{v} {s.uom} in {s.minutes} minutes is above the "
                               f"{limit // 1000} kWh any channel can measure (10 GW); check the "
                               "UOM and the meter multiplier", line, f"IntervalValue{i}")
            out.append(wh)
        return out

    def finish(self, line: int) -> ReadResult:
        if not self.seen_header:
            raise self.err("the file is empty: a NEM12 file starts with a 100 header record",
                           1, "RecordIndicator")
        self._close_day()
        if not self.ended:
            raise self.err("missing the 900 end record", line, "RecordIndicator")
        if self.days == 0:
            raise self.err("no interval data: the file has no 300 records", line - 1,
                           "RecordIndicator")
        if not self.cols["line"] and self.null_intervals == 0:
            raise self.err("no active-energy interval data (every stream is skipped: "
                           f"{', '.join(f'{n}/{s} {u}' for (n, s), u in self.skipped.items())})",
                           line - 1, "UOM")
        if self.null_intervals:
            self.notes.append(f"{self.null_intervals} interval(s) flagged N (null) were not stored")
        table = pa.table({k: pa.array(v, METER_ROWS_SCHEMA.field(k).type)
                          for k, v in self.cols.items()}, schema=METER_ROWS_SCHEMA)
        problems = Problems(self.name)
        check_unique(table, ["site_id", "channel", "interval_start_utc"],
                     table.column("line").to_numpy(), problems,
                     "interval (same NMI, suffix and interval)")
        problems.raise_if_any()
        return ReadResult(table, "nem12", self.notes, self.stream_lines)


def _ranges(xs: list[int]) -> str:
    out, start, prev = [], xs[0], xs[0]
    for x in xs[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
        if x is not None:
            start = prev = x
    return ", ".join(out)


__all__ = ["read_nem12", "looks_like_nem12", "NEM_UTC_OFFSET_US", "ENERGY_UOM_WH",
           "NEM12_INTERVAL_MINUTES", "QUALITY_FLAGS"]
