"""NERC holidays and time-of-use (TOU) buckets, in local prevailing time.

NERC holidays (the "additional off-peak days" of WECC/NERC-style PPAs): New Year's
Day (Jan 1), Memorial Day (last Monday of May), Independence Day (Jul 4), Labor Day
(first Monday of September), Thanksgiving (fourth Thursday of November) and
Christmas (Dec 25). A fixed-date holiday on a **Sunday** is observed on the Monday
after; one on a **Saturday stays on Saturday** (no Friday observance). So
2022-12-25 (Sun) -> 2022-12-26 (Mon) and 2027-12-25 (Sat) -> 2027-12-25.

TOU. ``on_peak`` = hours ending HE07..HE22 (the hour *ending* at 07:00 is the hour
*beginning* 06:00 local), Monday..Saturday, excluding NERC holidays; every other
hour is ``off_peak``. Hours are local prevailing time (DST applies), both bounds
configurable (PJM: HE08..HE23 Mon..Fri). A sub-hourly interval takes the bucket of
the local hour it starts in. Bucket codes: ``OFF_PEAK = 0``, ``ON_PEAK = 1``
(``BUCKET_NAMES[code]``).
"""
from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from .timebase import LocalFields, local_fields

OFF_PEAK, ON_PEAK = 0, 1
BUCKET_NAMES = ("off_peak", "on_peak")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MON_SAT = (0, 1, 2, 3, 4, 5)
_EPOCH_ORD = date(1970, 1, 1).toordinal()


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    return d + timedelta(days=(weekday - d.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    """Sunday -> the Monday after; Saturday stays on Saturday."""
    return d + timedelta(days=1) if d.weekday() == 6 else d


@lru_cache(maxsize=512)
def _nerc(year: int) -> tuple[date, ...]:
    return tuple(sorted([
        _observed(date(year, 1, 1)),
        _last_weekday(year, 5, 0),           # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),         # Labor Day
        _nth_weekday(year, 11, 3, 4),        # Thanksgiving
        _observed(date(year, 12, 25)),
    ]))


def nerc_holidays(year: int) -> list[date]:
    """The six NERC holidays of ``year`` as observed (see module docstring)."""
    return list(_nerc(year))


def holiday_days(first_day: int, last_day: int) -> np.ndarray:
    """NERC holidays between two local dates (days since 1970-01-01), as day numbers."""
    y0 = date.fromordinal(int(first_day) + _EPOCH_ORD).year
    y1 = date.fromordinal(int(last_day) + _EPOCH_ORD).year
    return np.array([d.toordinal() - _EPOCH_ORD for y in range(y0, y1 + 1) for d in _nerc(y)],
                    dtype=np.int64)


def tou_buckets(utc_us: np.ndarray, tz: str, *, on_peak_hours_ending: tuple[int, int] = (7, 22),
                on_peak_days: tuple[int, ...] = MON_SAT, holidays: str = "nerc",
                local: LocalFields | None = None) -> np.ndarray:
    """TOU bucket code (int8: 0 off-peak, 1 on-peak) of each UTC interval start.

    ``on_peak_hours_ending`` is the inclusive range of hours ending (1..24);
    ``on_peak_days`` are weekday numbers (Mon=0); ``holidays`` is ``"nerc"`` or
    ``"none"``. Vectorised through ``engine.timebase.local_fields``; ``local``:
    those fields of ``utc_us`` in ``tz``, if the caller already has them.
    """
    utc_us = np.asarray(utc_us, dtype=np.int64)
    if utc_us.size == 0:
        return np.zeros(0, dtype=np.int8)
    he_first, he_last = on_peak_hours_ending
    if not 1 <= he_first <= he_last <= 24:
        raise ValueError(f"on_peak_hours_ending must be 1 <= first <= last <= 24, got {on_peak_hours_ending}")
    if holidays not in ("nerc", "none"):
        raise ValueError(f"holidays must be 'nerc' or 'none', got {holidays!r}")
    lf = local if local is not None else local_fields(utc_us, tz)
    hour_ending = lf.hour + 1
    on = (hour_ending >= he_first) & (hour_ending <= he_last)
    weekday_on = np.zeros(7, dtype=bool)                 # lookups, not searches
    weekday_on[[d for d in on_peak_days if 0 <= d < 7]] = True
    on &= weekday_on[lf.weekday]
    if holidays == "nerc":
        d0, d1 = int(lf.day.min()), int(lf.day.max())
        holiday = np.zeros(d1 - d0 + 1, dtype=bool)
        days = holiday_days(d0, d1)
        holiday[days[(days >= d0) & (days <= d1)] - d0] = True
        on &= ~holiday[lf.day - d0]
    return on.astype(np.int8)


__all__ = ["OFF_PEAK", "ON_PEAK", "BUCKET_NAMES", "WEEKDAYS", "MON_SAT", "nerc_holidays",
           "holiday_days", "tou_buckets"]
