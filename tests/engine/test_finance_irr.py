"""The batched IRR and NPV: numpy-financial's documented examples, the policy for
cash flows with several sign changes, and agreement with a scalar reference."""
from __future__ import annotations

import numpy as np
import pytest

from engine.finance.irr import STATUSES, irr, npv


def test_numpy_financial_documented_examples():
    # numpy-financial 1.0.0 docs: irr([-100, 39, 59, 55, 20]) and npv(0.281, ...) (t=0 undiscounted)
    cf = np.array([-100, 39, 59, 55, 20], dtype=float)
    assert irr(cf).irr[0] == pytest.approx(0.28094842115996066, rel=1e-14)
    assert float(npv(0.281, cf)) == pytest.approx(-0.00847859163845488, rel=1e-12)
    assert irr(cf).status_names().tolist() == ["ok"]


def test_batched_matches_rows_one_by_one():
    rng = np.random.default_rng(3)
    cf = rng.normal(12.0, 4.0, (500, 26))
    cf[:, 0] = -100.0
    batched = irr(cf)
    ok = batched.status == STATUSES.index("ok")
    for i in np.flatnonzero(ok)[:50]:
        single = irr(cf[i])
        assert single.irr[0] == batched.irr[i]
        assert abs(float(npv(batched.irr[i], cf[i]))) <= 1e-9 * np.abs(cf[i]).sum()


def test_several_roots_of_an_investment_keep_the_highest_falling_one():
    # -100 + 230/(1+r) - 132/(1+r)^2 = 0 at r = 10 % and r = 20 %: the NPV is -inf near
    # -100 %, rises through zero at 10 % and falls through it at 20 %: one falling
    # crossing, so 20 % is the investment's return
    res = irr(np.array([[-100, 230, -132.0]]))
    assert res.status_names().tolist() == ["selected"]
    assert res.irr[0] == pytest.approx(0.20, abs=1e-12)
    assert res.roots[0] == 2 and res.sign_changes[0] == 2
    # three roots (10 %, 20 %, 30 %): the highest falling crossing, 30 %, is kept
    cf = np.poly1d([1.1, 1.2, 1.3], r=True).coeffs      # (x-1.1)(x-1.2)(x-1.3), x = 1 + r
    res = irr(np.array([-cf]))                             # NPV x^3 = -(x-1.1)(x-1.2)(x-1.3)
    assert res.status_names().tolist() == ["selected"] and res.roots[0] == 3
    assert res.irr[0] == pytest.approx(0.30, abs=1e-12)


def test_several_roots_of_borrowing_flows_are_undefined():
    # +100 now, -230, +132: a loan-like profile with roots at 10 % and 20 %; the NPV is
    # positive at +1000 %, so it is no investment and no root is chosen
    res = irr(np.array([[100, -230, 132.0]]))
    assert res.status_names().tolist() == ["multiple_roots"] and res.roots[0] == 2
    assert np.isnan(res.irr[0])


def test_non_conventional_with_one_root_in_range_is_returned_and_recorded():
    # three sign changes, but the NPV crosses zero once above -99 %
    cf = np.array([[-100, 80, -10, 60.0]])
    res = irr(cf)
    assert res.status_names().tolist() == ["ok"] and res.sign_changes[0] == 3
    assert abs(float(npv(res.irr[0], cf[0]))) < 1e-9


def test_negative_last_cash_flow_keeps_the_investment_root():
    # numpy-financial #44: a negative last flow adds a root near -100 % (here about -93 %,
    # where the NPV rises through zero) besides the investment's return (about +10.3 %,
    # where it falls): the falling crossing is kept and the case recorded
    cf = np.array([[-100, 60, 60, -5.0]])
    res = irr(cf)
    assert res.status_names().tolist() == ["selected"] and res.roots[0] == 2
    assert 0.10 < res.irr[0] < 0.11 and abs(float(npv(res.irr[0], cf[0]))) < 1e-9


def test_no_sign_change_and_no_root():
    res = irr(np.array([[1.0, 2, 3], [-1, -2, 0], [-1.0, 0, 0]]))
    assert res.status_names().tolist() == ["no_sign_change"] * 3
    assert np.isnan(res.irr).all()
    # a return far above the search range: the sign changes but no root in range
    res = irr(np.array([[-1.0, 1e6]]))
    assert res.status_names().tolist() == ["no_root"]
    assert res.counts() == {"ok": 0, "selected": 0, "multiple_roots": 0, "no_root": 1, "no_sign_change": 0}


def test_npv_rates_per_row_and_bad_input():
    cf = np.array([[-100, 110.0], [-100, 121.0]])
    assert npv(np.array([0.1, 0.1]), cf).tolist() == pytest.approx([0.0, 10.0])
    with pytest.raises(ValueError):
        irr(np.array([[-1.0, np.nan]]))
    with pytest.raises(ValueError):
        irr(np.array([[-1.0]]))
