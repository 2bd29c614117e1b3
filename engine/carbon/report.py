"""The ESG report of a site or a contract over a month or a year: document, table, CSV, HTML.

The document (:func:`report_document`) is the statement (``engine.carbon.statement.annex``:
GHG Protocol Scope 1, Scope 2 location- and market-based, CFE beside volumetric
matching), the statement of each month (for a year) and of each site, and the hourly CFE
heat map. Buckets are **local** (the site's, or the contract's, zone, with DST): hour of
day x day for a month, hour of day x month for a year. A bucket's score is ``sum CFE_h /
sum L_h`` over the UTC hours it holds: the fall-back hour holds two, the spring-forward
hour none (an empty, hatched cell). Renderings: a text table, CSV (section, name, value,
unit), and a printable, offline HTML page with the heat map as inline SVG
(``engine.charts.heatmap``).
"""
from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from ..charts import heatmap
from ..timebase import local_fields
from .cfe import bucket_pct

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def heatmap_buckets(hours_us: np.ndarray, cfe_uwh: Sequence[int], load_wh: Sequence[int], tz: str, *,
                    by: str) -> dict:
    """The heat map's rows, columns and values (CFE %, None where a bucket has no hour or
    no load): ``by="day"`` (hour of day x local day) or ``"month"`` (hour of day x month)."""
    lf = local_fields(np.asarray(hours_us, dtype=np.int64), tz)
    hour = lf.hour.tolist()
    if by == "day":
        col = lf.day.tolist()
        cols = sorted(set(col))
        labels = [(date(1970, 1, 1) + timedelta(days=int(d))).strftime("%d") for d in cols]
    else:
        col = lf.month.tolist()
        cols = sorted(set(col))
        labels = [f"{_MONTHS[m % 12]} {1970 + m // 12}" for m in cols]
    pct = bucket_pct(cfe_uwh, load_wh, zip(hour, col))
    values = [[pct.get((h, c)) for c in cols] for h in range(24)]
    return {"rows": [f"{h:02d}" for h in range(24)], "cols": labels, "values": values,
            "buckets": f"local hour of day ({tz}) x {'day' if by == 'day' else 'month'}"}


def report_document(*, subject: dict, span: str, statement: dict, months: dict[str, dict],
                    sites: dict[str, dict], heat: dict, data_versions: dict) -> dict:
    return {"report": "esg", **subject, "span": span, "data_versions": data_versions,
            "statement": statement, "months": months, "sites": sites, "heatmap": heat}


def _rows(st: dict) -> list[tuple[str, str, str | None, str]]:
    out = []
    for res, v in sorted(st["energy_mwh"]["generation"].items()):
        out.append(("energy", f"generation {res}", v, "MWh"))
    for k, v in st["energy_mwh"].items():
        if k != "generation":
            out.append(("energy", k.replace("_", " "), v, "MWh"))
    for k, v in st["scope1_t"].items():
        out.append(("scope 1", k.upper() if k != "co2e" else "CO2e", v, "t"))
    out.append(("scope 2", "location-based CO2e", st["scope2_t"]["location_based_co2e"], "t"))
    out.append(("scope 2", "market-based CO2e", st["scope2_t"]["market_based_co2e"], "t"))
    out.append(("total", "scope 1 + 2 location-based", st["total_t"]["location_based_co2e"], "t"))
    out.append(("total", "scope 1 + 2 market-based", st["total_t"]["market_based_co2e"], "t"))
    for k, v in st["intensity_kg_co2e_per_mwh"].items():
        out.append(("intensity", k, v, "kg CO2e/MWh"))
    out.append(("cfe", "hourly (24/7, with the grid's carbon-free share)", st["cfe_pct"]["hourly"], "%"))
    out.append(("cfe", "hourly matched (own and certificates only)", st["cfe_pct"].get("hourly_matched"), "%"))
    out.append(("cfe", "volumetric (annual matching)", st["cfe_pct"]["volumetric"], "%"))
    for k, v in st["certificates_mwh"].items():
        out.append(("certificates", k.replace("_", " "), v, "MWh"))
    for k, v in st["coverage"].items():
        out.append(("coverage", k.replace("_", " "), str(v), "MWh" if k.endswith("_mwh") else ""))
    return out


def render_table(doc: dict) -> str:
    st = doc["statement"]
    title = f"ESG report {doc.get('site') or doc.get('contract')} {doc['span']}"
    lines = [title, "=" * len(title),
             f"factor set {st['method']['factor_set']}, GWP {st['method']['gwp']}; data versions "
             + ", ".join(f"{k} {v}" for k, v in sorted(doc["data_versions"].items()))]
    width = max(len(f"{s}: {n}") for s, n, _, _ in _rows(st))
    for s, n, v, u in _rows(st):
        lines.append(f"  {f'{s}: {n}':<{width}}  {'-' if v is None else v:>18} {u}")
    if doc["months"]:
        lines.append("")
        lines.append(f"  {'month':<8} {'scope 1 t':>14} {'scope 2 loc t':>14} {'scope 2 mkt t':>14} "
                     f"{'CFE %':>7} {'volumetric %':>12}")
        for p, m in doc["months"].items():
            lines.append(f"  {p:<8} {m['scope1_t']['co2e']:>14} {m['scope2_t']['location_based_co2e']:>14} "
                         f"{m['scope2_t']['market_based_co2e']:>14} {m['cfe_pct']['hourly'] or '-':>7} "
                         f"{m['cfe_pct']['volumetric'] or '-':>12}")
    return "\n".join(lines) + "\n"


def render_csv(doc: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scope", "period", "section", "name", "value", "unit"])
    for scope, st in [("all", doc["statement"]), *[(f"site {s}", v) for s, v in doc["sites"].items()]]:
        for s, n, v, u in _rows(st):
            w.writerow([scope, doc["span"], s, n, "" if v is None else v, u])
    for p, st in doc["months"].items():
        for s, n, v, u in _rows(st):
            w.writerow(["all", p, s, n, "" if v is None else v, u])
    return buf.getvalue()


def _e(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def statement_table_html(st: dict) -> str:
    rows = "\n".join(f"<tr><td>{_e(s)}</td><td>{_e(n)}</td><td class=\"num\">{_e('-' if v is None else v)} "
                     f"{_e(u)}</td></tr>" for s, n, v, u in _rows(st))
    return ("<table><thead><tr><th>Section</th><th>Figure</th><th class=\"num\">Value</th></tr></thead>"
            f"<tbody>\n{rows}\n</tbody></table>")


def annex_html(st: dict) -> str:
    """The invoice's ESG annex (``engine.invoice.render_html``): the key figures."""
    s1, s2, cfe = st["scope1_t"], st["scope2_t"], st["cfe_pct"]
    gen = ", ".join(f"{_e(k)} {_e(v)}" for k, v in st["energy_mwh"]["generation"].items()) or "none"
    cov = st["coverage"]
    note = ""
    if cov.get("hours_without_grid_factor"):
        note = (f"<p class=\"desc\">{_e(cov['hours_without_grid_factor'])} of {_e(cov['hours'])} hours had "
                "no grid factor: their grid carbon and carbon-free share are not counted.</p>")
    dlv = st["intensity_kg_co2e_per_mwh"]["delivered"] or "-"
    lod = st["intensity_kg_co2e_per_mwh"]["load"] or "-"
    em = st["energy_mwh"]
    rows = [
        ("Energy by resource (MWh)", f"generation: {gen}; storage discharge {_e(em['storage_discharge'])}; "
                                     f"grid import {_e(em['grid_import'])}; delivered {_e(em['delivered'])}; "
                                     f"load {_e(em['load'])}", ""),
        ("Scope 1 (t)", f"CO2e {_e(s1['co2e'])} (CO2 {_e(s1['co2'])}, CH4 {_e(s1['ch4'])}, "
                        f"N2O {_e(s1['n2o'])})", "num"),
        ("Scope 2 (t CO2e)", f"location-based {_e(s2['location_based_co2e'])}; "
                             f"market-based {_e(s2['market_based_co2e'])}", "num"),
        ("Intensity (kg CO2e/MWh)", f"delivered {_e(dlv)}; load {_e(lod)}", "num"),
        ("Carbon-free energy", f"hourly (24/7) {_e(cfe['hourly'] or '-')} %; hourly matched "
                               f"{_e(cfe.get('hourly_matched') or '-')} %; volumetric "
                               f"{_e(cfe['volumetric'] or '-')} %", "num"),
        ("Method", f"{_e(st['method']['factor_set'])}, GWP {_e(st['method']['gwp'])}; "
                   f"{_e(st['method']['scope2'])}", "desc"),
    ]
    body = "\n".join(f"<tr><th>{th}</th><td{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{td}</td></tr>"
                     for th, td, cls in rows)
    return ("<h2>ESG annex (carbon of the period; it does not change any amount)</h2>\n"
            f"<table><tbody>\n{body}\n</tbody></table>\n{note}")


def render_html(doc: dict) -> str:
    from ..invoice import _CSS
    st = doc["statement"]
    who = doc.get("site") and f"site {doc['site']}" or f"contract {doc.get('contract')}"
    title = f"ESG report, {who}, {doc['span']}"
    heat = doc["heatmap"]
    svg = heatmap(heat["rows"], heat["cols"], [[None if v is None else float(v) for v in row]
                                               for row in heat["values"]],
                  title=f"Hourly CFE %, {heat['buckets']}", value_label="CFE %", lo=0.0, hi=100.0,
                  width=900, height=520)
    months = ""
    if doc["months"]:
        rows = "\n".join(
            f"<tr><td>{_e(p)}</td><td class=\"num\">{_e(m['scope1_t']['co2e'])}</td>"
            f"<td class=\"num\">{_e(m['scope2_t']['location_based_co2e'])}</td>"
            f"<td class=\"num\">{_e(m['scope2_t']['market_based_co2e'])}</td>"
            f"<td class=\"num\">{_e(m['cfe_pct']['hourly'] or '-')}</td>"
            f"<td class=\"num\">{_e(m['cfe_pct']['volumetric'] or '-')}</td></tr>" for p, m in doc["months"].items())
        months = ("<h2>By month</h2><table><thead><tr><th>Month</th><th class=\"num\">Scope 1 t CO2e</th>"
                  "<th class=\"num\">Scope 2 location t</th><th class=\"num\">Scope 2 market t</th>"
                  "<th class=\"num\">CFE %</th><th class=\"num\">Volumetric %</th></tr></thead>"
                  f"<tbody>{rows}</tbody></table>")
    dv = ", ".join(f"{k} {v}" for k, v in sorted(doc["data_versions"].items()))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="desc">GHG Protocol Scope 1 and Scope 2 (location- and market-based); 24/7 carbon-free energy
beside volumetric matching. Factor set {_e(st['method']['factor_set'])} (SHA-256
<code>{_e(st['method']['factor_set_sha256'][:16])}</code>), GWP {_e(st['method']['gwp'])}. Data versions: {_e(dv)}.</p>
<h2>Statement</h2>
{statement_table_html(st)}
{months}
<h2>Hourly carbon-free energy</h2>
{svg}
</body></html>
"""


__all__ = ["heatmap_buckets", "report_document", "render_table", "render_csv", "render_html", "annex_html",
           "statement_table_html"]
