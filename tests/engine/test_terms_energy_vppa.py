"""energy_fixed (escalator, TOU, NERC holidays) and vppa (negative-price rules) against hand arithmetic."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.contract import parse_contract
from engine.settlement import MarketData, finalize, settle_site
from engine.terms.base import escalated_price_micro
from engine.timebase import US_PER_HOUR, to_us
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

CHI = "America/Chicago"
MWH = 1_000_000


def fixed(price="64.00", esc=None, tou=None, **over):
    t = {"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": price}
    if esc:
        t["escalator_pct_per_year"] = esc
    if tou:
        t["tou"] = tou
    return parse_contract(minimal_doc([t], **over))


def settle(cv, period, pv1=MWH, market=None, window=None):
    site = SITES["TX-DC1"]
    s = series_for("TX-DC1", period, 60, {"pv1": pv1})
    p = settle_site([cv], period, site, s, market or MarketData(), window=window)
    return finalize([cv], period, p)


def test_escalated_price_is_exact_then_rounded_once():
    assert escalated_price_micro(Fraction(64), Fraction(2), 1) == 64_000_000
    assert escalated_price_micro(Fraction(64), Fraction(2), 2) == 65_280_000          # 64 x 1.02
    assert escalated_price_micro(Fraction(64), Fraction(2), 3) == 66_585_600          # 64 x 1.0404
    # 64 x 1.02^9 = 76.485924372... -> 76.485924 USD/MWh (one half-even rounding, not nine)
    assert escalated_price_micro(Fraction(64), Fraction(2), 10) == 76_485_924
    # a tie rounds to even: 0.0000025 x 1 -> 2 micro (2.5 -> 2), 0.0000035 -> 4
    assert escalated_price_micro(Fraction("0.0000025"), None, 1) == 2
    assert escalated_price_micro(Fraction("0.0000035"), None, 1) == 4


def test_escalator_year_boundary_is_local_midnight_of_the_anniversary():
    # Term starts 2026-03-15 (local). March 2027 (743 h: DST starts Sun 2027-03-14).
    # Year 1 runs to 2027-03-15 00:00 CDT = 05:00Z: from 2027-03-01 06:00Z that is
    # 14 days x 24 h - 1 (DST) = 335 hours at $64.00; the other 743 - 335 = 408 hours at
    # $64 x 1.02 = $65.28. With 1 MWh per hour: 335 x 64 = 21,440.00 and
    # 408 x 65.28 = 26,634.24 -> one line of 743 MWh, $48,074.24.
    cv = fixed(esc="2.0", effective_from="2026-03-15", term={"start": "2026-03-15", "end": "2046-03-14"})
    r = settle(cv, "2027-03")
    (ln,) = r.lines
    assert ln.line_id == "energy_fixed" and ln.quantity == Decimal("743.000000")
    assert ln.amount_cents == 4_807_424 and r.total_cents == 4_807_424
    cut = to_us(datetime(2027, 3, 15, 5, tzinfo=timezone.utc))
    d = r.detail.to_pydict()
    rate_at = {int(t.timestamp() * 1e6): rt for t, rt in zip(d["interval_start_utc"], d["rate_microusd_per_mwh"])}
    assert rate_at[cut - US_PER_HOUR] == 64_000_000 and rate_at[cut] == 65_280_000
    # the weighted-average rate is shown when the line has two rates:
    # 48074.24 / 743 = 64.7028802... -> 64.702880 (6 places) shown without trailing zeros
    assert ln.rate == "64.70288"


TOU = {"factors": {"on_peak": "1.10", "off_peak": "0.90"}}


def test_tou_december_2027_saturday_christmas_stays_off_peak():
    # Dec 2027: Sundays 5, 12, 19, 26 -> 27 Mon-Sat days, minus Sat Dec 25 (NERC holiday,
    # stays on Saturday) = 26 days x 16 h = 416 on-peak hours; 744 - 416 = 328 off-peak.
    # Rates: 64 x 1.10 = 70.40, 64 x 0.90 = 57.60 (no escalator).
    # on: 416 MWh x 70.40 = 29,286.40; off: 328 MWh x 57.60 = 18,892.80; total 48,179.20.
    r = settle(fixed(tou=TOU), "2027-12")
    on, off = r.lines
    assert (on.line_id, on.tou_bucket, on.quantity, on.rate, on.amount_cents) == \
        ("energy_fixed:on_peak", "on_peak", Decimal("416.000000"), "70.40", 2_928_640)
    assert (off.line_id, off.quantity, off.rate, off.amount_cents) == \
        ("energy_fixed:off_peak", Decimal("328.000000"), "57.60", 1_889_280)
    assert r.total_cents == 4_817_920
    d = r.detail.to_pylist()
    noon_25 = datetime(2027, 12, 25, 12, tzinfo=ZoneInfo(CHI))
    assert {row["tou_bucket"] for row in d if row["interval_start_utc"] == noon_25} == {"off_peak"}


def test_tou_december_2022_sunday_christmas_observed_monday_26():
    # Dec 2022: Sundays 4, 11, 18, 25 -> 27 Mon-Sat days, minus Mon Dec 26 (observed) = 26
    # -> 416 on-peak hours again; Monday 26th noon is off-peak, Tuesday 27th on-peak.
    cv = fixed(tou=TOU, effective_from="2022-01-01", term={"start": "2022-01-01", "end": "2041-12-31"})
    r = settle(cv, "2022-12")
    assert [ln.quantity for ln in r.lines] == [Decimal("416.000000"), Decimal("328.000000")]
    d = {row["interval_start_utc"]: row["tou_bucket"] for row in r.detail.to_pylist()}
    assert d[datetime(2022, 12, 26, 12, tzinfo=ZoneInfo(CHI))] == "off_peak"
    assert d[datetime(2022, 12, 27, 12, tzinfo=ZoneInfo(CHI))] == "on_peak"


@pytest.mark.parametrize("period,hours,on_hours", [("2026-03", 743, 416), ("2026-11", 721, 384)])
def test_dst_months_bill_every_local_hour_once(period, hours, on_hours):
    # 743 / 721 hours (see test_calendar for the on-peak counts); 5-minute data, 1 MWh/h.
    cv = fixed(tou=TOU)
    site = SITES["TX-DC1"]
    s = series_for("TX-DC1", period, 5, {"pv1": MWH // 12})
    r = finalize([cv], period, settle_site([cv], period, site, s, MarketData()))
    on, off = r.lines
    assert on.quantity == Decimal(on_hours * 12 * 83_333) / MWH          # 4992 x 83,333 Wh in March
    assert on.quantity + off.quantity == Decimal(hours * 12 * 83_333) / MWH
    assert r.vee["intervals_expected"] == hours * 12
    # amounts: each interval 83,333 Wh; on 83333 x 70.40, off 83333 x 57.60, exact then rounded once
    assert on.amount_cents == round(Fraction(on_hours * 12 * 83_333 * 70_400_000, 10**10))
    assert off.amount_cents == round(Fraction((hours - on_hours) * 12 * 83_333 * 57_600_000, 10**10))


# --------------------------------------------------------------------------- vppa
def vppa_cv(rule, share="0.75"):
    return parse_contract(minimal_doc([{"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "42.50",
                                        "hedge_share": share, "negative_price_rule": rule}]))


T0 = to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc))       # 00:00 CDT


def vppa_result(rule, minutes_price=60, meter_minutes=60):
    hub = [30_000_000, -10_000_000, 0, 60_000_000]                  # $/MWh: 30, -10, 0, 60
    prices = flat_prices(T0, T0 + 4 * US_PER_HOUR, minutes_price,
                         lambda st: np.array([hub[int((t - T0) // US_PER_HOUR)] for t in st]))
    market = MarketData(prices={("ERCOT", "HB_NORTH", "RT"): prices})
    cv = vppa_cv(rule)
    s = series_for("TX-DC1", "2026-10", meter_minutes, {"pv1": 2 * MWH * meter_minutes // 60})
    p = settle_site([cv], "2026-10", SITES["TX-DC1"], s, market, window=(T0, T0 + 4 * US_PER_HOUR))
    return finalize([cv], "2026-10", p)


@pytest.mark.parametrize("rule,cents,qty,rates", [
    # strike 42.50, share 0.75, 2 MWh per hour; amount > 0 = buyer pays seller = 0.75 x (K - P) x V
    # none:      9.375x2 + 39.375x2 + 31.875x2 - 13.125x2 = 18.75 + 78.75 + 63.75 - 26.25 = 135.00
    ("none", 13_500, "8.000000", [9_375_000, 39_375_000, 31_875_000, -13_125_000]),
    # zero_floor: P=-10 settles as P=0 -> 31.875 x 2 = 63.75: 18.75 + 63.75 + 63.75 - 26.25 = 120.00
    ("zero_floor", 12_000, "8.000000", [9_375_000, 31_875_000, 31_875_000, -13_125_000]),
    # no_settlement_below_zero: the P=-10 hour settles nothing: 18.75 + 0 + 63.75 - 26.25 = 56.25
    ("no_settlement_below_zero", 5_625, "6.000000", [9_375_000, 0, 31_875_000, -13_125_000]),
])
def test_vppa_negative_price_rules(rule, cents, qty, rates):
    r = vppa_result(rule)
    (ln,) = r.lines
    assert (ln.line_id, ln.charge, ln.amount_cents, str(ln.quantity)) == ("vppa", "vppa", cents, qty)
    assert r.detail.column("rate_microusd_per_mwh").to_pylist() == rates
    assert r.total_cents == cents


def test_vppa_hourly_da_prices_on_5_minute_meter_data():
    # same hours, 12 intervals each of 2/12 MWh = 166,666 Wh (2 MWh x 5/60 = 166,666.67 -> data is 166,666 Wh)
    r = vppa_result("none", minutes_price=60, meter_minutes=5)
    (ln,) = r.lines
    wh = 2 * MWH * 5 // 60
    want = 12 * wh * (9_375_000 + 39_375_000 + 31_875_000 - 13_125_000)
    assert ln.amount_picousd == want
    assert ln.amount_cents == round(Fraction(want, 10**10))
