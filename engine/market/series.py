"""Interval series and their alignment to an ISO's settlement grid, exactly.

A :class:`Series` is interval-beginning UTC starts (int64 us), interval lengths
(minutes) and int64 values. Three alignments, each exact:

* :func:`power_energy` -- awards, schedules, base points (values in W): the energy
  they imply in each settlement interval, in wh12 (``engine.market.units``). The
  series may be coarser (an hourly award over 5-minute intervals: ISOs distribute a
  day-ahead MW evenly, PJM "DA prices will be evenly distributed for each 5 minute
  interval") or finer (5-minute base points over a 15-minute interval). An instant no
  interval covers contributes 0: no award is an award of 0 MW.
* :func:`meter_energy` -- metered energy (values in Wh): the energy in each
  settlement interval, in wh12. Finer readings are summed; a coarser reading is
  spread evenly over its sub-intervals (PJM scales hourly generator meters "to the 5
  minute level"). Every part of every interval must be metered, else
  ``DataMissingError`` names the first instants missing.
* :func:`price` -- prices (values in micro-USD/MWh): the price of the price interval
  containing each settlement interval, or the time-weighted average of finer prices
  (ERCOT's RTSPP from 5-minute SCED LMPs; PJM's pre-2018 hourly integrated LMP),
  through ``engine.pricing.align_prices`` (average rounded half-even once to 1e-6
  USD/MWh).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataMissingError, InputError
from ..pricing import PriceSeries, align_prices
from ..timebase import US_PER_MINUTE, from_us

_SHOW = 5


@dataclass(frozen=True)
class Series:
    start_us: np.ndarray
    minutes: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls) -> "Series":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z)

    @classmethod
    def of(cls, start_us, minutes, values) -> "Series":
        s = np.asarray(start_us, dtype=np.int64)
        order = np.argsort(s, kind="stable")
        return cls(s[order], np.asarray(minutes, dtype=np.int64)[order],
                   np.asarray(values, dtype=np.int64)[order])

    def __len__(self) -> int:
        return int(self.start_us.size)


def grid(start_us: int, end_us: int, minutes: int) -> np.ndarray:
    return np.arange(start_us, end_us, minutes * US_PER_MINUTE, dtype=np.int64)


def _iso(us: int) -> str:
    return from_us(int(us)).strftime("%Y-%m-%dT%H:%MZ")


def _containing(s: Series, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the interval containing each instant, and whether one does."""
    if len(s) == 0:
        return np.zeros(at.size, np.int64), np.zeros(at.size, bool)
    idx = np.searchsorted(s.start_us, at, side="right") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & (at < s.start_us[safe] + s.minutes[safe] * US_PER_MINUTE)
    return safe, ok


def _step(s: Series, minutes: int) -> int:
    step = min(int(s.minutes.min()), minutes) if len(s) else minutes
    if minutes % step:
        raise InputError(f"{step}-minute data do not divide {minutes}-minute settlement intervals")
    return step


def power_energy(s: Series, starts: np.ndarray, minutes: int) -> np.ndarray:
    """wh12 implied by power values (W) over each ``minutes`` interval from ``starts``."""
    step = _step(s, minutes)
    if step % 5:
        raise InputError(f"power series of {step}-minute intervals: awards, schedules and base "
                         "points are held over multiples of 5 minutes")
    out = np.zeros(starts.size, dtype=np.int64)
    for j in range(minutes // step):
        idx, ok = _containing(s, starts + j * step * US_PER_MINUTE)
        out += np.where(ok, s.values[idx] if len(s) else 0, 0) * (step // 5)
    return out


def meter_energy(s: Series, starts: np.ndarray, minutes: int, what: str) -> np.ndarray:
    """wh12 metered in each ``minutes`` interval from ``starts`` (values in Wh)."""
    step = _step(s, minutes)
    out = np.zeros(starts.size, dtype=np.int64)
    covered = np.ones(starts.size, dtype=bool)
    for j in range(minutes // step):
        at = starts + j * step * US_PER_MINUTE
        idx, ok = _containing(s, at)
        covered &= ok
        if len(s) == 0:
            continue
        m = s.minutes[idx]
        num = s.values[idx] * 12 * step
        if np.any(ok & (num % np.maximum(m, 1) != 0) & (s.values[idx] != 0)):
            raise InputError(f"{what}: {int(m[ok][0])}-minute readings cannot be spread exactly over "
                             f"{step}-minute settlement steps")
        out += np.where(ok, num // np.maximum(m, 1), 0)
    if not covered.all():
        bad = starts[~covered]
        more = f" (+{bad.size - _SHOW} more)" if bad.size > _SHOW else ""
        raise DataMissingError(f"{what}: metered energy missing for {bad.size} settlement "
                               f"interval(s): {', '.join(_iso(x) for x in bad[:_SHOW])}{more}")
    return out


def price(s: Series | None, starts: np.ndarray, minutes: int, what: str) -> np.ndarray:
    """micro-USD/MWh applying to each ``minutes`` interval from ``starts``."""
    ps = None if s is None else PriceSeries(s.start_us, s.minutes, s.values)
    return align_prices(ps, starts, minutes, what)


__all__ = ["Series", "grid", "power_energy", "meter_energy", "price"]
