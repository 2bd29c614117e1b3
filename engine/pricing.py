"""Aligning market prices and index values to meter intervals.

Prices. A ``PriceSeries`` holds interval-beginning UTC starts (int64 us), interval
lengths (minutes) and LMPs (int64 micro-USD/MWh). Each meter interval takes the
price of the price interval that contains its start, and the meter interval must
lie wholly inside it: prices may be coarser than the meter data (an hourly DA
price applies to each 5-minute interval of its hour, as ISOs distribute DA
quantities evenly) or equal.

When the prices are *finer* than the meter data (5-minute RT prices, 15-minute
meters), a meter interval takes the **time-weighted average** of the prices within
it, as ERCOT forms its 15-minute RTSPP from 5-minute SCED LMPs. The average is
exact (integer sum over the finest price step) and rounded once, half-even, to
1e-6 USD/MWh; every part of the meter interval must be priced.

Indices. An ``IndexSeries`` holds values (x1e6) by the local date they start to
apply (days since 1970-01-01). A *daily* index applies to the local date equal to
its ``period_start``; with ``carry_forward_days = k`` the latest value published up
to ``k`` days earlier applies (weekend and holiday gaps of gas indices). A
*monthly* index (CPI) applies to every local date of the month its
``period_start`` falls in. Local dates are in the contract time zone.

Anything missing raises ``DataMissingError`` naming the series and the first few
intervals (or dates) affected, with a count.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from .errors import DataMissingError, InputError
from .timebase import US_PER_MINUTE, from_us

_SHOW = 5


@dataclass(frozen=True)
class PriceSeries:
    start_us: np.ndarray              # int64, UTC interval-beginning
    minutes: np.ndarray               # interval length, minutes
    lmp_microusd_per_mwh: np.ndarray  # int64

    def sorted(self) -> "PriceSeries":
        order = np.argsort(self.start_us, kind="stable")
        return PriceSeries(np.asarray(self.start_us, np.int64)[order],
                           np.asarray(self.minutes, np.int64)[order],
                           np.asarray(self.lmp_microusd_per_mwh, np.int64)[order])


@dataclass(frozen=True)
class IndexSeries:
    period_start_days: np.ndarray     # int64, local date the value starts to apply (days since epoch)
    value_micro: np.ndarray           # int64, value x 1e6


def _iso(us: int) -> str:
    return from_us(us).strftime("%Y-%m-%dT%H:%MZ")


def _day(d: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(d))).isoformat()


def _missing(what: str, labels: list[str], count: int) -> DataMissingError:
    more = f" (+{count - len(labels)} more)" if count > len(labels) else ""
    return DataMissingError(f"{what}: missing for {count} interval(s): {', '.join(labels)}{more}")


def align_prices(series: PriceSeries | None, starts_us: np.ndarray, minutes: int, name: str
                 ) -> np.ndarray:
    """LMP (int64 micro-USD/MWh) applying to each meter interval ``[start, start+minutes)``."""
    starts_us = np.asarray(starts_us, dtype=np.int64)
    if starts_us.size == 0:
        return np.zeros(0, dtype=np.int64)
    if series is None or len(series.start_us) == 0:
        raise _missing(f"prices {name}", [_iso(int(s)) for s in starts_us[:_SHOW]], starts_us.size)
    s = series.sorted()
    if np.any(np.diff(s.start_us) <= 0):
        dup = s.start_us[1:][np.diff(s.start_us) <= 0][0]
        raise InputError(f"prices {name}: duplicate price interval at {_iso(int(dup))}")
    idx = np.searchsorted(s.start_us, starts_us, side="right") - 1
    ok = idx >= 0
    safe = np.where(ok, idx, 0)
    p_end = s.start_us[safe] + s.minutes[safe] * US_PER_MINUTE
    covers = ok & (starts_us < p_end)
    finer = covers & (starts_us + minutes * US_PER_MINUTE > p_end)
    if finer.any():
        return _time_weighted(s, starts_us, minutes, name)
    if not covers.all():
        bad = starts_us[~covers]
        raise _missing(f"prices {name}", [_iso(int(x)) for x in bad[:_SHOW]], bad.size)
    return s.lmp_microusd_per_mwh[safe]


def _time_weighted(s: PriceSeries, starts_us: np.ndarray, minutes: int, name: str) -> np.ndarray:
    """Time-weighted average price of each meter interval over finer price intervals."""
    step = int(s.minutes.min())
    if minutes % step:
        raise InputError(f"prices {name}: {step}-min prices do not divide the {minutes}-min "
                         f"meter intervals")
    k = minutes // step
    total = np.zeros(starts_us.size, dtype=np.int64)
    priced = np.ones(starts_us.size, dtype=bool)
    for j in range(k):
        at = starts_us + j * step * US_PER_MINUTE
        idx = np.searchsorted(s.start_us, at, side="right") - 1
        safe = np.where(idx >= 0, idx, 0)
        priced &= (idx >= 0) & (at < s.start_us[safe] + s.minutes[safe] * US_PER_MINUTE)
        total += s.lmp_microusd_per_mwh[safe]
    if not priced.all():
        bad = starts_us[~priced]
        raise _missing(f"prices {name}", [_iso(int(x)) for x in bad[:_SHOW]], bad.size)
    q = np.floor_divide(total, k)
    r = total - q * k                                   # 0 <= r < k: value = q + r/k
    up = (2 * r > k) | ((2 * r == k) & (q % 2 == 1))    # half-even
    return q + up


def align_index(series: IndexSeries | None, local_day: np.ndarray, name: str, *,
                frequency: str = "daily", carry_forward_days: int = 0) -> np.ndarray:
    """Index value (int64, x1e6) applying to each local date (days since epoch)."""
    local_day = np.asarray(local_day, dtype=np.int64)
    if local_day.size == 0:
        return np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(local_day, return_inverse=True)
    if series is None or len(series.period_start_days) == 0:
        raise _missing(f"index {name}", [_day(d) for d in uniq[:_SHOW]], uniq.size)
    order = np.argsort(series.period_start_days, kind="stable")
    ps = np.asarray(series.period_start_days, np.int64)[order]
    vals = np.asarray(series.value_micro, np.int64)[order]
    if np.any(np.diff(ps) == 0):
        raise InputError(f"index {name}: duplicate value for {_day(int(ps[1:][np.diff(ps) == 0][0]))}")
    if frequency == "monthly":
        key = uniq.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        pkey = ps.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        if np.any(np.diff(pkey) == 0):
            raise InputError(f"index {name}: two monthly values in the month of "
                             f"{_day(int(pkey[1:][np.diff(pkey) == 0][0]))}")
        idx = np.searchsorted(pkey, key)
        safe = np.minimum(idx, len(pkey) - 1)
        ok = (idx < len(pkey)) & (pkey[safe] == key)
    elif frequency == "daily":
        idx = np.searchsorted(ps, uniq, side="right") - 1
        safe = np.maximum(idx, 0)
        ok = (idx >= 0) & (uniq - ps[safe] <= carry_forward_days)
    else:
        raise ValueError(f"frequency must be daily or monthly, got {frequency!r}")
    if not ok.all():
        bad = uniq[~ok]
        raise DataMissingError(f"index {name}: no value for {bad.size} local date(s): "
                               f"{', '.join(_day(d) for d in bad[:_SHOW])}"
                               + (f" (+{bad.size - _SHOW} more)" if bad.size > _SHOW else ""))
    return vals[safe][inv]


__all__ = ["PriceSeries", "IndexSeries", "align_prices", "align_index"]
