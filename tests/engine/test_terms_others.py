"""energy_indexed, capacity, min_delivery, take_or_pay, curtailment, export_share vs hand arithmetic."""
from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.errors import DataMissingError
from engine.pricing import IndexSeries
from engine.settlement import MarketData, finalize, lookback_periods, required_market_data, settle_site
from engine.timebase import US_PER_HOUR, local_month_bounds_us, to_us
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

MWH = 1_000_000
CHI = "America/Chicago"


def day(y, m, d) -> int:
    return (date(y, m, d) - date(1970, 1, 1)).days


def run(terms, period, values, market=None, window=None, lookback=None, **over):
    cv = parse_contract(minimal_doc(terms, **over))
    s = series_for("TX-DC1", period, 60, values)
    p = settle_site([cv], period, SITES["TX-DC1"], s, market or MarketData(), window=window)
    return finalize([cv], period, p, lookback=lookback)


def amounts(r) -> dict[str, int]:
    return {ln.line_id: ln.amount_cents for ln in r.lines}


# --------------------------------------------------------------------------- energy_indexed
HEAT = {"id": "fuel", "kind": "energy_indexed", "formula": "heat_rate", "index": "HENRY_HUB",
        "heat_rate_mmbtu_per_mwh": "6.8", "adder_usd_per_mwh": "4.50",
        "floor_usd_per_mwh": "15.00", "cap_usd_per_mwh": "120.00"}


def test_heat_rate_index_with_floor_and_cap():
    # Four local days Oct 5..8, 2 MWh/h (48 MWh/day). Price = 6.8 x HH + 4.50, in [15, 120]:
    #   HH 3.12 -> 21.216 + 4.5 = 25.716  -> 48 x 25.716 = 1,234.368
    #   HH 2.50 -> 17.0   + 4.5 = 21.50   -> 48 x 21.50  = 1,032.00
    #   HH 0.50 ->  3.4   + 4.5 =  7.90 -> floor 15.00 -> 720.00
    #   HH 20.0 -> 136.0  + 4.5 = 140.5 -> cap 120.00   -> 5,760.00
    # line = 8,746.368 -> $8,746.37 (rounded once)
    ix = IndexSeries(np.array([day(2026, 10, 5), day(2026, 10, 6), day(2026, 10, 7), day(2026, 10, 8)]),
                     np.array([3_120_000, 2_500_000, 500_000, 20_000_000]))
    w = (to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc)), to_us(datetime(2026, 10, 9, 5, tzinfo=timezone.utc)))
    r = run([HEAT], "2026-10", {"pv1": 2 * MWH}, MarketData(indices={"HENRY_HUB": ix}), window=w)
    (ln,) = r.lines
    assert ln.amount_cents == 874_637 and str(ln.quantity) == "192.000000"
    assert sorted(set(r.detail.column("rate_microusd_per_mwh").to_pylist())) == \
        [15_000_000, 21_500_000, 25_716_000, 120_000_000]


def test_missing_index_day_is_named():
    ix = IndexSeries(np.array([day(2026, 10, 5)]), np.array([3_120_000]))
    w = (to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc)), to_us(datetime(2026, 10, 7, 5, tzinfo=timezone.utc)))
    with pytest.raises(DataMissingError, match=r"index HENRY_HUB: no value for 1 local date\(s\): 2026-10-06"):
        run([HEAT], "2026-10", {"pv1": MWH}, MarketData(indices={"HENRY_HUB": ix}), window=w)


CPI = {"id": "energy_cpi", "kind": "energy_indexed", "formula": "cpi", "index": "CPI_U",
       "base_price_usd_per_mwh": "38.00", "base_index_value": "310.000",
       "floor_usd_per_mwh": "38.00", "cap_usd_per_mwh": "45.00"}
CPI_SERIES = IndexSeries(np.array([day(2026, 10, 1), day(2026, 11, 1), day(2026, 12, 1)]),
                         np.array([311_000_000, 300_000_000, 400_000_000]))


@pytest.mark.parametrize("period,rate,cents", [
    # Oct: 38 x 311/310 = 38.122580645... -> 38.122581 (half-even at 1e-6); 744 MWh -> 28,363.200264 -> 28,363.20
    ("2026-10", 38_122_581, 2_836_320),
    # Nov: 38 x 300/310 = 36.77 -> floor 38.00; 721 MWh (DST) -> 27,398.00
    ("2026-11", 38_000_000, 2_739_800),
    # Dec: 38 x 400/310 = 49.03 -> cap 45.00; 744 MWh -> 33,480.00
    ("2026-12", 45_000_000, 3_348_000),
])
def test_cpi_ratio_with_floor_and_cap(period, rate, cents):
    r = run([CPI], period, {"pv1": MWH}, MarketData(indices={"CPI_U": CPI_SERIES}))
    (ln,) = r.lines
    assert ln.rate == {38_122_581: "38.122581", 38_000_000: "38.00", 45_000_000: "45.00"}[rate]
    assert set(r.detail.column("rate_microusd_per_mwh").to_pylist()) == {rate}
    assert ln.amount_cents == cents


# --------------------------------------------------------------------------- capacity
CAP = {"id": "capacity", "kind": "capacity", "contracted_kw": "200000", "price_usd_per_kw_month": "9.25",
       "availability": {"channels": ["gt1"], "target": "0.95"}}


def gt1_hours(on_hours: int, wh: int):
    return lambda g: np.where(np.arange(g.size) < on_hours, wh, 0)


def test_capacity_maaf_below_target():
    # gt1 nameplate 250 MW; 700 of 744 hours at nameplate (250 MWh), 44 at 0.
    # CAFm = 700/744 = 175/186 = 0.94086 < 0.95 -> MAAF = 1 - 2 x (19/20 - 175/186) = 1 - 2 x 17/1860 = 913/930
    # amount = 200,000 kW x $9.25 x 913/930 = 1,850,000 x 913/930 = 1,816,182.7957 -> $1,816,182.80
    r = run([CAP], "2026-10", {"gt1": gt1_hours(700, 250 * MWH)})
    (ln,) = r.lines
    assert (ln.line_id, ln.quantity_unit, ln.amount_cents) == ("capacity", "kW-month", 181_618_280)
    assert "MAAF 0.981720" in ln.description and "availability 94.086%" in ln.description
    assert ln.rate == "9.080914"          # 9.25 x 913/930 = 9.0809139... USD/kW-month


def test_capacity_at_target_pays_in_full_and_floor_is_zero():
    assert amounts(run([CAP], "2026-10", {"gt1": 250 * MWH})) == {"capacity": 185_000_000}   # 1,850,000.00
    # output 30% of nameplate every hour: CAF 0.3 -> 1 - 2 x 0.65 < 0 -> MAAF 0 -> $0.00
    assert amounts(run([CAP], "2026-10", {"gt1": 75 * MWH})) == {"capacity": 0}
    # above nameplate is capped at 1 per interval: 744 h x 260 MWh still CAF 1
    assert amounts(run([CAP], "2026-10", {"gt1": 260 * MWH})) == {"capacity": 185_000_000}


def test_capacity_online_rule():
    # rule online, min 30%: a unit at 40% of nameplate every hour is available every hour -> MAAF 1;
    # at 20% it is never "online" -> CAF 0 -> MAAF 0.
    cap = {**CAP, "availability": {"channels": ["gt1"], "target": "0.95", "rule": "online",
                                   "online_min_fraction": "0.3"}}
    assert amounts(run([cap], "2026-10", {"gt1": 100 * MWH})) == {"capacity": 185_000_000}
    assert amounts(run([cap], "2026-10", {"gt1": 50 * MWH})) == {"capacity": 0}


# --------------------------------------------------------------------------- min_delivery
MIN = {"id": "min_delivery", "kind": "min_delivery", "guaranteed_mwh": "8000", "period": "calendar_year",
       "ld_usd_per_mwh": "12.00"}


def test_min_delivery_settles_only_in_the_closing_month():
    cv = parse_contract(minimal_doc([MIN]))
    assert lookback_periods(cv, "2026-11") == []
    assert lookback_periods(cv, "2026-12") == [f"2026-{m:02d}" for m in range(1, 12)]
    assert run([MIN], "2026-11", {"pv1": MWH}).lines == ()
    # Dec: 744 MWh + 11 months x 600 MWh = 7,344 MWh; shortfall 8,000 - 7,344 = 656 MWh x $12 = $7,872.00
    lb = {f"2026-{m:02d}": 600 * MWH for m in range(1, 12)}
    (ln,) = run([MIN], "2026-12", {"pv1": MWH}, lookback=lb).lines
    assert (ln.line_id, str(ln.quantity), ln.rate, ln.amount_cents) == ("min_delivery", "656.000000", "12.00", 787_200)
    # no shortfall -> the line is still there, at 0.00
    (ln,) = run([MIN], "2026-12", {"pv1": MWH}, lookback={k: 700 * MWH for k in lb}).lines
    assert ln.amount_cents == 0 and str(ln.quantity) == "0.000000"


def test_min_delivery_missing_lookback_is_named():
    with pytest.raises(DataMissingError, match=r"delivered energy of 2026-01, 2026-02 is needed"):
        run([MIN], "2026-12", {"pv1": MWH}, lookback={f"2026-{m:02d}": 1 for m in range(3, 12)})


def test_min_delivery_prorated_first_year_and_contract_years():
    # Term starts 2026-03-15: calendar year 2026 has 10 months in the term -> GQ 8,000 x 10/12 = 20,000/3 MWh.
    # Dec delivered 744 + 9 x 600 = 6,144 MWh -> shortfall 20,000/3 - 6,144 = 1,568/3 MWh x 12 = $6,272.00
    over = dict(effective_from="2026-03-15", term={"start": "2026-03-15", "end": "2036-03-14"})
    cv = parse_contract(minimal_doc([MIN], **over))
    assert lookback_periods(cv, "2026-12") == [f"2026-{m:02d}" for m in range(3, 12)]
    lb = {f"2026-{m:02d}": 600 * MWH for m in range(3, 12)}
    (ln,) = run([MIN], "2026-12", {"pv1": MWH}, lookback=lb, **over).lines
    assert ln.amount_cents == 627_200 and str(ln.quantity) == "522.666667"
    # contract_year: 2026-03 .. 2027-02 closes in 2027-02
    cy = parse_contract(minimal_doc([{**MIN, "period": "contract_year"}], **over))
    assert lookback_periods(cy, "2027-01") == []
    assert lookback_periods(cy, "2027-02") == ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08",
                                               "2026-09", "2026-10", "2026-11", "2026-12", "2027-01"]
    # the term's last month closes a short final period
    assert lookback_periods(cy, "2036-03") == []     # 2036-03 alone (the term ends 2036-03-14)
    assert run([{**MIN, "period": "contract_year"}], "2036-03", {"pv1": 0}, **over).lines[0].amount_cents == \
        round(8000 * 1 / 12 * 12 * 100)   # 1 of 12 months in term: GQ 666.67 MWh x $12 = $8,000.00


# --------------------------------------------------------------------------- take_or_pay
TOP = {"id": "take_or_pay", "kind": "take_or_pay", "contracted_mwh_per_month": "1000", "take_share": "0.8",
       "price_usd_per_mwh": "30.00"}


def test_take_or_pay_top_up():
    # Oct 2026: 744 MWh delivered; minimum take 0.8 x 1,000 = 800 MWh -> top-up 56 MWh.
    # delivered 744 x 30 = 22,320.00; top-up 56 x 30 = 1,680.00; total = 800 x 30 = 24,000.00
    r = run([TOP], "2026-10", {"pv1": MWH})
    assert [(ln.line_id, str(ln.quantity), ln.amount_cents) for ln in r.lines] == [
        ("take_or_pay:delivered", "744.000000", 2_232_000), ("take_or_pay:top_up", "56.000000", 168_000)]
    assert r.total_cents == 2_400_000
    # over-take: 1,488 MWh > 800 -> top-up 0.00; bill_delivered false -> only the top-up line
    r = run([{**TOP, "bill_delivered": False}], "2026-10", {"pv1": 2 * MWH})
    assert [(ln.line_id, ln.amount_cents) for ln in r.lines] == [("take_or_pay:top_up", 0)]


def test_take_or_pay_price_from_escalating_energy_fixed_term():
    # price_term -> energy_fixed 50.00 escalating 3 %/yr; Oct 2027 is contract year 2 -> 51.50.
    # delivered 0 -> top-up 800 MWh x 51.50 = 41,200.00
    ef = {"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "50.00", "escalator_pct_per_year": "3"}
    top = {k: v for k, v in TOP.items() if k != "price_usd_per_mwh"}
    r = run([ef, {**top, "price_term": "energy_fixed", "bill_delivered": False}], "2027-10", {"pv1": 0})
    assert amounts(r) == {"energy_fixed": 0, "take_or_pay:top_up": 4_120_000}


# --------------------------------------------------------------------------- curtailment
CURT = {"id": "curtailment", "kind": "curtailment", "potential": ["pv1_potential"], "actual": ["pv1"],
        "price_usd_per_mwh": "38.00", "escalator_pct_per_year": "1.5"}


def test_curtailment_deemed_energy_at_contract_price():
    # potential 3 MWh/h, actual 2 MWh/h -> deemed 1 MWh/h x 744 h x $38.00 = $28,272.00 (year 1)
    assert amounts(run([CURT], "2026-10", {"pv1_potential": 3 * MWH, "pv1": 2 * MWH})) == {"curtailment": 2_827_200}
    # year 2 (Oct 2027): 38 x 1.015 = 38.57 -> 744 x 38.57 = $28,696.08; never negative (actual > potential -> 0)
    assert amounts(run([CURT], "2027-10", {"pv1_potential": 3 * MWH, "pv1": 2 * MWH})) == {"curtailment": 2_869_608}
    assert amounts(run([CURT], "2026-10", {"pv1_potential": MWH, "pv1": 2 * MWH})) == {"curtailment": 0}


def test_curtailment_only_when_hub_below_threshold():
    # hub negative in the first 10 hours of the month only -> 10 MWh deemed x 38 = $380.00
    b0, b1 = local_month_bounds_us("2026-10", CHI)
    hub = flat_prices(b0, b1, 60, lambda st: np.where(np.arange(st.size) < 10, -5_000_000, 25_000_000))
    r = run([{**CURT, "only_when_hub_below_usd_per_mwh": "0"}], "2026-10", {"pv1_potential": 3 * MWH, "pv1": 2 * MWH},
            MarketData(prices={("ERCOT", "HB_NORTH", "RT"): hub}))
    assert amounts(r) == {"curtailment": 38_000}


# --------------------------------------------------------------------------- export_share
def test_export_share_buyer_side_of_the_split():
    # 4 hours, 1 MWh exported each, node prices 20, -5, 40, 0 -> revenue $55.00.
    # received by the seller, buyer share 0.5 -> the seller credits the buyer: -27.50
    # received by the buyer, buyer share 0.4 -> the buyer remits 0.6 x 55 = +33.00
    t0 = to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc))
    node = flat_prices(t0, t0 + 4 * US_PER_HOUR, 60,
                       lambda st: np.array([20_000_000, -5_000_000, 40_000_000, 0])[: st.size])
    market = MarketData(prices={("ERCOT", "DC1_NODE", "RT"): node})
    w = (t0, t0 + 4 * US_PER_HOUR)
    es = {"id": "export_share", "kind": "export_share", "share_to_buyer": "0.5"}
    assert amounts(run([es], "2026-10", {"exp": MWH}, market, window=w)) == {"export_share": -2_750}
    es2 = {**es, "share_to_buyer": "0.4", "revenue_received_by": "buyer"}
    assert amounts(run([es2], "2026-10", {"exp": MWH}, market, window=w)) == {"export_share": 3_300}
    cv = parse_contract(minimal_doc([es]))
    needs = required_market_data([cv], "2026-10", SITES)
    assert list(needs.prices) == [("ERCOT", "DC1_NODE", "RT")]
