"""The invoice document: the spec's JSON shape, its canonical bytes, an HTML rendering
(printable, the same page the PDF is made from), and the journal-entry CSV of its lines.

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

The commercial invoice (``invoice_format: 2``). An invoice published with an ``issue``
(every invoice ``jobs.invoicing`` publishes since numbering) also carries::

    "invoice_format": 2,
    "invoice_number": "LSOP-000123",      # <issuer_id>-<sequence, 6 digits>
    "issue": {"issuer_id": "LSOP", "sequence": 123, "issue_date": "2026-11-02",
              "due_date": "2026-12-02", "payment_terms": "Net 30 days from the issue date"},
    "billing_period": {"start": "2026-10-01", "end": "2026-10-31", "timezone": "America/Chicago"},
    "party_details": {"seller": {"address": [...], "tax_id": "...", "contact": "..."}, ...},
    "remittance": {"bank_name": "...", "account_number": "...", ...},
    "rounding": "<the rule, as printed>"

The number is unique and sequential per issuer, assigned at publication
(``storage.invoice_numbers``: create-only claims); the issue date is the publication's
local date in the contract zone, the due date follows the contract's payment terms
(``invoicing.payment_terms_days`` from the issue date or the period end; without terms
``due_date`` and ``payment_terms`` are null). ``party_details`` and ``remittance`` are
there only when the contract gives them. An invoice published before numbering has
none of these keys and keeps its bytes: re-settling it as of its lineage
(``m2c invoices reproduce``) builds it without an ``issue`` and gets the old document;
one with an ``issue`` is rebuilt with the same issue (:func:`issue_of`).

Re-footing (format 2). Every line's shown quantity times its shown rate, rounded once
to the cent half away from zero, is its shown amount (:func:`refooting_rate`): the
contract rate when it foots (a constant-rate line always does: its amount is exactly
quantity x rate), else the line's average rate to as many decimal places as footing
needs (a capacity line priced x an availability factor, an index-priced line). A line
whose quantity nets to zero while its amount does not (opposite-sign intervals) has no
rate that foots and shows none (``rate: null``). Format 1 lines keep their published
rates (the contract rate, or the average to 6 places).

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
(exact Wh). Amounts > 0 are owed by the buyer to the seller. ``invoice_bytes`` gives
the stored bytes. The HTML shows amounts with the currency symbol and thousands
separators; the JSON keeps plain decimal strings.
"""
from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from .canonical import canonical_json
from .contract import ContractVersion
from .money import cents_to_str
from .settlement import Line, SettlementResult, fraction_to_cents
from .timebase import parse_period
from .units import PICO_PER_USD, wh_to_mwh_str

INVOICE_STATUSES = ("draft", "estimated", "approved", "superseded")
#: the statuses a published document is stored with (the others are views)
STORED_STATUSES = ("draft", "estimated")
#: the commercial invoice: number, issue and due dates, parties' details, re-footing rates
INVOICE_FORMAT = 2
CURRENCY_SYMBOLS = {"USD": "$"}

ROUNDING_RULE = ("Each line amount is the exact value of its intervals rounded once to the cent "
                 "(half away from zero); the total is the sum of the line amounts. Rates are shown "
                 "to as many decimal places as needed for quantity x rate, rounded to the cent, "
                 "to equal the amount shown.")
_LEGACY_RULE = ("Each line amount is the exact value of its intervals rounded once to the cent "
                "(half away from zero); the total is the sum of the line amounts.")


# --------------------------------------------------------------------------- issue
def issuer_id(contract: ContractVersion) -> str:
    """The numbering sequence of the contract's seller: ``invoicing.issuer_id``, else
    the seller's legal name as an upper-case slug (``Lone Star Power LLC`` ->
    ``LONE-STAR-POWER-LLC``)."""
    inv = contract.invoicing
    if inv is not None and inv.issuer_id:
        return inv.issuer_id
    slug = re.sub(r"[^A-Z0-9]+", "-", contract.parties.seller.upper()).strip("-")[:32].strip("-")
    return slug or "SELLER"


def invoice_number(issuer: str, sequence: int) -> str:
    """``<issuer>-<sequence>``, the sequence zero-padded to 6 digits (wider past 999,999)."""
    if sequence < 1:
        raise ValueError(f"invoice sequence numbers start at 1; got {sequence}")
    return f"{issuer}-{sequence:06d}"


def issue_date_at(now_utc: datetime, timezone: str) -> date:
    """The local date of an aware instant in the contract's zone (the issue date of an
    invoice published then)."""
    if now_utc.tzinfo is None:
        raise ValueError("issue_date_at needs an aware datetime")
    return now_utc.astimezone(ZoneInfo(timezone)).date()


def billing_period(period: str, timezone: str) -> dict[str, str]:
    """First and last local dates of the billing month, with its zone."""
    y, m = parse_period(period)
    first = date(y, m, 1)
    last = (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)
    return {"start": first.isoformat(), "end": last.isoformat(), "timezone": timezone}


def issue_block(contract: ContractVersion, period: str, *, issuer: str, sequence: int,
                issue_date: date | str) -> dict[str, Any]:
    """The ``issue`` block: number, issue date, due date and the payment terms stated."""
    issued = date.fromisoformat(issue_date) if isinstance(issue_date, str) else issue_date
    terms = contract.invoicing
    due, text = None, None
    if terms is not None and terms.payment_terms_days is not None:
        days = terms.payment_terms_days
        if terms.due_from == "period_end":
            base = date.fromisoformat(billing_period(period, contract.timezone)["end"])
            text = (f"Net {days} days from the end of the billing period" if days
                    else "Due at the end of the billing period")
        else:
            base = issued
            text = f"Net {days} days from the issue date" if days else "Due on receipt"
        due = max(base + timedelta(days=days), issued).isoformat()
    return {"issuer_id": issuer, "sequence": int(sequence), "issue_date": issued.isoformat(),
            "due_date": due, "payment_terms": text}


def issue_of(doc: dict) -> dict[str, Any] | None:
    """What publication gave a stored invoice (issuer, sequence, issue date), to rebuild
    it byte for byte; None for an invoice published before numbering."""
    issue = doc.get("issue")
    if not issue:
        return None
    return {"issuer": issue["issuer_id"], "sequence": issue["sequence"],
            "issue_date": issue["issue_date"]}


# --------------------------------------------------------------------------- re-footing
def _foots(quantity: Fraction, rate: Fraction, amount_cents: int) -> bool:
    return fraction_to_cents(quantity * rate * PICO_PER_USD) == amount_cents


def _decimal_str(value: Fraction, places: int) -> str:
    """``value`` rounded half-even to ``places`` (>= 2), trailing zeros past 2 dropped."""
    scaled = round(value * 10**places)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**places)
    digits = f"{frac:0{places}d}".rstrip("0").ljust(2, "0")
    return f"{sign}{whole}.{digits}"


def refooting_rate(quantity: Decimal | str, amount_cents: int, amount_picousd: Fraction,
                   rate: str | None) -> str | None:
    """The rate an invoice line shows so that quantity x rate, rounded once to the cent
    (half away from zero), is the line's amount: ``rate`` (the contract rate) when it
    foots, else the shortest decimal (at least 2 places) near the line's exact average
    rate that foots; None when the shown quantity is zero and the amount is not."""
    q = Fraction(Decimal(quantity))
    if q == 0:
        return (rate or "0.00") if amount_cents == 0 else None
    if rate is not None and _foots(q, Fraction(Decimal(rate)), amount_cents):
        return rate
    exact = Fraction(amount_picousd) / PICO_PER_USD / q          # the line's average rate
    billed = Fraction(amount_cents, 100) / q                      # the rate of the rounded amount
    for places in range(2, 40):
        for candidate in (exact, billed):
            text = _decimal_str(candidate, places)
            if _foots(q, Fraction(Decimal(text)), amount_cents):
                return text
    raise AssertionError(f"no rate foots {quantity} to {cents_to_str(amount_cents)}")  # unreachable


# --------------------------------------------------------------------------- the document
def _line(ln: Line, refoot: bool) -> dict[str, Any]:
    rate = refooting_rate(ln.quantity, ln.amount_cents, ln.amount_picousd, ln.rate) if refoot else ln.rate
    return {
        "line_id": ln.line_id, "charge": ln.charge, "description": ln.description,
        "quantity": str(ln.quantity), "quantity_unit": ln.quantity_unit,
        "rate": rate, "rate_unit": ln.rate_unit, "amount_usd": cents_to_str(ln.amount_cents),
        "tou_bucket": ln.tou_bucket, "contract_versions": list(ln.contract_versions),
        **({"determinants": dict(ln.determinants)} if ln.determinants else {}),
    }


def build_invoice(result: SettlementResult, *, contract: ContractVersion, contract_sha256: str,
                  version: int, status: str, lineage: dict, adjusts: int | None = None,
                  completeness: dict | None = None, issue: dict | None = None) -> dict:
    """The invoice document of a settlement result (plain JSON types only).
    ``completeness`` (``engine.completeness.invoice_block``) is required with status
    ``estimated`` and refused without it. ``issue`` (``{"issuer", "sequence",
    "issue_date"}``, given at publication) makes it the commercial invoice of
    ``invoice_format`` 2 (module docstring); without it, the document of format 1."""
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
        "lines": [_line(ln, issue is not None) for ln in result.lines],
        "adjusts": adjusts,
        "lineage": lin,
        "vee": {k: int(result.vee.get(k, 0)) for k in ("intervals_expected", "actual", "estimated", "missing")},
    }
    if completeness is not None:
        doc["completeness"] = completeness
    if issue is not None:
        block = issue_block(contract, result.period, issuer=issue["issuer"],
                            sequence=issue["sequence"], issue_date=issue["issue_date"])
        doc.update({"invoice_format": INVOICE_FORMAT,
                    "invoice_number": invoice_number(block["issuer_id"], block["sequence"]),
                    "issue": block, "billing_period": billing_period(result.period, result.timezone),
                    "rounding": ROUNDING_RULE})
        details = {role: d.to_dict() for role, d in (("seller", contract.parties.seller_details),
                                                      ("buyer", contract.parties.buyer_details)) if d}
        if details:
            doc["party_details"] = details
        if contract.invoicing is not None and contract.invoicing.remittance:
            doc["remittance"] = dict(contract.invoicing.remittance)
    return doc


def invoice_bytes(doc: dict) -> bytes:
    """The stored bytes of ``invoice.json``: :func:`engine.canonical.canonical_json`, as a
    file (one trailing newline)."""
    return canonical_json(doc, newline=True)


# --------------------------------------------------------------------------- display
def group_digits(value: str | None) -> str:
    """A decimal string with thousands separators in its whole part:
    ``"-1688536.35"`` -> ``"-1,688,536.35"``; other text unchanged."""
    if value is None:
        return ""
    m = re.fullmatch(r"(-?)(\d+)(\.\d+)?", str(value))
    if m is None:
        return str(value)
    return f"{m[1]}{int(m[2]):,}{m[3] or ''}"


def format_money(amount: str | None, currency: str) -> str:
    """``"1688536.35"``, ``"USD"`` -> ``"$1,688,536.35"`` (``-$12.50`` below zero); a
    currency without a known symbol is written before the figure (``EUR 12.50``)."""
    if amount is None:
        return ""
    text = str(amount)
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    symbol = CURRENCY_SYMBOLS.get(currency)
    grouped = group_digits(digits)
    return f"{sign}{symbol}{grouped}" if symbol else f"{sign}{currency} {grouped}"


def _long_date(iso: str | None) -> str:
    if not iso:
        return ""
    d = date.fromisoformat(iso)
    return f"{d.day} {d.strftime('%B')} {d.year}"


_CSS = """
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:2rem auto;
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

#: the commercial layout and print rules (the PDF is this page, rendered by WeasyPrint)
_INVOICE_CSS = """
.head{display:flex;justify-content:space-between;gap:2rem;align-items:flex-start;margin-bottom:1rem}
.head .doc{text-align:right}.head .doc h1{font-size:1.75rem;letter-spacing:.08em}
.party strong{display:block;font-size:1rem}.party div{font-size:.85rem;color:#333}
.parties{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem;margin:1rem 0}
.label{display:block;font-size:.7rem;text-transform:uppercase;color:#666;letter-spacing:.05em}
.docmeta td{border:none;padding:.1rem 0 .1rem 1rem}.docmeta{width:auto;margin-left:auto}
.total td{font-size:1.05rem}.rule,.footnote{font-size:.75rem;color:#555}
.approval{border:1px solid #0a7d32;background:#effaf2;padding:.5rem .75rem;border-radius:.25rem;margin:1rem 0}
@page{size:Letter;margin:16mm 14mm 18mm 14mm;
@bottom-left{content:string(docref);font-size:7pt;color:#666}
@bottom-right{content:"Page " counter(page) " of " counter(pages);font-size:7pt;color:#666}}
.docref{string-set:docref content()}
@media print{body{margin:0;max-width:none;padding:0;font-size:9pt}h2{break-after:avoid}
tr{break-inside:avoid}thead{display:table-header-group}.noprint{display:none}}
"""


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _party_html(label: str, name: str | None, details: dict | None) -> str:
    d = details or {}
    lines = "".join(f"<div>{_e(a)}</div>" for a in d.get("address", []))
    if d.get("tax_id"):
        lines += f"<div>Tax ID: {_e(d['tax_id'])}</div>"
    if d.get("contact"):
        lines += f"<div>{_e(d['contact'])}</div>"
    return f'<div class="party"><span class="label">{_e(label)}</span><strong>{_e(name)}</strong>{lines}</div>'


_REMITTANCE_FIELDS = (("bank_name", "Bank"), ("account_name", "Account name"),
                      ("account_number", "Account number"), ("routing_number", "Routing number (ABA)"),
                      ("swift_bic", "SWIFT/BIC"), ("iban", "IBAN"), ("reference", "Payment reference"))


def _remittance_html(rem: dict | None, number: str | None) -> str:
    if not rem:
        return ""
    rows = "".join(f"<tr><th>{_e(label)}</th><td>{_e(rem[key])}</td></tr>"
                   for key, label in _REMITTANCE_FIELDS if rem.get(key))
    if number and not rem.get("reference"):
        rows += f"<tr><th>Payment reference</th><td>{_e(number)}</td></tr>"
    return f"<h2>Remittance</h2><table><tbody>{rows}</tbody></table>"


def _approval_html(approval: dict | None) -> str:
    if not approval:
        return ""
    who = approval.get("approved_by")
    if isinstance(who, dict):
        if who.get("key_id"):
            label = f" ({who['label']})" if who.get("label") else ""
            name = f"API key {who['key_id']}{label}, role {who.get('role')}"
        else:
            name = f"{who.get('user') or 'a local user'}"
        by = f"{name}, via {who.get('source')}"
    else:
        by = str(who)
    accepted = "; the estimates were accepted explicitly" if approval.get("accepted_estimated") else ""
    return (f'<div class="approval" data-status="approved"><strong>Approved</strong> by {_e(by)} at '
            f'{_e(approval.get("approved_at_utc"))} (UTC){_e(accepted)}.</div>')


def render_html(doc: dict, *, document_sha256: str | None = None) -> str:
    """A self-contained, printable HTML invoice (all text escaped, no external assets).
    ``document_sha256`` (of the stored ``invoice.json``) is printed with the lineage."""
    cur = doc["currency"]
    lines_html = []
    for n, ln in enumerate(doc["lines"], 1):
        rate = ln.get("rate")
        rate_text = (f"{_e(group_digits(rate))} {_e(ln['rate_unit'])}" if rate is not None
                     else '<span class="desc">(net quantity zero)</span>')
        lines_html.append(
            f"<tr><td class=\"num\">{n}</td>"
            f"<td><code>{_e(ln['line_id'])}</code><div class=\"desc\">{_e(ln.get('description'))}</div>"
            f"{_determinants_html(ln.get('determinants'))}</td>"
            f"<td class=\"num\">{_e(group_digits(ln['quantity']))} {_e(ln['quantity_unit'])}</td>"
            f"<td class=\"num\">{rate_text}</td>"
            f"<td class=\"num\" data-amount=\"{_e(ln['amount_usd'])}\">{_e(format_money(ln['amount_usd'], cur))}</td></tr>")
    lin = doc.get("lineage", {})
    dv = lin.get("data_versions") or {}
    vee = doc.get("vee", {})
    parties = doc.get("parties", {})
    details = doc.get("party_details") or {}
    issue = doc.get("issue") or {}
    number = doc.get("invoice_number")
    period = doc.get("billing_period") or billing_period(doc["period"], doc["timezone"])
    ref = f"Invoice {number}" if number else f"Invoice {doc['contract_id']} {doc['period']} v{doc['version']}"
    title = f"{ref} ({doc['contract_id']} {doc['period']} v{doc['version']})" if number else ref
    docmeta = [("Invoice number", number), ("Issue date", _long_date(issue.get("issue_date"))),
               ("Due date", _long_date(issue.get("due_date")) or ("Not stated" if issue else None)),
               ("Status", doc["status"])]
    docmeta_html = "".join(f"<tr><td><span class=\"label\">{_e(k)}</span></td><td>{_e(v)}</td></tr>"
                           for k, v in docmeta if v)
    adjusts = (f"<div><span>Adjusts</span>invoice version {_e(doc['adjusts'])}</div>"
               if doc.get("adjusts") is not None else "")
    terms = (f"<div><span>Payment terms</span>{_e(issue.get('payment_terms') or 'Not stated in the contract')}</div>"
             if issue else "")
    adjustment = _adjustment_html(doc.get("adjustment"), cur)
    banner = _completeness_html(doc.get("completeness"), doc.get("approval"))
    rule = doc.get("rounding") or _LEGACY_RULE
    sha_row = (f"<tr><th>Invoice document SHA-256</th><td><code>{_e(document_sha256)}</code></td></tr>"
               if document_sha256 else "")
    footer_ref = f"{ref} · {doc['contract_id']} {doc['period']} v{doc['version']}" + (
        f" · SHA-256 {document_sha256[:16]}…" if document_sha256 else "")
    esg = _esg_html(doc.get("esg"), (doc.get("adjustment") or {}).get("esg_delta"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}{_INVOICE_CSS}</style></head>
<body>
<div class="docref" hidden>{_e(footer_ref)}</div>
<div class="head">
{_party_html("From", parties.get("seller"), details.get("seller"))}
<div class="doc"><h1>INVOICE</h1><table class="docmeta"><tbody>{docmeta_html}</tbody></table></div>
</div>
<h1>{_e(title)} <span class="status">{_e(doc['status'])}</span></h1>
{banner}{_approval_html(doc.get("approval"))}<div class="parties">
{_party_html("Bill to", parties.get("buyer"), details.get("buyer"))}
{_party_html("Seller", parties.get("seller"), details.get("seller"))}
</div>
<div class="meta">
<div><span>Contract</span>{_e(doc['contract_id'])} (version {_e(doc['contract_version'])})</div>
<div><span>Billing period</span>{_e(_long_date(period['start']))} to {_e(_long_date(period['end']))} ({_e(period['timezone'])})</div>
<div><span>Sites</span>{_e(', '.join(doc.get('sites', [])))}</div>
<div><span>Currency</span>{_e(cur)}</div>
{terms}{adjusts}
</div>
<h2>Charges ({_e(cur)}; positive amounts are owed by the buyer to the seller)</h2>
<table>
<thead><tr><th class="num">#</th><th>Line</th><th class="num">Quantity</th><th class="num">Rate</th><th class="num">Amount</th></tr></thead>
<tbody>
{chr(10).join(lines_html)}
</tbody>
<tfoot><tr class="total"><td colspan="4">Total{' due' if doc['total_usd'] and not doc['total_usd'].startswith('-') else ''} ({_e(cur)})</td><td class="num" data-amount="{_e(doc['total_usd'])}">{_e(format_money(doc['total_usd'], cur))}</td></tr></tfoot>
</table>
<p class="rule">{_e(rule)}</p>
{_remittance_html(doc.get("remittance"), number)}
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
{sha_row}
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
        f"<tr><td><code>{_e(d['line_id'])}</code></td><td class=\"num\">{_e(group_digits(d['quantity_delta']))} "
        f"{_e(d['quantity_unit'])}</td><td class=\"num\">{_e(format_money(d['billed_amount_usd'], currency))}</td>"
        f"<td class=\"num\">{_e(format_money(d['amount_usd'], currency))}</td>"
        f"<td class=\"num\">{_e(format_money(d['amount_delta_usd'], currency))}</td></tr>"
        for d in adj.get("delta_lines", []))
    causes = "".join(f"<tr><th>{_e(c)}</th><td class=\"num\">{_e(format_money(v, currency))}</td></tr>"
                     for c, v in adj.get("attribution_usd", {}).items())
    return f"""<h2>Adjustment of version {_e(adj.get('replaces_version'))} ({_e(currency)})</h2>
<p>{_e(adj.get('reason') or '')}</p>
<table><thead><tr><th>Line</th><th class="num">Quantity change</th><th class="num">Billed</th>
<th class="num">Re-settled</th><th class="num">Delta</th></tr></thead><tbody>
{rows}
</tbody><tfoot><tr><td colspan="4">Net adjustment</td><td class="num" data-amount="{_e(adj.get('delta_usd'))}">{_e(format_money(adj.get('delta_usd'), currency))}</td></tr></tfoot></table>
<h2>Why it changed</h2>
<table><tbody>{causes}</tbody></table>"""


# --------------------------------------------------------------------------- journal CSV
#: the columns of :func:`journal_csv`, in order (``docs/invoices.md`` describes each)
JOURNAL_COLUMNS = ("journal_date", "entry_id", "invoice_number", "document_type", "contract_id",
                   "period", "invoice_version", "line_no", "line_id", "account", "description",
                   "debit", "credit", "currency", "quantity", "quantity_unit", "rate", "rate_unit",
                   "counterparty", "counterparty_tax_id", "due_date", "document_sha256")
RECEIVABLE_ACCOUNT = "Accounts Receivable"


def _revenue_account(charge: str) -> str:
    return f"Revenue:{charge}"


def journal_csv(doc: dict, *, document_sha256: str | None = None) -> str:
    """The invoice as one balanced journal entry, seller's books, one CSV row per
    posting: each line credits its revenue account ``Revenue:<charge>`` (a negative
    line debits it), and the total debits ``Accounts Receivable`` (a negative total
    credits it), so debits equal credits to the cent. Amounts are positive decimal
    strings in the debit or the credit column. RFC 4180 CSV with a header row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(JOURNAL_COLUMNS)
    issue = doc.get("issue") or {}
    number = doc.get("invoice_number") or ""
    entry = number or f"{doc['contract_id']}/{doc['period']}/v{doc['version']}"
    kind = "adjustment" if doc.get("adjusts") is not None else "invoice"
    journal_date = issue.get("issue_date") or (doc.get("billing_period") or billing_period(
        doc["period"], doc["timezone"]))["end"]
    buyer = (doc.get("parties") or {}).get("buyer", "")
    buyer_tax = ((doc.get("party_details") or {}).get("buyer") or {}).get("tax_id", "")
    common = dict(journal_date=journal_date, entry_id=entry, invoice_number=number, document_type=kind,
                  contract_id=doc["contract_id"], period=doc["period"], invoice_version=doc["version"],
                  currency=doc["currency"], counterparty=buyer, counterparty_tax_id=buyer_tax,
                  due_date=issue.get("due_date") or "", document_sha256=document_sha256 or "")

    def row(**kw: Any) -> None:
        values = {**common, **kw}
        w.writerow(["" if values.get(c) is None else values.get(c, "") for c in JOURNAL_COLUMNS])

    total = Decimal(doc["total_usd"])
    row(line_no=0, line_id="", account=RECEIVABLE_ACCOUNT,
        description=f"{buyer}: {number or entry} total",
        debit=str(total) if total >= 0 else "", credit=str(-total) if total < 0 else "")
    for n, ln in enumerate(doc["lines"], 1):
        amount = Decimal(ln["amount_usd"])
        row(line_no=n, line_id=ln["line_id"], account=_revenue_account(ln["charge"]),
            description=ln.get("description") or ln["line_id"],
            debit=str(-amount) if amount < 0 else "", credit=str(amount) if amount >= 0 else "",
            quantity=ln["quantity"], quantity_unit=ln["quantity_unit"], rate=ln.get("rate"),
            rate_unit=ln["rate_unit"])
    return buf.getvalue()


__all__ = ["build_invoice", "invoice_bytes", "render_html", "with_superseded_notice", "journal_csv",
           "refooting_rate", "issue_block", "issue_of", "issuer_id", "invoice_number", "issue_date_at",
           "billing_period", "format_money", "group_digits", "INVOICE_STATUSES", "STORED_STATUSES",
           "INVOICE_FORMAT", "ROUNDING_RULE", "JOURNAL_COLUMNS"]
