"""engine.units: the fixed-point scales, the one input quantisation (half-even, when a
value is read), and conversions back to exact decimals."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from engine.units import (MICRO, PICO_PER_CENT, PICO_PER_USD, WH_PER_KWH, WH_PER_MWH,
                          decimal_to_scaled, kwh_to_wh, scaled_to_decimal, usd_per_mwh_to_micro,
                          wh_to_mwh_str)

SCALES = [WH_PER_KWH, WH_PER_MWH, MICRO, PICO_PER_USD]


def test_scales_compose_to_pico_dollars():
    assert WH_PER_MWH == 1000 * WH_PER_KWH
    assert PICO_PER_USD == 100 * PICO_PER_CENT
    # 1 Wh x 1 micro-USD/MWh = 1e-6 MWh x 1e-6 USD/MWh = 1e-12 USD: one pico-dollar
    assert Decimal(1) / WH_PER_MWH * (Decimal(1) / MICRO) == Decimal(1) / PICO_PER_USD


@pytest.mark.parametrize("kwh, wh", [
    ("20833.3", 20_833_300), ("0", 0), ("1", 1000), ("0.001", 1), ("-4.5", -4500), ("1e3", 1_000_000),
    (" 1.5 ", 1500),                                # surrounding blanks, as CSV cells may have
    (20833.3, 20_833_300),                          # a float means its shortest repr, not 20833.2999...
    (0.1, 100), (15, 15_000), (Decimal("2.25"), 2250),
    # more digits than 1 Wh: rounded half-even, once
    ("0.0005", 0), ("0.0015", 2), ("0.0025", 2), ("0.0035", 4), ("-0.0015", -2), ("0.00050001", 1),
])
def test_kwh_to_wh(kwh, wh):
    assert kwh_to_wh(kwh) == wh


@pytest.mark.parametrize("usd, micro", [
    ("62.50", 62_500_000), ("-4.50", -4_500_000), ("0", 0), ("9999.999999", 9_999_999_999),
    ("0.0000005", 0), ("0.0000015", 2), (32.15, 32_150_000),
])
def test_usd_per_mwh_to_micro(usd, micro):
    assert usd_per_mwh_to_micro(usd) == micro


@pytest.mark.parametrize("bad", ["abc", "", "1,5", "nan", "NaN", "inf", "-Infinity", float("nan"),
                                 float("inf"), None])
def test_unreadable_or_non_finite_values_raise_value_error(bad):
    with pytest.raises(ValueError, match="not a (finite )?number"):
        kwh_to_wh(bad)


@pytest.mark.parametrize("value, scale, text", [
    (20_833_300, WH_PER_KWH, "20833.3"), (1, PICO_PER_USD, "1E-12"), (-4_500_000, MICRO, "-4.5"),
])
def test_scaled_to_decimal_is_exact(value, scale, text):
    assert scaled_to_decimal(value, scale) == Decimal(text)


@pytest.mark.parametrize("wh, text", [
    (20_833_300, "20.833300"), (0, "0.000000"), (1, "0.000001"), (-1, "-0.000001"),
    (1_000_000, "1.000000"), (123_456_789_012, "123456.789012"),
])
def test_wh_to_mwh_str(wh, text):
    assert wh_to_mwh_str(wh) == text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**20), max_value=10**20), st.sampled_from(SCALES))
def test_scaled_integers_round_trip_through_decimals(n, scale):
    d = scaled_to_decimal(n, scale)
    assert decimal_to_scaled(d, scale) == n
    assert decimal_to_scaled(str(d), scale) == n                 # and through their text


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-10**9, max_value=10**9, places=3, allow_nan=False, allow_infinity=False))
def test_kwh_with_three_decimals_round_trip_exactly(kwh):
    wh = kwh_to_wh(kwh)
    assert scaled_to_decimal(wh, WH_PER_KWH) == kwh
    assert Decimal(wh_to_mwh_str(wh)) == kwh / 1000


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False, allow_infinity=False))
def test_quantisation_is_half_even_and_within_half_a_unit(kwh):
    wh = kwh_to_wh(kwh)
    error = kwh * WH_PER_KWH - wh
    assert abs(error) <= Decimal("0.5")
    if abs(error) == Decimal("0.5"):
        assert wh % 2 == 0                                          # ties go to even
    assert kwh_to_wh(-kwh) == -wh                                   # symmetric
