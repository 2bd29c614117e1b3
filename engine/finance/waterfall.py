"""The annual cash-flow waterfall of a single-owner project, for every path at once.

Inputs per path and operating year (arrays ``(paths, years)``, year 1 first): contract
revenue, energy generated (MWh) and fuel cost; everything else comes from
:class:`engine.finance.params.FinanceParams` and the loan (:mod:`engine.finance.debt`,
sized once on deterministic cases). The order and conventions are SAM's
``cmod_singleowner`` (single owner, PPA price given), so that the P50 case can be
checked against PySAM line by line (``tests/engine/test_pysam_reference.py``)::

    revenue        contract revenue (+ salvage value in the last year)
    opex           fixed O&M + capacity O&M x kW + variable O&M x MWh + fuel
                   + insurance + property tax                   (escalated: params)
    EBITDA         revenue - opex
    CFADS          EBITDA - major-maintenance reserve funding   (SAM: cash for debt service)
    debt service   interest + principal (one schedule for every path)
    DSCR           CFADS / debt service, tenor years
    reserves       DSRA (months of next year's service), working capital (months of
                   next year's opex), major maintenance; interest earned on them
    tax            state then federal income tax (engine.finance.tax), PTC, ITC
    equity         year 0: -(total capital cost - debt); years: CFADS - debt service
                   +- reserve flows + reserve interest + tax + credits

Where a path departs from the sizing case, two things SAM does not model happen:

* **DSRA draws.** If CFADS falls short of debt service, the reserve pays the
  shortfall up to its balance; it is refilled toward its target only from cash left
  after debt service (never by the owner), and released above target. A shortfall the
  reserve cannot cover is paid by the owner (negative equity cash flow) and counted
  (``uncovered_shortfall_usd``: a payment default without sponsor support). With
  DSCR >= 1 every year (every sizing case) nothing is drawn and the flows are SAM's.
* **Working capital** follows each path's own opex after year 0 (funded at close from
  the base case).

Project (unlevered) cash flows: year 0 ``-(installed cost + construction and other
financing + initial working capital)``; years ``CFADS - working-capital flows +
interest on the non-DSRA reserves``; after tax, the taxes are recomputed without
interest (and without DSRA interest) plus PTC and ITC.

Floats (USD): path statistics. The exact money of a run is the P50 case's revenue in
integer cents (``engine.finance.revenue``), carried into the cash-flow table as cents.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .debt import DebtSchedule
from .params import FinanceParams
from .tax import depreciation, income_taxes, ptc_rate_usd_per_kwh, qualifying_basis, schedule

__all__ = ["OperatingInputs", "FixedFlows", "fixed_flows", "Waterfall", "run_waterfall",
           "capital_cost_before_debt", "cfads_of"]


@dataclass(frozen=True)
class OperatingInputs:
    """Per path and operating year (``(paths, years)``)."""
    revenue_usd: np.ndarray
    energy_mwh: np.ndarray
    fuel_usd: np.ndarray

    def __post_init__(self) -> None:
        shapes = {np.shape(self.revenue_usd), np.shape(self.energy_mwh), np.shape(self.fuel_usd)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"operating inputs must share one (paths, years) shape, got {shapes}")


@dataclass(frozen=True)
class FixedFlows:
    """The deterministic yearly flows (index 0 = year 1 unless said)."""
    opex_fixed_usd: np.ndarray              # fixed + capacity O&M, insurance, property tax
    vom_usd_per_mwh: np.ndarray
    fuel_factor: np.ndarray                 # (1 + inflation + fuel escalation)^(i-1)
    mm_funding_usd: np.ndarray              # major-maintenance reserve funding
    mm_spend_usd: np.ndarray                # spent from the reserve (>= 0)
    mm_reserve_usd: np.ndarray              # reserve balance at the end of the year
    mm_depreciation_usd: np.ndarray         # MACRS-5 of the capitalised spend
    salvage_usd: np.ndarray                 # in the last year only
    ptc_rate_usd_per_kwh: np.ndarray


def _esc(params: FinanceParams, escalation: float) -> np.ndarray:
    return (1.0 + params.inflation + escalation) ** np.arange(params.years)


def fixed_flows(params: FinanceParams) -> FixedFlows:
    c, y = params.costs, params.years
    opex = (c.om_fixed_usd_per_year * _esc(params, c.om_fixed_escalation)
            + c.om_capacity_usd_per_kw_year * params.nameplate_kw * _esc(params, c.om_capacity_escalation)
            + c.installed_usd * c.insurance_fraction * _esc(params, 0.0))
    decline = np.maximum(1.0 - np.arange(y) * c.property_assessed_decline, 0.0)
    opex = opex + c.installed_usd * c.property_assessed_fraction * decline * c.property_tax_fraction
    funding, spend, reserve, mm_depr = np.zeros(y), np.zeros(y), np.zeros(y), np.zeros(y)
    for mm in c.major_maintenance:
        k, f = 1, mm.every_years
        bal = 0.0
        for i in range(1, y + 1):
            if f > 0 and i <= k * f and k * f <= y:
                funding[i - 1] += mm.usd_per_kw * params.nameplate_kw * (1 + params.inflation) ** (k * f - 1) / f
                bal += mm.usd_per_kw * params.nameplate_kw * (1 + params.inflation) ** (k * f - 1) / f
            if f > 0 and i == k * f:
                cost = mm.usd_per_kw * params.nameplate_kw * (1 + params.inflation) ** (i - 1)
                spend[i - 1] += cost
                bal -= cost
                mm_depr[i - 1:] += cost * schedule("macrs_5", y - i + 1)
                k += 1
            reserve[i - 1] += bal
    salvage = np.zeros(y)
    salvage[-1] = c.salvage_fraction * c.installed_usd
    t = params.tax
    return FixedFlows(opex, c.om_variable_usd_per_mwh * _esc(params, c.om_variable_escalation),
                      _esc(params, c.fuel_escalation), funding, spend, reserve, mm_depr, salvage,
                      ptc_rate_usd_per_kwh(t.ptc_usd_per_kwh, t.ptc_escalation, t.ptc_years, y))


def cfads_of(params: FinanceParams, ops: OperatingInputs, fixed: FixedFlows | None = None) -> np.ndarray:
    """CFADS per path and year (what debt is sized on)."""
    fixed = fixed or fixed_flows(params)
    opex = fixed.opex_fixed_usd + fixed.vom_usd_per_mwh * ops.energy_mwh + ops.fuel_usd
    return ops.revenue_usd + fixed.salvage_usd - opex - fixed.mm_funding_usd


def capital_cost_before_debt(params: FinanceParams, base_opex_year1_usd: float) -> float:
    """Installed cost + construction and other financing + debt closing costs + the
    initial working-capital reserve: the total capital cost before the debt's fee and
    DSRA (which :func:`engine.finance.debt.size_debt` adds in proportion to the debt)."""
    c = params.costs
    return (c.installed_usd + c.construction_financing_usd + c.other_financing_usd
            + params.debt.closing_usd + c.working_capital_months / 12.0 * base_opex_year1_usd)


@dataclass(frozen=True)
class Waterfall:
    """Every line per path and year (``(paths, years)``, year 1 first) and the year-0
    figures (scalars: the same for every path)."""
    revenue_usd: np.ndarray
    opex_usd: np.ndarray
    fuel_usd: np.ndarray
    ebitda_usd: np.ndarray
    cfads_usd: np.ndarray
    debt_service_usd: np.ndarray            # (years,) the loan's schedule
    interest_usd: np.ndarray                # (years,)
    principal_usd: np.ndarray               # (years,)
    dscr: np.ndarray                        # NaN outside the tenor
    dsra_balance_usd: np.ndarray            # end of year
    dsra_draw_usd: np.ndarray
    uncovered_shortfall_usd: np.ndarray
    reserve_interest_usd: np.ndarray
    depreciation_federal_usd: np.ndarray    # (years,)
    tax_usd: np.ndarray                     # state + federal (cash-flow sign)
    ptc_usd: np.ndarray
    itc_usd: np.ndarray                     # (years,)
    equity_pretax_usd: np.ndarray           # (paths, years + 1), year 0 first
    equity_aftertax_usd: np.ndarray         # (paths, years + 1)
    project_pretax_usd: np.ndarray          # (paths, years + 1)
    project_aftertax_usd: np.ndarray        # (paths, years + 1)
    annual_costs_usd: np.ndarray            # (paths, years + 1): SAM's LCOE numerator flows
    energy_mwh: np.ndarray
    total_capital_cost_usd: float           # SAM's "net capital cost" (cost_installed)
    equity_usd: float
    debt: DebtSchedule


def run_waterfall(params: FinanceParams, ops: OperatingInputs, debt: DebtSchedule,
                  base_opex_year1_usd: float, fixed: FixedFlows | None = None) -> Waterfall:
    """Every path's waterfall with one loan (``debt``); the initial working capital is
    funded from the base case's year-1 opex (``base_opex_year1_usd``)."""
    fixed = fixed or fixed_flows(params)
    c, t, y = params.costs, params.tax, params.years
    paths = ops.revenue_usd.shape[0]
    if ops.revenue_usd.shape[1] != y:
        raise ValueError(f"operating inputs have {ops.revenue_usd.shape[1]} years, the model {y}")
    revenue = ops.revenue_usd + fixed.salvage_usd
    opex = fixed.opex_fixed_usd + fixed.vom_usd_per_mwh * ops.energy_mwh + ops.fuel_usd
    ebitda = revenue - opex
    cfads = ebitda - fixed.mm_funding_usd

    # working capital reserve: months of next year's opex; funded at close from the base case
    wc = c.working_capital_months / 12.0
    wc_bal = np.zeros((paths, y + 1))
    wc_bal[:, 0] = wc * base_opex_year1_usd
    wc_bal[:, 1:y] = wc * opex[:, 1:]
    wc_flow = np.diff(wc_bal, axis=1)              # + = funding (a use of cash) in years 1..y
    wc_flow[:, -1] = -wc_bal[:, y - 1]             # released in the last year

    # debt service and the DSRA, year by year (draws, refills, releases)
    ds = debt.service
    target = debt.dsra_target
    bal = np.full(paths, target[0])
    dsra_bal = np.zeros((paths, y))
    draw = np.zeros((paths, y))
    uncovered = np.zeros((paths, y))
    dsra_cash = np.zeros((paths, y))               # to (+) / from (-) the owner
    res_int = np.zeros((paths, y))
    for i in range(y):
        res_int[:, i] = params.reserves_interest * (bal + wc_bal[:, i] + (fixed.mm_reserve_usd[i - 1] if i else 0.0))
        short = np.maximum(ds[i] - cfads[:, i], 0.0)
        d = np.minimum(short, bal)
        b = bal - d
        cash = cfads[:, i] - ds[i] + d                 # after debt service
        if ds[i] > 0:                                  # a debt-service shortfall, not an operating loss
            uncovered[:, i] = np.maximum(-cash, 0.0)
        refill = np.minimum(np.maximum(target[i + 1] - b, 0.0), np.maximum(cash, 0.0))
        release = np.maximum(b - target[i + 1], 0.0)
        bal = b + refill - release
        draw[:, i], dsra_bal[:, i] = d, bal
        dsra_cash[:, i] = d - refill + release
    with np.errstate(divide="ignore", invalid="ignore"):
        dscr = np.where(ds > 0, cfads / np.where(ds > 0, ds, 1.0), np.nan)

    # taxes (SAM: an owner with tax appetite)
    basis = c.installed_usd + c.construction_financing_usd + c.other_financing_usd
    itc_total = t.itc_fraction * qualifying_basis(t.depreciation, basis)
    itc = np.zeros(y)
    if itc_total:
        itc[t.itc_year - 1] = itc_total
    depr = depreciation(t.depreciation, basis, y, itc_usd=itc_total) + fixed.mm_depreciation_usd
    ptc = fixed.ptc_rate_usd_per_kwh * 1000.0 * ops.energy_mwh
    taxes = income_taxes(ebitda=ebitda, reserve_interest=res_int, interest=debt.interest,
                         depreciation_federal=depr, depreciation_state=depr,
                         federal_rate=t.federal_rate, state_rate=t.state_rate,
                         ptc_state=0.0, itc_state=0.0)
    tax = taxes.total_usd

    # year 0: the total capital cost (SAM's cost_installed) and the owner's equity
    total_cost = (capital_cost_before_debt(params, base_opex_year1_usd)
                  + params.debt.fee_fraction * debt.size_usd + target[0])
    equity0 = total_cost - debt.size_usd
    eq_pre = np.empty((paths, y + 1))
    eq_pre[:, 0] = -equity0
    eq_pre[:, 1:] = cfads - ds + dsra_cash - wc_flow + res_int
    eq_post = eq_pre.copy()
    eq_post[:, 1:] += tax + ptc + itc

    # project (unlevered): no debt, no DSRA
    proj_pre = np.empty((paths, y + 1))
    proj_pre[:, 0] = -(basis + wc_bal[0, 0])
    res_int_nodsra = params.reserves_interest * (wc_bal[:, :y] + np.concatenate([[0.0], fixed.mm_reserve_usd[:-1]]))
    proj_pre[:, 1:] = cfads - wc_flow + res_int_nodsra
    unlev = income_taxes(ebitda=ebitda, reserve_interest=res_int_nodsra, interest=0.0,
                         depreciation_federal=depr, depreciation_state=depr,
                         federal_rate=t.federal_rate, state_rate=t.state_rate,
                         ptc_state=0.0, itc_state=0.0)
    proj_post = proj_pre.copy()
    proj_post[:, 1:] += unlev.total_usd + ptc + itc

    # SAM's LCOE numerator: every cost to the owner (negative), PPA revenue excluded
    costs = np.empty((paths, y + 1))
    costs[:, 0] = -equity0
    costs[:, 1:] = (tax - debt.interest - debt.principal - opex + ptc - fixed.mm_funding_usd
                    - wc_flow + dsra_cash + res_int + fixed.salvage_usd + itc)
    return Waterfall(revenue, opex, ops.fuel_usd, ebitda, cfads, ds, debt.interest, debt.principal,
                     dscr, dsra_bal, draw, uncovered, res_int, depr, tax, ptc, itc, eq_pre, eq_post,
                     proj_pre, proj_post, costs, ops.energy_mwh, total_cost, equity0, debt)
