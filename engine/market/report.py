"""Reports of the market engine for people and programs: shadow lines, the dispute report
of a reconciliation, and version deltas, as JSON-able rows, CSV text and a printable,
self-contained HTML page (no external asset; text escaped).

Money is shown as decimal USD strings (``-1500.00``; micro-USD amounts of statements
with six places only where they have them), energies as MWh with six places
(half-even from 1/12 Wh: display only, never used in an amount), prices USD/MWh.
"""
from __future__ import annotations

import csv
import html
import io
from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

import pyarrow as pa

from ..money import cents_to_str
from .units import wh12_to_wh_str


def usd_micro(v: int | None) -> str | None:
    if v is None:
        return None
    d = Decimal(int(v)) / Decimal(10**6)
    return str(d.quantize(Decimal("0.01"))) if int(v) % 10_000 == 0 else str(d.quantize(Decimal("0.000001")))


def price_str(v: int | None) -> str | None:
    return None if v is None else str((Decimal(int(v)) / Decimal(10**6)).quantize(Decimal("0.000001")))


def mwh(v: int | None) -> str | None:
    return None if v is None else wh12_to_wh_str(int(v))


def _ts(v: datetime) -> str:
    return v.isoformat().replace("+00:00", "Z")


def shadow_rows(lines: pa.Table) -> list[dict[str, Any]]:
    out = []
    for r in lines.to_pylist():
        out.append({"charge_type": r["charge_type"], "resource_id": r["resource_id"],
                    "settlement_point": r["settlement_point"],
                    "operating_date": r["operating_date"].isoformat(),
                    "interval_start_utc": _ts(r["interval_start_utc"]),
                    "interval_minutes": r["interval_minutes"],
                    "metered_mwh": mwh(r["metered_wh12"]), "da_mwh": mwh(r["da_wh12"]),
                    "instructed_mwh": mwh(r["instructed_wh12"]),
                    "quantity_mwh": mwh(r["quantity_wh12"]),
                    "price_usd_per_mwh": price_str(r["price_microusd_per_mwh"]),
                    "amount_usd": cents_to_str(r["amount_cents"]), "rule": r["rule"]})
    return out


def reconcile_rows(rec: pa.Table) -> list[dict[str, Any]]:
    out = []
    for r in rec.to_pylist():
        out.append({"charge_type": r["charge_type"], "resource_id": r["resource_id"],
                    "interval_start_utc": _ts(r["interval_start_utc"]),
                    "interval_minutes": r["interval_minutes"], "status": r["status"],
                    "statement_usd": usd_micro(r["statement_amount_microusd"]),
                    "shadow_usd": usd_micro(r["shadow_amount_microusd"]),
                    "difference_usd": usd_micro(r["difference_microusd"]),
                    "statement_quantity_mwh": mwh(r["statement_quantity_wh12"]),
                    "shadow_quantity_mwh": mwh(r["shadow_quantity_wh12"]),
                    "statement_price_usd_per_mwh": price_str(r["statement_price_microusd_per_mwh"]),
                    "shadow_price_usd_per_mwh": price_str(r["shadow_price_microusd_per_mwh"])})
    return out


def delta_rows(deltas: pa.Table) -> list[dict[str, Any]]:
    out = []
    for r in deltas.to_pylist():
        out.append({"charge_type": r["charge_type"], "resource_id": r["resource_id"],
                    "interval_start_utc": _ts(r["interval_start_utc"]),
                    "previous_usd": usd_micro(r["previous_amount_microusd"]),
                    "current_usd": usd_micro(r["current_amount_microusd"]),
                    "delta_usd": usd_micro(r["delta_microusd"]),
                    "price_effect_usd": usd_micro(r["price_effect_microusd"]),
                    "quantity_effect_usd": usd_micro(r["quantity_effect_microusd"]),
                    "unexplained_usd": usd_micro(r["unexplained_microusd"])})
    return out


def summary_rows(summary: dict) -> list[dict[str, Any]]:
    rows = [{"charge_type": ct, "lines": v["lines"], "mismatches": v["mismatches"],
             "statement_usd": usd_micro(v["statement_microusd"]),
             "shadow_usd": usd_micro(v["shadow_microusd"]),
             "difference_usd": usd_micro(v["difference_microusd"])}
            for ct, v in summary["by_charge_type"].items()]
    t = summary["total"]
    rows.append({"charge_type": "total", "lines": t["lines"], "mismatches": t["mismatches"],
                 "statement_usd": usd_micro(t["statement_microusd"]),
                 "shadow_usd": usd_micro(t["shadow_microusd"]),
                 "difference_usd": usd_micro(t["difference_microusd"])})
    return rows


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of the rows, in the order they first appear."""
    return list(dict.fromkeys(k for r in rows for k in r))


def _cell(v: Any) -> str:
    if isinstance(v, (int, float)) or (isinstance(v, str) and v[:1] in "-0123456789"):
        return f'<td class="n">{html.escape(str(v))}</td>'
    return f"<td>{html.escape('' if v is None else str(v))}</td>"


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


_CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin:1em 0}th,td{border:1px solid #bbb;padding:2px 6px;font-size:12px}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}tr.bad td{background:#fde8e8}"
        "h1{font-size:20px}h2{font-size:16px}")


def html_table(rows: Sequence[dict[str, Any]], bad: str | None = None) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = _columns(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ' class="bad"' if bad and r.get("status") not in (None, "match", "agrees") else ""
        cells = "".join(_cell(r.get(c)) for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def page(title: str, sections: Sequence[tuple[str, str]], facts: dict[str, Any]) -> str:
    fl = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                 for k, v in facts.items())
    secs = "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table>{fl}</table>{secs}</body></html>")


def _facts(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if isinstance(v, (str, int)) or v is None}


# -- whole documents (the CLI and the API render the same document the same way) ------
def shadow_csv(doc: dict[str, Any]) -> str:
    """A shadow document (``api.views.market_shadow``) as CSV: its lines if it holds
    them, else its daily totals."""
    return to_csv(doc["lines"] if isinstance(doc["lines"], list) else doc["daily"])


def shadow_html(doc: dict[str, Any]) -> str:
    lines = isinstance(doc["lines"], list)
    totals = [{"charge_type": k, "amount_usd": v} for k, v in doc["totals_usd"].items()]
    return page(f"Shadow settlement {doc['iso']} {doc['resource_id']}",
                [("Totals by charge type", html_table(totals)),
                 ("Lines" if lines else "Daily totals",
                  html_table(doc["lines"] if lines else doc["daily"]))], _facts(doc))


def reconcile_csv(doc: dict[str, Any]) -> str:
    """A reconciliation document (``api.views.market_reconcile``) as CSV: its lines."""
    return to_csv(doc["lines"])


def reconcile_html(doc: dict[str, Any]) -> str:
    return page(f"Statement {doc['statement_id']} version {doc['version']}: dispute report",
                [("Totals by charge type", html_table(doc["totals"])),
                 ("Mismatches" if not doc.get("all_lines") else "Lines",
                  html_table(doc["lines"], bad="status")),
                 (f"Changes against {doc['previous_version']}", html_table(doc["version_deltas"]))],
                _facts(doc))


def chain_csv(doc: dict[str, Any]) -> str:
    """A bid-to-bill document (``engine.market.bidtobill.chain_document`` with its
    intervals) as CSV: one row per resource and ISO settlement interval."""
    return to_csv(doc.get("intervals") or [])


def chain_stage_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per resource: the figures of the awards, metered and ISO stages."""
    rows = []
    for r in doc["resources"]:
        st = r["settlement"]
        rows.append({"resource_id": r["resource_id"], "settlement_point": r["settlement_point"],
                     "da_position_mwh": r["awards"]["da_position_mwh"],
                     "metered_mwh": r["metered"]["settled_mwh"],
                     "physical_at_rt_usd": st["decomposition_usd"]["physical_at_rt"],
                     "position_spread_usd": st["decomposition_usd"]["position_spread"],
                     "shadow_energy_usd": st["shadow"]["energy_usd"],
                     "shadow_exact_intervals": f"{st['shadow']['identity']['exact']}/"
                                               f"{st['shadow']['identity']['intervals']}",
                     "statement_energy_usd": st["statement"]["energy_usd"] if st["statement"] else None,
                     "statement_intervals_differing": (st["statement"]["identity"]["differ"]
                                                       if st["statement"] else None),
                     "market_revenue_usd": r["market_revenue_usd"]})
    return rows


def chain_invoice_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per pass-through line: the invoice against the ISO."""
    rows = []
    for p in doc["invoice"]:
        iso = p.get("iso") or {}
        rows.append({"contract_id": p["contract_id"], "line_id": p["line_id"], "kind": p["kind"],
                     "source": p["source"], "contract_price": p["contract_price"],
                     "iso_price": iso.get("price"), "billed_mwh": p["billed_mwh"],
                     "site_amount_usd": p["site_amount_usd"], "line_usd": p["line_usd"],
                     "share_of_iso_revenue_usd": iso.get("share_of_iso_revenue_usd"),
                     "energy_difference_usd": iso.get("energy_difference_usd"),
                     "price_difference_usd": iso.get("price_difference_usd",
                                                     iso.get("basis_usd")),
                     "rate_rounding_usd": p.get("rate_rounding_usd"),
                     "reconciles": iso.get("reconciles"),
                     "reasons": "; ".join(iso.get("reasons") or [])})
    return rows


def chain_html(doc: dict[str, Any]) -> str:
    diffs = [d for r in doc["resources"] if r["settlement"]["statement"]
             for d in r["settlement"]["statement"]["differences"]]
    sections = [("Awards, metered energy and ISO settlement", html_table(chain_stage_rows(doc))),
                ("PPA invoice lines passing market prices through", html_table(chain_invoice_rows(doc)))]
    if diffs:
        sections.append(("Statement intervals that differ from the identity", html_table(diffs, bad="status")))
    if doc.get("intervals"):
        sections.append(("ISO settlement intervals", html_table(doc["intervals"], bad="status")))
    return page(f"Bid to bill: {doc['site_id']} {doc['period']}", sections,
                {**_facts(doc), **{k: v for k, v in doc["summary"].items() if isinstance(v, str)}})


__all__ = ["shadow_rows", "reconcile_rows", "delta_rows", "summary_rows", "to_csv", "html_table",
           "page", "usd_micro", "price_str", "mwh", "shadow_csv", "shadow_html", "reconcile_csv",
           "reconcile_html", "chain_csv", "chain_html", "chain_stage_rows", "chain_invoice_rows"]
