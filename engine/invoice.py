"""The invoice document: the spec's JSON shape, its canonical bytes, and an HTML rendering.

Shape (``../shared/spec/interfaces.md``, extended with ``parties``, ``sites``,
``contract_versions`` and per-line ``description``/``tou_bucket``/``contract_versions``)::

    {"contract_id": "PPA-TX-DC1", "contract_version": 2, "contract_versions": [2],
     "period": "2026-10", "timezone": "America/Chicago", "version": 1, "status": "draft",
     "currency": "USD", "total_usd": "1234567.89",
     "parties": {"seller": "...", "buyer": "..."}, "sites": ["TX-DC1"],
     "delivered_mwh": "193439.994048",     # the contract's delivered energy (min_delivery lookback)
     "lines": [{"line_id": "energy_fixed:on_peak", "charge": "energy_fixed",
                "description": "...", "quantity": "12345.678000", "quantity_unit": "MWh",
                "rate": "64.0625", "rate_unit": "USD/MWh", "amount_usd": "790888.06",
                "tou_bucket": "on_peak", "contract_versions": [2]}],
     "adjusts": null,
     "lineage": {"run_id": "...", "data_versions": {"meter": 7, "prices": 3, "index": 2},
                 "contract_sha256": "...", "code_version": "..."},
     "vee": {"intervals_expected": 8928, "actual": 8900, "estimated": 28, "missing": 0}}

Statuses (``INVOICE_STATUSES``): ``draft`` (as computed, within its completeness
limits), ``estimated`` (published beyond them on an explicit override: the document
carries a ``completeness`` block, ``engine.completeness.invoice_block``, and the HTML a
banner with the counts; approving it needs a second explicit flag), ``approved`` and
``superseded`` (both views of a stored version, ``storage.invoices``: the stored bytes
say ``draft`` or ``estimated``).

Carbon (``engine.carbon``): an invoice whose settlement traced carbon (its lineage's
``data_versions`` pins ``grid_factors``) carries a top-level ``esg`` block, the ESG annex
of the contract-period (``engine.carbon.statement.annex``: MWh by resource, t CO2e by
scope, kg CO2e/MWh delivered, CFE %); a rebill's ``adjustment`` adds ``esg_delta``. The
annex never enters an amount. An invoice without the block (published before carbon
tracing, or with it off) renders exactly as before.

A line may carry ``determinants`` (name -> decimal string, the unit in the name:
``vppa``'s ``capture_price_usd_per_mwh`` and ``effective_price_usd_per_mwh``), the
figures behind it; they never enter an amount, and lines without them have no key.

Amounts are decimal strings with two places and the lines sum to the total exactly
(each line is its exact amount rounded once). Quantities in MWh carry 6 places
(exact Wh). Rates are decimal strings: the exact contract rate when a line has one
rate, else the quantity-weighted average to 6 places. Amounts > 0 are owed by the
buyer to the seller. ``invoice_bytes`` gives the stored bytes.
"""
from __future__ import annotations

import html
import re
from typing import Any

from .canonical import canonical_json
from .contract import ContractVersion
from .money import cents_to_str
from .settlement import SettlementResult
from .units import wh_to_mwh_str

INVOICE_STATUSES = ("draft", "estimated", "approved", "superseded")
#: the statuses a published document is stored with (the others are views)
STORED_STATUSES = ("draft", "estimated")


def build_invoice(result: SettlementResult, *, contract: ContractVersion, contract_sha256: str,
                  version: int, status: str, lineage: dict, adjusts: int | None = None,
                  completeness: dict | None = None) -> dict:
    """The invoice document of a settlement result (plain JSON types only).
    ``completeness`` (``engine.completeness.invoice_block``) is required with status
    ``estimated`` and refused without it."""
    if status not in INVOICE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(INVOICE_STATUSES)}; got {status!r}")
    if (status == "estimated") != (completeness is not None):
        raise ValueError("an estimated invoice, and only one, carries its completeness shortfalls")
    if version < 1:
        raise ValueError(f"invoice version must be >= 1; got {version}")
    if contract.contract_id != result.contract_id:
        raise ValueError(f"result is for {result.contract_id}, contract is {contract.contract_id}")
    total = sum(ln.amount_cents for ln in result.lines)
    assert total == result.total_cents, "lines must sum to the total"
    lines = [{
        "line_id": ln.line_id, "charge": ln.charge, "description": ln.description,
        "quantity": str(ln.quantity), "quantity_unit": ln.quantity_unit,
        "rate": ln.rate, "rate_unit": ln.rate_unit, "amount_usd": cents_to_str(ln.amount_cents),
        "tou_bucket": ln.tou_bucket, "contract_versions": list(ln.contract_versions),
        **({"determinants": dict(ln.determinants)} if ln.determinants else {}),
    } for ln in result.lines]
    lin = {"run_id": None, "data_versions": {}, "code_version": None, **dict(lineage),
           "contract_sha256": contract_sha256}
    doc = {
        "contract_id": result.contract_id,
        "contract_version": result.contract_version,
        "contract_versions": list(result.contract_versions),
        "period": result.period,
        "timezone": result.timezone,
        "version": int(version),
        "status": status,
        "currency": contract.currency,
        "total_usd": cents_to_str(result.total_cents),
        "parties": {"seller": contract.parties.seller, "buyer": contract.parties.buyer},
        "sites": list(result.site_ids),
        "delivered_mwh": wh_to_mwh_str(result.delivered_wh),
        "lines": lines,
        "adjusts": adjusts,
        "lineage": lin,
        "vee": {k: int(result.vee.get(k, 0)) for k in ("intervals_expected", "actual", "estimated", "missing")},
    }
    if completeness is not None:
        doc["completeness"] = completeness
    return doc


def invoice_bytes(doc: dict) -> bytes:
    """The stored bytes of ``invoice.json``: :func:`engine.canonical.canonical_json`, as a
    file (one trailing newline)."""
    return canonical_json(doc, newline=True)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:2rem auto;
max-width:64rem;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1rem;margin:1.5rem 0 .5rem;color:#444}
.meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.5rem 1.5rem;margin:1rem 0}
.meta div span{display:block;font-size:.75rem;text-transform:uppercase;color:#666;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:.4rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f4f5f7;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tfoot td{font-weight:700;border-top:2px solid #1b1f24;border-bottom:none}
.desc{color:#555;font-size:.8rem}.status{display:inline-block;padding:.1rem .5rem;border-radius:.25rem;
background:#eef;font-size:.8rem;text-transform:uppercase}code{font-size:.8rem;word-break:break-all}
.banner{border:2px solid #b42318;background:#fef3f2;color:#7a271a;padding:.75rem 1rem;margin:1rem 0;
border-radius:.25rem}.banner strong{display:block;font-size:1.05rem;margin-bottom:.25rem}
.banner table{margin-top:.5rem;background:#fff}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def render_html(doc: dict) -> str:
    """A self-contained, printable HTML invoice (all text escaped, no external assets)."""
    lines_html = []
    for ln in doc["lines"]:
        lines_html.append(
            "<tr>"
            f"<td><code>{_e(ln['line_id'])}</code><div class=\"desc\">{_e(ln.get('description'))}</div>"
            f"{_determinants_html(ln.get('determinants'))}</td>"
            f"<td class=\"num\">{_e(ln['quantity'])} {_e(ln['quantity_unit'])}</td>"
            f"<td class=\"num\">{_e(ln['rate'])} {_e(ln['rate_unit'])}</td>"
            f"<td class=\"num\">{_e(ln['amount_usd'])}</td></tr>")
    lin = doc.get("lineage", {})
    dv = lin.get("data_versions") or {}
    vee = doc.get("vee", {})
    parties = doc.get("parties", {})
    adjusts = (f"<div><span>Adjusts</span>invoice version {_e(doc['adjusts'])}</div>"
               if doc.get("adjusts") is not None else "")
    title = f"Invoice {doc['contract_id']} {doc['period']} v{doc['version']}"
    adjustment = _adjustment_html(doc.get("adjustment"), doc["currency"])
    banner = _completeness_html(doc.get("completeness"), doc.get("approval"))
    esg = _esg_html(doc.get("esg"), (doc.get("adjustment") or {}).get("esg_delta"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)} <span class="status">{_e(doc['status'])}</span></h1>
{banner}<div class="meta">
<div><span>Seller</span>{_e(parties.get('seller'))}</div>
<div><span>Buyer</span>{_e(parties.get('buyer'))}</div>
<div><span>Contract</span>{_e(doc['contract_id'])} (version {_e(doc['contract_version'])})</div>
<div><span>Billing period</span>{_e(doc['period'])} ({_e(doc['timezone'])})</div>
<div><span>Sites</span>{_e(', '.join(doc.get('sites', [])))}</div>
{adjusts}
</div>
<h2>Charges ({_e(doc['currency'])}; positive amounts are owed by the buyer to the seller)</h2>
<table>
<thead><tr><th>Line</th><th class="num">Quantity</th><th class="num">Rate</th><th class="num">Amount ({_e(doc['currency'])})</th></tr></thead>
<tbody>
{chr(10).join(lines_html)}
</tbody>
<tfoot><tr><td colspan="3">Total</td><td class="num">{_e(doc['total_usd'])}</td></tr></tfoot>
</table>
{adjustment}{esg}
<h2>Meter data quality (VEE)</h2>
<table><thead><tr><th class="num">Intervals expected</th><th class="num">Actual</th><th class="num">Estimated</th><th class="num">Missing</th></tr></thead>
<tbody><tr><td class="num">{_e(vee.get('intervals_expected'))}</td><td class="num">{_e(vee.get('actual'))}</td>
<td class="num">{_e(vee.get('estimated'))}</td><td class="num">{_e(vee.get('missing'))}</td></tr></tbody></table>
<h2>Lineage</h2>
<table><tbody>
<tr><th>Run</th><td><code>{_e(lin.get('run_id'))}</code></td></tr>
<tr><th>Data versions</th><td>{_e(', '.join(f'{k} {v}' for k, v in sorted(dv.items())))}</td></tr>
<tr><th>Contract SHA-256</th><td><code>{_e(lin.get('contract_sha256'))}</code></td></tr>
<tr><th>Code version</th><td><code>{_e(lin.get('code_version'))}</code></td></tr>
</tbody></table>
</body></html>
"""


_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)


def with_superseded_notice(html_page: str, superseded_by: int) -> str:
    """A published page as published, with a notice that version ``superseded_by``
    replaced it, right after the opening ``<body>`` tag (unchanged without one)."""
    m = _BODY.search(html_page)
    if m is None:
        return html_page
    notice = (f'<div class="banner" role="note" data-status="superseded"><strong>SUPERSEDED by '
              f'version {int(superseded_by)}</strong>This version was replaced; it is shown as '
              f'published.</div>')
    return html_page[:m.end()] + "\n" + notice + html_page[m.end():]


def _completeness_html(block: dict | None, approval: dict | None) -> str:
    """The banner of an invoice published beyond its completeness limits: which
    sites and channels, their interval counts, and the limits they exceed."""
    if not block:
        return ""
    rows = "\n".join(
        f"<tr><td>{_e(s['site_id'])}</td><td>{_e(s.get('channel') or 'all channels read')}</td>"
        f"<td class=\"num\">{_e(s['intervals_expected'])}</td><td class=\"num\">{_e(s['actual'])}</td>"
        f"<td class=\"num\">{_e(s['estimated'])} ({_e(s['estimated_pct'])} %; max {_e(s['max_estimated_pct'])} %)</td>"
        f"<td class=\"num\">{_e(s['missing'])} ({_e(s['missing_pct'])} %; max {_e(s['max_missing_pct'])} %)</td></tr>"
        for s in block.get("shortfalls", []))
    if approval:
        accepted = (f"Approved by {_e(approval.get('approved_by'))} at "
                    f"{_e(approval.get('approved_at_utc'))}, accepting the estimates.")
    else:
        accepted = "It cannot be approved without explicitly accepting the estimates."
    return f"""<div class="banner" role="alert"><strong>ESTIMATED: this invoice rests on meter data beyond its completeness limits</strong>
It was published on an explicit override ({_e(block.get('override'))}): estimated intervals are
billed at their estimates, missing intervals as zero. {accepted}
<table><thead><tr><th>Site</th><th>Channel</th><th class="num">Intervals</th><th class="num">Actual</th>
<th class="num">Estimated</th><th class="num">Missing</th></tr></thead><tbody>
{rows}
</tbody></table></div>
"""


def _esg_html(block: dict | None, delta: dict | None) -> str:
    """The ESG annex (``engine.carbon``): only for invoices that carry one, so an invoice
    published before carbon tracing renders exactly as it did."""
    if not block:
        return ""
    from .carbon.report import annex_html
    out = annex_html(block)
    if delta:
        rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=\"num\">{_e(v)}</td></tr>"
                       for k, v in delta.items())
        out += f"<h2>ESG change against the replaced version</h2><table><tbody>{rows}</tbody></table>"
    return out


_UNIT_SUFFIXES = (("_usd_per_mwh", "USD/MWh"), ("_mwh", "MWh"), ("_usd", "USD"))


def _determinants_html(dets: dict | None) -> str:
    """A line's determinants (``vppa``: capture and effective price), one per line:
    ``capture_price_usd_per_mwh: "9.17"`` reads "capture price: 9.17 USD/MWh"."""
    if not dets:
        return ""
    out = []
    for name, value in dets.items():
        unit = next(((name.removesuffix(sfx), u) for sfx, u in _UNIT_SUFFIXES if name.endswith(sfx)), (name, ""))
        out.append(f"<div class=\"desc\">{_e(unit[0].replace('_', ' '))}: {_e(value)} {_e(unit[1])}</div>")
    return "".join(out)


def _adjustment_html(adj: dict | None, currency: str) -> str:
    """A rebill's adjustment: per-charge deltas against the replaced version and the
    attribution of the delta to its causes (meter data, prices/indices, contract)."""
    if not adj:
        return ""
    rows = "\n".join(
        f"<tr><td><code>{_e(d['line_id'])}</code></td><td class=\"num\">{_e(d['quantity_delta'])} "
        f"{_e(d['quantity_unit'])}</td><td class=\"num\">{_e(d['billed_amount_usd'])}</td>"
        f"<td class=\"num\">{_e(d['amount_usd'])}</td><td class=\"num\">{_e(d['amount_delta_usd'])}</td></tr>"
        for d in adj.get("delta_lines", []))
    causes = "".join(f"<tr><th>{_e(c)}</th><td class=\"num\">{_e(v)}</td></tr>"
                     for c, v in adj.get("attribution_usd", {}).items())
    return f"""<h2>Adjustment of version {_e(adj.get('replaces_version'))} ({_e(currency)})</h2>
<p>{_e(adj.get('reason') or '')}</p>
<table><thead><tr><th>Line</th><th class="num">Quantity change</th><th class="num">Billed</th>
<th class="num">Re-settled</th><th class="num">Delta</th></tr></thead><tbody>
{rows}
</tbody><tfoot><tr><td colspan="4">Net adjustment</td><td class="num">{_e(adj.get('delta_usd'))}</td></tr></tfoot></table>
<h2>Why it changed</h2>
<table><tbody>{causes}</tbody></table>"""


__all__ = ["build_invoice", "invoice_bytes", "render_html", "with_superseded_notice",
           "INVOICE_STATUSES", "STORED_STATUSES"]
