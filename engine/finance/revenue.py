"""Monthly revenue of every path, priced by the contract engine itself.

The contract engine (``engine.settlement``: the same term modules that bill) cannot
run once per path and month (10,000 paths x 300 months x every contract). What varies
between paths is small: a relative **generation** factor (the uncertain generation
channels), a **power price** factor per ISO and a factor per stochastic **index** (gas),
each constant over a month. So, per contract and forecast month:

1. **Prepare each site-month once per generation point.** The forecast month
   (:mod:`engine.finance.forecast`) is prepared by ``engine.settlement.prepare_site``:
   everything of the map that does not depend on market data (channels on the billing
   grid, local fields, contract years, delivered energy, every term that reads no
   market data, with its exact sums). Generation changes the channels, so a site-month
   is prepared at the low, P50 and high generation points, or once if the contract
   reads no uncertain channel.
2. **Settle every lattice point with the engine.** The lattice is the low, P50 and high
   value of each factor the contract depends on (``3^D`` points for ``D`` factors). Each
   point is settled as a bill is, by :func:`settle_month`: ``price_site`` of the
   prepared site-months over the point's market data, ``combine``, ``finalize_amounts``
   (the period-level terms with look-back, each line rounded once to cents). Only what
   changes between points is recomputed: the terms that read market data (every
   point's price series shares the P50 series' grid arrays, so it is aligned by one
   cached gather) and, per distinct set of determinants, the period-level lines. So
   every term kind, escalator, TOU bucket, indexed price, LD and take-or-pay top-up is
   computed by its own module, exactly, at every point.
3. **Refine where a line switches on.** Where a period-level line (a take-or-pay
   top-up, a minimum-delivery shortfall) is zero at one point of a factor's axis and
   not at the next, the revenue has a kink between them: the cell is halved, settled
   and looked at again, down to :data:`REFINE_MIN_FRACTION` of the axis (a few more
   points, only in the months that have such a kink).
4. **Paths between the lattice points**: multilinear interpolation of the contract's
   lattice totals in the path's factors (linear extrapolation beyond the outer
   points), every month of a block at once (:func:`path_revenue`).

Why paths are interpolated and not settled one by one (measured by
``bench/bankability.py``): a path's generation factor changes the channels, so a path
settled directly needs its own ``prepare_site`` (~0.5 ms for a month of a PPA with
hourly data), ``price_site`` (~0.06 ms) and ``finalize_amounts`` (~0.2 ms, its
period-level lines not shared with any other path): ~0.8 ms a path-month, some 27,000
CPU-seconds for 10,000 paths x 3,400 contract-months, against ~15 for the lattices. The
benchmark also measures the interpolation's gap to direct settlements of sampled
path-months (for the demo portfolio, a few 1e-5 of a year's revenue).

What is exact, and what is not:

* every lattice point is an engine settlement: exact integer cents per line, one
  rounding per line, as on an invoice. The P50 case is the lattice centre and the
  debt's lowest sizing case (P99) the low generation point, so the loan is sized on
  exact engine revenue;
* a path's revenue is exact (to the lines' rounding) wherever the contract's amount is
  multilinear in the factors between lattice points: fixed and escalated prices, TOU,
  energy at an indexed price between its floor and cap, a VPPA or an export share
  against a scaled price (their rates are affine in the price, quantised to 1e-6
  USD/MWh);
* it is interpolated across kinks: delivered energy capped at load, an export, a
  capacity payment's availability factor, a floor or cap of an indexed price; and, in
  a cell refined to its narrowest, a top-up or shortfall switching on.

Path revenue is a float (USD): a statistic. The lattice totals are integers (cents).

The settlement call is one function, :func:`settle_month`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..contract import ContractVersion, versions_in_force
from ..delivered import ChannelSeries, resolve_refs
from ..pricing import IndexSeries, PriceSeries
from ..settlement import (LineAmount, MarketData, PreparedSite, SitePartial, combine, finalize_amounts,
                          lookback_periods, prepare_site, price_site, required_market_data)
from ..sites import Site
from ..terms import TERM_KINDS
from ..timebase import local_month_bounds_us, parse_period
from .forecast import (Operations, SiteMonth, index_for_month, operating_year, prices_for_month,
                       scaled_prices, scaled_series, site_month)
from .profile import PriceProfile, SiteProfile

__all__ = ["IndexForecast", "PriceForecast", "ContractForecast", "MonthLattice", "MonthSettlement",
           "settle_month", "month_lattice", "interpolate", "path_revenue", "GEN"]

GEN = "gen"


@dataclass(frozen=True)
class PriceForecast:
    """A price series' P50: its typical year, escalated from its source months."""
    profile: PriceProfile
    escalation: float = 0.0                  # per year
    dim: str | None = None                   # "price:<ISO>" when stochastic

    def level(self, period: str) -> float:
        src, _ = self.profile.months[parse_period(period)[1]]
        months = _month_index(period) - _month_index(src)
        return (1.0 + self.escalation) ** (months / 12.0)


@dataclass(frozen=True)
class IndexForecast:
    """An index's P50: ``base`` (its unit) in ``base_period``, escalated per year."""
    name: str
    base: float
    base_period: str
    escalation: float = 0.0
    dim: str | None = None                   # "index:<NAME>" when stochastic

    def p50(self, period: str) -> float:
        return self.base * (1.0 + self.escalation) ** ((_month_index(period) - _month_index(self.base_period)) / 12.0)


def _month_index(period: str) -> int:
    y, m = parse_period(period)
    return y * 12 + m - 1


@dataclass(frozen=True)
class MonthSettlement:
    """One contract-month settled by the engine: its invoice lines in invoice order
    (each amount rounded once to cents), their total, the delivered energy and which
    lines the period-level terms made (at finalize)."""
    period: str
    lines: tuple[LineAmount, ...]
    total_cents: int
    delivered_wh: int
    period_lines: frozenset[str] = frozenset()

    def amount_cents(self, line_id: str) -> int:
        return next((ln.amount_cents for ln in self.lines if ln.line_id == line_id), 0)


def settle_month(versions: list[ContractVersion], period: str, prepared: Sequence[PreparedSite],
                 market: MarketData, *, lookback: dict[str, int] | None = None,
                 memo: dict | None = None) -> MonthSettlement:
    """One contract-month settled by the engine, as a bill is: each prepared site-month
    priced over ``market`` (``price_site``), ``combine``, ``finalize_amounts`` (``memo``:
    one dict per ``versions`` list, see there). The single place the revenue stage
    settles."""
    partials = [price_site(p, market) for p in prepared]
    if not partials:
        partials = [SitePartial.empty(versions[0].contract_id, period)]
    combined = partials[0] if len(partials) == 1 else combine(partials)
    lines = finalize_amounts(versions, period, combined, lookback=lookback, memo=memo)
    interval = {ls.line_id for ls in combined.lines}
    return MonthSettlement(period, lines, sum(ln.amount_cents for ln in lines), int(combined.delivered_wh),
                           frozenset(ln.line_id for ln in lines if ln.line_id.partition("@v")[0] not in interval))


@dataclass(frozen=True)
class _MonthMarket:
    """A forecast month's market data: at P50 (``center``) and the pieces to scale it.
    Every scaled price series keeps its P50 series' ``start_us`` and ``minutes`` arrays,
    so a prepared site-month aligns it by the gather it cached for the first."""
    center: MarketData
    prices: tuple[tuple[tuple[str, str, str], PriceSeries, float, str | None], ...]   # key, source, level, dim
    indices: tuple[tuple[str, float, str | None], ...]                                # name, P50 value, dim

    def at(self, point: dict[str, float]) -> MarketData:
        if all(point.get(dim, 1.0) == 1.0 for _, _, _, dim in self.prices if dim) and \
                all(point.get(dim, 1.0) == 1.0 for _, _, dim in self.indices if dim):
            return self.center
        prices = dict(self.center.prices)
        for key, src, level, dim in self.prices:
            x = point.get(dim, 1.0) if dim else 1.0
            if x != 1.0:
                prices[key] = scaled_prices(src, level * x)
        indices = dict(self.center.indices)
        for name, value, dim in self.indices:
            x = point.get(dim, 1.0) if dim else 1.0
            if x != 1.0:
                days = self.center.indices[name].period_start_days
                indices[name] = IndexSeries(days, np.full(days.size, int(round(value * x * 1e6)), np.int64))
        return MarketData(prices, indices)


@dataclass
class ContractForecast:
    """Everything needed to settle one contract's forecast months at any lattice point."""
    versions: list[ContractVersion]
    sites: dict[str, SiteProfile]
    prices: dict[tuple[str, str, str], PriceForecast]
    indices: dict[str, IndexForecast]
    ops: Operations
    cod: str
    actual_indices: dict[str, IndexSeries] | None = None    # instead of forecasts (reproduction)
    _months: dict[tuple[str, str], SiteMonth] = field(default_factory=dict, repr=False)
    _markets: dict[str, _MonthMarket] = field(default_factory=dict, repr=False)
    _delivered: dict[tuple[str, float], int] = field(default_factory=dict, repr=False)
    _lookback: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)           # finalize_amounts' memo

    @property
    def contract_id(self) -> str:
        return self.versions[0].contract_id

    def site_month(self, site_id: str, period: str) -> SiteMonth:
        key = (site_id, period)
        if key not in self._months:
            year = max(1, operating_year(period, self.cod))
            self._months[key] = site_month(self.sites[site_id], period, self.ops, year)
        return self._months[key]

    def _site_map(self) -> dict[str, Site]:
        return {s: p.site for s, p in self.sites.items()}

    def dims(self, period: str) -> list[str]:
        """The factors this contract's month depends on: generation if it reads an
        uncertain channel; each stochastic price and index it reads."""
        out: set[str] = set()
        for sid in self.sites_in(period):
            sm = self.site_month(sid, period)
            refs: list[str] = []
            for cv in self.versions:
                if sid not in cv.sites:
                    continue
                refs += list(cv.delivered.refs())
                for t in cv.terms:
                    refs += [r for _, r in TERM_KINDS[t.kind].refs(t.params)]
            if sm.uncertain & set(resolve_refs(refs, sm.site)):
                out.add(GEN)
        needs = required_market_data(self.versions, period, self._site_map())
        for key in needs.prices:
            pf = self.prices.get(key)
            if pf is not None and pf.dim:
                out.add(pf.dim)
        for name in needs.indices:
            ix = self.indices.get(name)
            if ix is not None and ix.dim and self.actual_indices is None:
                out.add(ix.dim)
        return sorted(out, key=lambda d: (d != GEN, d))

    def sites_in(self, period: str) -> list[str]:
        b0, b1 = local_month_bounds_us(period, self.versions[0].timezone)
        return sorted({s for cv, _, _ in versions_in_force(self.versions, b0, b1) for s in cv.sites
                       if s in self.sites})

    # ------------------------------------------------------------------ inputs
    def series(self, site_id: str, period: str, gen: float = 1.0) -> dict[str, ChannelSeries]:
        """A site's channels in ``period`` at generation factor ``gen``."""
        return scaled_series(self.site_month(site_id, period), gen)

    def market(self, period: str, point: dict[str, float] | None = None) -> MarketData:
        """The market data of ``period`` at lattice ``point`` (factor per dimension; a
        missing one is 1): at P50, the same object every time."""
        mm = self._markets.get(period)
        if mm is None:
            mm = self._markets[period] = self._month_market(period)
        return mm.at(point or {})

    def _month_market(self, period: str) -> _MonthMarket:
        needs = required_market_data(self.versions, period, self._site_map())
        prices: dict[tuple[str, str, str], PriceSeries] = {}
        scaling = []
        for key in needs.prices:
            pf = self.prices.get(key)
            if pf is None:
                continue                 # settlement names the missing series
            src = prices_for_month(pf.profile, period)
            level = pf.level(period)
            prices[key] = scaled_prices(src, level)
            scaling.append((key, src, level, pf.dim))
        indices: dict[str, IndexSeries] = {}
        ix_scaling = []
        for name in needs.indices:
            if self.actual_indices is not None and name in self.actual_indices:
                indices[name] = self.actual_indices[name]
                continue
            ix = self.indices.get(name)
            if ix is None:
                continue
            freq, carry = self.index_needs(name)
            value = ix.p50(period)
            indices[name] = index_for_month(period, int(round(value * 1e6)), frequency=freq,
                                            carry_days=carry)
            ix_scaling.append((name, value, ix.dim))
        return _MonthMarket(MarketData(prices, indices), tuple(scaling), tuple(ix_scaling))

    def inputs(self, period: str, point: dict[str, float] | None = None
               ) -> tuple[dict[str, tuple[Site, dict[str, ChannelSeries]]], MarketData]:
        """Every site's channels and the market data of ``period`` at lattice ``point``,
        as a settlement job would hand them to ``engine.settlement``."""
        g = (point or {}).get(GEN, 1.0)
        sites = {sid: (self.sites[sid].site, self.series(sid, period, g)) for sid in self.sites_in(period)}
        return sites, self.market(period, point)

    def index_needs(self, name: str) -> tuple[str, int]:
        """(frequency, carry-forward days) the contract's terms read index ``name`` with."""
        freq, carry = "daily", 0
        for cv in self.versions:
            for sid in cv.sites:
                if sid not in self.sites:
                    continue
                for t in cv.terms:
                    for need in TERM_KINDS[t.kind].needs(t, cv, self.sites[sid].site):
                        if need[0] == "index" and need[1] == name:
                            freq, carry = need[2], max(carry, int(need[3]))
        return freq, carry

    # ------------------------------------------------------------------ settling
    def prepare(self, period: str, gen: float = 1.0) -> tuple[PreparedSite, ...]:
        """Every site-month of ``period`` prepared at generation factor ``gen`` (with
        the P50 market data, which terms reading no market data never look at)."""
        market = self.market(period)
        return tuple(prepare_site(self.versions, period, self.sites[sid].site, self.series(sid, period, gen),
                                  market, keep_lines=False)
                     for sid in self.sites_in(period))

    def delivered_wh(self, period: str, gen: float) -> int:
        """Delivered energy of ``period`` at generation factor ``gen`` (for look-back)."""
        key = (period, gen)
        if key not in self._delivered:
            self._delivered[key] = int(sum(p.delivered_wh for p in self.prepare(period, gen)))
        return self._delivered[key]

    def lookback(self, period: str, gen: float) -> dict[str, int] | None:
        """The earlier months' delivered energy ``period``'s finalize needs, at ``gen``."""
        months = self._lookback.get(period)
        if months is None:
            months = self._lookback[period] = lookback_periods(self.versions, period)
        return {m: self.delivered_wh(m, gen) for m in months} or None

    def settle(self, period: str, point: dict[str, float] | None = None,
               prepared: Sequence[PreparedSite] | None = None) -> MonthSettlement:
        """``period`` settled by the engine at lattice ``point`` (:func:`settle_month`);
        ``prepared``: its site-months already prepared at the point's generation."""
        point = point or {}
        g = point.get(GEN, 1.0)
        if prepared is None:
            prepared = self.prepare(period, g)
        return settle_month(self.versions, period, prepared, self.market(period, point),
                            lookback=self.lookback(period, g), memo=self._memo)


# ------------------------------------------------------------------------- the lattice
#: a cell of a factor's axis is halved (where a period-level line switches on inside
#: it) down to this fraction of the axis' span
REFINE_MIN_FRACTION = 1 / 16


@dataclass(frozen=True)
class MonthLattice:
    """One contract-month: its factors, their lattice points (low, P50 and high, and
    any points the refinement added between them), the contract's total revenue at
    every lattice point (USD, each an engine settlement's total) and the P50 (centre)
    settlement."""
    period: str
    dims: tuple[str, ...]
    nodes: tuple[tuple[float, ...], ...]      # per factor, ascending; the P50 point is 1
    table_usd: np.ndarray                     # shape: the number of points of each factor
    center: MonthSettlement
    gen_low_total_cents: int                  # the lowest generation point (= centre without it)
    settlements: int                          # engine settlements: every lattice point
    preparations: int                         # site-months prepared

    def revenue(self, factors: dict[str, np.ndarray], paths: int) -> np.ndarray:
        return interpolate(self.table_usd, self.nodes, [factors[d] for d in self.dims], paths)


def _switches(a: MonthSettlement, b: MonthSettlement) -> bool:
    """Does a period-level line (a take-or-pay top-up, a minimum-delivery shortfall) switch
    on or off between two settlements: zero in one, not in the other?"""
    for lid in sorted(a.period_lines | b.period_lines):
        if (a.amount_cents(lid) == 0) != (b.amount_cents(lid) == 0):
            return True
    return False


def month_lattice(ctx: ContractForecast, period: str, nodes: dict[str, tuple[float, float, float]]
                  ) -> MonthLattice:
    """Settle one contract-month at every point of its lattice (module docstring).
    ``nodes`` gives the (low, 1, high) points of every factor the run has; the contract
    uses those it depends on."""
    dims = tuple(d for d in ctx.dims(period) if d in nodes)
    axes = [[float(x) for x in nodes[d]] for d in dims]
    center = tuple(ax[1] for ax in axes)
    prepared: dict[float, tuple[PreparedSite, ...]] = {}
    settled: dict[tuple[float, ...], MonthSettlement] = {}

    def settle(values: tuple[float, ...]) -> MonthSettlement:
        hit = settled.get(values)
        if hit is None:
            point = dict(zip(dims, values))
            g = point.get(GEN, 1.0)
            if g not in prepared:
                prepared[g] = ctx.prepare(period, g)
            hit = settled[values] = ctx.settle(period, point, prepared[g])
        return hit

    def on_axis(k: int, x: float) -> tuple[float, ...]:
        return center[:k] + (x,) + center[k + 1:]

    # a kink where a period-level line switches on: halve the cell along that factor
    # (through the centre), down to REFINE_MIN_FRACTION of the axis
    for k, ax in enumerate(axes):
        narrowest = (ax[-1] - ax[0]) * REFINE_MIN_FRACTION
        i = 0
        while i < len(ax) - 1:
            a, b = ax[i], ax[i + 1]
            if b - a > narrowest and _switches(settle(on_axis(k, a)), settle(on_axis(k, b))):
                ax.insert(i + 1, (a + b) / 2)
                continue                       # the lower half first, then the upper
            i += 1
    table = np.zeros(tuple(len(ax) for ax in axes))
    for ix in itertools.product(*(range(len(ax)) for ax in axes)):
        table[ix] = settle(tuple(axes[k][i] for k, i in enumerate(ix))).total_cents / 100
    kg = dims.index(GEN) if GEN in dims else None
    low = settle(on_axis(kg, axes[kg][0])) if kg is not None else settle(center)
    return MonthLattice(period, dims, tuple(tuple(ax) for ax in axes), table, settle(center),
                        int(low.total_cents), len(settled), sum(len(p) for p in prepared.values()))


# ------------------------------------------------------------------------- interpolation
def _cell(x: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The lattice cell of each ``x``: ``i`` with ``nodes[i] <= x < nodes[i + 1]``, the
    outer cells beyond the ends (``nodes`` ascending, the last axis; any leading axes
    broadcast with ``x``)."""
    cell = np.zeros(np.broadcast_shapes(x.shape, nodes.shape[:-1]), dtype=np.int64)
    for i in range(1, nodes.shape[-1] - 1):
        cell += x >= nodes[..., i]
    return cell


def interpolate(table: np.ndarray, nodes: tuple[tuple[float, ...], ...],
                factors: list[np.ndarray], paths: int) -> np.ndarray:
    """Multilinear interpolation of ``table`` (``len(nodes[k])`` points along factor
    ``k``) at each path's factors, linear beyond the outer points."""
    if not nodes:
        return np.full(paths, float(table))
    cells, weights = [], []
    for pts, x in zip(nodes, factors):
        x = np.asarray(x, dtype=np.float64)
        at = np.asarray(pts, dtype=np.float64)
        cell = _cell(x, at)
        left, right = at[cell], at[cell + 1]
        cells.append(cell)
        weights.append((x - left) / (right - left))
    out = np.zeros(paths)
    for corner in itertools.product((0, 1), repeat=len(nodes)):
        w = np.ones(paths)
        idx = []
        for k, c in enumerate(corner):
            w = w * (weights[k] if c else 1.0 - weights[k])
            idx.append(cells[k] + c)
        out += w * table[tuple(idx)]
    return out


def path_revenue(lattices: Sequence[MonthLattice | None], factors: dict[str, np.ndarray], paths: int
                 ) -> np.ndarray:
    """Every path's revenue in every month of ``lattices`` (USD, ``(paths, months)``; 0
    in a month without a lattice), ``factors[d]`` being ``(paths, months)``. The months
    that share a set of factors and a lattice shape are interpolated together, element
    for element as :func:`interpolate` does (the same floats): a block of months costs
    a few array operations, not a few per month."""
    out = np.zeros((paths, len(lattices)))
    groups: dict[tuple, list[MonthLattice]] = {}
    columns: dict[tuple, list[int]] = {}
    for j, lat in enumerate(lattices):
        if lat is not None:
            key = (lat.dims, lat.table_usd.shape)
            groups.setdefault(key, []).append(lat)
            columns.setdefault(key, []).append(j)
    for (dims, shape), lats in groups.items():
        cols = np.asarray(columns[(dims, shape)], dtype=np.int64)
        if not dims:
            out[:, cols] = np.array([float(lat.table_usd) for lat in lats])[None, :]
            continue
        months = np.arange(cols.size, dtype=np.int64)
        flat = np.concatenate([lat.table_usd.reshape(-1) for lat in lats])          # month-major
        size = int(np.prod(shape))
        strides = [int(np.prod(shape[k + 1:])) for k in range(len(dims))]
        cells, weights = [], []
        for k, d in enumerate(dims):
            x = np.asarray(factors[d][:, cols], dtype=np.float64)
            at = np.array([lat.nodes[k] for lat in lats], dtype=np.float64)       # (months, points)
            cell = _cell(x, at)
            left, right = at[months, cell], at[months, cell + 1]
            cells.append(cell)
            weights.append((x - left) / (right - left))
        acc = np.zeros((paths, cols.size))
        for corner in itertools.product((0, 1), repeat=len(dims)):
            w = np.ones((paths, cols.size))
            idx = months * size
            for k, c in enumerate(corner):
                w = w * (weights[k] if c else 1.0 - weights[k])
                idx = idx + (cells[k] + c) * strides[k]
            acc += w * flat[idx]
        out[:, cols] = acc
    return out
