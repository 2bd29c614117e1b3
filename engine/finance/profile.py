"""Typical-year profiles and how a forecast month is laid out from them.

A **typical year** has one source month per month of the year: per site, the VEE'd
interval energy of every channel in a named billing month of the metered history (as
of a pinned data version), or supplied; per price series, that month's prices (as
stored, or their typical shape: the mean by hour of day and day type, which has at most
48 distinct values a month and so settles fast).

A **forecast month** (``YYYY-MM``, any year) takes the source month of its month of
the year and re-lays it on its own calendar **by local wall-clock time**: the forecast
interval starting at local day ``d``, minute ``m`` takes the source interval at local
day ``d``, minute ``m`` (the second of a repeated fall-back hour takes the source's
second one when the source has it). A local time the source month lacks (29 February,
the 31st of a 30-day source, an hour skipped at the source's spring-forward) takes the
same minute of the nearest earlier day that has it. So TOU buckets, weekdays, holidays
and DST fall on the forecast calendar, the shape comes from the source, and a forecast
month equal to its source month is the source month itself, interval for interval
(the identity the invoice-reproduction test relies on).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..pricing import PriceSeries
from ..sites import Site
from ..timebase import (US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, interval_grid_us, local_fields,
                        local_month_bounds_us, parse_period)

__all__ = ["MonthChannels", "SiteProfile", "PriceProfile", "relocation", "typical_price_shape",
           "month_of_year"]


def month_of_year(period: str) -> int:
    return parse_period(period)[1]


@dataclass(frozen=True)
class MonthChannels:
    """One source month of one site: every channel's Wh on one UTC grid."""
    period: str                              # the source month (site-local)
    grid_us: np.ndarray                      # int64 UTC interval starts, the whole local month
    minutes: int
    energy_wh: dict[str, np.ndarray]         # channel -> int64 Wh
    quality: dict[str, np.ndarray] = field(default_factory=dict)   # channel -> letters (optional)


@dataclass(frozen=True)
class SiteProfile:
    """A site's typical year: month of the year (1..12) -> its source month."""
    site: Site
    months: dict[int, MonthChannels]


@dataclass(frozen=True)
class PriceProfile:
    """A price series' typical year: month of the year -> (source month, prices),
    the source month being local to ``timezone`` (the contracts' zone)."""
    key: tuple[str, str, str]
    timezone: str
    months: dict[int, tuple[str, PriceSeries]]


def _wall_keys(utc_us: np.ndarray, tz: str, month_start_local_day: int) -> np.ndarray:
    """Key (day of month, minute of day, fold) of each instant: ``fold`` 1 for the
    second occurrence of a repeated local time."""
    lf = local_fields(utc_us, tz)
    dom = lf.day - month_start_local_day
    minute = (lf.local_us - lf.day * US_PER_DAY) // US_PER_MINUTE
    _, first = np.unique(lf.local_us, return_index=True)
    fold = np.ones(utc_us.size, dtype=np.int64)
    fold[first] = 0
    return (dom * 1440 + minute) * 2 + fold


_RELOCATIONS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_RELOCATIONS_MAX = 4096


def relocation(src_grid_us: np.ndarray, src_period: str, dst_period: str, tz: str, minutes: int,
               *, dst_range_us: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(dst_grid_us, src_index)``: the forecast month's interval starts (its local month,
    or ``dst_range_us``) and, for each, the source interval it takes (module docstring).
    ``src_grid_us`` must be sorted and on a ``minutes`` grid. Remembered (the same source
    month is laid on the same forecast month at every lattice point); read-only arrays."""
    src = np.asarray(src_grid_us, dtype=np.int64)
    key = (src_period, dst_period, tz, minutes, dst_range_us, src.size, hash(src.tobytes()))
    hit = _RELOCATIONS.get(key)
    if hit is None:
        hit = _relocation(src, src_period, dst_period, tz, minutes, dst_range_us)
        for a in hit:
            a.setflags(write=False)
        if len(_RELOCATIONS) >= _RELOCATIONS_MAX:
            _RELOCATIONS.pop(next(iter(_RELOCATIONS)))
        _RELOCATIONS[key] = hit
    return hit


def _relocation(src: np.ndarray, src_period: str, dst_period: str, tz: str, minutes: int,
                dst_range_us: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if dst_range_us is None:
        dst_range_us = local_month_bounds_us(dst_period, tz)
    dst = interval_grid_us(dst_range_us[0], dst_range_us[1], minutes)
    if src_period == dst_period and dst.size == src.size and np.array_equal(src, dst):
        return dst, np.arange(src.size, dtype=np.int64)
    s0 = local_fields(np.array([local_month_bounds_us(src_period, tz)[0]]), tz).day[0]
    d0 = local_fields(np.array([local_month_bounds_us(dst_period, tz)[0]]), tz).day[0]
    skeys = _wall_keys(src, tz, int(s0))
    dkeys = _wall_keys(dst, tz, int(d0))
    order = np.argsort(skeys, kind="stable")
    sk = skeys[order]
    out = np.full(dst.size, -1, dtype=np.int64)
    # the exact (day, minute, fold); the same with fold 0; the same minute on the
    # nearest earlier, then later, days (up to 3)
    base = dkeys - (dkeys % 2)
    day = 2 * 1440
    for want_all in [dkeys, base] + [base - day * k for k in (1, 2, 3)] + [base + day * k for k in (1, 2, 3)]:
        todo = np.flatnonzero(out < 0)
        if todo.size == 0:
            break
        want = want_all[todo]
        pos = np.minimum(np.searchsorted(sk, want), sk.size - 1)
        hit = sk[pos] == want
        out[todo[hit]] = order[pos[hit]]
    if (out < 0).any():
        raise ValueError(f"relocation {src_period} -> {dst_period}: {int((out < 0).sum())} intervals "
                         "have no source within 3 days (is the source month complete?)")
    return dst, out


def typical_price_shape(prices: PriceSeries, period: str, tz: str) -> PriceSeries:
    """The month's prices as their typical shape: hourly intervals over the local month
    (plus the hour before it, which settlement reads), each the mean of the source
    prices in the same local hour of the same day type (weekday or weekend), rounded
    half-even to 1e-6 USD/MWh."""
    b0, b1 = local_month_bounds_us(period, tz)
    s = prices.sorted()
    inside = (s.start_us >= b0) & (s.start_us < b1)
    start, lmp = s.start_us[inside], s.lmp_microusd_per_mwh[inside].astype(np.int64)
    lf = local_fields(start, tz)
    cell = (lf.weekday >= 5).astype(np.int64) * 24 + lf.hour
    weights = np.asarray(s.minutes[inside], dtype=np.int64)
    num = np.bincount(cell, weights=lmp * weights, minlength=48)
    den = np.bincount(cell, weights=weights, minlength=48)
    grid = interval_grid_us(b0 - US_PER_HOUR, b1, 60)
    glf = local_fields(grid, tz)
    gcell = (glf.weekday >= 5).astype(np.int64) * 24 + glf.hour
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / den
    if np.isnan(mean[gcell]).any():
        # a cell without any source price (a month without weekend hours cannot occur;
        # a short price history can): the mean of the same hour over both day types
        hourly = np.bincount(lf.hour, weights=lmp * weights, minlength=24) / np.maximum(
            np.bincount(lf.hour, weights=weights, minlength=24), 1)
        mean = np.where(np.isnan(mean), np.concatenate([hourly, hourly]), mean)
    values = np.rint(mean[gcell]).astype(np.int64)
    return PriceSeries(grid, np.full(grid.size, 60, dtype=np.int64), values)
