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


def test_two_roots_are_flagged_never_chosen():
    # -100 + 230/(1+r) - 132/(1+r)^2 = 0 at r = 10 % and r = 20 %
    res = irr(np.array([[-100, 230, -132.0]]))
    assert np.isnan(res.irr[0])
    assert res.status_names().tolist() == ["multiple_roots"]
    assert res.roots[0] == 2 and res.sign_changes[0] == 2


def test_non_conventional_with_one_root_in_range_is_returned_and_recorded():
    # three sign changes, but the NPV crosses zero once above -99 %
    cf = np.array([[-100, 80, -10, 60.0]])
    res = irr(cf)
    assert res.status_names().tolist() == ["ok"] and res.sign_changes[0] == 3
    assert abs(float(npv(res.irr[0], cf[0]))) < 1e-9


def test_negative_last_cash_flow_has_a_second_root_near_minus_100_percent():
    # numpy-financial #44: a negative last flow adds a root near -100 % (here about -93 %)
    # besides the economic one (about +9 %); both are roots, so the IRR is not defined
    res = irr(np.array([[-100, 60, 60, -5.0]]))
    assert res.status_names().tolist() == ["multiple_roots"] and res.roots[0] == 2


def test_no_sign_change_and_no_root():
    res = irr(np.array([[1.0, 2, 3], [-1, -2, 0], [-1.0, 0, 0]]))
    assert res.status_names().tolist() == ["no_sign_change"] * 3
    assert np.isnan(res.irr).all()
    # a return far above the search range: the sign changes but no root in range
    res = irr(np.array([[-1.0, 1e6]]))
    assert res.status_names().tolist() == ["no_root"]
    assert res.counts() == {"ok": 0, "multiple_roots": 0, "no_root": 1, "no_sign_change": 0}


def test_npv_rates_per_row_and_bad_input():
    cf = np.array([[-100, 110.0], [-100, 121.0]])
    assert npv(np.array([0.1, 0.1]), cf).tolist() == pytest.approx([0.0, 10.0])
    with pytest.raises(ValueError):
        irr(np.array([[-1.0, np.nan]]))
    with pytest.raises(ValueError):
        irr(np.array([[-1.0]]))
