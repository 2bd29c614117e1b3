"""Monthly revenue of every path, priced by the contract engine itself.

The contract engine (``engine.settlement``: the same term modules that bill) cannot
run once per path and month (10,000 paths x 300 months x every contract). What varies
between paths is small: a relative **generation** factor (the uncertain generation
channels), a **power price** factor per ISO and a factor per stochastic **index** (gas),
each constant over a month. So, per contract and forecast month:

1. **Settle a small lattice of inputs with the engine.** The forecast month
   (:mod:`engine.finance.forecast`) is settled at the centre (every factor 1: the P50
   case) and at a low and a high value of each factor the contract depends on, the
   others at 1 (``1 + 2 D`` settlements for ``D`` factors). Each is an ordinary
   settlement (``settle_site`` per site, ``combine``, ``finalize``, with look-back), so
   every term kind, escalator, TOU bucket, indexed price, LD and take-or-pay top-up is
   computed by its own module, exactly, at that point.
2. **Cross terms from the engine's own interval detail.** An interval line's amount is
   ``sum_i quantity_i x rate_i`` (the invariant of every interval line). When a line's
   quantities move only with generation and its rates only with one market factor
   (checked on the settled points, interval by interval), its amount at a corner of
   the lattice (low generation, high price, ...) is the engine's quantities at that
   generation times the engine's rates at that price. Any other line that moves with
   two factors (a period-level line, a rate moving with generation, ...) has its
   corners settled by the engine directly.
3. **Paths between the lattice points**: multilinear interpolation of each line's
   lattice values in the path's factors (linear extrapolation beyond the outer points).

What is exact, and what is not:

* the **P50 case** (the lattice centre) and every settled point are engine settlements:
  exact integer cents per line, one rounding per line, as on an invoice. The debt's
  sizing cases sit on lattice points (P50: the centre; P99: the low generation
  point), so the loan is sized on exact engine revenue;
* a path's revenue is exact wherever the contract's amount is multilinear in the
  factors between lattice points: fixed and escalated prices, TOU, energy at an indexed
  price between its floor and cap, a VPPA or an export share against a scaled price
  (their rates are affine in the price, quantised to 1e-6 USD/MWh at the points);
* it is interpolated across kinks: a take-or-pay top-up or a minimum-delivery
  shortfall switching on, a capacity payment's availability factor, a floor or cap of
  an indexed price, delivered energy capped at load. ``bench/bankability.py`` and the
  tests measure the gap against direct engine settlements of sampled path-months.

Path revenue is a float (USD): a statistic. The P50 figures are integers (cents).

The settlement call is one function, :func:`settle_month`, so a faster engine path
("prepare a site-month once, re-price many variants") can replace it in one place.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa

from ..contract import ContractVersion
from ..delivered import resolve_refs
from ..pricing import IndexSeries
from ..settlement import (MarketData, SettlementResult, SitePartial, combine, finalize,
                          lookback_periods, required_market_data, settle_site)
from ..terms import TERM_KINDS
from ..contract import versions_in_force
from ..timebase import local_month_bounds_us, parse_period
from .forecast import (Operations, SiteMonth, index_for_month, operating_year, prices_for_month,
                       scaled_series, site_month)
from .profile import PriceProfile, SiteProfile

__all__ = ["IndexForecast", "PriceForecast", "ContractForecast", "MonthLattice", "settle_month",
           "month_lattice", "interpolate", "GEN"]

GEN = "gen"
PICO = 10**12


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
    _delivered: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    @property
    def contract_id(self) -> str:
        return self.versions[0].contract_id

    def site_month(self, site_id: str, period: str) -> SiteMonth:
        key = (site_id, period)
        if key not in self._months:
            year = max(1, operating_year(period, self.cod))
            self._months[key] = site_month(self.sites[site_id], period, self.ops, year)
        return self._months[key]

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
        needs = required_market_data(self.versions, period, {s: p.site for s, p in self.sites.items()})
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

    def inputs(self, period: str, point: dict[str, float]) -> tuple[dict[str, tuple[Any, dict]], MarketData]:
        """Every site's channels and the market data of ``period`` at lattice ``point``
        (factor per dimension; a missing one is 1)."""
        g = point.get(GEN, 1.0)
        sites = {sid: (self.sites[sid].site, scaled_series(self.site_month(sid, period), g))
                 for sid in self.sites_in(period)}
        needs = required_market_data(self.versions, period, {s: p.site for s, p in self.sites.items()})
        prices = {}
        for key in needs.prices:
            pf = self.prices.get(key)
            if pf is None:
                continue                 # settlement names the missing series
            f = pf.level(period) * (point.get(pf.dim, 1.0) if pf.dim else 1.0)
            prices[key] = prices_for_month(pf.profile, period, f)
        indices: dict[str, IndexSeries] = {}
        for name in needs.indices:
            if self.actual_indices is not None and name in self.actual_indices:
                indices[name] = self.actual_indices[name]
                continue
            ix = self.indices.get(name)
            if ix is None:
                continue
            freq, carry = self.index_needs(name)
            value = ix.p50(period) * (point.get(ix.dim, 1.0) if ix.dim else 1.0)
            indices[name] = index_for_month(period, int(round(value * 1e6)), frequency=freq,
                                            carry_days=carry)
        return sites, MarketData(prices, indices)

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

    def delivered_wh(self, period: str, gen: float, gen_key: int) -> int:
        """Delivered energy of ``period`` at a generation point (for look-back)."""
        key = (period, gen_key)
        if key not in self._delivered:
            sites, market = self.inputs(period, {GEN: gen})
            parts = [settle_site(self.versions, period, site, series, market)
                     for _, (site, series) in sorted(sites.items())]
            self._delivered[key] = int(sum(p.delivered_wh for p in parts))
        return self._delivered[key]


def settle_month(versions: list[ContractVersion], period: str, sites: dict[str, tuple[Any, dict]],
                 market: MarketData, lookback: dict[str, int] | None = None) -> SettlementResult:
    """One contract-month settled by the engine, as a bill would be: ``settle_site`` per
    site, ``combine``, ``finalize``. The single place the revenue stage calls it."""
    cid = versions[0].contract_id
    partials = [settle_site(versions, period, site, series, market)
                for _, (site, series) in sorted(sites.items())]
    return finalize(versions, period, combine(partials or [SitePartial.empty(cid, period)]),
                    lookback=lookback)


# ------------------------------------------------------------------------- the lattice
@dataclass(frozen=True)
class MonthLattice:
    """One contract-month: its factors, their lattice points, the contract's total
    revenue at every lattice point (USD) and the exact P50 (centre) settlement."""
    period: str
    dims: tuple[str, ...]
    nodes: tuple[tuple[float, float, float], ...]
    table_usd: np.ndarray                     # shape (3,) * len(dims)
    center: SettlementResult
    gen_low_total_cents: int                  # the settled point at low generation (= centre without it)
    settlements: int
    settled_corner_lines: tuple[str, ...]

    def revenue(self, factors: dict[str, np.ndarray], paths: int) -> np.ndarray:
        return interpolate(self.table_usd, self.nodes, [factors[d] for d in self.dims], paths)


def _line_key(line_id: str) -> tuple[str, int | None]:
    """``X@v2`` (a line of version 2 when a month spans two) -> (``X``, 2); ``X`` -> (``X``, None)."""
    base, _, ver = line_id.partition("@v")
    return base, (int(ver) if ver else None)


def _amounts(result: SettlementResult) -> dict[str, Fraction]:
    return {ln.line_id: Fraction(ln.amount_picousd) for ln in result.lines}


def _detail(result: SettlementResult, line_id: str) -> tuple[np.ndarray, ...] | None:
    """(keys, quantity_wh, rate) of an interval line's rows, or None (a period-level line)."""
    base, ver = _line_key(line_id)
    t = result.detail
    if t.num_rows == 0:
        return None
    ids = t.column("line_id").to_numpy(zero_copy_only=False)
    sel = ids == base
    if ver is not None:
        sel &= t.column("contract_version").to_numpy() == ver
    if not sel.any():
        return None
    idx = np.flatnonzero(sel)
    sites = t.column("site_id").to_numpy(zero_copy_only=False)[idx]
    starts = t.column("interval_start_utc").cast(pa.int64()).to_numpy()[idx]
    vers = t.column("contract_version").to_numpy()[idx]
    keys = np.array([f"{s}|{u}|{v}" for s, u, v in zip(sites, starts, vers)]) if len(set(sites)) > 1 \
        else starts * 1000 + vers
    q = t.column("quantity_wh").to_numpy()[idx].astype(np.float64)
    r = t.column("rate_microusd_per_mwh").to_numpy()[idx].astype(np.float64)
    return keys, q, r


def month_lattice(ctx: ContractForecast, period: str, nodes: dict[str, tuple[float, float, float]]
                  ) -> MonthLattice:
    """Settle one contract-month on its lattice (module docstring). ``nodes`` gives
    the (low, 1, high) points of every factor the run has; the contract uses those it
    depends on."""
    dims = tuple(d for d in ctx.dims(period) if d in nodes)
    dnodes = tuple((float(nodes[d][0]), float(nodes[d][1]), float(nodes[d][2])) for d in dims)
    D = len(dims)
    cache: dict[tuple[int, ...], SettlementResult] = {}
    lb_months = lookback_periods(ctx.versions, period)

    def point(ix: tuple[int, ...]) -> dict[str, float]:
        return {d: dnodes[k][ix[k]] for k, d in enumerate(dims)}

    def settle(ix: tuple[int, ...]) -> SettlementResult:
        if ix not in cache:
            pt = point(ix)
            lookback = None
            if lb_months:
                g = pt.get(GEN, 1.0)
                gk = ix[dims.index(GEN)] if GEN in dims else 1
                lookback = {m: ctx.delivered_wh(m, g, gk) for m in lb_months}
            sites, market = ctx.inputs(period, pt)
            cache[ix] = settle_month(ctx.versions, period, sites, market, lookback)
        return cache[ix]

    center_ix = (1,) * D
    center = settle(center_ix)
    axis: dict[tuple[int, int], tuple[int, ...]] = {}
    for k in range(D):
        for j in (0, 2):
            ix = tuple(j if i == k else 1 for i in range(D))
            axis[(k, j)] = ix
            settle(ix)
    amounts = {ix: _amounts(r) for ix, r in cache.items()}
    lines = sorted({lid for a in amounts.values() for lid in a})
    table = np.zeros((3,) * D) if D else np.zeros(())
    direct: list[str] = []
    for lid in lines:
        at = {ix: a.get(lid, Fraction(0)) for ix, a in amounts.items()}
        moves = [k for k in range(D) if at[axis[(k, 0)]] != at[center_ix] or at[axis[(k, 2)]] != at[center_ix]]
        sub = _line_table(ctx, lid, moves, dims, cache, at, axis, center_ix, settle, direct)
        table = table + sub
    gen_low = cache[axis[(0, 0)]].total_cents if D and dims[0] == GEN else center.total_cents
    return MonthLattice(period, dims, dnodes, table, center, int(gen_low), len(cache), tuple(direct))


def _line_table(ctx, lid, moves, dims, cache, at, axis, center_ix, settle, direct) -> np.ndarray:
    """One line's values over the whole lattice (USD), broadcast along the factors it
    does not move with."""
    D = len(dims)
    shape = (3,) * D
    if not moves:
        return np.full(shape, float(at[center_ix]) / PICO)
    if len(moves) == 1:
        k = moves[0]
        vals = np.array([float(at[axis[(k, 0)]]), float(at[center_ix]), float(at[axis[(k, 2)]])]) / PICO
        return np.broadcast_to(vals.reshape([3 if i == k else 1 for i in range(D)]), shape).copy()
    sub = _corners_from_detail(lid, moves, dims, cache, axis, center_ix)
    if sub is None:
        direct.append(lid)
        sub = np.zeros((3,) * len(moves))
        for combo in itertools.product(range(3), repeat=len(moves)):
            ix = list(center_ix)
            for k, c in zip(moves, combo):
                ix[k] = c
            r = settle(tuple(ix))
            sub[combo] = float(_amounts(r).get(lid, Fraction(0))) / PICO
    out = np.empty(shape)
    for full in itertools.product(range(3), repeat=D):
        out[full] = sub[tuple(full[k] for k in moves)]
    return out


def _corners_from_detail(lid, moves, dims, cache, axis, center_ix) -> np.ndarray | None:
    """A 3x3 table for an interval line moving with generation and one market factor:
    quantities from the generation points, rates from the market points (module
    docstring); None when the line does not have that structure."""
    if len(moves) != 2 or dims[moves[0]] != GEN:
        return None
    kg, km = moves
    rows = {}
    for name, ix in (("c", center_ix), ("g0", axis[(kg, 0)]), ("g2", axis[(kg, 2)]),
                     ("m0", axis[(km, 0)]), ("m2", axis[(km, 2)])):
        d = _detail(cache[ix], lid)
        if d is None:
            return None
        rows[name] = d
    keys_c, q_c, r_c = rows["c"]
    for name, (keys, q, r) in rows.items():
        if keys.shape != keys_c.shape or not np.array_equal(keys, keys_c):
            return None
        if name.startswith("g") and not np.array_equal(r, r_c):       # rates must not move with generation
            return None
        if name.startswith("m") and not np.array_equal(q, q_c):       # quantities not with the market
            return None
    qs = [rows["g0"][1], q_c, rows["g2"][1]]
    rs = [rows["m0"][2], r_c, rows["m2"][2]]
    return np.array([[float(np.dot(q, r)) / PICO for r in rs] for q in qs])


# ------------------------------------------------------------------------- interpolation
def interpolate(table: np.ndarray, nodes: tuple[tuple[float, float, float], ...],
                factors: list[np.ndarray], paths: int) -> np.ndarray:
    """Multilinear interpolation of ``table`` (3 points per dimension) at each path's
    factors, linear beyond the outer points."""
    if not nodes:
        return np.full(paths, float(table))
    cells, weights = [], []
    for (lo, mid, hi), x in zip(nodes, factors):
        x = np.asarray(x, dtype=np.float64)
        upper = x >= mid
        left = np.where(upper, mid, lo)
        right = np.where(upper, hi, mid)
        cells.append(upper.astype(np.int64))
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
