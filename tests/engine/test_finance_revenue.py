"""Typical years laid on forecast calendars, forecast scaling, and the revenue lattice
against direct engine settlements of the same forecast months."""
from __future__ import annotations

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.finance.forecast import Operations, scaled_series, site_month
from engine.finance.profile import MonthChannels, PriceProfile, SiteProfile, relocation, typical_price_shape
from engine.finance.revenue import (GEN, ContractForecast, IndexForecast, PriceForecast, interpolate,
                                    month_lattice, settle_month)
from engine.pricing import PriceSeries
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


@pytest.mark.parametrize("terms, delivered, hub, exact", [
    # fixed price with TOU, and an export share at the node of a channel that scales:
    # multilinear in (generation, price), exact
    ([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60", "escalator_pct_per_year": "2",
       "tou": {"factors": {"on_peak": "1.1", "off_peak": "0.9"}}},
      {"id": "x", "kind": "export_share", "share_to_buyer": "0.5", "export": ["pv"]}], {"add": ["pv"]},
     False, True),
    # behind the meter: delivered = generation less export, capped at load; the export
    # and the cap switch interval by interval as generation moves: interpolated
    ([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "60"},
      {"id": "x", "kind": "export_share", "share_to_buyer": "0.5"}], BTM, False, False),
    # a VPPA on the solar volume (zero floor) and energy at a gas-indexed price
    ([{"id": "v", "kind": "vppa", "strike_usd_per_mwh": "34", "hedge_share": "0.75",
       "negative_price_rule": "zero_floor", "volume": ["pv"]},
      {"id": "g", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH",
       "heat_rate_mmbtu_per_mwh": "6.8", "adder_usd_per_mwh": "4.5"}], {"add": ["gt"]}, True, True),
    # a take-or-pay top-up switching on: interpolated across its kink
    ([{"id": "t", "kind": "take_or_pay", "contracted_mwh_per_month": "25000", "take_share": "0.9",
       "price_usd_per_mwh": "40"}], {"add": ["pv"]}, False, False),
])
def test_lattice_against_direct_engine_settlements(terms, delivered, hub, exact):
    fc = _forecast(terms, delivered, hub)
    period = "2030-07"
    lat = month_lattice(fc, period, NODES)
    # the centre is the P50 settlement itself (exact cents)
    sites, market = fc.inputs(period, {})
    assert lat.center.total_cents == settle_month(fc.versions, period, sites, market).total_cents
    rng = np.random.default_rng(0)
    for _ in range(4):
        pt = {d: float(rng.uniform(NODES[d][0] * 1.02, NODES[d][2] * 0.98)) for d in lat.dims}
        got = lat.revenue({d: np.array([pt[d]]) for d in lat.dims}, 1)[0]
        sites, market = fc.inputs(period, pt)
        direct = settle_month(fc.versions, period, sites, market).total_cents / 100
        if exact:   # rates quantised to 1e-6 USD/MWh at the points, cents per line
            assert got == pytest.approx(direct, abs=2.0 + 1e-6 * abs(direct)), pt
        else:
            assert got == pytest.approx(direct, rel=1e-2), pt
    assert lat.settlements == 1 + 2 * len(lat.dims)      # cross terms came from the detail


def test_interpolation_is_exact_at_points_and_linear_beyond():
    table = np.arange(9, dtype=float).reshape(3, 3)
    nodes = ((0.5, 1.0, 2.0), (0.8, 1.0, 1.2))
    x = [np.array([0.5, 1.0, 2.0, 3.0]), np.array([0.8, 1.0, 1.2, 1.2])]
    assert interpolate(table, nodes, x, 4).tolist() == [0.0, 4.0, 8.0, 11.0]
