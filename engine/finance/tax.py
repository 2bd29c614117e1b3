"""Depreciation schedules, tax credits and income taxes of a single-owner project.

Schedules (fraction of the depreciable basis per operating year, half-year
convention) are the IRS tables as NREL SAM's ``cmod_singleowner`` uses them, so a
run can be checked against SAM to the digit:

* ``macrs_5``  20, 32, 19.2, 11.52, 11.52, 5.76 %  (IRS Pub. 946 Table A-1, 5-year)
* ``macrs_15`` 5, 9.5, 8.55, 7.7, 6.93, 6.23, 5.9, 5.9, 5.91, 5.9, 5.91, 5.9, 5.91,
  5.9, 5.91, 2.95 %  (Table A-1, 15-year)
* ``sl_5``, ``sl_15``, ``sl_20``, ``sl_39``: straight line, half a year in the first
  and the last year (``sl_15`` with SAM's rounded 6.67/6.66 % pattern);
* ``custom``: a schedule given in the model document (fractions summing to 1).

Income tax (SAM's single-owner convention, which assumes an owner with tax appetite:
a taxable loss is a tax *benefit* in the same year)::

    state taxable income   = EBITDA + reserve interest - interest - state depreciation
    state tax              = - state rate x state taxable income
    federal taxable income = EBITDA + reserve interest - interest - federal depreciation
                             + state tax (deductible) + state PTC + state ITC
    federal tax            = - federal rate x federal taxable income

(signs as cash flows: a tax paid is negative). The ITC (a percentage of the
qualifying basis, in the year given, year 1 by default) reduces the federal and state
depreciable basis by half of itself (IRC §50(c)(3)); the PTC pays a rate per kWh for
its term, escalated and rounded to 0.1 ¢/kWh each year as the IRS publishes it
(SAM's ``round_irs``). Floats: these are model cash flows, not billed money.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SCHEDULES", "schedule", "DepreciationPlan", "depreciation", "ptc_rate_usd_per_kwh",
           "income_taxes", "Taxes"]

_SL15 = [0.0333] + [0.0667] * 6 + [0.0666, 0.0667, 0.0666, 0.0667, 0.0666, 0.0667, 0.0666, 0.0667, 0.0333]

SCHEDULES: dict[str, tuple[float, ...]] = {
    "macrs_5": (0.20, 0.32, 0.192, 0.1152, 0.1152, 0.0576),
    "macrs_15": (0.05, 0.095, 0.0855, 0.077, 0.0693, 0.0623, 0.059, 0.059, 0.0591, 0.059, 0.0591,
                 0.059, 0.0591, 0.059, 0.0591, 0.0295),
    "sl_5": (0.10, 0.20, 0.20, 0.20, 0.20, 0.10),
    "sl_15": tuple(_SL15),
    "sl_20": (0.025,) + (0.05,) * 19 + (0.025,),
    "sl_39": (0.5 / 39,) + (1 / 39,) * 38 + (0.5 / 39,),
}


def schedule(name: str, years: int, custom: tuple[float, ...] = ()) -> np.ndarray:
    """Fractions of the basis depreciated in operating years 1..``years`` (index 0 = year 1)."""
    fr = custom if name == "custom" else SCHEDULES[name]
    out = np.zeros(years)
    n = min(len(fr), years)
    out[:n] = fr[:n]
    return out


@dataclass(frozen=True)
class DepreciationPlan:
    """How the depreciable basis is split and treated.

    ``allocation``: class -> fraction of the basis (the rest is not depreciable, e.g.
    land); ``bonus``: class -> fraction of that class's (reduced) basis taken in year 1;
    ``itc_qualifying``: the classes whose basis qualifies for the ITC.
    """
    allocation: dict[str, float]
    bonus: dict[str, float] = field(default_factory=dict)
    custom: tuple[float, ...] = ()
    itc_qualifying: tuple[str, ...] | None = None      # None: every allocated class

    def classes(self) -> list[str]:
        return [c for c, f in self.allocation.items() if f]


def depreciation(plan: DepreciationPlan, basis_usd: float, years: int, *, itc_usd: float = 0.0,
                 itc_basis_reduction: float = 0.5) -> np.ndarray:
    """Annual depreciation (USD, years 1..``years``) of ``basis_usd``.

    The ITC reduces each qualifying class's basis by ``itc_basis_reduction x ITC``,
    shared in proportion to the qualifying bases (as SAM does); bonus depreciation is
    then taken in year 1 and the rest follows the class's schedule."""
    classes = plan.classes()
    alloc = {c: plan.allocation[c] * basis_usd for c in classes}
    qual = [c for c in classes if plan.itc_qualifying is None or c in plan.itc_qualifying]
    qual_total = sum(alloc[c] for c in qual)
    out = np.zeros(years)
    for c in classes:
        b = alloc[c]
        if itc_usd and qual_total > 0 and c in qual:
            b -= itc_basis_reduction * itc_usd * alloc[c] / qual_total
        bonus = plan.bonus.get(c, 0.0) * b
        out += schedule(c, years, plan.custom) * (b - bonus)
        out[0] += bonus
    return out


def qualifying_basis(plan: DepreciationPlan, basis_usd: float) -> float:
    classes = plan.classes()
    return sum(plan.allocation[c] * basis_usd for c in classes
               if plan.itc_qualifying is None or c in plan.itc_qualifying)


def ptc_rate_usd_per_kwh(rate_usd_per_kwh: float, escalation: float, term_years: int,
                         years: int) -> np.ndarray:
    """PTC rate of each operating year: escalated, rounded half away from zero to
    0.1 ¢/kWh (the IRS's published rounding; SAM's ``round_irs``), zero after the term."""
    i = np.arange(years)
    raw = 1000.0 * rate_usd_per_kwh * (1.0 + escalation) ** i
    rounded = np.where(raw >= 0, np.floor(raw + 0.5), -np.floor(-raw + 0.5)) / 1000.0
    return np.where(i < term_years, rounded, 0.0)


@dataclass(frozen=True)
class Taxes:
    """Per path and year (shape ``(paths, years)``), signs as cash flows."""
    state_usd: np.ndarray
    federal_usd: np.ndarray

    @property
    def total_usd(self) -> np.ndarray:
        return self.state_usd + self.federal_usd


Numbers = np.ndarray | float


def income_taxes(*, ebitda: Numbers, reserve_interest: Numbers, interest: Numbers,
                 depreciation_federal: Numbers, depreciation_state: Numbers,
                 federal_rate: Numbers, state_rate: Numbers, ptc_state: Numbers,
                 itc_state: Numbers) -> Taxes:
    """State and federal income tax cash flows (module docstring); arrays broadcast
    over ``(paths, years)``."""
    sti = ebitda + reserve_interest - interest - depreciation_state
    state = -state_rate * sti
    fti = ebitda + reserve_interest - interest - depreciation_federal + state + ptc_state + itc_state
    return Taxes(np.broadcast_to(state, np.shape(fti)).copy(), np.asarray(-federal_rate * fti))
