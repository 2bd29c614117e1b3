"""The cash-flow model beyond SAM's cases: DSRA draws, the gearing cap (SAM #534),
fixed-fraction debt, several sizing cases, P-values and the path processes."""
from __future__ import annotations

import numpy as np
import pytest

from engine.finance.cashflow import run_cash_flows
from engine.finance.params import Costs, DebtTerms, FinanceParams, SizingCase, TaxTerms
from engine.finance.paths import MeanRevertingJump, calibrate, generation_factors, process_factors
from engine.finance.uncertainty import p_table, sigma_n
from engine.finance.waterfall import OperatingInputs

Y = 10


def params(**debt) -> FinanceParams:
    terms = DebtTerms(**{"tenor_years": 8, "rate": 0.06, "dsra_months": 6,
                         "cases": (SizingCase("P50", 1.3),), **debt})
    return FinanceParams(years=Y, nameplate_kw=10_000, inflation=0.02, real_discount_rate=0.05,
                         costs=Costs(installed_usd=50e6, om_capacity_usd_per_kw_year=20),
                         debt=terms, tax=TaxTerms())


def ops(revenue: np.ndarray) -> OperatingInputs:
    revenue = np.atleast_2d(np.asarray(revenue, dtype=float))
    return OperatingInputs(revenue, np.full(revenue.shape, 20_000.0), np.zeros(revenue.shape))


def test_sculpted_debt_gives_the_target_dscr_every_year_and_repays_at_tenor():
    base = ops(np.linspace(9e6, 11e6, Y))
    run = run_cash_flows(params(), base, {"P50": base})
    assert np.allclose(run.paths.dscr[0, :8], 1.3) and np.isnan(run.paths.dscr[0, 8:]).all()
    assert run.debt.balance[8] == pytest.approx(0.0, abs=1e-6)
    assert run.debt.binding_case == "P50" and not run.debt.capped


def test_the_smaller_of_the_p50_and_p99_sizes_binds():
    p50, p99 = ops(np.full(Y, 10e6)), ops(np.full(Y, 7e6))
    terms = {"cases": (SizingCase("P50", 1.3), SizingCase("P99", 1.0))}
    run = run_cash_flows(params(**terms), p50, {"P50": p50, "P99": p99})
    assert run.debt.binding_case == "P99"
    assert run.debt.size_usd == pytest.approx(min(run.debt.case_sizes_usd.values()))
    assert np.allclose(run.cases["P99"].dscr[0, :8], 1.0)       # the binding case at its target
    assert (run.cases["P50"].dscr[0, :8] > 1.3).all()


def test_gearing_cap_keeps_debt_below_the_limit_sam_534():
    # revenue so high that sculpting alone would lend more than the project costs
    rich = ops(np.full(Y, 60e6))
    run = run_cash_flows(params(max_debt_fraction=0.8), rich, {"P50": rich})
    w = run.paths
    assert run.debt.capped
    assert run.debt.size_usd / w.total_capital_cost_usd == pytest.approx(0.8, rel=1e-12)
    uncapped = run_cash_flows(params(), rich, {"P50": rich})
    assert uncapped.debt.size_usd > uncapped.paths.total_capital_cost_usd    # what SAM #534 shows
    assert np.allclose(w.dscr[0, :8], w.dscr[0, 0]) and w.dscr[0, 0] > 1.3   # DSCR raised uniformly


def test_fixed_fraction_debt_with_level_payments():
    base = ops(np.full(Y, 10e6))
    run = run_cash_flows(params(sizing="fraction", fraction=0.5), base, {"P50": base})
    assert run.debt.size_usd / run.paths.total_capital_cost_usd == pytest.approx(0.5, rel=1e-12)
    assert np.allclose(run.debt.service[:8], run.debt.service[0])
    assert run.debt.balance[8] == pytest.approx(0.0, abs=1e-6)


def test_a_bad_year_draws_the_dsra_and_only_then_defaults():
    base = ops(np.full(Y, 10e6))
    run0 = run_cash_flows(params(), base, {"P50": base})
    ds = run0.debt.service
    dsra0 = run0.debt.dsra_target[0]
    rev = np.full((3, Y), 10e6)
    rev[1, 2] -= 0.8 * dsra0 + ds[2] * 0.3          # short by less than the reserve
    rev[2, 2] -= 3.0 * dsra0 + ds[2] * 0.3          # short by more than the reserve
    run = run_cash_flows(params(), ops(rev), {"P50": base})
    w, m = run.paths, run.metrics.values
    assert w.dsra_draw_usd[0].sum() == 0 and w.uncovered_shortfall_usd[0].sum() == 0
    assert w.dsra_draw_usd[1, 2] > 0 and w.uncovered_shortfall_usd[1].sum() == 0
    assert w.uncovered_shortfall_usd[2, 2] > 0
    assert m["dscr_below_1"].tolist() == [0.0, 1.0, 1.0] and m["payment_default"].tolist() == [0.0, 0.0, 1.0]
    # the reserve is refilled from later cash before anything reaches the owner
    assert w.dsra_balance_usd[1, 3] > w.dsra_balance_usd[1, 2]


def test_p_values_average_down_only_the_inter_annual_part():
    assert sigma_n(0.05, 0.04, 1) == pytest.approx(np.hypot(0.05, 0.04))
    assert sigma_n(0.05, 0.04, 10) == pytest.approx(np.sqrt(0.05**2 / 10 + 0.04**2))
    t = p_table(1000.0, 0.05, 0.0)
    assert t["1-year"]["P90"] == pytest.approx(1000 * (1 - 1.2815515655446004 * 0.05))
    assert t["10-year"]["P99"] > t["1-year"]["P99"]
    with pytest.raises(ValueError):
        sigma_n(-0.01, 0.0, 1)


def test_paths_depend_on_seed_stream_and_index_only():
    g = generation_factors(3, 600, 25, 0.05, 0.04)
    assert np.array_equal(generation_factors(3, 300, 25, 0.05, 0.04), g[:300])
    assert not np.array_equal(generation_factors(4, 300, 25, 0.05, 0.04), g[:300])
    # the 10-year mean's spread is sqrt(iav^2/10 + model^2) (4 000 paths: within 5 %)
    g = generation_factors(3, 4000, 25, 0.05, 0.04)
    assert g[:, :10].mean(axis=1).std() == pytest.approx(sigma_n(0.05, 0.04, 10), rel=0.05)
    proc = MeanRevertingJump(kappa=3.0, sigma=0.4, jump_rate=4, jump_mean=0.1, jump_sd=0.2)
    f = process_factors(9, "price:ERCOT", proc, 700, 36)
    assert np.array_equal(process_factors(9, "price:ERCOT", proc, 100, 36), f[:100])
    assert not np.array_equal(process_factors(9, "price:PJM", proc, 100, 36), f[:100])


def test_monthly_means_match_a_daily_simulation():
    """The month-to-month exact scheme against a brute-force daily OU (no jumps)."""
    k, s, n = 3.0, 0.4, 4000
    rng = np.random.default_rng(1)
    a = np.exp(-k / 365.25)
    sd = s * np.sqrt((1 - a * a) / (2 * k))
    x = np.zeros(n)
    means = []
    for _ in range(6):
        acc = np.zeros(n)
        for _ in range(30):
            x = a * x + sd * rng.standard_normal(n)
            acc += x
        means.append(acc / 30)
    exact = np.log(process_factors(1, "x", MeanRevertingJump(kappa=k, sigma=s), n, 6))
    assert exact[:, 5].std() == pytest.approx(np.std(means[5]), rel=0.05)
    assert np.corrcoef(exact[:, 4], exact[:, 5])[0, 1] == pytest.approx(
        np.corrcoef(means[4], means[5])[0, 1], abs=0.03)


def test_calibration_recovers_a_known_process():
    rng = np.random.default_rng(5)
    phi, sd = 0.9, 0.1
    y = np.zeros(3000)
    for t in range(1, y.size):
        y[t] = phi * y[t - 1] + sd * rng.standard_normal() + (1.5 if t % 250 == 0 else 0.0)
    proc = calibrate(40.0 * np.exp(y))
    assert proc.kappa == pytest.approx(-np.log(phi) * 365.25, rel=0.15)
    assert proc.jump_rate == pytest.approx(11 / 2999 * 365.25, rel=0.5)
    assert proc.jump_mean == pytest.approx(1.5, rel=0.2)
    assert proc.sigma == pytest.approx(sd * np.sqrt(2 * -np.log(phi) / (1 - phi**2)) * np.sqrt(365.25), rel=0.1)
    with pytest.raises(ValueError, match="at least"):
        calibrate(np.full(10, 40.0))
