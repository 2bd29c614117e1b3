"""capacity priced per MW-day (day count of the local billing month) and per kW-year
with monthly shaping factors, each still availability-adjusted (MAAF), by hand.

gt1's nameplate is 250 MW (``SITES``). Metered at 240 MWh every hour it is 96 %
available (target 95 %: MAAF 1); at 225 MWh, 90 % (MAAF = 1 - 2 x 0.05 = 0.9).
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from engine.contract import parse_contract
from engine.errors import ContractError
from engine.settlement import MarketData, finalize, settle_site
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

MWH = 1_000_000
AVAIL = {"channels": ["gt1"], "target": "0.95"}
# the notes' shaping factors (%): Jan 6.7, Feb 5.0, Mar 5.0, Apr 5.8, May 6.3, Jun 8.3, Jul 15.8,
# Aug 17.5, Sep 11.7, Oct 5.8, Nov 5.8, Dec 6.3 (sum 100.0)
SHAPE = dict(zip(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
                 ("6.7", "5.0", "5.0", "5.8", "6.3", "8.3", "15.8", "17.5", "11.7", "5.8", "5.8", "6.3")))


def mw_day(**over) -> dict:
    return {"id": "capacity", "kind": "capacity", "contracted_kw": "100000", "price_usd_per_mw_day": "250.00",
            "availability": AVAIL, **over}


def kw_year(**over) -> dict:
    return {"id": "capacity", "kind": "capacity", "contracted_kw": "200000", "price_usd_per_kw_year": "120.00",
            "monthly_shape_pct": dict(SHAPE), "availability": AVAIL, **over}


def capacity_line(t: dict, period: str, gt1_wh: int = 240 * MWH, **over):
    cv = parse_contract(minimal_doc([t], **over))
    s = series_for("TX-DC1", period, 60, {"gt1": gt1_wh})
    (ln,) = finalize([cv], period, settle_site([cv], period, SITES["TX-DC1"], s, MarketData())).lines
    return ln


@pytest.mark.parametrize("period,days", [("2026-06", 30), ("2026-03", 31), ("2027-02", 28), ("2028-02", 29)])
def test_mw_day_is_mw_times_price_times_the_days_of_the_local_month(period, days):
    # the notes' example: 100 MW x $250/MW-day x 30 days = $750,000 for June;
    # March 2026 (a 743-hour DST month) still has 31 days; February 28 or 29
    ln = capacity_line(mw_day(), period)
    assert (ln.quantity, ln.quantity_unit, ln.rate, ln.rate_unit) == (
        Decimal(100 * days), "MW-day", "250.00", "USD/MW-day")
    assert ln.amount_cents == 100 * 250 * days * 100
    assert ln.description.startswith(f"Capacity: 100 MW x $250/MW-day x {days} days; availability 96%")


def test_mw_day_keeps_the_availability_adjustment():
    # June at 90 % availability: MAAF 0.9 -> 100 x 250 x 0.9 x 30 = $675,000.00, rate 225.00
    ln = capacity_line(mw_day(), "2026-06", gt1_wh=225 * MWH)
    assert (ln.rate, ln.amount_cents) == ("225.00", 67_500_000)
    assert "MAAF 0.9" in ln.description


def test_mw_day_counts_only_the_days_in_the_term():
    # term from 2026-06-16: 15 days of June -> 100 x 250 x 15 = $375,000.00
    over = dict(effective_from="2026-06-16", term={"start": "2026-06-16", "end": "2036-06-15"})
    ln = capacity_line(mw_day(), "2026-06", **over)
    assert (ln.quantity, ln.amount_cents) == (Decimal(1500), 37_500_000)
    # and the term's last month: 2036-06-01 .. 2036-06-15
    assert capacity_line(mw_day(), "2036-06", **over).amount_cents == 37_500_000


@pytest.mark.parametrize("period,share,cents", [
    ("2026-07", "15.8", 379_200_000),     # 200,000 kW x $120 x 15.8 % = 200,000 x 18.96 = $3,792,000.00
    ("2026-02", "5.0", 120_000_000),      # 200,000 x 6.00 = $1,200,000.00
    ("2026-01", "6.7", 160_800_000),      # 200,000 x 8.04 = $1,608,000.00
])
def test_kw_year_is_shaped_by_the_calendar_month(period, share, cents):
    ln = capacity_line(kw_year(), period)
    assert (ln.quantity_unit, ln.rate_unit, ln.amount_cents) == ("kW-month", "USD/kW-month", cents)
    assert Fraction(ln.rate) == Fraction(120) * Fraction(share) / 100
    assert f"$120/kW-year x {share.rstrip('0').rstrip('.')}%" in ln.description


def test_kw_year_months_add_up_to_the_annual_price_and_keep_maaf():
    # full availability: the twelve months pay exactly 200,000 kW x $120 = $24,000,000.00
    total = sum(capacity_line(kw_year(), f"2027-{m:02d}").amount_cents for m in range(1, 13))
    assert total == 200_000 * 120 * 100
    # July at 90 % availability: 3,792,000 x 0.9 = $3,412,800.00
    assert capacity_line(kw_year(), "2026-07", gt1_wh=225 * MWH).amount_cents == 341_280_000


@pytest.mark.parametrize("term,field,message", [
    (kw_year(monthly_shape_pct={**SHAPE, "dec": "6.2"}), "monthly_shape_pct",
     "the 12 monthly shares must sum to exactly 100 (%); they sum to 99.9"),
    (kw_year(monthly_shape_pct={**SHAPE, "jan": "6.8"}), "monthly_shape_pct", "they sum to 100.1"),
    (kw_year(monthly_shape_pct={k: v for k, v in SHAPE.items() if k != "dec"}), "monthly_shape_pct.dec",
     "required"),
    (kw_year(monthly_shape_pct={**SHAPE, "dec": 6.3}), "monthly_shape_pct.dec", "expected string"),
    ({k: v for k, v in kw_year().items() if k != "monthly_shape_pct"}, "monthly_shape_pct",
     "required with price_usd_per_kw_year"),
    (mw_day(monthly_shape_pct=dict(SHAPE)), "monthly_shape_pct", "only with price_usd_per_kw_year"),
    (mw_day(price_usd_per_kw_month="9.25"), "price_usd_per_mw_day",
     "give exactly one of price_usd_per_kw_month, price_usd_per_mw_day, price_usd_per_kw_year"),
    ({k: v for k, v in mw_day().items() if k != "price_usd_per_mw_day"}, "price_usd_per_kw_month",
     "give exactly one of"),
])
def test_bad_price_forms_are_refused_naming_the_field(term, field, message):
    with pytest.raises(ContractError) as ei:
        parse_contract(minimal_doc([term]))
    assert f"terms[0].{field}: " in str(ei.value) and message in str(ei.value)
