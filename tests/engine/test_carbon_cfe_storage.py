"""24/7 CFE worked by hand, the storage pool's carbon, conservation, DST buckets, order-free sums."""
from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from engine.canonical import canonical_json
from engine.carbon import cfe
from engine.carbon.attribution import HourlyFlows, attribute
from engine.carbon.classify import site_config
from engine.carbon.factors import factor_set
from engine.carbon.hourly import GridFactors, HourGrid
from engine.carbon.report import heatmap_buckets
from engine.carbon.statement import annex, combine, site_month_carbon
from engine.carbon.units import MASS_UNITS_PER_KG, intensity_str
from engine.delivered import ChannelSeries
from engine.sites import parse_sites
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, local_month_bounds_us


def flows(n: int, **given) -> HourlyFlows:
    z = np.zeros(n, dtype=np.int64)
    names = ("gen_clean_wh", "gen_fossil_wh", "scope1_co2e", "discharge_wh", "charge_wh", "import_wh",
             "export_wh", "load_wh", "delivered_wh", "certificates_in_wh", "own_sold_wh")
    return HourlyFlows(**{k: np.asarray(given.get(k, z), dtype=np.int64) for k in names})


def grid(n: int, kg_per_mwh, share, residual=None):
    f = np.asarray([int(x * 10**6) for x in kg_per_mwh], dtype=np.int64)
    s = np.asarray([int(round(x * 10**6)) for x in share], dtype=np.int64)
    r = np.full(n, -1, dtype=np.int64) if residual is None else np.asarray(
        [int(x * 10**6) for x in residual], dtype=np.int64)
    return f, r, s


def test_four_hours_worked_by_hand():
    """L = 100 Wh each hour; carbon-free C = 150, 50, 0, 100 Wh; grid share s = .5, .5, .2, 0.

    CFE_h = min(C, L) + s x (L - min(C, L)):
        h1: 100 + .5 x 0 = 100 (the 50 Wh excess is not carried)
        h2:  50 + .5 x 50 = 75
        h3:   0 + .2 x 100 = 20
        h4: 100 + 0 x 0 = 100          -> 295 / 400 = 73.75 %
    hourly matched (no grid): (100 + 50 + 0 + 100) / 400 = 62.50 %
    volumetric: min(300, 400) / 400 = 75.00 %: it overstates the hourly match."""
    c, ld, s = [150, 50, 0, 100], [100] * 4, [500_000, 500_000, 200_000, 0]
    assert [cfe.hourly_cfe_uwh(*x) for x in zip(c, ld, s)] == [100e6, 75e6, 20e6, 100e6]
    assert cfe.score(c, ld, s) == {"hourly_pct": "73.75", "volumetric_pct": "75.00"}
    # the same site through the attribution: solar C, grid the rest, excess exported
    imp = [0, 50, 100, 0]
    exp = [50, 0, 0, 0]
    f, r, sh = grid(4, [400] * 4, [.5, .5, .2, 0])
    hc = attribute(flows(4, gen_clean_wh=c, import_wh=imp, export_wh=exp, load_wh=ld), f, r, sh)
    assert hc.cfe_uwh == [100_000_000, 75_000_000, 20_000_000, 100_000_000]
    assert hc.totals["cfe_matched_wh"] == 250 and hc.totals["cfe_clean_wh"] == 300
    assert cfe.cfe_pct(hc.totals["cfe_uwh"], 400) == "73.75"
    assert cfe.volumetric_pct(300, 400) == "75.00"
    # Scope 2 location-based: 150 Wh x 400 kg/MWh = 60 g
    assert hc.totals["scope2_location_co2e"] == 60 * MASS_UNITS_PER_KG // 1000


def test_a_battery_charged_from_the_grid_at_night_discharges_the_nights_factor_at_noon():
    """Hour 0 (night): import 150 Wh at 500 kg/MWh, s = 0.3: load 100, charge 50.
    Hour 12 (noon): the grid is at 200 kg/MWh, s = 0.8: discharge 50 + import 50 serve 100.
    The discharged 50 Wh carry 500 kg/MWh and a 30 % clean share, not noon's."""
    n = 13
    imp = [150] + [0] * 11 + [50]
    load = [100] + [0] * 11 + [100]
    chg = [50] + [0] * 12
    dis = [0] * 12 + [50]
    f, r, s = grid(n, [500] + [300] * 11 + [200], [.3] + [.5] * 11 + [.8])
    hc = attribute(flows(n, import_wh=imp, load_wh=load, charge_wh=chg, discharge_wh=dis), f, r, s)
    noon_mass = hc.load_co2e[12]
    discharge_part = noon_mass - 50 * 200 * 10**6 * 10       # minus noon's import at 200 kg/MWh
    assert intensity_str(discharge_part, 50) == "500.000"
    # its clean share is the night's 30 %: 15 Wh carbon-free at noon, plus 0.8 x 50 Wh of grid
    assert hc.clean_wh[12] == 15
    assert hc.cfe_uwh[12] == 15 * 10**6 + 40 * 10**6
    # conservation: all grid mass went to the load (none left in the emptied pool)
    assert sum(hc.load_co2e) == hc.totals["scope2_location_co2e"]
    assert hc.totals["storage_discharge_unknown_origin_wh"] == 0 and hc.totals["storage_pool_left_wh"] == 0


def test_a_battery_charged_from_gas_is_not_clean_and_one_charged_from_solar_is():
    n = 2
    f, r, s = grid(n, [400, 400], [0, 0])
    gas_mass = 1000 * 531_145 * 9000            # 1 kWh at 9 MMBtu/MWh, AR5 CO2e per millibtu
    # hour 0: gas 1,000 Wh charges 1,000 Wh; hour 1: discharge 1,000 to the load
    hc = attribute(flows(n, gen_fossil_wh=[1000, 0], scope1_co2e=[gas_mass, 0], charge_wh=[1000, 0],
                         discharge_wh=[0, 1000], load_wh=[0, 1000]), f, r, s)
    assert hc.clean_wh[1] == 0 and hc.cfe_uwh[1] == 0 and hc.load_co2e[1] == gas_mass
    hc = attribute(flows(n, gen_clean_wh=[1000, 0], charge_wh=[1000, 0], discharge_wh=[0, 1000],
                         load_wh=[0, 1000]), f, r, s)
    assert hc.clean_wh[1] == 1000 and hc.cfe_uwh[1] == 1000 * 10**6 and hc.load_co2e[1] == 0


def test_discharge_beyond_the_pool_is_of_unknown_origin_and_takes_the_grid():
    f, r, s = grid(1, [300], [.5])
    hc = attribute(flows(1, discharge_wh=[100], load_wh=[100]), f, r, s)
    assert hc.totals["storage_discharge_unknown_origin_wh"] == 100
    assert hc.load_co2e == [100 * 300 * 10**6 * 10] and hc.clean_wh == [50]


def test_market_based_uses_certificates_then_the_residual_mix_and_says_when_it_falls_back():
    f, r, s = grid(2, [400, 400], [.2, .2], residual=[500, 500])
    hc = attribute(flows(2, import_wh=[100, 100], load_wh=[100, 100], certificates_in_wh=[30, 0]), f, r, s)
    assert hc.totals["certificates_matched_wh"] == 30
    assert hc.totals["scope2_market_co2e"] == (70 + 100) * 500 * 10**7
    assert hc.totals["scope2_location_co2e"] == 200 * 400 * 10**7
    r2 = np.full(2, -1, dtype=np.int64)
    hc = attribute(flows(2, import_wh=[100, 100], load_wh=[100, 100]), f, r2, s)
    assert hc.totals["hours_residual_mix_fallback"] == 2
    assert hc.totals["scope2_market_co2e"] == hc.totals["scope2_location_co2e"]


def test_hours_without_a_grid_factor_are_counted_not_hidden():
    m = np.full(3, -1, dtype=np.int64)
    hc = attribute(flows(3, import_wh=[10, 10, 10], load_wh=[10, 10, 10]), m, m, m)
    assert hc.totals["hours_without_grid_factor"] == 3 and hc.totals["scope2_location_co2e"] == 0


# ---------------------------------------------------------------------------------- DST
def test_dst_months_have_743_and_721_hours_and_local_buckets():
    tz = "America/Chicago"
    march = HourGrid.of(*local_month_bounds_us("2026-03", tz))
    november = HourGrid.of(*local_month_bounds_us("2026-11", tz))
    assert (march.n, november.n) == (743, 721)       # 31 x 24 - 1, 30 x 24 + 1
    ones = [1] * 721
    heat = heatmap_buckets(november.hours_us, [10**6] * 721, ones, tz, by="day")
    assert heat["cols"][0] == "01" and len(heat["cols"]) == 30
    assert all(row[0] == "100.00" for row in heat["values"])       # Nov 1: 25 UTC hours, 24 buckets
    heat = heatmap_buckets(march.hours_us, [0] * 743, [1] * 743, tz, by="day")
    mar8 = heat["cols"].index("08")
    assert heat["values"][2][mar8] is None                         # 02:00 does not exist on Mar 8
    assert sum(v is None for row in heat["values"] for v in row) == 1


def _traced_site():
    doc = {"sites": [{"site_id": "CH1", "timezone": "America/Chicago", "balancing_authority": "ERCO",
                      "channels": {"gt1": {"kind": "generation", "resource": "gas_cc",
                                           "heat_rate_mmbtu_per_mwh": 6.8},
                                   "pv1": {"kind": "generation", "resource": "solar"},
                                   "chg": {"kind": "storage_charge"}, "dis": {"kind": "storage_discharge"},
                                   "imp": {"kind": "grid_import"}, "exp": {"kind": "grid_export"},
                                   "dc": {"kind": "load"}}}]}
    site = parse_sites(doc)["CH1"]
    return site, site_config(site)


def _month(period: str, seed: int):
    site, cfg = _traced_site()
    b0, b1 = local_month_bounds_us(period, site.timezone)
    grid_us = np.arange(b0, b1, 15 * US_PER_MINUTE, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n = grid_us.size
    hour = (grid_us // US_PER_HOUR) % 24
    pv = np.where((hour > 13) & (hour < 23), rng.integers(0, 3000, n), 0)
    gt = rng.integers(4000, 6000, n)
    chg = np.where((hour > 15) & (hour < 19), 800, 0)
    dis = np.where((hour > 0) & (hour < 4), 700, 0)
    load = rng.integers(5000, 7000, n)
    net = gt + pv + dis - chg - load
    imp, exp = np.maximum(-net, 0), np.maximum(net, 0)
    q = np.array(["A"] * n)
    series = {k: ChannelSeries(grid_us, np.asarray(v, dtype=np.int64), q, np.array([""] * n), 15)
              for k, v in (("gt1", gt), ("pv1", pv), ("chg", chg), ("dis", dis), ("imp", imp), ("exp", exp),
                           ("dc", load))}
    hours = HourGrid.of(b0, b1)
    hh = (hours.hours_us // US_PER_HOUR) % 24
    gf = GridFactors(cfg.balancing_authority, (350_000_000 + 1_000_000 * hh).astype(np.int64),
                     np.full(hours.n, -1, np.int64), (300_000 + 10_000 * hh).astype(np.int64))
    fs = factor_set()
    return site_month_carbon(cfg, period, b0, b1, series, grid=gf, fs=fs, gwp=fs.gwp(), keep_hourly=True)


def test_a_dst_month_is_traced_hour_by_hour():
    smc = _month("2026-03", 1)
    assert smc.partial.sums["hours"] == 743 and smc.partial.sums["hours_without_grid_factor"] == 0
    assert len(smc.hourly.cfe_uwh) == 743


def test_statements_are_the_same_whatever_the_order_of_the_partials():
    parts = [_month(p, i).partial for i, p in enumerate(("2026-03", "2026-10", "2026-11"))]
    fs = factor_set()
    expected = canonical_json(annex(combine(parts), fs, fs.gwp()))
    for perm in itertools.permutations(parts):
        assert canonical_json(annex(combine(list(perm)), fs, fs.gwp())) == expected
    # and a nested grouping (a year of months, summed by quarters first)
    assert canonical_json(annex(combine([combine(parts[:2]), parts[2]]), fs, fs.gwp())) == expected
    total = combine(parts)
    assert total.sites == ("CH1",) and total.periods == ("2026-03", "2026-10", "2026-11")
    assert total.sums["hours"] == 743 + 744 + 721


@pytest.mark.parametrize("seed", range(3))
def test_nothing_is_created_or_lost_by_the_attribution(seed):
    rng = random.Random(seed)
    n = 48
    vals = {k: [rng.randrange(0, 1000) for _ in range(n)] for k in
            ("gen_clean_wh", "gen_fossil_wh", "import_wh", "charge_wh", "discharge_wh", "export_wh")}
    vals["scope1_co2e"] = [g * 531_145 * 6800 for g in vals["gen_fossil_wh"]]
    vals["load_wh"] = [max(1, rng.randrange(0, 2000)) for _ in range(n)]
    f, r, s = grid(n, [rng.randrange(100, 900) for _ in range(n)], [rng.random() for _ in range(n)])
    hc = attribute(flows(n, **vals), f, r, s)
    mass_in = sum(vals["scope1_co2e"]) + hc.totals["scope2_location_co2e"]
    # every hour's mix goes to load, export or charge; what is charged stays in or leaves the pool
    assert sum(hc.load_co2e) <= mass_in
    assert all(x >= 0 for x in hc.load_co2e + hc.cfe_uwh + hc.clean_wh)


def test_delivered_energy_is_the_contracts_on_one_grid_or_mixed_grids():
    from engine.carbon.statement import delivered_intervals
    from engine.contract import parse_contract
    site, _ = _traced_site()
    doc = {"contract_id": "C1", "version": 1, "effective_from": "2026-01-01", "parties": {"seller": "S", "buyer": "B"},
           "sites": ["CH1"], "timezone": "America/Chicago", "term": {"start": "2026-01-01", "end": "2030-12-31"},
           "billing_period": "month", "currency": "USD",
           "delivered": {"add": ["kind:generation", "kind:storage_discharge"],
                         "subtract": ["kind:storage_charge", "kind:grid_export"], "cap_at": ["kind:load"]},
           "terms": [{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "50"}]}
    cv = parse_contract(doc)
    b0, b1 = local_month_bounds_us("2026-10", site.timezone)
    smc_series = {}
    n15 = (b1 - b0) // (15 * US_PER_MINUTE)
    g15 = b0 + np.arange(n15, dtype=np.int64) * 15 * US_PER_MINUTE
    q = np.array(["A"] * n15)
    for k, v in (("gt1", 900), ("pv1", 300), ("chg", 100), ("dis", 0), ("exp", 200), ("dc", 800), ("imp", 0)):
        smc_series[k] = ChannelSeries(g15, np.full(n15, v, np.int64), q, np.array([""] * n15), 15)
    grid, wh = delivered_intervals([cv], site, smc_series, b0, b1)
    assert grid.size == n15 and set(wh.tolist()) == {800}        # min(900 + 300 - 100 - 200, 800)
    # the same energy in 5-minute intervals for the solar channel: placed on the 15-minute grid
    n5 = n15 * 3
    g5 = b0 + np.arange(n5, dtype=np.int64) * 5 * US_PER_MINUTE
    smc_series["pv1"] = ChannelSeries(g5, np.full(n5, 100, np.int64), np.array(["A"] * n5), np.array([""] * n5), 5)
    grid2, wh2 = delivered_intervals([cv], site, smc_series, b0, b1)
    assert np.array_equal(grid2, grid) and np.array_equal(wh2, wh)
