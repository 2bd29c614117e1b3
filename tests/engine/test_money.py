"""engine.money: the one rounding rule (pico-dollars rounded once to cents, half away
from zero), exact int64 sums and products, and the decimal renderings of amounts.

Worked examples first, then properties against Python's unbounded integers and
``decimal`` (ROUND_HALF_UP is half away from zero).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.money import cents_to_str, mul_exact, picousd_to_cents, picousd_to_decimal, sum_exact
from engine.units import PICO_PER_CENT, PICO_PER_USD, kwh_to_wh, usd_per_mwh_to_micro

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)
HALF_CENT = PICO_PER_CENT // 2                 # 0.5 cent = 5 * 10**9 pico-dollars

int64s = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)


# -- picousd_to_cents: half away from zero, once ----------------------------------------------

@pytest.mark.parametrize("picousd, cents", [
    (0, 0),
    (HALF_CENT, 1), (-HALF_CENT, -1),                    # exactly half a cent: away from zero
    (HALF_CENT - 1, 0), (-(HALF_CENT - 1), 0),           # a pico-dollar short of it: towards zero
    (HALF_CENT + 1, 1), (-(HALF_CENT + 1), -1),
    (PICO_PER_CENT + HALF_CENT, 2), (-(PICO_PER_CENT + HALF_CENT), -2),     # 1.5 -> 2 (not even)
    (2 * PICO_PER_CENT + HALF_CENT, 3), (-(2 * PICO_PER_CENT + HALF_CENT), -3),  # 2.5 -> 3 (not 2)
    (PICO_PER_CENT, 1), (-PICO_PER_CENT, -1),
    (123_456 * PICO_PER_CENT + 4_999_999_999, 123_456),
    (10**30 + HALF_CENT, 10**20 + 1),                  # beyond int64: Python ints stay exact
])
def test_picousd_to_cents_rounds_half_away_from_zero(picousd, cents):
    assert picousd_to_cents(picousd) == cents


def test_a_line_is_rounded_once_not_interval_by_interval():
    # three intervals of 0.4 cent each: rounded once 1.2 -> 1 cent; rounded each time 0 + 0 + 0
    intervals = np.full(3, 4 * 10**9, dtype=np.int64)
    assert picousd_to_cents(sum_exact(intervals)) == 1
    assert sum(picousd_to_cents(int(v)) for v in intervals) == 0


def test_worked_example_energy_times_price_to_cents():
    # 20 833.3 kWh at $62.50/MWh = 20.8333 MWh x 62.5 = $1302.08125 -> $1302.08
    wh, rate = kwh_to_wh("20833.3"), usd_per_mwh_to_micro("62.50")
    assert (wh, rate) == (20_833_300, 62_500_000)
    amount = sum_exact(mul_exact(np.array([wh]), np.array([rate])))
    assert amount == 1_302_081_250_000_000
    assert picousd_to_decimal(amount) == Decimal("1302.08125")
    assert picousd_to_cents(amount) == 130_208 and cents_to_str(130_208) == "1302.08"
    # a negative price (paying to deliver) rounds the same way, mirrored
    assert picousd_to_cents(-amount) == -130_208 and cents_to_str(-130_208) == "-1302.08"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_picousd_to_cents_is_decimal_round_half_up(picousd):
    want = (Decimal(picousd) / PICO_PER_CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert picousd_to_cents(picousd) == int(want)
    assert picousd_to_cents(-picousd) == -picousd_to_cents(picousd)          # symmetric
    assert abs(picousd_to_cents(picousd) * PICO_PER_CENT - picousd) <= HALF_CENT


# -- cents_to_str and picousd_to_decimal ---------------------------------------------------------

@pytest.mark.parametrize("cents, text", [
    (0, "0.00"), (5, "0.05"), (-5, "-0.05"), (100, "1.00"), (-100, "-1.00"), (99, "0.99"),
    (123_456, "1234.56"), (-123_456, "-1234.56"), (10**20 + 7, "1000000000000000000.07"),
])
def test_cents_to_str(cents, text):
    assert cents_to_str(cents) == text


@given(st.integers(min_value=-(10**24), max_value=10**24))
def test_cents_to_str_is_exact_with_two_places(cents):
    text = cents_to_str(cents)
    assert Decimal(text) * 100 == cents and len(text.partition(".")[2]) == 2
    assert text.startswith("-") == (cents < 0)


def test_picousd_to_decimal_is_exact():
    assert picousd_to_decimal(1) == Decimal("0.000000000001")
    assert picousd_to_decimal(-PICO_PER_USD) == Decimal(-1)
    assert picousd_to_decimal(INT64_MAX) == Decimal("9223372.036854775807")
    assert picousd_to_decimal(np.int64(HALF_CENT)) == Decimal("0.005")


# -- sum_exact ---------------------------------------------------------------------------------

def test_sum_exact_near_the_int64_limits():
    assert sum_exact(np.array([], dtype=np.int64)) == 0
    assert sum_exact(np.array([INT64_MAX] * 3)) == 3 * INT64_MAX          # numpy's sum wraps here
    assert sum_exact(np.array([INT64_MIN] * 3)) == 3 * INT64_MIN
    assert sum_exact(np.array([INT64_MAX, INT64_MIN, INT64_MAX, 1])) == INT64_MAX
    assert sum_exact(np.array([INT64_MIN, -1])) == INT64_MIN - 1
    assert sum_exact([1, 2, 3]) == 6 and sum_exact(np.array([7], dtype=np.int32)) == 7
    assert isinstance(sum_exact(np.array([1])), int)


def test_sum_exact_of_long_arrays():
    n = 1_000_003
    assert sum_exact(np.full(n, INT64_MAX, dtype=np.int64)) == n * INT64_MAX
    assert sum_exact(np.full(n, INT64_MIN, dtype=np.int64)) == n * INT64_MIN
    alternating = np.tile(np.array([INT64_MAX, INT64_MIN], dtype=np.int64), n)
    assert sum_exact(alternating) == -n
    ramp = np.arange(-n, n + 1, dtype=np.int64) * (2**40)
    assert sum_exact(ramp) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(int64s, max_size=200))
def test_sum_exact_equals_the_unbounded_sum(values):
    arr = np.array(values, dtype=np.int64)
    assert sum_exact(arr) == sum(values)
    assert sum_exact(arr[::-1]) == sum_exact(np.sort(arr)) == sum(values)    # order-free


# -- mul_exact ---------------------------------------------------------------------------------

def test_mul_exact_in_range_is_the_elementwise_product():
    a = np.array([20_833_300, 0, -7, 2**31], dtype=np.int64)
    b = np.array([62_500_000, -5, 3, 2**31], dtype=np.int64)
    got = mul_exact(a, b)
    assert got.dtype == np.int64 and got.tolist() == [1_302_081_250_000_000, 0, -21, 2**62]
    assert mul_exact(np.array([INT64_MAX]), np.array([1])).tolist() == [INT64_MAX]
    assert mul_exact(np.array([INT64_MAX]), np.array([-1])).tolist() == [-INT64_MAX]
    assert mul_exact(np.array([2**62]), np.array([0])).tolist() == [0]
    assert mul_exact([3], 4).tolist() == [12]                                  # broadcasts
    assert mul_exact(np.array([], dtype=np.int64), np.array([5])).size == 0


@pytest.mark.parametrize("a, b", [
    ([2**32], [2**31]),                       # 2**63: one past the int64 maximum
    ([INT64_MAX], [2]),
    ([1, 3_037_000_500], [1, 3_037_000_500]),  # just above sqrt(2**63)
    ([20_833_300_000], [10**12]),             # a month of MWh at an absurd price
])
def test_mul_exact_raises_instead_of_overflowing(a, b):
    with pytest.raises(OverflowError, match="overflow int64"):
        mul_exact(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))


def test_mul_exact_refuses_int64_min_times_anything_but_0_and_1():
    for b in (2, -1):
        try:
            got = mul_exact(np.array([INT64_MIN]), np.array([b]))
        except OverflowError:
            continue
        raise AssertionError(f"INT64_MIN * {b} returned {got.tolist()}")


#: int64 factors, many of them small enough to multiply (INT64_MIN: see the test above)
factors = st.one_of(st.integers(min_value=-(2**32), max_value=2**32),
                    st.integers(min_value=INT64_MIN + 1, max_value=INT64_MAX))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(factors, factors), min_size=1, max_size=20))
def test_mul_exact_is_exact_or_raises(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    exact = [x * y for x, y in pairs]
    try:
        got = mul_exact(a, b)
    except OverflowError:
        # refused only when the maxima's product does not fit (the documented bound check)
        assert max(abs(x) for x, _ in pairs) * max(abs(y) for _, y in pairs) > INT64_MAX
    else:
        assert got.tolist() == exact
