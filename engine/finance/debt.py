"""Debt sizing and the debt-service schedule (deterministic: one loan per project).

Sculpted sizing (``sizing: dscr``), as lenders do it and as SAM's constant-DSCR mode
does for one case: for each sizing case ``c`` (e.g. P50 at 1.30x, P99 at 1.00x) with
cash flow available for debt service ``CFADS_c,i`` in years ``i = 1..tenor``::

    D_c = sum_i max(CFADS_c,i, 0) / DSCR_c / (1 + r)^i

The debt is the smallest ``D_c`` (the *binding* case); its service is sculpted to the
binding case, ``DS_i = max(CFADS_i, 0) / DSCR``, so the binding case has exactly the
target DSCR every year and the balance reaches zero at the tenor (the PV identity).
A year with negative CFADS gets no debt service (SAM would sculpt a negative
payment, i.e. lend more: SAM issue #1924); this never happens in its regression cases.

Gearing cap (never debt above ``max_debt_fraction`` of the total capital cost, SAM
issue #534): the capital cost ``K`` includes the debt's own fee and the DSRA, both
proportional to the debt, so ``D <= f x (C + D x (fee + dsra_per_debt))`` is solved in
closed form, ``D = f C / (1 - f (fee + dsra_per_debt))``, and the sculpted service is
scaled down with it (the binding case's DSCR rises uniformly).

Fixed fraction (``sizing: fraction``): ``D = f x K`` by the same closed form, repaid
by level annual payments ``D r / (1 - (1 + r)^-tenor)``.

Floats: model cash flows (USD), not billed money.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import DebtTerms

__all__ = ["DebtSchedule", "size_debt", "dsra_targets"]


@dataclass(frozen=True)
class DebtSchedule:
    """The loan: its size and yearly interest, principal and service (index 0 = year 1,
    ``years`` long, zero after the tenor), how it was sized and the DSRA targets."""
    size_usd: float
    interest: np.ndarray
    principal: np.ndarray
    service: np.ndarray
    case_sizes_usd: dict[str, float]
    binding_case: str | None
    capped: bool
    dsra_target: np.ndarray            # balance to hold at the end of year i (index 0 = year 0)

    @property
    def balance(self) -> np.ndarray:
        """Balance at the end of each year (index 0 = year 0)."""
        return self.size_usd - np.concatenate([[0.0], np.cumsum(self.principal)])


def _pv(values: np.ndarray, rate: float) -> float:
    i = np.arange(1, values.size + 1)
    return float(np.sum(values / (1.0 + rate) ** i))


def dsra_targets(service: np.ndarray, months: float, tenor: int) -> np.ndarray:
    """DSRA balance required at the end of year ``i`` (``i = 0..years``): ``months/12``
    of the next year's debt service while the loan runs, then zero (released at the
    tenor), as SAM's ``dscr_reserve_months``."""
    years = service.size
    out = np.zeros(years + 1)
    for i in range(0, min(tenor, years)):
        out[i] = months / 12.0 * service[i]
    return out


def _schedule(size: float, service: np.ndarray, rate: float, tenor: int
              ) -> tuple[np.ndarray, np.ndarray]:
    years = service.size
    interest, principal = np.zeros(years), np.zeros(years)
    bal = size
    for i in range(min(tenor, years)):
        interest[i] = bal * rate
        principal[i] = service[i] - interest[i]
        bal -= principal[i]
    return interest, principal


def size_debt(terms: DebtTerms, cases_cfads: dict[str, np.ndarray], capital_cost_usd: float,
              years: int) -> DebtSchedule:
    """Size the loan on the sizing cases' CFADS (``case name -> CFADS of years
    1..years``) and a capital cost before the debt's fee and DSRA (module docstring)."""
    tenor, r = terms.tenor_years, terms.rate
    if terms.sizing == "fraction":
        f = float(terms.fraction or 0.0)
        af = r / (1.0 - (1.0 + r) ** -tenor) if r else 1.0 / tenor
        per_debt = terms.fee_fraction + terms.dsra_months / 12.0 * af
        size = f * capital_cost_usd / (1.0 - f * per_debt) if f else 0.0
        service = np.zeros(years)
        service[:min(tenor, years)] = size * af
        interest, principal = _schedule(size, service, r, tenor)
        return DebtSchedule(size, interest, principal, service, {}, None, False,
                            dsra_targets(service, terms.dsra_months, tenor))

    sizes: dict[str, float] = {}
    services: dict[str, np.ndarray] = {}
    for case in terms.cases:
        cfads = np.asarray(cases_cfads[case.name], dtype=np.float64)[:years]
        ds = np.zeros(years)
        ds[:min(tenor, years)] = np.maximum(cfads[:min(tenor, years)], 0.0) / case.dscr
        services[case.name] = ds
        sizes[case.name] = _pv(ds[:min(tenor, years)], r)
    binding = min(sizes, key=lambda k: (sizes[k], k))
    size, service = sizes[binding], services[binding]
    capped = False
    if terms.max_debt_fraction is not None and size > 0:
        f = terms.max_debt_fraction
        dsra_per_debt = terms.dsra_months / 12.0 * service[0] / size
        cap = f * capital_cost_usd / (1.0 - f * (terms.fee_fraction + dsra_per_debt))
        if size > cap:
            service = service * (cap / size)
            size, capped = cap, True
    interest, principal = _schedule(size, service, r, tenor)
    return DebtSchedule(size, interest, principal, service, sizes, binding, capped,
                        dsra_targets(service, terms.dsra_months, tenor))
