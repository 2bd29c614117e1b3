"""Metrics of every path and their distributions (statistics: floats).

Per path (from a :class:`engine.finance.waterfall.Waterfall`):

* ``equity_irr_aftertax`` / ``_pretax``: IRR of the owner's cash flows (year 0 =
  -equity). For a single owner this is what SAM calls ``project_return_aftertax_irr``;
* ``project_irr_pretax`` / ``_aftertax``: unlevered IRR (no debt);
* ``npv_aftertax_usd``: NPV of the owner's after-tax cash flows at the nominal
  discount rate ``(1 + real)(1 + inflation) - 1``, year 0 undiscounted (SAM's
  ``project_return_aftertax_npv``);
* ``lcoe_nominal`` / ``lcoe_real`` (USD/MWh): SAM's single-owner LCOE,
  ``-NPV(every cost to the owner, PPA revenue excluded) / NPV(energy)``, the energy
  discounted at the nominal or the real rate; ``lppa_nominal`` / ``lppa_real``:
  ``NPV(contract revenue) / NPV(energy)`` (the levelized PPA price);
* ``min_dscr``, ``avg_dscr`` (arithmetic mean over the tenor), ``min_dscr_year``
  (1-based operating year of the minimum), ``llcr`` (``NPV(CFADS over the tenor, at the
  loan rate) / debt``), ``supportable_debt_usd`` (the sculpted debt this path's own
  CFADS would carry at the base case's target DSCR);
* ``dscr_below_1``, ``dscr_below_covenant``, ``payment_default`` (a debt-service
  shortfall the DSRA could not cover) in any tenor year.

Distributions: ``P_x`` is the value **exceeded** by ``x`` % of the paths (the energy
convention: P90 energy is the 10th percentile), so P90 and P99 are the downside of a
return, a DSCR or an energy yield; ``mean``; counts of paths left out (an IRR that is
not defined: see :mod:`engine.finance.irr`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .irr import IrrResult, irr, npv
from .params import FinanceParams
from .waterfall import Waterfall

__all__ = ["PathMetrics", "path_metrics", "distribution", "EXCEEDANCE", "yearly_bands"]

#: exceedance levels reported for every distribution
EXCEEDANCE = (10, 50, 90, 99)


@dataclass(frozen=True)
class PathMetrics:
    values: dict[str, np.ndarray]          # metric -> (paths,) floats (NaN: not defined)
    irr_status: dict[str, IrrResult]       # IRR metric -> its per-path policy result


def _pv_rows(values: np.ndarray, rate: float) -> np.ndarray:
    """NPV of rows of year-1.. values (first value discounted one year)."""
    t = np.arange(1, values.shape[1] + 1)
    return (values / (1.0 + rate) ** t).sum(axis=1)


def path_metrics(params: FinanceParams, w: Waterfall, *, contract_revenue_usd: np.ndarray,
                 base_dscr: float | None) -> PathMetrics:
    """Every per-path metric of the module docstring."""
    nom, real = params.nominal_discount_rate, params.real_discount_rate
    debt = w.debt
    tenor = min(params.debt.tenor_years, params.years)
    v: dict[str, np.ndarray] = {}
    statuses: dict[str, IrrResult] = {}
    for name, flows in (("equity_irr_aftertax", w.equity_aftertax_usd),
                        ("equity_irr_pretax", w.equity_pretax_usd),
                        ("project_irr_pretax", w.project_pretax_usd),
                        ("project_irr_aftertax", w.project_aftertax_usd)):
        res = irr(flows)
        statuses[name] = res
        v[name] = res.irr
    v["npv_aftertax_usd"] = np.asarray(npv(nom, w.equity_aftertax_usd))
    pv_energy_nom = _pv_rows(w.energy_mwh, nom)
    pv_energy_real = _pv_rows(w.energy_mwh, real)
    pv_costs = -npv(nom, w.annual_costs_usd)
    pv_rev = _pv_rows(contract_revenue_usd, nom)
    with np.errstate(divide="ignore", invalid="ignore"):
        v["lcoe_nominal_usd_per_mwh"] = pv_costs / pv_energy_nom
        v["lcoe_real_usd_per_mwh"] = pv_costs / pv_energy_real
        v["lppa_nominal_usd_per_mwh"] = pv_rev / pv_energy_nom
        v["lppa_real_usd_per_mwh"] = pv_rev / pv_energy_real
    dscr = w.dscr[:, :tenor]
    has = np.isfinite(dscr)
    if has.any():
        filled = np.where(has, dscr, np.inf)
        v["min_dscr"] = np.where(has.any(axis=1), filled.min(axis=1), np.nan)
        v["min_dscr_year"] = np.where(has.any(axis=1), filled.argmin(axis=1) + 1.0, np.nan)
        v["avg_dscr"] = np.nanmean(np.where(has, dscr, np.nan), axis=1)
        cov = params.debt.covenant_dscr
        v["dscr_below_1"] = ((dscr < 1.0) & has).any(axis=1).astype(np.float64)
        v["dscr_below_covenant"] = ((dscr < cov) & has).any(axis=1).astype(np.float64)
    else:
        for k in ("min_dscr", "min_dscr_year", "avg_dscr", "dscr_below_1", "dscr_below_covenant"):
            v[k] = np.full(w.cfads_usd.shape[0], np.nan)
    v["payment_default"] = np.asarray((w.uncovered_shortfall_usd > 0.005).any(axis=1), dtype=np.float64)
    pv_cfads = _pv_rows(w.cfads_usd[:, :tenor], params.debt.rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        v["llcr"] = pv_cfads / debt.size_usd if debt.size_usd > 0 else np.full(pv_cfads.shape, np.nan)
    if base_dscr:
        v["supportable_debt_usd"] = _pv_rows(np.maximum(w.cfads_usd[:, :tenor], 0.0), params.debt.rate) / base_dscr
    v["energy_mwh_year1"] = w.energy_mwh[:, 0].astype(np.float64)
    v["energy_mwh_mean"] = w.energy_mwh.mean(axis=1)
    v["revenue_usd_total"] = contract_revenue_usd.sum(axis=1)
    v["cfads_usd_year1"] = w.cfads_usd[:, 0]
    return PathMetrics(v, statuses)


def distribution(values: np.ndarray) -> dict:
    """P10/P50/P90/P99 (exceedance), mean, min, max over the finite values, and how many
    paths had none (NaN)."""
    x = np.asarray(values, dtype=np.float64)
    ok = x[np.isfinite(x)]
    out: dict = {"paths": int(x.size), "undefined": int(x.size - ok.size)}
    if ok.size == 0:
        out.update({f"P{p}": None for p in EXCEEDANCE})
        out.update({"mean": None, "min": None, "max": None})
        return out
    for p in EXCEEDANCE:
        out[f"P{p}"] = float(np.quantile(ok, 1.0 - p / 100.0, method="linear"))
    out.update({"mean": float(ok.mean()), "min": float(ok.min()), "max": float(ok.max())})
    return out


def yearly_bands(values: np.ndarray) -> dict[str, list[float]]:
    """Per year (columns), the exceedance levels and the mean over paths (rows): the
    fan chart's data."""
    x = np.asarray(values, dtype=np.float64)
    out = {f"P{p}": np.quantile(x, 1.0 - p / 100.0, axis=0, method="linear").tolist() for p in EXCEEDANCE}
    out["mean"] = x.mean(axis=0).tolist()
    return out
