"""Amendments effective on the same date supersede (a price change from the term
start), version selection picks the latest of a date, and the price schedule by
contract year comes from the rate functions settlement applies."""
from __future__ import annotations

import copy
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import pytest

from engine.contract import (check_amendments, parse_contract, price_schedule, superseded_by,
                             version_at_period_end, versions_in_force)
from engine.errors import ContractError
from engine.settlement import MarketData, settle_period
from engine.terms.base import escalated_price_micro
from engine.timebase import local_month_bounds_us, to_us
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

CHI = "America/Chicago"
MWH = 1_000_000


def version(n: int, effective: str, price: str, **over):
    terms = [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": price}]
    return parse_contract(minimal_doc(terms, version=n, effective_from=effective, **over))


def settle(versions, period: str):
    s = series_for("TX-DC1", period, 60, {"pv1": MWH})
    return settle_period(versions, period, {"TX-DC1": (SITES["TX-DC1"], s)}, MarketData())


# --------------------------------------------------------------------------- superseding
def test_an_amendment_from_the_term_start_reprices_the_first_month():
    # v1 at $64.00 from 2026-01-01 (term start); v2 from the same day at $70.00.
    # January 2026: 744 h x 1 MWh x 70.00 = $52,080.00, all on v2.
    v1, v2 = version(1, "2026-01-01", "64.00"), version(2, "2026-01-01", "70.00")
    check_amendments([v1, v2])
    assert superseded_by([v1], v2) == [v1]
    r = settle([v1, v2], "2026-01")
    (ln,) = r.lines
    assert (ln.line_id, ln.rate, ln.amount_cents, ln.contract_versions) == ("energy", "70.00", 5_208_000, (2,))
    assert (r.contract_version, r.contract_versions) == (2, (2,))
    assert set(r.detail.column("contract_version").to_pylist()) == {2}


def test_of_versions_sharing_a_date_the_latest_applies_from_it():
    v1 = version(1, "2026-01-01", "64.00")
    v2, v3 = version(2, "2026-07-15", "66.00"), version(3, "2026-07-15", "67.00")
    check_amendments([v1, v2, v3])
    assert superseded_by([v1, v2], v3) == [v2] and superseded_by([v1], v2) == []
    b0, b1 = local_month_bounds_us("2026-07", CHI)
    cut = to_us(datetime(2026, 7, 15, tzinfo=ZoneInfo(CHI)))
    assert [(v.version, s, e) for v, s, e in versions_in_force([v1, v2, v3], b0, b1)] == [(1, b0, cut), (3, cut, b1)]
    assert version_at_period_end([v3, v1, v2], "2026-07").version == 3
    # July: 14 days x 24 h at 64.00 + 17 days x 24 h at 67.00 = 21,504 + 27,336 = $48,840.00
    r = settle([v1, v2, v3], "2026-07")
    assert [(ln.line_id, ln.amount_cents) for ln in r.lines] == [("energy@v1", 2_150_400), ("energy@v3", 2_733_600)]
    assert r.contract_versions == (1, 3)


def test_an_amendment_dated_before_the_version_it_follows_is_refused():
    v1, v2 = version(1, "2026-01-01", "64.00"), version(2, "2026-07-15", "66.00")
    with pytest.raises(ContractError, match=r"v3: effective_from: 2026-07-14 is before v2 \(effective 2026-07-15\)"):
        check_amendments([v1, v2, version(3, "2026-07-14", "67.00")])


def test_version_1_still_takes_effect_at_the_term_start():
    with pytest.raises(ContractError, match="version 1 must take effect at term.start"):
        check_amendments([version(1, "2026-01-01", "64.00", term={"start": "2025-12-01", "end": "2045-12-31"})])


# --------------------------------------------------------------------------- price schedule
TOU = {"factors": {"on_peak": "1.10", "off_peak": "0.90"}}


def _half_even_usd(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def test_price_schedule_by_contract_year_is_the_settled_escalated_rate():
    doc = minimal_doc([
        {"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "64.00", "escalator_pct_per_year": "2.0",
         "tou": TOU},
        {"id": "hedge", "kind": "vppa", "strike_usd_per_mwh": "42.50",
         "basis": {"mode": "adjusted_strike", "usd_per_mwh": "-1.50"}},
        {"id": "capacity", "kind": "capacity", "contracted_kw": "1000", "price_usd_per_mw_day": "250",
         "availability": {"channels": ["gt1"], "target": "0.95"}},
        {"id": "curtail", "kind": "curtailment", "potential": ["pv1_potential"], "price_term": "energy"},
        {"id": "fuel", "kind": "energy_indexed", "formula": "heat_rate", "index": "HENRY_HUB",
         "heat_rate_mmbtu_per_mwh": "7", "adder_usd_per_mwh": "4"}],
        term={"start": "2026-03-15", "end": "2036-06-30"}, effective_from="2026-03-15")
    cv = parse_contract(doc)
    s = price_schedule(cv)
    assert s["columns"] == [
        {"name": "energy:on_peak", "unit": "USD/MWh"}, {"name": "energy:off_peak", "unit": "USD/MWh"},
        {"name": "hedge strike", "unit": "USD/MWh"}, {"name": "capacity", "unit": "USD/MW-day"},
        {"name": "curtail:on_peak", "unit": "USD/MWh"}, {"name": "curtail:off_peak", "unit": "USD/MWh"}]
    years = s["years"]
    assert [y["contract_year"] for y in years] == list(range(1, 12))
    assert (years[0]["from"], years[0]["to"]) == ("2026-03-15", "2027-03-14")
    assert (years[-1]["from"], years[-1]["to"]) == ("2036-03-15", "2036-06-30")      # the term ends mid-year
    for y in years:
        n = y["contract_year"]
        on = Decimal("64.00") * Decimal("1.02") ** (n - 1) * Decimal("1.10")     # by hand, rounded once
        assert Decimal(y["rates"]["energy:on_peak"]) == Decimal(_half_even_usd(on))
        assert y["rates"]["energy:on_peak"] == y["rates"]["curtail:on_peak"]
        assert (y["rates"]["hedge strike"], y["rates"]["capacity"]) == ("41.00", "250.00")
    # year 10: 64 x 1.02^9 x 1.10 = 84.134516809... -> 84.134517
    assert years[9]["rates"]["energy:on_peak"] == "84.134517"
    assert escalated_price_micro(cv.terms[0].params.price, cv.terms[0].params.escalator_pct, 10,
                                 cv.terms[0].params.tou.on_peak) == 84_134_517


def test_the_schedule_rate_is_the_rate_on_the_invoice_of_that_year():
    doc = minimal_doc([{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "61.37",
                        "escalator_pct_per_year": "2.35"}])
    cv = parse_contract(doc)
    sched = {y["contract_year"]: y["rates"]["energy"] for y in price_schedule(cv)["years"]}
    for period, year in (("2026-10", 1), ("2031-02", 6), ("2045-12", 20)):
        (ln,) = settle([cv], period).lines
        assert ln.rate == sched[year], period


def test_an_amendment_shows_its_schedule_from_its_effective_date():
    v2 = version(2, "2027-07-01", "61.50")
    years = price_schedule(v2)["years"]
    assert (years[0]["contract_year"], years[0]["from"], years[0]["to"]) == (2, "2027-07-01", "2027-12-31")
    assert len(years) == 19 and years[-1]["to"] == "2045-12-31"


def test_a_contract_priced_only_on_market_data_has_an_empty_schedule():
    cv = parse_contract(minimal_doc([{"id": "x", "kind": "export_share", "share_to_buyer": "0.5"}]))
    s = price_schedule(copy.deepcopy(cv))
    assert s["columns"] == [] and all(y["rates"] == {} for y in s["years"])
