"""The local calendar of a UTC grid: local days, wall-clock slots, 23/24/25-hour days.

VEE's grids are in UTC; like days, holidays and DST days are local. ``LocalCalendar``
computes a grid's local fields once per site and grid (channels with the same
interval share them); ``GridDays`` is what estimation reads from it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ..timebase import US_PER_DAY, US_PER_MINUTE, local_day_bounds_us, local_fields

EPOCH_DATE = date(1970, 1, 1)


def local_date(us: int, tz: str) -> date:
    """The local date of UTC instant ``us`` in zone ``tz``."""
    return EPOCH_DATE + timedelta(days=int(local_fields(np.array([us], np.int64), tz).day[0]))


def epoch_days(dates: Iterable[date]) -> np.ndarray:
    """Distinct dates as sorted days since 1970-01-01 (int64), e.g. the holidays."""
    return np.array(sorted({(d - EPOCH_DATE).days for d in dates}), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class GridDays:
    """Local calendar of one grid (``origin + i * minutes``, ``i < n``)."""
    day: np.ndarray          # int64 local day of each slot (days since 1970-01-01)
    tod: np.ndarray          # int64 wall-clock slot of the day, 0 .. slots_per_day - 1
    minutes: int

    @property
    def day0(self) -> int:
        return int(self.day[0])

    @property
    def n_days(self) -> int:
        return int(self.day[-1]) - int(self.day[0]) + 1

    @property
    def slots_per_day(self) -> int:
        """Wall-clock slots of a day (a 25-hour day repeats some)."""
        return 1440 // self.minutes


class LocalCalendar:
    """Local calendar fields of grids in one zone, shared by channels with the same grid."""

    def __init__(self, tz: str):
        self.tz = tz
        self._days: dict[tuple[int, int, int], GridDays] = {}
        self._day_slots: dict[tuple[int, int, int], np.ndarray] = {}

    def grid_days(self, origin_us: int, n: int, minutes: int) -> GridDays:
        key = (origin_us, n, minutes)
        if key not in self._days:
            grid = origin_us + np.arange(n, dtype=np.int64) * (minutes * US_PER_MINUTE)
            lf = local_fields(grid, self.tz)
            tod = (lf.local_us - lf.day * US_PER_DAY) // (minutes * US_PER_MINUTE)
            self._days[key] = GridDays(lf.day, np.clip(tod, 0, 1440 // minutes - 1), minutes)
        return self._days[key]

    def slots_per_local_day(self, days: GridDays) -> np.ndarray:
        """Grid intervals in each whole local day of ``days`` (23/24/25 h)."""
        key = (days.day0, days.n_days, days.minutes)
        if key not in self._day_slots:
            step = days.minutes * US_PER_MINUTE
            out = np.empty(days.n_days, dtype=np.int64)
            for i in range(days.n_days):             # one zone lookup per day, not per row
                s, e = local_day_bounds_us(EPOCH_DATE + timedelta(days=days.day0 + i), self.tz)
                out[i] = (e - s) // step
            self._day_slots[key] = out
        return self._day_slots[key]


__all__ = ["EPOCH_DATE", "local_date", "epoch_days", "GridDays", "LocalCalendar"]
