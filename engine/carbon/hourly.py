"""Intervals to UTC hours: the hour grid of a site-month, exact hourly sums, grid factors.

Carbon is accounted per **UTC hour** (the resolution of the grid factors and of the 24/7
CFE score; EnergyTag certificates cover at most one hour). A site-month is the site-local
billing month ``[b0, b1)``; its hours are the UTC hours overlapping it. For a zone with a
whole-hour offset these tile the month exactly; for a half-hour zone the first and last
UTC hour are split between two months (each month sums its own intervals).

Interval -> hour sums are exact int64 (a running sum over the sorted grid, checked against
``engine.money.sum_exact`` so that nothing can wrap), vectorised: no Python loop per interval.
Local time enters only the report buckets (``engine.carbon.report``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValueRangeError
from ..money import sum_exact
from ..timebase import US_PER_HOUR, from_us, periods_between

_INT64_MAX = np.iinfo(np.int64).max


@dataclass(frozen=True)
class HourGrid:
    """The UTC hours of ``[start_us, end_us)``: ``hours_us[i]`` is hour ``i``'s start."""
    start_us: int
    end_us: int
    hours_us: np.ndarray
    #: n + 1 instants: the hours' bounds, clipped to ``[start, end)``
    edges_us: np.ndarray

    @classmethod
    def of(cls, start_us: int, end_us: int) -> "HourGrid":
        h0 = start_us - start_us % US_PER_HOUR
        h1 = end_us + (-end_us) % US_PER_HOUR
        hours = np.arange(h0, h1, US_PER_HOUR, dtype=np.int64)
        edges = np.clip(np.arange(h0, h1 + 1, US_PER_HOUR, dtype=np.int64), start_us, end_us)
        return cls(int(start_us), int(end_us), hours, edges)

    @property
    def n(self) -> int:
        return int(self.hours_us.size)

    def utc_months(self) -> list[str]:
        """The UTC months ``YYYY-MM`` the hours fall in."""
        if not self.n:
            return []
        first, last = (from_us(int(x)) for x in (self.hours_us[0], self.hours_us[-1]))
        return periods_between(f"{first:%Y-%m}", f"{last:%Y-%m}")

    def sums(self, grid_us: np.ndarray, values: np.ndarray, what: str = "energy_wh") -> np.ndarray:
        """Exact per-hour sums (int64) of interval ``values`` on the sorted ``grid_us``
        (intervals are at most an hour long and nest in UTC hours)."""
        g = np.asarray(grid_us, dtype=np.int64)
        v = np.asarray(values, dtype=np.int64)
        if not self.n:
            return np.zeros(0, dtype=np.int64)
        if v.size:
            lo, hi = int(v.min()), int(v.max())
            if lo < 0:
                raise ValueRangeError(f"{what}: negative interval value in an hourly sum", field=what)
            if hi > _INT64_MAX // v.size and sum_exact(v) > _INT64_MAX:      # the running sum could wrap
                raise ValueRangeError(f"{what}: the month's sum exceeds int64", field=what)
        cs = np.concatenate(([0], np.cumsum(v, dtype=np.int64)))
        b = np.searchsorted(g, self.edges_us)
        return cs[b[1:]] - cs[b[:-1]]

    def index_of(self, instants_us: np.ndarray) -> np.ndarray:
        """Hour index of each instant (instants inside the grid)."""
        return (np.asarray(instants_us, dtype=np.int64) - self.hours_us[0]) // US_PER_HOUR


@dataclass(frozen=True)
class GridFactors:
    """Hourly grid factors of one balancing authority over a :class:`HourGrid` (-1: no row
    for that hour). ``co2e_mg_per_mwh``: location-based (grid average) factor;
    ``residual_mg_per_mwh``: residual mix (market-based, after contractual instruments);
    ``cfe_ppm``: the grid's carbon-free share."""
    balancing_authority: str
    co2e_mg_per_mwh: np.ndarray
    residual_mg_per_mwh: np.ndarray
    cfe_ppm: np.ndarray

    @classmethod
    def missing(cls, ba: str, n: int) -> "GridFactors":
        m = np.full(n, -1, dtype=np.int64)
        return cls(ba, m, m.copy(), m.copy())

    @classmethod
    def align(cls, ba: str, hours: HourGrid, starts_us: np.ndarray, co2e: np.ndarray,
              residual: np.ndarray | None, cfe: np.ndarray) -> "GridFactors":
        """Place hourly rows (starts on the hour; ``residual`` -1 where absent) on ``hours``;
        rows outside the grid are ignored, hours without a row are -1."""
        out = cls.missing(ba, hours.n)
        s = np.asarray(starts_us, dtype=np.int64)
        if not s.size or not hours.n:
            return out
        idx = hours.index_of(s)
        ok = (idx >= 0) & (idx < hours.n) & (s % US_PER_HOUR == 0)
        out.co2e_mg_per_mwh[idx[ok]] = np.asarray(co2e, dtype=np.int64)[ok]
        if residual is not None:
            out.residual_mg_per_mwh[idx[ok]] = np.asarray(residual, dtype=np.int64)[ok]
        out.cfe_ppm[idx[ok]] = np.asarray(cfe, dtype=np.int64)[ok]
        return out


__all__ = ["HourGrid", "GridFactors"]
