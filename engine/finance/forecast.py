"""Forecast site-months: a typical-year source month laid on a forecast month's
calendar (:mod:`engine.finance.profile`) and scaled, ready for ``engine.settlement``.

Scaling of one site's channels in forecast month ``m`` of operating year ``y``:

* generation channels: ``availability x (1 - degradation)^(y-1)``, times the path's
  relative generation factor for the *uncertain* ones (their ``resource`` is in the
  uncertainty's list; every generation channel if the list is empty);
* load channels: ``(1 + load growth)^(y-1)``;
* storage channels: as in the source;
* grid channels keep the site's energy balance: the change ``delta = d(load) - d(gen)``
  of an interval first offsets the opposite flow (a rise in load first eats export,
  then adds import; a fall in generation likewise), then adds to its own. With no
  change (every factor 1) they are the source's, interval for interval.

Each scaled energy is rounded half-even to whole Wh (the metered unit), once.

Market inputs of a forecast month: each price series from its typical year, relocated
the same way and multiplied by the path's price factor (rounded half-even to
1e-6 USD/MWh); each index either one value for the whole month (a daily index: every
local day, plus ``carry`` days before the month; a monthly index: the month's first
day) or an actual stored series (the invoice-reproduction test).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ..delivered import ChannelSeries
from ..pricing import IndexSeries, PriceSeries
from ..settlement import MarketData
from ..sites import Site
from ..timebase import US_PER_HOUR, local_month_bounds_us, parse_period
from .profile import PriceProfile, SiteProfile, month_of_year, relocation

__all__ = ["Operations", "SiteMonth", "site_month", "scaled_series", "prices_for_month",
           "index_for_month", "operating_year"]

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Operations:
    """Deterministic operating assumptions (fractions)."""
    degradation: float = 0.0                 # per year, generation
    availability: float = 1.0                # generation
    load_growth: float = 0.0                 # per year, load
    uncertain_resources: tuple[str, ...] = ()   # () = every generation channel


def operating_year(period: str, cod_period: str) -> int:
    """1-based operating year of ``period`` (COD's month starts year 1)."""
    y, m = parse_period(period)
    cy, cm = parse_period(cod_period)
    return ((y * 12 + m) - (cy * 12 + cm)) // 12 + 1


def is_uncertain(site: Site, channel: str, ops: Operations) -> bool:
    ch = site.channels[channel]
    return ch.kind == "generation" and (not ops.uncertain_resources
                                        or (ch.resource or "") in ops.uncertain_resources)


@dataclass(frozen=True)
class SiteMonth:
    """A site's forecast month before the path's generation factor: the relocated
    source energy with the deterministic factors applied (floats, not yet rounded)."""
    site: Site
    period: str
    grid_us: np.ndarray
    minutes: int
    base_wh: dict[str, np.ndarray]            # channel -> float Wh after deterministic factors
    source_wh: dict[str, np.ndarray]          # channel -> int Wh relocated, unscaled
    quality: dict[str, np.ndarray]
    uncertain: frozenset[str]

    def generation_mwh(self, uncertain: bool) -> float:
        """P50 generation (MWh) of the uncertain (or the other) generation channels."""
        tot = sum(float(self.base_wh[c].sum()) for c, ch in self.site.channels.items()
                  if ch.kind == "generation" and (c in self.uncertain) == uncertain and c in self.base_wh)
        return tot / 1e6

    def channel_mwh(self, channel: str) -> float:
        return float(self.base_wh[channel].sum()) / 1e6 if channel in self.base_wh else 0.0


def site_month(profile: SiteProfile, period: str, ops: Operations, year: int) -> SiteMonth:
    src = profile.months[month_of_year(period)]
    site = profile.site
    grid, idx = relocation(src.grid_us, src.period, period, site.timezone, src.minutes)
    gen_f = ops.availability * (1.0 - ops.degradation) ** (year - 1)
    load_f = (1.0 + ops.load_growth) ** (year - 1)
    base, source, quality = {}, {}, {}
    for name, e in src.energy_wh.items():
        kind = site.channels[name].kind if name in site.channels else None
        v = np.asarray(e, dtype=np.int64)[idx]
        source[name] = v
        f = gen_f if kind == "generation" else load_f if kind == "load" else 1.0
        base[name] = v.astype(np.float64) * f
        q = src.quality.get(name)
        quality[name] = np.asarray(q)[idx] if q is not None else np.full(grid.size, "A")
    unc = frozenset(n for n in src.energy_wh if n in site.channels and is_uncertain(site, n, ops))
    return SiteMonth(site, period, grid, src.minutes, base, source, quality, unc)


def _rint(x: np.ndarray) -> np.ndarray:
    return np.rint(x).astype(np.int64)


def scaled_series(sm: SiteMonth, generation_factor: float = 1.0) -> dict[str, ChannelSeries]:
    """The site's channels for one generation factor (applied to the uncertain channels
    on top of the deterministic factors), grid channels rebalanced (module docstring)."""
    site = sm.site
    energy: dict[str, np.ndarray] = {}
    delta = np.zeros(sm.grid_us.size, dtype=np.int64)
    for name, b in sm.base_wh.items():
        kind = site.channels[name].kind if name in site.channels else None
        if kind in ("grid_import", "grid_export"):
            continue
        f = generation_factor if name in sm.uncertain else 1.0
        e = _rint(b * f)
        energy[name] = e
        if kind == "load":
            delta += e - sm.source_wh[name]
        elif kind == "generation":
            delta -= e - sm.source_wh[name]
    imports = [n for n in sm.base_wh if n in site.channels and site.channels[n].kind == "grid_import"]
    exports = [n for n in sm.base_wh if n in site.channels and site.channels[n].kind == "grid_export"]
    need, surplus = np.maximum(delta, 0), np.maximum(-delta, 0)
    for names, offset_by in ((exports, "need"), (imports, "surplus")):
        for n in names:
            v = sm.source_wh[n].copy()
            left = need if offset_by == "need" else surplus
            cut = np.minimum(v, left)             # the opposite flow is offset first
            energy[n] = v - cut
            if offset_by == "need":
                need = need - cut
            else:
                surplus = surplus - cut
    if imports:
        energy[imports[0]] = energy[imports[0]] + need
    if exports:
        energy[exports[0]] = energy[exports[0]] + surplus
    # what is left with no channel for its direction is not metered
    return {n: ChannelSeries(sm.grid_us, energy[n], sm.quality[n], np.full(sm.grid_us.size, ""), sm.minutes)
            for n in sorted(energy)}


def prices_for_month(profile: PriceProfile, period: str, factor: float = 1.0) -> PriceSeries:
    """The price series of a forecast month (and the hour before it), scaled by
    ``factor`` and rounded half-even to 1e-6 USD/MWh."""
    src_period, src = profile.months[month_of_year(period)]
    s = src.sorted()
    if src_period == period:
        values = s.lmp_microusd_per_mwh if factor == 1.0 else _rint(s.lmp_microusd_per_mwh * factor)
        return PriceSeries(s.start_us, s.minutes, np.asarray(values, dtype=np.int64))
    step = int(np.min(s.minutes))
    b0, b1 = local_month_bounds_us(period, profile.timezone)
    grid, idx = relocation(s.start_us, src_period, period, profile.timezone, step,
                           dst_range_us=(b0 - US_PER_HOUR, b1))
    values = s.lmp_microusd_per_mwh[idx]
    if factor != 1.0:
        values = _rint(values * factor)
    return PriceSeries(grid, np.full(grid.size, step, dtype=np.int64), np.asarray(values, dtype=np.int64))


def index_for_month(period: str, value_micro: int, *, frequency: str = "daily",
                    carry_days: int = 0) -> IndexSeries:
    """One index value for a whole forecast month (module docstring)."""
    y, m = parse_period(period)
    first = date(y, m, 1)
    if frequency == "monthly":
        return IndexSeries(np.array([(first - _EPOCH).days], dtype=np.int64),
                           np.array([value_micro], dtype=np.int64))
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    d0 = first - timedelta(days=carry_days)
    days = np.arange((d0 - _EPOCH).days, (nxt - _EPOCH).days, dtype=np.int64)
    return IndexSeries(days, np.full(days.size, value_micro, dtype=np.int64))


def market_data(prices: dict[tuple[str, str, str], PriceSeries],
                indices: dict[str, IndexSeries]) -> MarketData:
    return MarketData(dict(prices), dict(indices))
