"""The time convention of meter2cash, in one place.

* Storage and compute use **UTC interval-beginning instants** as int64 microseconds
  since the epoch (``interval_start_utc``); an interval is ``[start, start + minutes)``.
* **Local prevailing time** (with DST) is used only to find billing-period bounds
  and TOU buckets. Local boundaries are computed in local time and converted to
  UTC, so a local day has 23, 24 or 25 hours and a local month's UTC bounds move
  with DST (America/Chicago March 2026 = 2026-03-01T06:00Z .. 2026-04-01T05:00Z,
  743 hours; November 2026 has 721).
* Local fields of many instants are computed vectorised from the zone's UTC-offset
  transitions in the range (found once with ``zoneinfo``), never row by row.
"""
from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from . import kernels

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ALLOWED_INTERVAL_MINUTES = (1, 5, 15, 30, 60)


def to_us(dt: datetime) -> int:
    """Aware datetime -> int64 microseconds since the epoch (UTC)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: an offset or zone is required")
    delta = dt - EPOCH
    return (delta.days * US_PER_DAY) + delta.seconds * US_PER_SECOND + delta.microseconds


def from_us(us: int) -> datetime:
    """int64 microseconds since the epoch -> aware UTC datetime."""
    return EPOCH + timedelta(microseconds=int(us))


_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)


def parse_period(period: str) -> tuple[int, int]:
    """``"YYYY-MM"`` (ASCII digits, nothing else) -> (year, month); raises ValueError
    otherwise (signs, blanks and non-ASCII digits, which ``int()`` would take, too)."""
    m = _PERIOD.fullmatch(period) if isinstance(period, str) else None
    if m is None or not 1 <= int(m[2]) <= 12:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(m[1]), int(m[2])


def period_of(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def next_period(period: str, n: int = 1) -> str:
    y, m = parse_period(period)
    k = y * 12 + (m - 1) + n
    return period_of(k // 12, k % 12 + 1)


def periods_between(first: str, last: str) -> list[str]:
    """Inclusive list of YYYY-MM periods from ``first`` to ``last``."""
    out, p = [], first
    if parse_period(first) > parse_period(last):
        return []
    while True:
        out.append(p)
        if p == last:
            return out
        p = next_period(p)


def local_midnight_us(d: date, tz: str) -> int:
    """UTC instant (us) of local midnight starting date ``d`` in zone ``tz``."""
    return to_us(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)))


def local_month_bounds_us(period: str, tz: str) -> tuple[int, int]:
    """UTC [start, end) of the local calendar month ``period`` in ``tz``, in us."""
    y, m = parse_period(period)
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return local_midnight_us(date(y, m, 1), tz), local_midnight_us(date(ny, nm, 1), tz)


def local_day_bounds_us(d: date, tz: str) -> tuple[int, int]:
    """UTC [start, end) of local day ``d``: 23, 24 or 25 hours long."""
    return local_midnight_us(d, tz), local_midnight_us(d + timedelta(days=1), tz)


def interval_grid_us(start_us: int, end_us: int, minutes: int) -> np.ndarray:
    """Every interval-beginning instant in ``[start, end)`` on a ``minutes`` grid."""
    step = minutes * US_PER_MINUTE
    return np.arange(start_us, end_us, step, dtype=np.int64)


@lru_cache(maxsize=4096)
def _offset_us(tz: str, at_us: int) -> int:
    off = from_us(at_us).astimezone(ZoneInfo(tz)).utcoffset()
    assert off is not None                       # an aware datetime always has an offset
    return int(off.total_seconds()) * US_PER_SECOND


@lru_cache(maxsize=1024)
def offset_transitions(tz: str, start_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray]:
    """UTC-offset schedule of ``tz`` over ``[start, end)``.

    Returns ``(instants, offsets)``: ``offsets[i]`` (us) applies from
    ``instants[i]`` on; ``instants[0] == start``. Transitions are located by daily
    probes refined by bisection to the second.
    """
    instants = [start_us]
    offsets = [_offset_us(tz, start_us)]
    probe = start_us
    while probe < end_us:
        nxt = min(probe + US_PER_DAY, end_us)
        if _offset_us(tz, nxt) != offsets[-1] or nxt == end_us and _offset_us(tz, end_us - 1) != offsets[-1]:
            lo, hi = probe, nxt          # offset(lo) == current, offset(hi) differs
            if _offset_us(tz, hi) == offsets[-1]:
                hi = end_us - 1
            while hi - lo > US_PER_SECOND:
                mid = (lo + hi) // 2 // US_PER_SECOND * US_PER_SECOND
                if mid <= lo:
                    mid = lo + US_PER_SECOND
                if _offset_us(tz, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            instants.append(hi)
            offsets.append(_offset_us(tz, hi))
        probe = nxt
    return np.asarray(instants, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


def _transition_span(utc_us: np.ndarray) -> tuple[int, int]:
    """The whole UTC days around ``utc_us`` (a day of margin each side) over which
    their zone's offset schedule is looked up."""
    lo = int(utc_us.min()) // US_PER_DAY * US_PER_DAY - US_PER_DAY
    hi = int(utc_us.max()) // US_PER_DAY * US_PER_DAY + 2 * US_PER_DAY
    return lo, hi


def to_local_us(utc_us: np.ndarray, tz: str) -> np.ndarray:
    """Vectorised UTC us -> local wall-clock us (as if local were UTC)."""
    utc_us = np.asarray(utc_us, dtype=np.int64)
    if utc_us.size == 0:
        return utc_us.copy()
    instants, offsets = offset_transitions(tz, *_transition_span(utc_us))
    idx = np.searchsorted(instants, utc_us, side="right") - 1
    return utc_us + offsets[idx]


@dataclass(frozen=True)
class LocalFields:
    """Local calendar fields of a set of UTC instants (arrays of equal length)."""
    local_us: np.ndarray        # local wall clock, us since 1970-01-01 local
    day: np.ndarray             # local date as days since 1970-01-01 (int64)
    hour: np.ndarray            # local hour beginning 0..23 (hour ending = hour + 1)
    weekday: np.ndarray         # Monday=0 .. Sunday=6
    month: np.ndarray           # months since 1970-01 (int64): year*12 + month-1 - 1970*12

    def dates(self) -> np.ndarray:
        return self.day.astype("datetime64[D]")


def local_fields(utc_us: np.ndarray, tz: str) -> LocalFields:
    utc_us = np.asarray(utc_us, dtype=np.int64)
    if utc_us.ndim == 1 and utc_us.size >= kernels.MIN_SIZE:      # one compiled pass, same fields
        instants, offsets = offset_transitions(tz, *_transition_span(utc_us))
        return LocalFields(*kernels.local_fields(utc_us, instants, offsets))
    local = to_local_us(utc_us, tz)
    day = local // US_PER_DAY
    hour = (local - day * US_PER_DAY) // US_PER_HOUR
    weekday = (day + 3) % 7            # 1970-01-01 was a Thursday
    month = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return LocalFields(local, day, hour, weekday, month)


def month_label(months_since_epoch: int) -> str:
    return period_of(1970 + int(months_since_epoch) // 12, int(months_since_epoch) % 12 + 1)


def local_month_labels(utc_us: np.ndarray, tz: str) -> np.ndarray:
    """``YYYY-MM`` local-month label of every instant (object array of str)."""
    months = local_fields(utc_us, tz).month
    uniq, inv = np.unique(months, return_inverse=True)
    labels = np.array([month_label(m) for m in uniq], dtype=object)
    return labels[inv]


__all__ = [
    "US_PER_SECOND", "US_PER_MINUTE", "US_PER_HOUR", "US_PER_DAY", "ALLOWED_INTERVAL_MINUTES",
    "to_us", "from_us", "parse_period", "period_of", "next_period", "periods_between",
    "local_midnight_us", "local_month_bounds_us", "local_day_bounds_us", "interval_grid_us",
    "offset_transitions", "to_local_us", "LocalFields", "local_fields", "month_label",
    "local_month_labels",
]
