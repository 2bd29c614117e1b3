"""The cash-flow model's parameters as plain numbers (rates as fractions, money in
USD floats), built from the model document by :mod:`engine.finance.model` or directly
(the PySAM reference test configures both models from one set of these).

Escalation follows SAM: a cost given for year 1 escalates as
``value x (1 + inflation + escalation)^(year - 1)`` (the two rates added, not
compounded), so an escalation of 0 means "with inflation".
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .tax import DepreciationPlan

__all__ = ["SizingCase", "DebtTerms", "MajorMaintenance", "Costs", "TaxTerms", "FinanceParams"]


@dataclass(frozen=True)
class SizingCase:
    """A deterministic case the lender sizes sculpted debt on: its name (``P50``,
    ``P99``, ...) and the target DSCR applied to its CFADS."""
    name: str
    dscr: float


@dataclass(frozen=True)
class DebtTerms:
    """``sizing``: ``dscr`` (sculpted: the smallest debt of the sizing cases, each
    ``PV(CFADS / DSCR)`` at the loan rate over the tenor) or ``fraction`` (a share of the
    total capital cost, level annual payments); either way never above
    ``max_debt_fraction`` of the total capital cost when that is set."""
    sizing: str = "dscr"
    tenor_years: int = 18
    rate: float = 0.07
    fee_fraction: float = 0.0            # up-front fee, fraction of the debt
    closing_usd: float = 0.0
    dsra_months: float = 6.0
    cases: tuple[SizingCase, ...] = (SizingCase("P50", 1.30),)
    fraction: float | None = None
    max_debt_fraction: float | None = None
    covenant_dscr: float = 1.20          # lock-up / covenant level for the probabilities


@dataclass(frozen=True)
class MajorMaintenance:
    """An overhaul every ``every_years`` costing ``usd_per_kw`` (year-1 dollars,
    inflated), funded evenly into a reserve in the years before it and capitalised
    (MACRS 5-year) when spent, as SAM's major-equipment reserves."""
    usd_per_kw: float
    every_years: int


@dataclass(frozen=True)
class Costs:
    installed_usd: float                        # capital cost before financing
    construction_financing_usd: float = 0.0
    other_financing_usd: float = 0.0
    om_fixed_usd_per_year: float = 0.0
    om_fixed_escalation: float = 0.0
    om_capacity_usd_per_kw_year: float = 0.0
    om_capacity_escalation: float = 0.0
    om_variable_usd_per_mwh: float = 0.0
    om_variable_escalation: float = 0.0
    fuel_escalation: float = 0.0                # added to inflation, applied to the gas path
    insurance_fraction: float = 0.0             # of installed cost per year, inflated
    property_tax_fraction: float = 0.0          # of the assessed value per year
    property_assessed_fraction: float = 1.0     # assessed value / installed cost
    property_assessed_decline: float = 0.0      # assessed value falls this fraction per year
    working_capital_months: float = 0.0         # O&M reserve, months of next year's opex
    salvage_fraction: float = 0.0               # of installed cost, in the last year
    major_maintenance: tuple[MajorMaintenance, ...] = ()


@dataclass(frozen=True)
class TaxTerms:
    federal_rate: float = 0.21
    state_rate: float = 0.07
    depreciation: DepreciationPlan = field(default_factory=lambda: DepreciationPlan({"macrs_5": 1.0}))
    itc_fraction: float = 0.0                   # federal ITC, of the qualifying basis
    itc_year: int = 1
    ptc_usd_per_kwh: float = 0.0                # federal PTC, year-1 rate
    ptc_escalation: float = 0.0
    ptc_years: int = 10


@dataclass(frozen=True)
class FinanceParams:
    years: int
    nameplate_kw: float
    inflation: float
    real_discount_rate: float
    costs: Costs
    debt: DebtTerms
    tax: TaxTerms
    reserves_interest: float = 0.0              # earned on reserve balances (taxable)

    @property
    def nominal_discount_rate(self) -> float:
        return (1.0 + self.inflation) * (1.0 + self.real_discount_rate) - 1.0
