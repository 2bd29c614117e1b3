"""End to end on the example contracts: amendment chain, period-level terms, invoice."""
from __future__ import annotations

import numpy as np

from engine.contract import check_amendments, contract_sha256, validate_contract_sites
from engine.invoice import build_invoice, invoice_bytes, render_html
from engine.pricing import IndexSeries
from engine.settlement import (MarketData, lookback_periods, required_market_data, settle_period)
from engine.timebase import US_PER_HOUR
from tests.engine.settlement_fixtures import SITES, contract, contract_doc, flat_prices, series_for

MWH = 1_000_000
CHI = "America/Chicago"
V1, V2 = contract("ppa_tx_dc1_v1.yaml"), contract("ppa_tx_dc1_v2.yaml")
VALUES = {"gt1": 240 * MWH, "pv1": 30 * MWH, "bess_dis": 5 * MWH, "bess_chg": 4 * MWH, "dc": 260 * MWH,
          "exp": 2 * MWH}


def market_for(versions, period):
    needs = required_market_data(versions, period, SITES)
    prices = {}
    for i, (key, (s, e)) in enumerate(sorted(needs.prices.items())):
        prices[key] = flat_prices(s, e, 60, lambda st, i=i: 20_000_000 + 1_000_000 * i
                                  + (st // US_PER_HOUR % 24) * 500_000 - 6_000_000 * (st // US_PER_HOUR % 24 == 3))
    return MarketData(prices=prices)


def settle(versions, period, values=VALUES, lookback=None):
    s = series_for("TX-DC1", period, 5, {k: v // 12 for k, v in values.items()})
    return settle_period(versions, period, {"TX-DC1": (SITES["TX-DC1"], s)}, market_for(versions, period),
                         lookback=lookback)


def test_examples_form_a_valid_amendment_chain():
    check_amendments([V1, V2])
    for cv in (V1, V2):
        validate_contract_sites(cv, SITES)


def test_version_1_month_with_capacity_and_export_share():
    r = settle([V1, V2], "2026-10")
    assert r.contract_version == 1
    assert [ln.line_id for ln in r.lines] == ["energy_fixed:on_peak", "energy_fixed:off_peak", "capacity",
                                             "export_share"]
    # delivered = min(gt1 + pv1 + dis - chg - exp, load) = min(240 + 30 + 5 - 4 - 2, 260) = 260 MWh/h... in
    # 5-minute intervals of 21,666,666 Wh (260 MWh / 12, floor) -> 744 h x 12 intervals
    assert r.delivered_wh == 744 * 12 * (260 * MWH // 12)
    # capacity: gt1 at 240 of 250 MW every interval -> CAF 0.96 >= 0.95 -> full 200,000 x 9.25
    cap = next(ln for ln in r.lines if ln.charge == "capacity")
    assert cap.amount_cents == 185_000_000
    assert r.total_cents == sum(ln.amount_cents for ln in r.lines)


def test_version_2_month_adds_vppa_and_min_delivery_closes_in_december():
    assert lookback_periods(V2, "2027-11") == []
    assert lookback_periods(V2, "2027-12") == [f"2027-{m:02d}" for m in range(1, 12)]
    assert lookback_periods([V1, V2], "2027-12") == lookback_periods(V2, "2027-12")
    lb = {f"2027-{m:02d}": 80_000 * MWH for m in range(1, 12)}
    r = settle([V1, V2], "2027-12", lookback=lb)
    assert r.contract_versions == (2,)
    ids = [ln.line_id for ln in r.lines]
    assert ids == ["energy_fixed:on_peak", "energy_fixed:off_peak", "vppa", "capacity", "min_delivery",
                   "export_share"]
    md = r.lines[ids.index("min_delivery")]
    # 1,200,000 guaranteed - (11 x 80,000 + Dec delivered); Dec = 744 h x 12 x 21,666,666 Wh = 193,439.994048 MWh
    # -> shortfall 126,560.005952 MWh x $12 = $1,518,720.07
    dec_wh = 744 * 12 * (260 * MWH // 12)
    short_wh = 1_200_000 * MWH - 880_000 * MWH - dec_wh
    assert md.quantity * MWH == short_wh
    assert md.amount_cents == 151_872_007


def test_amendment_month_uses_both_versions_and_period_terms_use_the_closing_version():
    v2 = contract("ppa_tx_dc1_v2.yaml", effective_from="2027-06-16")
    r = settle([V1, v2], "2027-06")
    assert r.contract_versions == (1, 2) and r.contract_version == 2
    ids = [ln.line_id for ln in r.lines]
    assert "energy_fixed:on_peak@v1" in ids and "energy_fixed:on_peak@v2" in ids
    assert "vppa" in ids and ids.count("capacity") == 1
    doc = build_invoice(r, contract=v2, contract_sha256=contract_sha256(contract_doc("ppa_tx_dc1_v2.yaml")),
                        version=1, status="draft", lineage={"run_id": "x"})
    assert doc["contract_versions"] == [1, 2]
    assert sum(int(ln["amount_usd"].replace(".", "")) for ln in doc["lines"]) == \
        int(doc["total_usd"].replace(".", ""))
    assert invoice_bytes(doc).endswith(b"\n") and "<table>" in render_html(doc)


def test_tolling_contract_needs_the_gas_index_with_carry_forward():
    cv = contract("tolling_gas_indexed.yaml")
    needs = required_market_data([cv], "2026-10", SITES)
    from datetime import date
    assert needs.indices == {"HENRY_HUB": (date(2026, 9, 27), date(2026, 10, 31))}
    assert needs.prices == {}
    days = np.arange((date(2026, 9, 27) - date(1970, 1, 1)).days, (date(2026, 11, 1) - date(1970, 1, 1)).days)
    weekdays = days[(days + 3) % 7 < 5]                           # no weekend publications
    ix = IndexSeries(weekdays, np.full(weekdays.size, 3_000_000))
    s = series_for("TX-DC1", "2026-10", 60, {"gt1": 100 * MWH})
    r = settle_period([cv], "2026-10", {"TX-DC1": (SITES["TX-DC1"], s)}, MarketData(indices={"HENRY_HUB": ix}))
    # 6.8 x 3.00 + 4.50 = 24.90 $/MWh x 74,400 MWh = 1,852,560.00; take 80,000 MWh -> top-up 5,600 x 30 = 168,000.00
    assert [(ln.line_id, ln.amount_cents) for ln in r.lines] == [("fuel_energy", 185_256_000),
                                                                ("take_or_pay:top_up", 16_800_000)]
