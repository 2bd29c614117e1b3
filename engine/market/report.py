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


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
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
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ' class="bad"' if bad and r.get("status") not in (None, "match") else ""
        cells = "".join(
            f'<td class="n">{html.escape(str(r[c]))}</td>' if isinstance(r[c], (int, float)) or
            (isinstance(r[c], str) and r[c][:1] in "-0123456789")
            else f"<td>{html.escape('' if r[c] is None else str(r[c]))}</td>" for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def page(title: str, sections: Sequence[tuple[str, str]], facts: dict[str, Any]) -> str:
    fl = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                 for k, v in facts.items())
    secs = "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table>{fl}</table>{secs}</body></html>")


__all__ = ["shadow_rows", "reconcile_rows", "delta_rows", "summary_rows", "to_csv", "html_table",
           "page", "usd_micro", "price_str", "mwh"]
