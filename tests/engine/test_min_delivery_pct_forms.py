"""min_delivery with the guarantee as a percentage of a contract quantity
(``GEP = 85% x Contract Quantity``) and the LD as a percentage of the contract rate
(``LD = 50% x NetEnergyRate x Shortfall``, the rate of an ``energy_fixed`` term in
the contract year of the closing month), by hand.

The energy term: $64.00/MWh escalating 2 %/yr from the term start, so year 2 is
$65.28 and year 10 is 64 x 1.02^9 = 76.485924372... -> $76.485924 (as settled).
"""
from __future__ import annotations

import copy

import pytest

from engine.contract import parse_contract, price_schedule
from engine.errors import ContractError
from engine.settlement import MarketData, finalize, lookback_periods, settle_site
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

MWH = 1_000_000
ENERGY = {"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "64.00", "escalator_pct_per_year": "2.0"}
GEP = {"id": "min_delivery", "kind": "min_delivery", "contract_quantity_mwh": "1000", "guarantee_pct": "85",
       "period": "month", "ld_pct_of_price": "50", "price_term": "energy"}


def md_line(md: dict, period: str, lookback=None, **over):
    cv = parse_contract(minimal_doc([ENERGY, md], **over))
    s = series_for("TX-DC1", period, 60, {"pv1": MWH})           # 1 MWh every local hour
    r = finalize([cv], period, settle_site([cv], period, SITES["TX-DC1"], s, MarketData()), lookback=lookback)
    return next(ln for ln in r.lines if ln.charge == "min_delivery")


def test_contract_year_guarantee_of_85_pct_and_ld_of_50_pct_of_the_year_2_rate():
    # contract year 2 = 2027-01..2027-12 (term from 2026-01-01), closing in December.
    # GEP = 85 % x 10,000 = 8,500 MWh; delivered 11 x 700 + 744 (December) = 8,444 MWh
    # shortfall 56 MWh; NetEnergyRate (year 2) = 65.28 -> LD 50 % = 32.64 USD/MWh
    # amount = 56 x 32.64 = $1,827.84
    md = {**GEP, "contract_quantity_mwh": "10000", "period": "contract_year"}
    cv = parse_contract(minimal_doc([ENERGY, md]))
    months = [f"2027-{m:02d}" for m in range(1, 12)]
    assert lookback_periods(cv, "2027-12") == months
    ln = md_line(md, "2027-12", lookback={m: 700 * MWH for m in months})
    assert (str(ln.quantity), ln.rate, ln.rate_unit, ln.amount_cents) == ("56.000000", "32.64", "USD/MWh", 182_784)
    assert "2027-01..2027-12 guaranteed 85% x 10000 MWh = 8500 MWh, delivered 8444 MWh" in ln.description
    assert "LD 50% x $65.28/MWh (energy, contract year 2)" in ln.description


def test_the_ld_rate_is_quantised_once_from_the_settled_energy_rate():
    # April 2035 (720 h), contract year 10: 33.3 % x 76.485924 = 25.469812692 -> 25.469813
    # GEP 850 MWh, delivered 720 -> shortfall 130 x 25.469813 = 3,311.07569 -> $3,311.08
    ln = md_line({**GEP, "ld_pct_of_price": "33.3"}, "2035-04")
    assert (ln.rate, str(ln.quantity), ln.amount_cents) == ("25.469813", "130.000000", 331_108)


def test_the_rate_is_that_of_the_contract_year_of_the_closing_month():
    # Term from 2026-03-15: March 2027 holds years 1 (to the 14th) and 2 (from the 15th); its
    # last day is in year 2 -> LD = 50 % x 65.28 = 32.64. March 2027: 743 h (DST on the 14th).
    # shortfall 850 - 743 = 107 MWh x 32.64 = $3,492.48.  February 2027 (year 1, 672 h):
    # 178 MWh x 32.00 = $5,696.00
    over = dict(effective_from="2026-03-15", term={"start": "2026-03-15", "end": "2036-03-14"})
    march = md_line(GEP, "2027-03", **over)
    assert (march.rate, str(march.quantity), march.amount_cents) == ("32.64", "107.000000", 349_248)
    feb = md_line(GEP, "2027-02", **over)
    assert (feb.rate, feb.amount_cents) == ("32.00", 569_600)


def test_a_fixed_guarantee_and_ld_rate_still_settle_as_before():
    # 850 MWh guaranteed, $12/MWh: October 2026 744 MWh -> 106 x 12 = $1,272.00
    ln = md_line({"id": "min_delivery", "kind": "min_delivery", "guaranteed_mwh": "850", "period": "month",
                  "ld_usd_per_mwh": "12.00"}, "2026-10")
    assert (ln.rate, ln.amount_cents) == ("12.00", 127_200)
    # a percentage guarantee with a fixed LD rate, and a fixed guarantee with a percentage LD
    mixed = {k: v for k, v in GEP.items() if k not in ("ld_pct_of_price", "price_term")} | {"ld_usd_per_mwh": "12"}
    assert md_line(mixed, "2026-10").amount_cents == 127_200
    mixed = {k: v for k, v in GEP.items() if k not in ("contract_quantity_mwh", "guarantee_pct")} | {
        "guaranteed_mwh": "850"}
    assert md_line(mixed, "2026-10").amount_cents == 106 * 3200    # year 1: 50 % x 64.00 = 32.00


def test_the_price_schedule_lists_the_ld_rate_by_contract_year():
    s = price_schedule(parse_contract(minimal_doc([ENERGY, GEP])))
    ld = {y["contract_year"]: y["rates"]["min_delivery LD"] for y in s["years"]}
    assert (ld[1], ld[2], ld[10]) == ("32.00", "32.64", "38.242962")      # 76.485924 / 2


def _without(*keys: str, **extra) -> dict:
    return {k: v for k, v in GEP.items() if k not in keys} | extra


@pytest.mark.parametrize("md,field,message", [
    (_without(guaranteed_mwh="850"), "contract_quantity_mwh",
     "give either guaranteed_mwh or contract_quantity_mwh with guarantee_pct"),
    (_without("guarantee_pct"), "guarantee_pct", "required"),
    (_without("guarantee_pct", "contract_quantity_mwh"), "guaranteed_mwh",
     "required (or contract_quantity_mwh with guarantee_pct)"),
    (_without("price_term"), "price_term", "required"),
    (_without(ld_usd_per_mwh="12"), "ld_pct_of_price", "give either ld_usd_per_mwh or"),
    (_without(price_term="nope"), "price_term", "no term with id 'nope'"),
    (_without(price_term="hedge"), "price_term", "term 'hedge' is vppa, not energy_fixed"),
    (_without(guarantee_pct="-85"), "guarantee_pct", "does not match"),
])
def test_bad_percentage_forms_are_refused_naming_the_field(md, field, message):
    hedge = {"id": "hedge", "kind": "vppa", "strike_usd_per_mwh": "40"}
    with pytest.raises(ContractError) as ei:
        parse_contract(minimal_doc([ENERGY, copy.deepcopy(md), hedge]))
    assert f"terms[1].{field}: " in str(ei.value) and message in str(ei.value)
