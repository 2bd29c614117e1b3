"""One call from operating inputs to waterfall and metrics: size the loan on the
deterministic sizing cases, run every path's waterfall with it, take the metrics.

``cases`` maps a sizing case's name (``P50``, ``P99``, ...) to its one-path operating
inputs; the first case in ``params.debt.cases`` is the *base case*: its year-1 opex
funds the initial working capital and its target DSCR is the one "supportable debt"
is measured at.
"""
from __future__ import annotations

from dataclasses import dataclass

from .debt import DebtSchedule, size_debt
from .metrics import PathMetrics, path_metrics
from .params import FinanceParams
from .waterfall import (OperatingInputs, Waterfall, capital_cost_before_debt, cfads_of,
                        fixed_flows, run_waterfall)

__all__ = ["CashFlowRun", "run_cash_flows"]


@dataclass(frozen=True)
class CashFlowRun:
    debt: DebtSchedule
    paths: Waterfall
    metrics: PathMetrics
    cases: dict[str, Waterfall]            # each sizing case's own waterfall (one path)


def run_cash_flows(params: FinanceParams, paths: OperatingInputs,
                   cases: dict[str, OperatingInputs]) -> CashFlowRun:
    fixed = fixed_flows(params)
    names = [c.name for c in params.debt.cases] or sorted(cases)
    base = cases[names[0]] if names and names[0] in cases else next(iter(cases.values()))
    base_opex1 = float(fixed.opex_fixed_usd[0] + fixed.vom_usd_per_mwh[0] * base.energy_mwh[0, 0]
                       + base.fuel_usd[0, 0])
    cfads = {name: cfads_of(params, ops, fixed)[0] for name, ops in cases.items()}
    debt = size_debt(params.debt, cfads, capital_cost_before_debt(params, base_opex1), params.years)
    w = run_waterfall(params, paths, debt, base_opex1, fixed)
    base_dscr = params.debt.cases[0].dscr if params.debt.sizing == "dscr" and params.debt.cases else None
    metrics = path_metrics(params, w, contract_revenue_usd=paths.revenue_usd, base_dscr=base_dscr)
    case_w = {name: run_waterfall(params, ops, debt, base_opex1, fixed) for name, ops in cases.items()}
    return CashFlowRun(debt, w, metrics, case_w)
