"""Integer overflow in the engine's energy and money arithmetic is refused, never wrapped.

Before: two channels of 5e15 kWh (5e18 Wh) in one interval summed, in numpy int64, to
a negative number that ``max(0, ...)`` turned into 0 Wh, and an invoice was published;
a single 9.2e15 kWh reading broke settlement with a bare ``OverflowError``.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from engine.delivered import ChannelSeries, SiteIntervals, delivered_wh
from engine.errors import InputError, ValidationError, ValueRangeError
from engine.money import add_exact, mul_exact, sub_exact, sum_exact
from engine.settlement import MarketData, settle_period
from engine.timebase import US_PER_MINUTE, local_month_bounds_us, to_us
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

T0 = to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc))
HUGE = 5 * 10**18                        # Wh: 5e15 kWh
SITE = SITES["TX-DC1"]


def _series(values, minutes=60, start=T0):
    n = len(values)
    grid = start + np.arange(n, dtype=np.int64) * minutes * US_PER_MINUTE
    return ChannelSeries(grid, np.asarray(values, np.int64), np.full(n, "A"), np.full(n, ""), minutes)


def test_two_huge_channels_raise_naming_site_channels_and_interval():
    series = {"gt1": _series([1, HUGE]), "pv1": _series([2, HUGE])}
    si = SiteIntervals.build(SITE, series, ["gt1", "pv1"], T0, T0 + 2 * 60 * US_PER_MINUTE)
    with pytest.raises(ValidationError) as err:
        delivered_wh(si, ("gt1", "pv1"))
    msg = str(err.value)
    assert isinstance(err.value, InputError) and err.value.field == "energy_wh"
    assert "site TX-DC1" in msg and "gt1+pv1" in msg and "2026-10-05T06:00:00Z" in msg
    assert "10000000000000000000" in msg                      # the exact sum, not a wrapped one


def test_subtraction_that_would_wrap_is_refused():
    series = {"gt1": _series([HUGE]), "exp": _series([0]), "bess_chg": _series([-HUGE])}
    si = SiteIntervals.build(SITE, series, ["gt1", "exp", "bess_chg"], T0, T0 + 60 * US_PER_MINUTE)
    with pytest.raises(ValidationError, match="-bess_chg"):
        delivered_wh(si, ("gt1",), ("bess_chg",))
    assert delivered_wh(si, ("gt1",), ("exp",)).tolist() == [HUGE]


def test_fine_intervals_summed_onto_a_coarse_grid_are_checked():
    fine = _series([HUGE // 2 + 1] * 12 + [7] * 12, minutes=5)      # 12 x 2.5e18 overflows
    coarse = _series([0, 0], minutes=60)
    with pytest.raises(ValidationError, match=r"site TX-DC1 channel\(s\) gt1 interval 2026-10-05T05:00:00Z"):
        SiteIntervals.build(SITE, {"gt1": fine, "pv1": coarse}, ["gt1", "pv1"], T0,
                            T0 + 120 * US_PER_MINUTE)
    ok = _series([10**17] * 12 + [7] * 12, minutes=5)               # 1.2e18: fits, exact
    si = SiteIntervals.build(SITE, {"gt1": ok, "pv1": coarse}, ["gt1", "pv1"], T0,
                             T0 + 120 * US_PER_MINUTE)
    assert si.energy["gt1"].tolist() == [12 * 10**17, 84]


def test_checked_arithmetic_primitives():
    a = np.array([1, 2**62, -(2**62)], np.int64)
    assert add_exact(a, np.array([1, 2**62 - 1, -(2**62)])).tolist() == [2, 2**63 - 1, -(2**63)]
    with pytest.raises(ValidationError, match="element 1"):
        add_exact(a, np.array([0, 2**62, 0]))
    with pytest.raises(ValidationError, match="element 2"):
        sub_exact(a, np.array([0, 0, 2**62 + 1]))
    with pytest.raises(ValidationError, match=r"interval 7: 9200000000000000000 x 2"):
        mul_exact(np.array([9_200_000_000_000_000_000]), np.array([2]),
                  describe=lambda i: f"interval {i + 7}")
    assert mul_exact(np.array([3, -4]), np.array([-5, 6])).tolist() == [-15, -24]
    assert sum_exact(np.full(4, 2**62, np.int64)) == 2**64


def test_settlement_of_a_wrapping_month_fails_instead_of_billing_zero():
    doc = minimal_doc([{"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "64.00"}],
                      delivered={"add": ["gt1", "pv1"]})
    from engine.contract import parse_contract
    cv = parse_contract(doc)
    b0, b1 = local_month_bounds_us("2026-10", "America/Chicago")
    series = series_for("TX-DC1", "2026-10", 60, {"gt1": HUGE, "pv1": HUGE})
    market = MarketData(prices={("ERCOT", "HB_NORTH", "RT"): flat_prices(b0, b1, 60, 50_000_000),
                                ("ERCOT", "DC1_NODE", "RT"): flat_prices(b0, b1, 60, 50_000_000)})
    with pytest.raises(ValidationError, match="gt1\\+pv1"):
        settle_period([cv], "2026-10", {"TX-DC1": (SITE, series)}, market)
    # one huge channel alone: the amount (energy x rate) is refused, naming its operands
    series = series_for("TX-DC1", "2026-10", 60, {"gt1": HUGE})
    with pytest.raises(ValueRangeError, match="x 64000000 = .* would overflow int64") as err:
        settle_period([cv], "2026-10", {"TX-DC1": (SITE, series)}, market)
    assert isinstance(err.value, OverflowError) and isinstance(err.value, InputError)
