"""One engine: the prepared/re-priced path of ``engine.settlement`` gives exactly what
``settle_site`` and ``finalize`` give (billing goes through it), and the exact
vectorised rates equal the ``Fraction`` rule for every price."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.pricing import IndexSeries, PriceSeries, align_index, align_prices
from engine.settlement import (MarketData, _index_gather, _price_gather, combine, finalize, finalize_amounts,
                               prepare_site, price_site, settle_site)
from engine.terms import energy_indexed, export_share, vppa
from engine.terms.base import affine_micro, quantise_micro
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, local_month_bounds_us

from engine.delivered import ChannelSeries
from engine.sites import Channel, Site

TZ = "America/Chicago"
PERIOD = "2026-03"                      # spring forward: 743 local hours


def _site() -> Site:
    return Site("S1", TZ, {"pv": Channel("pv", "generation", nameplate_kw=20000),
                           "dc": Channel("dc", "load"), "exp": Channel("exp", "grid_export")},
                "ERCOT", "NODE1")


def _series(minutes: int, seed: int = 1) -> dict:
    b0, b1 = local_month_bounds_us(PERIOD, TZ)
    grid = np.arange(b0, b1, minutes * US_PER_MINUTE, dtype=np.int64)
    rng = np.random.default_rng(seed)
    out = {}
    for name, hi in (("pv", 2_000_000), ("dc", 900_000), ("exp", 400_000)):
        e = rng.integers(0, hi * minutes // 5, grid.size)
        q = np.where(rng.random(grid.size) < 0.02, "E", "A")
        out[name] = ChannelSeries(grid, e, q, np.full(grid.size, ""), minutes)
    return out


def _market(price_minutes: int = 5, seed: int = 2) -> MarketData:
    b0, b1 = local_month_bounds_us(PERIOD, TZ)
    rng = np.random.default_rng(seed)
    out = {}
    for node in ("NODE1", "HUB"):
        starts = np.arange(b0 - US_PER_HOUR, b1, price_minutes * US_PER_MINUTE, dtype=np.int64)
        lmp = rng.integers(-30_000_000, 120_000_000, starts.size) // 10_000 * 10_000
        out[("ERCOT", node, "RT")] = PriceSeries(starts, np.full(starts.size, price_minutes), lmp)
    days = np.arange(20_400, 20_600, dtype=np.int64)
    hh = IndexSeries(days[days % 7 < 5], rng.integers(2_000_000, 4_000_000, int((days % 7 < 5).sum())))
    return MarketData(out, {"HH": hh})


def _contract(**terms) -> list:
    doc = {"contract_id": "C1", "version": 1, "effective_from": "2025-01-01",
           "parties": {"seller": "S", "buyer": "B"}, "sites": ["S1"], "timezone": TZ,
           "term": {"start": "2025-01-01", "end": "2040-12-31"}, "billing_period": "month", "currency": "USD",
           "delivered": {"add": ["pv"], "subtract": ["exp"], "cap_at": ["dc"]},
           "pricing": {"hub": {"iso": "ERCOT", "node": "HUB", "market_run": "RT"},
                       "site_node": {"market_run": "RT"}},
           "terms": [
               {"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "61.25", "escalator_pct_per_year": "2.0",
                "tou": {"factors": {"on_peak": "1.10", "off_peak": "0.90"}}},
               {"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "42.50", "hedge_share": "0.75",
                "negative_price_rule": "zero_floor", "volume": ["pv"]},
               {"id": "export", "kind": "export_share", "share_to_buyer": "0.5", "export": ["exp"]},
               {"id": "fuel", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH",
                "heat_rate_mmbtu_per_mwh": "7.2", "adder_usd_per_mwh": "4.50", "carry_forward_days": 4,
                "floor_usd_per_mwh": "12.00", "cap_usd_per_mwh": "40.00"},
               {"id": "min", "kind": "min_delivery", "guaranteed_mwh": "900", "period": "month",
                "ld_usd_per_mwh": "15.00"}]}
    return [parse_contract(doc)]


@pytest.mark.parametrize("minutes, price_minutes", [(5, 5), (15, 5), (60, 60), (15, 60)])
def test_prepare_then_price_is_settle_site(minutes, price_minutes):
    versions, site, series, market = _contract(), _site(), _series(minutes), _market(price_minutes)
    billed = settle_site(versions, PERIOD, site, series, market)
    prepared = prepare_site(versions, PERIOD, site, series, market, keep_lines=False)
    repriced = price_site(prepared, market)
    assert repriced.lines == billed.lines and repriced.determinants == billed.determinants
    assert repriced.delivered_wh == billed.delivered_wh and repriced.vee == billed.vee
    assert repriced.detail.num_rows == 0 and billed.detail.num_rows > 0
    # another market through the same prepared site-month: what settle_site gives for it
    other = _market(price_minutes, seed=9)
    assert price_site(prepared, other).lines == settle_site(versions, PERIOD, site, series, other).lines
    # a value-only change keeps the series' time arrays: aligned by the prepared gather
    shifted = MarketData({k: PriceSeries(s.start_us, s.minutes, s.lmp_microusd_per_mwh + 7_000_000)
                          for k, s in market.prices.items()},
                         {k: IndexSeries(s.period_start_days, s.value_micro * 2) for k, s in market.indices.items()})
    assert price_site(prepared, shifted).lines == settle_site(versions, PERIOD, site, series, shifted).lines
    assert prepared._gathers                                      # the gathers were used and kept
    with pytest.raises(ValueError, match="keep_lines"):
        price_site(prepared, market, detail=True)


def test_detail_and_finalize_through_the_two_steps():
    versions, site, series, market = _contract(), _site(), _series(5), _market()
    prepared = prepare_site(versions, PERIOD, site, series, market)
    with_detail = price_site(prepared, market, detail=True)
    assert with_detail.detail.equals(settle_site(versions, PERIOD, site, series, market).detail)
    result = finalize(versions, PERIOD, combine([with_detail]))
    amounts = finalize_amounts(versions, PERIOD, combine([price_site(prepared, market)]), memo={})
    assert [(a.line_id, a.charge, a.quantity, a.quantity_unit, a.amount_cents) for a in amounts] == \
           [(ln.line_id, ln.charge, ln.quantity, ln.quantity_unit, ln.amount_cents) for ln in result.lines]
    memo: dict = {}
    for seed in (3, 4):                           # memoised period lines: same cents as finalize
        m = _market(seed=seed)
        partial = price_site(prepared, m)
        got = finalize_amounts(versions, PERIOD, partial, memo=memo)
        assert [a.amount_cents for a in got] == [ln.amount_cents for ln in finalize(versions, PERIOD, partial).lines]


def test_price_gather_equals_alignment():
    """The positions the prepared site-month gathers with are align_prices' choice."""
    site, series, market = _site(), _series(15), _market(5)
    prepared = prepare_site(_contract(), PERIOD, site, series, market)
    r = prepared.ranges[0]
    for s in market.prices.values():
        idx = _price_gather(prepared, r, s)
        assert idx is None                       # 5-minute prices under 15-minute meters average
    hourly = _market(60)
    for s in hourly.prices.values():
        idx = _price_gather(prepared, r, s)
        np.testing.assert_array_equal(s.lmp_microusd_per_mwh[idx], align_prices(s, r.ctx.start_us, 15, "x"))
    hh = market.indices["HH"]
    idx = _index_gather(prepared, r, hh, "HH", "daily", 4)
    np.testing.assert_array_equal(hh.value_micro[idx], align_index(hh, r.ctx.local.day, "HH", carry_forward_days=4))


# ------------------------------------------------------------------ exact rates
PRICES = np.concatenate([np.arange(-60, 61) * 5_000,                         # ties of every kind
                         np.random.default_rng(5).integers(-10**10, 10**10, 5000)])


@pytest.mark.parametrize("strike, share, rule", [
    ("42.50", "0.75", "none"), ("42.50", "0.75", "zero_floor"), ("0", "1", "no_settlement_below_zero"),
    ("41.234567", "0.333333", "none"), ("99.999999999", "0.123456789012345678", "zero_floor")])
def test_vppa_rates_are_the_fraction_rule(strike, share, rule):
    p = vppa.Params(Fraction(strike), Fraction(share), rule)
    want = []
    for x in PRICES.tolist():
        if rule == "no_settlement_below_zero" and x < 0:
            want.append(0)
            continue
        eff = max(x, 0) if rule == "zero_floor" else x
        want.append(quantise_micro(p.hedge_share * (p.strike - Fraction(eff, 10**6))))
    np.testing.assert_array_equal(p.rate_micro(PRICES), want)
    assert [p.rate_micro(int(x)) for x in PRICES[:50]] == want[:50]


@pytest.mark.parametrize("share, by", [("0.5", "seller"), ("0.5", "buyer"), ("0.333333333333", "seller")])
def test_export_share_rates_are_the_fraction_rule(share, by):
    p = export_share.Params(Fraction(share), by)
    want = [quantise_micro(p.coefficient * Fraction(x, 10**6)) for x in PRICES.tolist()]
    np.testing.assert_array_equal(p.rate_micro(PRICES), want)


@pytest.mark.parametrize("raw", [
    {"formula": "heat_rate", "heat_rate_mmbtu_per_mwh": "7.2", "adder_usd_per_mwh": "4.50"},
    {"formula": "heat_rate", "heat_rate_mmbtu_per_mwh": "6.8333", "adder_usd_per_mwh": "-1.25",
     "floor_usd_per_mwh": "12.0000005", "cap_usd_per_mwh": "150.0000005"},
    {"formula": "cpi", "base_price_usd_per_mwh": "55.00", "base_index_value": "310.326"},
    {"formula": "cpi", "base_price_usd_per_mwh": "55.123457", "base_index_value": "310.3261",
     "floor_usd_per_mwh": "50", "cap_usd_per_mwh": "60"}])
def test_indexed_rates_are_the_fraction_rule(raw):
    """Clamping commutes with the monotone rounding, even for a floor between two units."""
    p = energy_indexed.parse({"index": "X", **raw}, "t")
    values = np.random.default_rng(6).integers(-5_000_000, 500_000_000, 5000)
    np.testing.assert_array_equal(p.rate_micro(values), [quantise_micro(p.price(int(v))) for v in values])


def test_affine_micro_overflow_path_and_scalars():
    big = np.array([2**62, -(2**62), 12345], dtype=np.int64)
    slope, intercept = Fraction(3, 7 * 10**6), Fraction(1, 3)
    want = [quantise_micro(slope * int(x) + intercept) for x in big]
    np.testing.assert_array_equal(affine_micro(big, slope, intercept), want)
    assert affine_micro(5, Fraction(1, 2 * 10**6), 0) == 2 and affine_micro(7, Fraction(1, 2 * 10**6), 0) == 4
    assert affine_micro(np.zeros(0, dtype=np.int64), slope, intercept).size == 0
