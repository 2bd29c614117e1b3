"""A scenario's summary document and its offline HTML report.

Money is exact: totals are integer cents summed from the result table's lines (each
line rounded once, as on an invoice); statistics across variants are **nearest-rank**
percentiles (the value of an actual variant, so still exact cents, and it names that
variant). The sign convention is the invoices': an amount > 0 is owed by the buyer to
the seller, so a portfolio total is what buyers pay sellers (a seller's revenue, a
buyer's cost).

The report is one self-contained HTML page (house CSS of ``engine.invoice``, inline
SVG charts of ``engine.charts``, no script, no external asset) an accountant can
print: the distribution of the portfolio total across variants, the largest variants
against the base and a bridge of the largest one by charge, the monthly series of the
base with the P10-P90 band across variants, and the tables behind them.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import charts
from ..invoice import _CSS as HOUSE_CSS
from ..money import cents_to_str

TOP = 10
STATS = ("min_usd", "p10_usd", "p50_usd", "p90_usd", "max_usd")


def nearest_rank(sorted_values: Sequence[int], pct: float) -> int:
    """The nearest-rank ``pct`` percentile of ascending integers (an element of them)."""
    n = len(sorted_values)
    k = max(1, math.ceil(pct / 100 * n))
    return int(sorted_values[min(k, n) - 1])


@dataclass(frozen=True)
class VariantTotal:
    index: int
    name: str
    status: str                    # ok | failed
    reason: str | None
    total_cents: int
    delta_cents: int


def summary(*, scenario: dict, variants: list[VariantTotal], periods: list[str], monthly: np.ndarray,
            contracts: list[str], by_contract: np.ndarray, bridge: list[tuple[str, int]],
            lineage: dict) -> dict:
    """The summary document. ``monthly`` (variants x periods) and ``by_contract``
    (variants x contracts) hold totals in cents, rows in ``variants`` order (the base
    first); ``bridge`` is the largest variant's delta by contract and charge."""
    ok = [v for v in variants if v.status == "ok"]
    totals = sorted(v.total_cents for v in ok)
    base = variants[0]
    ok_rows = np.array([i for i, v in enumerate(variants) if v.status == "ok"], dtype=np.int64)
    stats = {}
    if totals:
        stats = {"min_usd": cents_to_str(totals[0]), "max_usd": cents_to_str(totals[-1]),
                 **{f"p{p}_usd": cents_to_str(nearest_rank(totals, p)) for p in (10, 50, 90)}}
    largest = sorted((v for v in ok[1:]), key=lambda v: (-abs(v.delta_cents), v.index))[:TOP]
    month_rows = []
    for j, p in enumerate(periods):
        col = np.sort(monthly[ok_rows, j]) if ok_rows.size else np.zeros(0, dtype=np.int64)
        month_rows.append({"period": p, "base_usd": cents_to_str(int(monthly[0, j])),
                           **({f"p{q}_usd": cents_to_str(nearest_rank(col.tolist(), q)) for q in (10, 50, 90)}
                              if col.size else {})})
    contract_rows = []
    for j, c in enumerate(contracts):
        col = np.sort(by_contract[ok_rows, j]) if ok_rows.size else np.zeros(0, dtype=np.int64)
        contract_rows.append({"contract_id": c, "base_usd": cents_to_str(int(by_contract[0, j])),
                              "min_usd": cents_to_str(int(col[0])) if col.size else None,
                              "max_usd": cents_to_str(int(col[-1])) if col.size else None})
    return {
        "scenario": scenario.get("scenario"), "description": scenario.get("description", ""),
        "variants": len(variants), "succeeded": len(ok), "failed": len(variants) - len(ok),
        "periods": periods, "contracts": contracts,
        "base_total_usd": cents_to_str(base.total_cents),
        "total_usd": stats,
        "largest": [{"variant": v.name, "total_usd": cents_to_str(v.total_cents),
                     "delta_usd": cents_to_str(v.delta_cents)} for v in largest],
        "bridge": [{"charge": k, "delta_usd": cents_to_str(c)} for k, c in bridge],
        "monthly": month_rows, "by_contract": contract_rows,
        "failures": [{"variant": v.name, "reason": v.reason} for v in variants if v.status != "ok"][:1000],
        "variant_totals": [{"variant": v.name, "status": v.status, "total_usd": cents_to_str(v.total_cents),
                            "delta_usd": cents_to_str(v.delta_cents), "reason": v.reason} for v in variants],
        "lineage": lineage,
        "sign": "amounts > 0 are owed by buyers to sellers (a seller's revenue, a buyer's cost)",
    }


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _usd(s: str | None) -> float:
    return float(s) if s is not None else 0.0


def render_report(doc: dict) -> str:
    """The printable HTML report of a summary document (deterministic bytes)."""
    rows = doc["variant_totals"]
    ok = [r for r in rows if r["status"] == "ok"]
    base = _usd(doc["base_total_usd"])
    stats = doc["total_usd"]
    markers = [("base", base)] + [(k[:-4].upper(), _usd(stats[k])) for k in ("p10_usd", "p50_usd", "p90_usd")
                                  if k in stats]
    hist = charts.histogram([_usd(r["total_usd"]) for r in ok], title="Portfolio total across variants",
                            x_label="total owed by buyers to sellers (USD)", markers=markers)
    largest = doc["largest"]
    # charts label bars by rank (names can be long); the tables below them name each
    tornado = charts.bars([(str(i + 1), _usd(r["delta_usd"])) for i, r in enumerate(largest)],
                          title=f"The {len(largest)} largest variants against the base (by rank)",
                          y_label="delta (USD)")
    top = largest[0]["variant"] if largest else None
    bridge = charts.waterfall("base", base, [(str(i + 1), _usd(b["delta_usd"])) for i, b in enumerate(doc["bridge"])],
                              title=f"Bridge from the base to {top or 'the largest variant'}, by charge",
                              y_label="USD", total_label="variant")
    months = doc["periods"]
    monthly = doc["monthly"]
    bands = []
    if monthly and "p10_usd" in monthly[0]:
        bands = [("P10-P90 across variants", [_usd(m["p10_usd"]) for m in monthly],
                  [_usd(m["p90_usd"]) for m in monthly])]
    series = [("base", [_usd(m["base_usd"]) for m in monthly])]
    if monthly and "p50_usd" in monthly[0]:
        series.append(("P50", [_usd(m["p50_usd"]) for m in monthly]))
    month_chart = charts.lines(months, series, title="Monthly portfolio total", y_label="USD", bands=bands)
    lin = doc.get("lineage", {})
    meta = [("Scenario", doc["scenario"]), ("Variants", f"{doc['variants']:,} ({doc['failed']:,} failed)"),
            ("Months", f"{months[0]} to {months[-1]}" if months else "none"),
            ("Contracts", f"{len(doc['contracts']):,}"), ("Base total (USD)", doc["base_total_usd"]),
            ("Data versions", ", ".join(f"{k} {v}" for k, v in sorted((lin.get("data_versions") or {}).items()))),
            ("Code", lin.get("code_version", ""))]

    def table(head: list[str], body: list[list[Any]], num: set[int]) -> str:
        th = "".join(f'<th class="num">{_e(h)}</th>' if i in num else f"<th>{_e(h)}</th>"
                     for i, h in enumerate(head))
        trs = "".join("<tr>" + "".join(f'<td class="num">{_e(c)}</td>' if i in num else f"<td>{_e(c)}</td>"
                                       for i, c in enumerate(r)) + "</tr>" for r in body)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"

    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Scenario {_e(doc['scenario'])}</title><style>{HOUSE_CSS}"
        "svg{max-width:100%;height:auto;margin:.5rem 0}@media print{svg{page-break-inside:avoid}}</style>"
        "</head><body>",
        f"<h1>Scenario {_e(doc['scenario'])}</h1><div class=\"desc\">{_e(doc.get('description'))}</div>",
        "<div class=\"meta\">" + "".join(f"<div><span>{_e(k)}</span>{_e(v)}</div>" for k, v in meta)
        + f"<div><span>Document SHA-256</span><code>{_e(lin.get('scenario_sha256', ''))}</code></div></div>",
        f"<p class=\"desc\">{_e(doc['sign'])}. Every variant is re-settled by the contract engine that "
        "bills; no published invoice is changed.</p>",
        "<h2>Distribution</h2>", hist,
        table(["statistic", "total (USD)"],
              [[k[:-4].upper(), stats[k]] for k in STATS if k in stats], {1}),
        "<h2>Largest variants against the base</h2>", tornado,
        table(["#", "variant", "total (USD)", "delta (USD)"],
              [[i + 1, r["variant"], r["total_usd"], r["delta_usd"]] for i, r in enumerate(largest)], {0, 2, 3}),
        bridge,
        table(["#", "contract and term", "delta (USD)"],
              [[i + 1, b["charge"], b["delta_usd"]] for i, b in enumerate(doc["bridge"])], {0, 2}),
        "<h2>Monthly</h2>", month_chart,
        table(["month", "base (USD)", "P10", "P50", "P90"],
              [[m["period"], m["base_usd"], m.get("p10_usd"), m.get("p50_usd"), m.get("p90_usd")]
               for m in monthly], {1, 2, 3, 4}),
        "<h2>Contracts</h2>",
        table(["contract", "base (USD)", "min across variants", "max across variants"],
              [[c["contract_id"], c["base_usd"], c["min_usd"], c["max_usd"]] for c in doc["by_contract"]],
              {1, 2, 3}),
    ]
    if doc["failures"]:
        parts += ["<h2>Failed variants</h2>",
                  table(["variant", "reason"], [[f["variant"], f["reason"]] for f in doc["failures"]], set())]
    parts.append("</body></html>\n")
    return "".join(parts)


__all__ = ["VariantTotal", "summary", "render_report", "nearest_rank"]
