"""The published result of a bankability run: its summary document, the P50 cash-flow
table, per-path metrics and the offline, printable HTML report.

Which numbers are money and which are statistics:

* **Exact money (integer cents):** the P50 case's contract revenue, every month the
  total of an invoice the contract engine would issue for that month (one rounding
  per line), summed per year (``p50_cashflow.revenue_cents``). The other lines of the
  P50 cash-flow table are the model's float figures rounded **once** to cents (half
  away from zero) for the table; their totals are the rounded lines' sums.
* **Statistics (floats):** everything per path and every distribution (IRR, NPV,
  DSCR, LLCR, LCOE, energy, CFADS bands). ``P_x`` is the value exceeded by ``x`` % of
  the paths.

Parts written (``storage.results``): ``summary.json`` (canonical JSON),
``p50_cashflow.csv``, ``paths.csv`` (one row per path), ``report.html``.
"""
from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from .. import charts
from ..canonical import canonical_json
from ..invoice import _CSS
from ..money import cents_to_str
from .cashflow import CashFlowRun
from .metrics import distribution, path_metrics, yearly_bands
from .model import BankabilityModel
from .params import FinanceParams

__all__ = ["summary_document", "p50_cashflow", "result_parts", "render_html", "job_result", "PATH_METRICS",
           "round_cents"]

#: per-path metrics in ``paths.csv`` and the summary's distributions, with their units
PATH_METRICS = (
    ("equity_irr_aftertax", "fraction"), ("equity_irr_pretax", "fraction"),
    ("project_irr_aftertax", "fraction"), ("project_irr_pretax", "fraction"),
    ("npv_aftertax_usd", "USD"), ("lcoe_nominal_usd_per_mwh", "USD/MWh"), ("lcoe_real_usd_per_mwh", "USD/MWh"),
    ("lppa_nominal_usd_per_mwh", "USD/MWh"), ("lppa_real_usd_per_mwh", "USD/MWh"),
    ("min_dscr", "x"), ("avg_dscr", "x"), ("min_dscr_year", "operating year"), ("llcr", "x"),
    ("supportable_debt_usd", "USD"), ("energy_mwh_year1", "MWh"), ("energy_mwh_mean", "MWh/year"),
    ("revenue_usd_total", "USD"), ("cfads_usd_year1", "USD"),
)
PROBABILITIES = ("dscr_below_1", "dscr_below_covenant", "payment_default")


def round_cents(usd: float) -> int:
    """A model figure in USD -> integer cents, half away from zero (once)."""
    c = abs(usd) * 100.0
    whole = math.floor(c)
    whole += 1 if c - whole >= 0.5 else 0
    return int(whole if usd >= 0 else -whole)


def _f(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def p50_cashflow(params: FinanceParams, run: CashFlowRun, revenue_cents: list[int]) -> list[dict]:
    """The P50 case year by year in cents (revenue exact, the rest rounded once)."""
    w = run.cases["P50"]
    rows: list[dict[str, Any]] = [{"year": 0, "revenue_cents": 0, "opex_cents": 0, "fuel_cents": 0, "ebitda_cents": 0,
             "cfads_cents": 0, "interest_cents": 0, "principal_cents": 0, "dsra_balance_cents": 0,
             "tax_cents": 0, "equity_cash_flow_cents": round_cents(float(w.equity_aftertax_usd[0, 0])),
             "dscr": None}]
    for i in range(params.years):
        rows.append({
            "year": i + 1,
            "revenue_cents": int(revenue_cents[i]),
            "opex_cents": round_cents(float(w.opex_usd[0, i] - w.fuel_usd[0, i])),
            "fuel_cents": round_cents(float(w.fuel_usd[0, i])),
            "ebitda_cents": round_cents(float(w.ebitda_usd[0, i])),
            "cfads_cents": round_cents(float(w.cfads_usd[0, i])),
            "interest_cents": round_cents(float(w.interest_usd[i])),
            "principal_cents": round_cents(float(w.principal_usd[i])),
            "dsra_balance_cents": round_cents(float(w.dsra_balance_usd[0, i])),
            "tax_cents": round_cents(float(w.tax_usd[0, i] + w.ptc_usd[0, i] + w.itc_usd[i])),
            "equity_cash_flow_cents": round_cents(float(w.equity_aftertax_usd[0, i + 1])),
            "dscr": _f(w.dscr[0, i]),
        })
    return rows


def summary_document(model: BankabilityModel, params: FinanceParams, run: CashFlowRun, *,
                     p50_cents: list[int], p50_by_contract: dict[str, list[int]], energy_table: dict,
                     settlements: int, processes: dict, lineage: dict) -> dict:
    m = run.metrics
    debt = run.debt
    case_metrics = {}
    for name, w in sorted(run.cases.items()):
        cm = path_metrics(params, w, contract_revenue_usd=w.revenue_usd, base_dscr=None).values
        case_metrics[name] = {k: _f(cm[k][0]) for k in ("equity_irr_aftertax", "npv_aftertax_usd", "min_dscr",
                                                         "lcoe_nominal_usd_per_mwh", "lcoe_real_usd_per_mwh")}
    dists = {name: {"unit": unit, **distribution(m.values[name])} for name, unit in PATH_METRICS
             if name in m.values}
    probs = {name: _f(np.mean(m.values[name])) for name in PROBABILITIES if name in m.values}
    if model.target_irr is not None:
        v = m.values["equity_irr_aftertax"]
        probs["equity_irr_below_target"] = _f(np.mean(np.where(np.isfinite(v), v < model.target_irr, True)))
    w = run.paths
    return {
        "kind": "bankability", "name": model.name, "currency": "USD",
        "project": {"contracts": list(model.contracts), "cod": model.cod, "horizon_years": model.horizon_years,
                    "paths": model.paths, "seed": model.seed, "nameplate_kw": params.nameplate_kw},
        "debt": {"sizing": params.debt.sizing, "size_usd": _f(debt.size_usd), "binding_case": debt.binding_case,
                 "case_sizes_usd": {k: _f(v) for k, v in sorted(debt.case_sizes_usd.items())},
                 "capped_by_gearing": debt.capped,
                 "cases": [{"case": c.name, "dscr": c.dscr} for c in params.debt.cases],
                 "tenor_years": params.debt.tenor_years, "rate": params.debt.rate,
                 "debt_fraction": _f(debt.size_usd / w.total_capital_cost_usd) if w.total_capital_cost_usd else None,
                 "total_capital_cost_usd": _f(w.total_capital_cost_usd), "equity_usd": _f(w.equity_usd),
                 "service_usd": [_f(x) for x in debt.service], "covenant_dscr": params.debt.covenant_dscr},
        "cases": case_metrics,
        "distributions": dists,
        "probabilities": probs,
        "irr_policy": {name: r.counts() for name, r in sorted(m.irr_status.items())},
        "energy_p_values_mwh": energy_table,
        "bands": {"cfads_usd": yearly_bands(w.cfads_usd), "revenue_usd": yearly_bands(w.revenue_usd),
                  "energy_mwh": yearly_bands(w.energy_mwh),
                  "dscr": yearly_bands(np.nan_to_num(w.dscr[:, :params.debt.tenor_years], nan=0.0))},
        "p50_revenue_cents": {"total": [int(x) for x in p50_cents],
                              "by_contract": {k: [int(x) for x in v] for k, v in sorted(p50_by_contract.items())}},
        "p50_cashflow": p50_cashflow(params, run, p50_cents),
        "processes": processes,
        "engine": {"settlements": settlements},
        "lineage": lineage,
        "money": "p50_revenue_cents and p50_cashflow.revenue_cents are exact (each month an invoice total); "
                 "other p50_cashflow lines are model figures rounded once to cents; everything else is a "
                 "statistic (float)",
    }


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    out = [",".join(columns)]
    for r in rows:
        out.append(",".join("" if r.get(c) is None else (repr(r[c]) if isinstance(r[c], float) else str(r[c]))
                            for c in columns))
    return ("\n".join(out) + "\n").encode()


def paths_csv(run: CashFlowRun) -> bytes:
    v = run.metrics.values
    names = [n for n, _ in PATH_METRICS if n in v] + [n for n in PROBABILITIES if n in v]
    cols = ["path", *names, "equity_irr_status"]
    status = run.metrics.irr_status["equity_irr_aftertax"].status_names()
    lines = [",".join(cols)]
    for p in range(run.paths.revenue_usd.shape[0]):
        vals = [str(p)] + ["" if not np.isfinite(v[n][p]) else repr(float(v[n][p])) for n in names]
        lines.append(",".join(vals + [str(status[p])]))
    return ("\n".join(lines) + "\n").encode()


def result_parts(summary: dict, run: CashFlowRun) -> dict[str, bytes]:
    rows = summary["p50_cashflow"]
    cols = list(rows[0])
    return {"summary.json": canonical_json(summary, newline=True), "p50_cashflow.csv": _csv(rows, cols),
            "paths.csv": paths_csv(run),
            "report.html": render_html(summary, run.metrics.values["equity_irr_aftertax"],
                                       run.metrics.values["min_dscr"]).encode()}


def job_result(summary: dict, result_id: str) -> dict:
    """The job's result document: where the result is and its headline figures."""
    d = summary["distributions"]

    def pick(name: str) -> dict:
        x = d.get(name, {})
        return {k: x.get(k) for k in ("P10", "P50", "P90", "P99", "mean")}
    return {"result_id": result_id, "uri": f"results/bankability/{result_id}/",
            "debt_usd": summary["debt"]["size_usd"], "binding_case": summary["debt"]["binding_case"],
            "equity_irr_aftertax": pick("equity_irr_aftertax"), "min_dscr": pick("min_dscr"),
            "npv_aftertax_usd": pick("npv_aftertax_usd"), "probabilities": summary["probabilities"],
            "paths": summary["project"]["paths"], "seed": summary["project"]["seed"]}


# --------------------------------------------------------------------------- HTML
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def _usd(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _num(x: float | None, places: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{places}f}"


def render_html(summary: dict, irr_values: np.ndarray, min_dscr_values: np.ndarray) -> str:
    """One self-contained printable page: debt sizing, headline distributions, the
    CFADS fan, IRR and minimum-DSCR histograms, the P50 cash-flow table."""
    d, debt, proj = summary["distributions"], summary["debt"], summary["project"]
    years = [str(i + 1) for i in range(proj["horizon_years"])]
    band = summary["bands"]["cfads_usd"]
    fan = charts.lines(years, [("P50", [x / 1e6 for x in band["P50"]]), ("mean", [x / 1e6 for x in band["mean"]])],
                       title="CFADS by operating year (USD million): P10-P90 fan", y_label="USD million",
                       bands=[("P90-P10", [x / 1e6 for x in band["P90"]], [x / 1e6 for x in band["P10"]])])
    irr_vals = [float(x) for x in irr_values if np.isfinite(x)]
    dscr_vals = [float(x) for x in min_dscr_values if np.isfinite(x)]
    irr_d = d["equity_irr_aftertax"]
    irr_hist = charts.histogram([100 * x for x in irr_vals], title="Equity IRR after tax (%), all paths",
                                x_label="IRR %", markers=[(f"P{p}", 100 * irr_d[f"P{p}"]) for p in (50, 90)
                                                          if irr_d.get(f"P{p}") is not None])
    cov = debt["covenant_dscr"]
    dscr_hist = charts.histogram(dscr_vals, title="Minimum DSCR over the tenor, all paths", x_label="DSCR",
                                 markers=[("1.00", 1.0), (f"covenant {cov:.2f}", cov)])
    title = summary["name"] or ", ".join(proj["contracts"])
    rows = []
    for name, label, fmt in (("equity_irr_aftertax", "Equity IRR after tax", _pct),
                             ("equity_irr_pretax", "Equity IRR before tax", _pct),
                             ("project_irr_aftertax", "Project IRR after tax", _pct),
                             ("project_irr_pretax", "Project IRR before tax", _pct),
                             ("npv_aftertax_usd", "NPV after tax (USD)", _usd),
                             ("min_dscr", "Minimum DSCR", _num), ("avg_dscr", "Average DSCR", _num),
                             ("min_dscr_year", "Year of the minimum DSCR", lambda x: _num(x, 0)),
                             ("llcr", "LLCR", _num),
                             ("lcoe_nominal_usd_per_mwh", "LCOE nominal (USD/MWh)", _num),
                             ("lcoe_real_usd_per_mwh", "LCOE real (USD/MWh)", _num),
                             ("lppa_nominal_usd_per_mwh", "Levelized PPA price nominal (USD/MWh)", _num),
                             ("energy_mwh_mean", "Energy, mean per year (MWh)", _usd),
                             ("supportable_debt_usd", "Debt each path supports (USD)", _usd)):
        if name not in d:
            continue
        x = d[name]
        rows.append(f"<tr><th>{_e(label)}</th>" + "".join(f"<td class='num'>{_e(fmt(x.get(k)))}</td>"
                                                           for k in ("P10", "P50", "P90", "P99", "mean"))
                    + f"<td class='num'>{x['undefined']}</td></tr>")
    probs = summary["probabilities"]
    prob_rows = "".join(f"<tr><th>{_e(k.replace('_', ' '))}</th><td class='num'>{_e(_pct(v))}</td></tr>"
                        for k, v in sorted(probs.items()))
    cf_rows = []
    for r in summary["p50_cashflow"]:
        cells = [str(r["year"])] + [cents_to_str(r[c]) for c in
                                    ("revenue_cents", "opex_cents", "fuel_cents", "ebitda_cents", "cfads_cents",
                                     "interest_cents", "principal_cents", "dsra_balance_cents", "tax_cents",
                                     "equity_cash_flow_cents")] + [_num(r["dscr"])]
        cf_rows.append("<tr>" + "".join(f"<td class='num'>{_e(c)}</td>" for c in cells) + "</tr>")
    cases = "".join(f"<tr><th>{_e(c['case'])} at {c['dscr']:.2f}x</th><td class='num'>"
                    f"{_e(_usd(debt['case_sizes_usd'].get(c['case'])))}</td></tr>" for c in debt["cases"])
    lin = summary["lineage"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Bankability: {_e(title)}</title>
<style>{_CSS}
.num{{text-align:right;font-variant-numeric:tabular-nums}} table{{border-collapse:collapse;margin:8px 0}}
td,th{{padding:2px 8px;border-bottom:1px solid #dde}} th{{text-align:left;font-weight:500}}
section{{page-break-inside:avoid;margin-bottom:18px}} table.cf td,table.cf th{{font-size:10px;padding:1px 4px}}
pre{{white-space:pre-wrap;word-break:break-all;font-size:10px}}
</style></head><body>
<h1>Bankability run {_e(summary['name'])}</h1>
<p>Contracts {_e(', '.join(proj['contracts']))}; COD {_e(proj['cod'])}; {proj['horizon_years']} years;
{proj['paths']} paths, seed {proj['seed']}. Revenue priced by the contract engine
({summary['engine']['settlements']} settlements). P<sub>x</sub> = value exceeded by x % of the paths.</p>
<section><h2>Debt sizing</h2><table>
<tr><th>Debt</th><td class='num'>{_e(_usd(debt['size_usd']))}</td></tr>
<tr><th>Binding case</th><td class='num'>{_e(debt['binding_case'] or debt['sizing'])}
{' (capped by the gearing limit)' if debt['capped_by_gearing'] else ''}</td></tr>
{cases}
<tr><th>Debt fraction of total capital cost</th><td class='num'>{_e(_pct(debt['debt_fraction']))}</td></tr>
<tr><th>Total capital cost</th><td class='num'>{_e(_usd(debt['total_capital_cost_usd']))}</td></tr>
<tr><th>Equity</th><td class='num'>{_e(_usd(debt['equity_usd']))}</td></tr>
<tr><th>Tenor, rate</th><td class='num'>{debt['tenor_years']} years, {_e(_pct(debt['rate']))}</td></tr>
</table></section>
<section><h2>Distributions</h2><table><tr><th></th><th>P10</th><th>P50</th><th>P90</th><th>P99</th><th>mean</th>
<th>undefined</th></tr>{''.join(rows)}</table>
<table>{prob_rows}</table></section>
<section>{fan}</section><section>{irr_hist}</section><section>{dscr_hist}</section>
<section><h2>P50 cash flows (USD)</h2><p>Revenue: the contract engine's monthly invoice totals, exact;
other lines: model figures rounded once to cents.</p><table class="cf"><tr><th>year</th><th>revenue</th><th>opex</th>
<th>fuel</th><th>EBITDA</th><th>CFADS</th><th>interest</th><th>principal</th><th>DSRA</th><th>tax and credits</th>
<th>equity cash flow</th><th>DSCR</th></tr>{''.join(cf_rows)}</table></section>
<section><h2>Lineage</h2><pre>{_e(canonical_json(lin).decode())}</pre></section>
</body></html>
"""
