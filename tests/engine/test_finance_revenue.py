"""Typical years laid on forecast calendars, forecast scaling, and the revenue lattice
(prepared site-months re-priced at every point) against the billing path's own
settlements of the same forecast months."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.finance.forecast import Operations, prices_for_month, scaled_series, site_month
from engine.finance.profile import MonthChannels, PriceProfile, SiteProfile, relocation, typical_price_shape
from engine.finance.revenue import (GEN, REFINE_MIN_FRACTION, ContractForecast, IndexForecast, PriceForecast,
                                    interpolate, month_lattice, path_revenue)
from engine.pricing import PriceSeries
from engine.settlement import SettlementResult, lookback_periods, settle_period
from engine.sites import parse_sites
from engine.timebase import US_PER_HOUR, interval_grid_us, local_fields, local_month_bounds_us

TZ = "America/Chicago"
SITES = parse_sites({"sites": [{
    "site_id": "S1", "timezone": TZ, "market": {"iso": "ERCOT", "node": "N1"},
    "channels": {"pv": {"kind": "generation", "resource": "solar", "nameplate_kw": 50000},
                 "gt": {"kind": "generation", "resource": "gas_cc", "nameplate_kw": 100000},
                 "load": {"kind": "load"}, "imp": {"kind": "grid_import"}, "exp": {"kind": "grid_export"}}}]})
SITE = SITES["S1"]


def month_profile(period: str) -> MonthChannels:
    b0, b1 = local_month_bounds_us(period, TZ)
    grid = interval_grid_us(b0, b1, 60)
    hour = local_fields(grid, TZ).hour
    pv = np.where((hour >= 7) & (hour < 19), 30_000_000 * np.sin((hour - 7) / 12 * np.pi) + 5e6, 0).astype(np.int64)
    gt = np.full(grid.size, 80_000_000, np.int64)
    load = np.full(grid.size, 95_000_000, np.int64) + (hour * 500_000)
    net = load - pv - gt
    return MonthChannels(period, grid, 60, {"pv": pv, "gt": gt, "load": load,
                                            "imp": np.maximum(net, 0), "exp": np.maximum(-net, 0)})


PROFILE = SiteProfile(SITE, {m: month_profile(f"2026-{m:02d}") for m in range(1, 13)})


@pytest.mark.parametrize("src, dst", [("2026-03", "2031-03"), ("2026-11", "2030-11"),
                                      ("2026-02", "2028-02"), ("2024-02", "2026-02")])
def test_relocation_follows_the_wall_clock(src, dst):
    b0, b1 = local_month_bounds_us(src, TZ)
    grid = interval_grid_us(b0, b1, 15)
    d, idx = relocation(grid, src, dst, TZ, 15)
    db0, db1 = local_month_bounds_us(dst, TZ)
    assert d[0] == db0 and d[-1] + 15 * 60_000_000 == db1
    s_local, d_local = local_fields(grid[idx], TZ), local_fields(d, TZ)
    same = (s_local.hour == d_local.hour)
    # every interval takes the same local hour, except the DST hours the source lacks
    assert same.mean() > 0.99
    assert (np.diff(idx)[same[1:] & same[:-1]] >= 0).mean() > 0.99


def test_a_month_relocated_onto_itself_is_itself():
    b0, b1 = local_month_bounds_us("2026-11", TZ)          # a fall-back month
    grid = interval_grid_us(b0, b1, 5)
    d, idx = relocation(grid, "2026-11", "2026-11", TZ, 5)
    assert np.array_equal(d, grid) and np.array_equal(idx, np.arange(grid.size))


def test_scaling_keeps_the_energy_balance_and_identity_at_factor_one():
    sm = site_month(PROFILE, "2026-07", Operations(), 1)
    same = scaled_series(sm, 1.0)
    for ch, mc in PROFILE.months[7].energy_wh.items():
        assert np.array_equal(same[ch].energy_wh, mc)
    sm = site_month(PROFILE, "2029-07", Operations(degradation=0.01, availability=0.97, load_growth=0.02,
                                                   uncertain_resources=("solar",)), 4)
    for g in (0.7, 1.0, 1.3):
        s = {k: v.energy_wh for k, v in scaled_series(sm, g).items()}
        balance = s["load"] + s["exp"] - s["pv"] - s["gt"] - s["imp"]
        assert np.abs(balance).max() <= 0 and (s["imp"] >= 0).all() and (s["exp"] >= 0).all()
    base = scaled_series(sm, 1.0)
    n = sm.grid_us.size                          # each interval rounded once to a whole Wh
    assert abs(base["gt"].energy_wh.sum() - 0.97 * 0.99**3 * 80e6 * n) <= 0.5 * n
    assert scaled_series(sm, 1.3)["pv"].energy_wh.sum() == pytest.approx(1.3 * base["pv"].energy_wh.sum(), rel=1e-6)


def test_typical_price_shape_has_48_values_and_the_right_mean():
    b0, b1 = local_month_bounds_us("2026-07", TZ)
    starts = interval_grid_us(b0 - US_PER_HOUR, b1, 5)
    lmp = (30_000_000 + (np.arange(starts.size) % 97) * 100_000).astype(np.int64)
    shape = typical_price_shape(PriceSeries(starts, np.full(starts.size, 5), lmp), "2026-07", TZ)
    assert len(np.unique(shape.lmp_microusd_per_mwh)) <= 48
    inside = shape.start_us >= b0
    assert shape.lmp_microusd_per_mwh[inside].mean() == pytest.approx(lmp[starts >= b0].mean(), rel=2e-3)


def _forecast(terms: list[dict], delivered: dict, hub: bool = False) -> ContractForecast:
    doc = {"contract_id": "C1", "version": 1, "effective_from": "2026-01-01",
           "parties": {"seller": "S", "buyer": "B"}, "sites": ["S1"], "timezone": TZ,
           "term": {"start": "2026-01-01", "end": "2045-12-31"}, "billing_period": "month", "currency": "USD",
           "delivered": delivered, "pricing": {"site_node": {"market_run": "RT"},
                                               **({"hub": {"iso": "ERCOT", "node": "HB", "market_run": "RT"}}
                                                  if hub else {})},
           "terms": terms}
    cv = parse_contract(doc, "test")
    prices = {}
    for key in (("ERCOT", "N1", "RT"), ("ERCOT", "HB", "RT")):
        months = {}
        for m in range(1, 13):
            b0, b1 = local_month_bounds_us(f"2026-{m:02d}", TZ)
            g = interval_grid_us(b0 - US_PER_HOUR, b1, 60)
            h = local_fields(g, TZ).hour
            lmp = (25_000_000 + 2_000_000 * h - 40_000_000 * (h == 3)).astype(np.int64)   # a negative hour
            months[m] = (f"2026-{m:02d}", PriceSeries(g, np.full(g.size, 60), lmp))
        prices[key] = PriceForecast(PriceProfile(key, TZ, months), 0.02, "price:ERCOT")
    gas = IndexForecast("HH", 3.5, "2026-12", 0.02, "index:HH")
    return ContractForecast([cv], {"S1": PROFILE}, prices, {"HH": gas},
                            Operations(uncertain_resources=("solar",)), "2027-01")


NODES = {GEN: (0.8, 1.0, 1.2), "price:ERCOT": (0.5, 1.0, 2.0), "index:HH": (0.6, 1.0, 1.6)}
BTM = {"add": ["kind:generation"], "subtract": ["kind:grid_export"], "cap_at": ["kind:load"]}


def billed(fc: ContractForecast, period: str, point: dict[str, float]) -> SettlementResult:
    """``period`` at ``point`` settled by the billing path itself (``settle_site`` per
    site, ``combine``, ``finalize``, the earlier months' delivered energy for look-back
    from their own settlements): no prepared site-month, no memo."""
    g = {GEN: point[GEN]} if GEN in point else {}
    lookback = {m: settle_period(fc.versions, m, *fc.inputs(m, g)).delivered_wh
                for m in lookback_periods(fc.versions, period)}
    sites, market = fc.inputs(period, point)
    return settle_period(fc.versions, period, sites, market, lookback or None)


@pytest.mark.parametrize("terms, delivered, hub, period, between", [
    # fixed price with TOU, and an export share at the node of a channel that scales:
    # multilinear in (generation, price), exact
    ([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60", "escalator_pct_per_year": "2",
       "tou": {"factors": {"on_peak": "1.1", "off_peak": "0.9"}}},
      {"id": "x", "kind": "export_share", "share_to_buyer": "0.5", "export": ["pv"]}], {"add": ["pv"]},
     False, "2030-07", "exact"),
    # behind the meter: delivered = generation less export, capped at load; the export
    # and the cap switch interval by interval as generation moves: interpolated
    ([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60"},
      {"id": "x", "kind": "export_share", "share_to_buyer": "0.5"}], BTM, False, "2030-07", "kinks"),
    # a VPPA on the solar volume (zero floor) and energy at a gas-indexed price
    ([{"id": "v", "kind": "vppa", "strike_usd_per_mwh": "34", "hedge_share": "0.75",
       "negative_price_rule": "zero_floor", "volume": ["pv"]},
      {"id": "g", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH",
       "heat_rate_mmbtu_per_mwh": "6.8", "adder_usd_per_mwh": "4.5"}], {"add": ["gt"]}, True, "2030-07",
     "exact"),
    # a take-or-pay top-up switching off above P50 generation (9,450 MWh taken): the
    # cell around its kink is refined
    ([{"id": "t", "kind": "take_or_pay", "contracted_mwh_per_month": "10500", "take_share": "0.9",
       "price_usd_per_mwh": "40"}], {"add": ["pv"]}, False, "2030-07", "refined"),
    # a minimum delivery over the contract year, closed in December from the year's
    # delivered energy (look-back at each generation point): a shortfall switching on
    # below P50, 25 % of the month's revenue at the low point: refined
    ([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60"},
      {"id": "m", "kind": "min_delivery", "guaranteed_mwh": "95000", "period": "contract_year",
       "ld_usd_per_mwh": "12.00"}], {"add": ["pv"]}, False, "2030-12", "refined"),
])
def test_every_lattice_point_is_the_billing_settlement(terms, delivered, hub, period, between):
    """Each lattice point, settled through prepared site-months (``prepare_site`` per
    generation point, ``price_site`` per market point, memoised ``finalize_amounts``),
    is what the billing path gives for the same inputs, to the cent; between points,
    the interpolation against direct billing settlements."""
    fc = _forecast(terms, delivered, hub)
    lat = month_lattice(fc, period, NODES)
    shape = tuple(len(n) for n in lat.nodes)
    assert lat.table_usd.shape == shape and lat.settlements == int(np.prod(shape))
    assert lat.preparations == (len(lat.nodes[lat.dims.index(GEN)]) if GEN in lat.dims else 1)
    if between == "refined":        # generation refined around the switch, the rest not
        assert shape[0] > 3 and lat.dims[0] == GEN and all(n == 3 for n in shape[1:])
        assert min(np.diff(lat.nodes[0])) <= (NODES[GEN][2] - NODES[GEN][0]) * REFINE_MIN_FRACTION
    else:
        assert shape == (3,) * len(lat.dims)
    # the centre is the P50 settlement itself, line by line
    p50 = billed(fc, period, {})
    assert lat.center.total_cents == p50.total_cents
    assert [(ln.line_id, ln.amount_cents) for ln in lat.center.lines] == \
        [(ln.line_id, ln.amount_cents) for ln in p50.lines]
    for ix in itertools.product(*(range(n) for n in shape)):
        pt = {d: lat.nodes[k][ix[k]] for k, d in enumerate(lat.dims)}
        assert round(lat.table_usd[ix] * 100) == billed(fc, period, pt).total_cents, pt
    if GEN in lat.dims:
        low = tuple(0 if d == GEN else 1 for d in lat.dims)
        assert lat.gen_low_total_cents == round(lat.table_usd[low] * 100)
    rng = np.random.default_rng(0)
    for _ in range(6):
        pt = {d: float(rng.uniform(NODES[d][0] * 1.02, NODES[d][2] * 0.98)) for d in lat.dims}
        got = lat.revenue({d: np.array([pt[d]]) for d in lat.dims}, 1)[0]
        direct = billed(fc, period, pt).total_cents / 100
        if between == "exact":      # rates quantised to 1e-6 USD/MWh at the points, cents per line
            assert got == pytest.approx(direct, abs=2.0 + 1e-6 * abs(direct)), pt
        else:
            assert got == pytest.approx(direct, rel=5e-3), pt


def test_a_forecast_months_market_scales_on_its_p50_grid():
    """Every lattice point's price series shares the P50 series' grid arrays (so a
    prepared site-month aligns it by its cached gather) and has the values a forecast
    month's prices have at that factor; the P50 market is one object."""
    fc = _forecast([{"id": "x", "kind": "export_share", "share_to_buyer": "0.5", "export": ["pv"]},
                    {"id": "g", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH",
                     "heat_rate_mmbtu_per_mwh": "6.8", "adder_usd_per_mwh": "4.5"}], {"add": ["pv"]})
    period, key = "2031-03", ("ERCOT", "N1", "RT")
    p50 = fc.market(period)
    assert fc.market(period, {}) is p50 and fc.market(period, {GEN: 0.8}) is p50
    pf = fc.prices[key]
    up = fc.market(period, {"price:ERCOT": 1.7, "index:HH": 0.6})
    ref = prices_for_month(pf.profile, period, pf.level(period) * 1.7)
    s = up.prices[key]
    assert s.start_us is p50.prices[key].start_us and s.minutes is p50.prices[key].minutes
    assert np.array_equal(s.start_us, ref.start_us) and np.array_equal(s.lmp_microusd_per_mwh,
                                                                       ref.lmp_microusd_per_mwh)
    assert np.array_equal(p50.prices[key].lmp_microusd_per_mwh,
                          prices_for_month(pf.profile, period, pf.level(period)).lmp_microusd_per_mwh)
    hh = up.indices["HH"]
    assert hh.period_start_days is p50.indices["HH"].period_start_days
    assert set(hh.value_micro.tolist()) == {int(round(fc.indices["HH"].p50(period) * 0.6 * 1e6))}


def test_interpolation_is_exact_at_points_and_linear_beyond():
    table = np.arange(9, dtype=float).reshape(3, 3)
    nodes = ((0.5, 1.0, 2.0), (0.8, 1.0, 1.2))
    x = [np.array([0.5, 1.0, 2.0, 3.0]), np.array([0.8, 1.0, 1.2, 1.2])]
    assert interpolate(table, nodes, x, 4).tolist() == [0.0, 4.0, 8.0, 11.0]
    # a refined axis: points anywhere, piecewise linear between them, linear beyond
    line = np.array([0.0, 10.0, 12.0, 20.0])
    x = np.array([0.5, 0.75, 0.95, 1.0, 1.05, 1.1, 2.0, 2.5])
    got = interpolate(line, ((0.5, 0.9, 1.0, 2.0),), [x], x.size)
    assert got == pytest.approx([0.0, 6.25, 11.0, 12.0, 12.4, 12.8, 20.0, 24.0])


def test_a_block_of_months_is_interpolated_as_month_by_month():
    """``path_revenue`` (what a revenue partition runs: every month of a block at once)
    gives the very floats of each month's own interpolation, months without a
    lattice 0, months with other factors apart."""
    fc = _forecast([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60"},
                    {"id": "x", "kind": "export_share", "share_to_buyer": "0.5"}], BTM)
    gas = _forecast([{"id": "g", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH",
                      "heat_rate_mmbtu_per_mwh": "6.8", "adder_usd_per_mwh": "4.5"}], {"add": ["gt"]})
    ld = _forecast([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60"},
                    {"id": "m", "kind": "min_delivery", "guaranteed_mwh": "95000", "period": "contract_year",
                     "ld_usd_per_mwh": "12.00"}], {"add": ["pv"]})
    periods = ["2030-05", "2030-06", "2030-07", "2030-08", "2030-12"]
    lattices = [month_lattice(fc, periods[0], NODES), None, month_lattice(gas, periods[2], NODES),
                month_lattice(fc, periods[3], NODES), month_lattice(ld, periods[4], NODES)]
    assert lattices[0].dims == (GEN, "price:ERCOT") and lattices[2].dims == ("index:HH",)
    assert lattices[4].dims == (GEN,) and len(lattices[4].nodes[0]) > 3      # refined
    rng = np.random.default_rng(3)
    paths = 257
    factors = {d: rng.uniform(0.3, 2.5, (paths, len(periods))) for d in (GEN, "price:ERCOT", "index:HH")}
    got = path_revenue(lattices, factors, paths)
    assert got.shape == (paths, 5) and not got[:, 1].any()
    for j, lat in enumerate(lattices):
        if lat is not None:
            one = lat.revenue({d: factors[d][:, j] for d in lat.dims}, paths)
            assert np.array_equal(got[:, j], one), j
