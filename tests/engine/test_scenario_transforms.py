"""Each transformation, exactly: integer results with the one stated rounding rule,
DST-aware local times, the site's energy balance kept, contract edits parsed again."""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from fractions import Fraction

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.delivered import ChannelSeries
from engine.errors import DataMissingError, FieldError, InfeasibleError
from engine.pricing import IndexSeries, PriceSeries, align_prices
from engine.scenario import (MarketContext, SiteHorizon, SiteMonth, parse_scenario, variant_contracts,
                             variant_market, variant_site)
from engine.scenario.battery import contract_marginals
from engine.scenario.exact import allocate, scale_half_even
from engine.settlement import MarketData
from engine.sites import Channel, Site
from engine.timebase import US_PER_HOUR, local_midnight_us, local_month_bounds_us, to_us

from tests.engine.settlement_fixtures import SITES, contract_doc

TZ = "America/Chicago"


def one(*transforms: dict):
    s = parse_scenario({"scenario": "t", "base": {"from_period": "2026-03", "to_period": "2026-03"},
                        "variants": [{"name": "v", "transforms": list(transforms)}]})
    return s.variants[1]


def hourly(period: str = "2026-03", values=None, run: str = "RT", node: str = "N") -> tuple[tuple, PriceSeries]:
    b0, b1 = local_month_bounds_us(period, TZ)
    starts = np.arange(b0 - US_PER_HOUR, b1, US_PER_HOUR, dtype=np.int64)
    lmp = (np.arange(starts.size, dtype=np.int64) % 24) * 1_000_000 if values is None else values
    return ("ERCOT", node, run), PriceSeries(starts, np.full(starts.size, 60), np.asarray(lmp, dtype=np.int64))


def mctx(period: str = "2026-03", series=None) -> MarketContext:
    b0, b1 = local_month_bounds_us(period, TZ)
    return MarketContext(period, "S", TZ, b0, b1, series or {})


def test_exact_helpers():
    np.testing.assert_array_equal(scale_half_even(np.array([15, 17, -15, -17, 3]), Fraction(3, 2)),
                                  [22, 26, -22, -26, 4])
    parts = allocate(np.array([10, 7, 0, 5]), [np.array([1, 1, 5, 0]), np.array([3, 1, 5, 0])])
    np.testing.assert_array_equal(parts[0] + parts[1], [10, 7, 0, 0])
    np.testing.assert_array_equal(parts[0], [3, 4, 0, 0])                 # 2.5 -> floor 2, +1 (ties earlier)


def test_price_ops_are_exact_and_keep_the_grid():
    key, s = hourly()
    market = MarketData({key: s}, {})
    for t, want in (({"op": "price_scale", "factor": "1.5"}, scale_half_even(s.lmp_microusd_per_mwh, Fraction(3, 2))),
                    ({"op": "price_shift", "usd_per_mwh": "-2.25"}, s.lmp_microusd_per_mwh - 2_250_000),
                    ({"op": "price_floor", "usd_per_mwh": "5"}, np.maximum(s.lmp_microusd_per_mwh, 5_000_000)),
                    ({"op": "price_cap", "usd_per_mwh": "7.5"}, np.minimum(s.lmp_microusd_per_mwh, 7_500_000))):
        out = variant_market(one(t), market, mctx()).prices[key]
        np.testing.assert_array_equal(out.lmp_microusd_per_mwh, want)
        assert out.start_us is s.start_us                                  # the same grid: one gather
    other = variant_market(one({"op": "price_shift", "usd_per_mwh": "9", "months": ["2026-04"]}), market, mctx())
    assert other.prices[key] is s
    unselected = variant_market(one({"op": "price_shift", "series": {"node": "ELSE"}, "usd_per_mwh": "9"}),
                                market, mctx())
    assert unselected.prices[key] is s


def test_replace_a_run_and_a_curve():
    rt_key, rt = hourly()
    da_key, da = hourly(run="DA", values=np.full(rt.start_us.size, 33_000_000))
    market = MarketData({rt_key: rt}, {})
    out = variant_market(one({"op": "price_replace", "series": {"market_run": "RT"}, "with": {"market_run": "DA"}}),
                         market, mctx(series={da_key: da}))
    assert out.prices[rt_key] is da
    missing = variant_market(one({"op": "price_curve", "series": {"market_run": "RT"}, "curve": "fwd"}),
                             market, mctx())
    with pytest.raises(DataMissingError, match="prices ERCOT/N/RT"):
        align_prices(missing.prices[rt_key], rt.start_us[1:3], 60, "ERCOT/N/RT")


def test_scarcity_windows_are_local_and_dst_aware():
    key, s = hourly()
    s = PriceSeries(s.start_us, s.minutes, np.zeros(s.start_us.size, dtype=np.int64))
    v = one({"op": "price_scarcity", "days": ["2026-03-07", "2026-03-08"], "start_hour": 17, "hours": 2,
             "usd_per_mwh": "5000"})
    out = variant_market(v, MarketData({key: s}, {}), mctx()).prices[key]
    hit = s.start_us[out.lmp_microusd_per_mwh == 5_000_000_000]
    want = [datetime(2026, 3, 7, 23, tzinfo=timezone.utc), datetime(2026, 3, 8, 0, tzinfo=timezone.utc),
            datetime(2026, 3, 8, 22, tzinfo=timezone.utc), datetime(2026, 3, 8, 23, tzinfo=timezone.utc)]
    assert hit.tolist() == [to_us(w) for w in want]                        # CST 17:00 = 23Z, CDT 17:00 = 22Z


def test_the_lowest_share_of_hours_goes_negative():
    """743 local hours in March 2026 (DST): 1 % is 7.43 -> 7 hours (half-even); the
    lowest hourly means, ties broken by time; 5-minute prices grouped by hour."""
    b0, b1 = local_month_bounds_us("2026-03", TZ)
    starts = np.arange(b0 - US_PER_HOUR, b1, 5 * 60_000_000, dtype=np.int64)
    hour = (starts - b0) // US_PER_HOUR
    lmp = (10 + (hour % 50)) * 1_000_000
    lmp[(hour == 100) & (np.arange(starts.size) % 12 == 0)] = -400_000_000   # one low 5-min interval
    s = PriceSeries(starts, np.full(starts.size, 5), lmp)
    v = one({"op": "price_negative_hours", "share_pct": "1", "usd_per_mwh": "-25"})
    out = variant_market(v, MarketData({("ERCOT", "N", "RT"): s}, {}), mctx()).prices[("ERCOT", "N", "RT")]
    forced = np.unique(hour[out.lmp_microusd_per_mwh == -25_000_000])
    assert forced.size == 7 and 100 in forced.tolist()
    assert forced.tolist() == sorted([100] + [h for h in range(743) if h % 50 == 0 and h != 100][:6])
    before = out.lmp_microusd_per_mwh[starts < b0]
    np.testing.assert_array_equal(before, lmp[starts < b0])                   # outside the month: untouched


def test_index_ops():
    ix = IndexSeries(np.arange(10, dtype=np.int64), np.full(10, 3_333_333))
    market = MarketData({}, {"HH": ix})
    out = variant_market(one({"op": "index_scale", "index": "HH", "factor": "1.5"},
                             {"op": "index_shift", "index": "HH", "value": "0.25"}), market, mctx())
    np.testing.assert_array_equal(out.indices["HH"].value_micro, np.full(10, 4_999_999 + 1 + 250_000))
    assert out.indices["HH"].period_start_days is ix.period_start_days


# ------------------------------------------------------------------ site channels
SITE = Site("S", TZ, {"gt": Channel("gt", "generation", nameplate_kw=100), "pv": Channel("pv", "generation",
                                                                                           nameplate_kw=40),
                      "dis": Channel("dis", "storage_discharge"), "chg": Channel("chg", "storage_charge"),
                      "dc": Channel("dc", "load"), "imp": Channel("imp", "grid_import"),
                      "exp": Channel("exp", "grid_export")}, "ERCOT", "N")


def site_month(period: str = "2026-03", market: MarketData | None = None) -> SiteMonth:
    b0, b1 = local_month_bounds_us(period, TZ)
    grid = np.arange(b0, b1, US_PER_HOUR, dtype=np.int64)
    n = grid.size
    rng = np.random.default_rng(8)
    e = {"gt": rng.integers(50_000, 100_000, n), "pv": rng.integers(0, 40_000, n),
         "dis": np.zeros(n, dtype=np.int64), "chg": np.zeros(n, dtype=np.int64), "dc": rng.integers(60_000, 120_000, n)}
    net = e["dc"] + e["chg"] - e["gt"] - e["pv"] - e["dis"]
    e["imp"], e["exp"] = np.maximum(net, 0), np.maximum(-net, 0)
    chans = {k: ChannelSeries(grid, np.asarray(v, dtype=np.int64), np.full(n, "A"), np.full(n, ""), 60)
             for k, v in e.items()}
    return SiteMonth(period, b0, b1, chans, market or MarketData({hourly(period)[0]: hourly(period)[1]}, {}))


def balance(m: SiteMonth) -> np.ndarray:
    e = {k: np.asarray(v.energy_wh) for k, v in m.channels.items()}
    return e["dc"] + e["chg"] + e["exp"] - e["gt"] - e["pv"] - e["dis"] - e["imp"]


def run_site(*transforms: dict, months=None) -> SiteHorizon:
    h = SiteHorizon(SITE, tuple(months or [site_month()]))
    return variant_site(one(*transforms), h)


def test_channel_scale_rebalances_the_grid_channels():
    base = site_month()
    out = run_site({"op": "channel_scale", "channel": "pv", "factor": "2.5"}, months=[base]).months[0]
    np.testing.assert_array_equal(out.channels["pv"].energy_wh,
                                  scale_half_even(base.channels["pv"].energy_wh, Fraction(5, 2)))
    np.testing.assert_array_equal(balance(out), 0)
    assert out.channels["exp"].energy_wh.sum() > base.channels["exp"].energy_wh.sum()
    assert out.channels["gt"] is base.channels["gt"]


def test_outage_over_local_dates():
    out = run_site({"op": "outage", "channel": "gt", "from": "2026-03-08", "to": "2026-03-09"}).months[0]
    g = out.channels["gt"].grid_us
    off = (g >= local_midnight_us(date(2026, 3, 8), TZ)) & (g < local_midnight_us(date(2026, 3, 10), TZ))
    assert int(off.sum()) == 47                                               # 23 + 24 local hours
    assert not out.channels["gt"].energy_wh[off].any() and out.channels["gt"].energy_wh[~off].all()
    np.testing.assert_array_equal(balance(out), 0)


def test_add_capacity_scales_by_nameplate_and_load_growth():
    base = site_month()
    out = run_site({"op": "add_capacity", "channel": "pv", "added_kw": "60"}, months=[base]).months[0]
    np.testing.assert_array_equal(out.channels["pv"].energy_wh,
                                  scale_half_even(base.channels["pv"].energy_wh, Fraction(5, 2)))
    grown = run_site({"op": "load_growth", "pct": "3"}, months=[base]).months[0]
    np.testing.assert_array_equal(grown.channels["dc"].energy_wh,
                                  scale_half_even(base.channels["dc"].energy_wh,
                                                  Fraction(103, 100)))
    np.testing.assert_array_equal(balance(grown), 0)


def test_export_cap_curtails_generation_in_proportion():
    base = site_month()
    out = run_site({"op": "channel_scale", "channel": "pv", "factor": "4"},
                   {"op": "export_cap", "kw": "10"}, months=[base]).months[0]
    assert out.channels["exp"].energy_wh.max() <= 10_000
    np.testing.assert_array_equal(balance(out), 0)
    scaled = run_site({"op": "channel_scale", "channel": "pv", "factor": "4"}, months=[base]).months[0]
    cut = (scaled.channels["gt"].energy_wh - out.channels["gt"].energy_wh,
           scaled.channels["pv"].energy_wh - out.channels["pv"].energy_wh)
    removed = scaled.channels["exp"].energy_wh - out.channels["exp"].energy_wh
    np.testing.assert_array_equal(cut[0] + cut[1], removed)
    i = int(np.argmax(removed))
    g, p = scaled.channels["gt"].energy_wh[i], scaled.channels["pv"].energy_wh[i]
    assert abs(cut[0][i] - removed[i] * g / (g + p)) <= 1                     # in proportion, in integers


def test_no_export_at_negative_prices():
    key, s = hourly(values=None)
    neg = s.lmp_microusd_per_mwh.copy()
    neg[::5] = -1_000_000
    m = site_month(market=MarketData({key: PriceSeries(s.start_us, s.minutes, neg)}, {}))
    base = run_site({"op": "channel_scale", "channel": "pv", "factor": "4"}, months=[m]).months[0]
    out = run_site({"op": "channel_scale", "channel": "pv", "factor": "4"},
                   {"op": "no_negative_export"}, months=[m]).months[0]
    price = align_prices(m.market.prices[key], out.channels["exp"].grid_us, 60, "p")
    assert not out.channels["exp"].energy_wh[price < 0].any()
    np.testing.assert_array_equal(out.channels["exp"].energy_wh[price >= 0], base.channels["exp"].energy_wh[price >= 0])
    np.testing.assert_array_equal(balance(out), 0)


def test_battery_dispatch_replaces_the_storage_channels_over_the_horizon():
    months = [site_month("2026-03"), site_month("2026-04")]
    h = run_site({"op": "battery_dispatch", "site": "S", "power_mw": "0.05", "energy_mwh": "0.2",
                  "round_trip_efficiency": "0.9", "window": "week"}, months=months)
    for m in h.months:
        np.testing.assert_array_equal(balance(m), 0)
        assert m.channels["dis"].energy_wh.max() <= 50_000 and m.channels["chg"].energy_wh.sum() > 0
    with pytest.raises(InfeasibleError, match="window"):
        run_site({"op": "battery_dispatch", "site": "S", "power_mw": "0.00001", "energy_mwh": "0.2",
                  "soc_final_pct": "100", "window": "perfect"}, months=months)


def test_contract_marginals_come_from_the_contract_engine():
    """A fixed-price PPA on delivered energy (generation + discharge - charge, capped at
    the load): one more MWh discharged earns the interval's TOU rate where the load
    leaves headroom, and charging costs it."""
    doc = {"contract_id": "C", "version": 1, "effective_from": "2026-01-01", "parties": {"seller": "S", "buyer": "B"},
           "sites": ["S"], "timezone": TZ, "term": {"start": "2026-01-01", "end": "2030-12-31"},
           "billing_period": "month", "currency": "USD",
           "delivered": {"add": ["kind:generation", "kind:storage_discharge"], "subtract": ["kind:storage_charge"],
                         "cap_at": ["kind:load"]},
           "terms": [{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "50.00",
                      "tou": {"factors": {"on_peak": "1.2", "off_peak": "0.8"}}}]}
    cv = parse_contract(doc)
    m = site_month()
    v_dis, v_chg = contract_marginals(SiteHorizon(SITE, (m,), ([cv],)), "chg", "dis")
    headroom = m.channels["dc"].energy_wh - m.channels["gt"].energy_wh - m.channels["pv"].energy_wh
    assert set(np.round(v_dis[headroom > 1000], 6)) <= {60.0, 40.0}
    assert set(np.round(v_chg[headroom > 0], 6)) <= {-60.0, -40.0}
    assert (v_dis[headroom <= -1000] == 0).all()                              # capped at the load


# ------------------------------------------------------------------ contracts
def test_contract_ops_are_parsed_again():
    docs = {"PPA-TX-DC1": [contract_doc("ppa_tx_dc1_v1.yaml")]}
    base = {c: [parse_contract(d) for d in v] for c, v in docs.items()}
    out = variant_contracts(one({"op": "term_set", "term": "energy_fixed",
                                 "set": {"price_usd_per_mwh": "70.00"}, "unset": ["escalator_pct_per_year"]},
                                {"op": "term_remove", "term": "capacity"},
                                {"op": "export_share", "share_to_buyer": "0.8"}), docs, base, SITES)
    cv = out["PPA-TX-DC1"][0]
    assert str(cv.term("energy_fixed").params.price) == "70" and cv.term("energy_fixed").params.escalator_pct is None
    assert "capacity" not in [t.id for t in cv.terms]
    assert str(cv.term("export_share").params.share_to_buyer) == "4/5"
    assert docs["PPA-TX-DC1"][0]["terms"][0]["price_usd_per_mwh"] == "64.00"          # nothing stored changes
    same = variant_contracts(one({"op": "price_shift", "usd_per_mwh": "1"}), docs, base, SITES)
    assert same["PPA-TX-DC1"] is base["PPA-TX-DC1"]
    with pytest.raises(FieldError, match=r"terms\[0\].hedge_share|unknown field"):
        variant_contracts(one({"op": "term_set", "term": "energy_fixed", "set": {"hedge_share": "0.5"}}),
                          docs, base, SITES)
    added = variant_contracts(one({"op": "term_add", "contract": "PPA-TX-DC1",
                                   "term": {"id": "cap2", "kind": "capacity", "contracted_kw": "1000",
                                            "price_usd_per_kw_month": "5", "availability":
                                                {"channels": ["gt1"], "target": "0.9"}}}), docs, base, SITES)
    assert [t.id for t in added["PPA-TX-DC1"][0].terms][-1] == "cap2"


def test_dataclass_replace_keeps_vee_series():
    s = ChannelSeries(np.arange(3), np.arange(3), np.full(3, "A"), np.full(3, ""), 60)
    assert dataclasses.replace(s, energy_wh=np.zeros(3)).minutes == 60
