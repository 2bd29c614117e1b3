"""Invoice JSON (spec shape), canonical bytes and HTML rendering."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from engine.contract import contract_sha256, parse_contract
from engine.invoice import build_invoice, invoice_bytes, render_html
from engine.settlement import MarketData, settle_period
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

DOC = minimal_doc([{"id": "energy_fixed", "kind": "energy_fixed", "price_usd_per_mwh": "64.0625",
                    "tou": {"factors": {"on_peak": "1", "off_peak": "1"}}}],
                  parties={"seller": "Lone Star <Onsite> & Co", "buyer": "Prairie \"Compute\""})
CV = parse_contract(DOC)
SERIES = series_for("TX-DC1", "2026-10", 60, {"pv1": 1_234_567})
RESULT = settle_period([CV], "2026-10", {"TX-DC1": (SITES["TX-DC1"], SERIES)}, MarketData())
LINEAGE = {"run_id": "run-42", "data_versions": {"meter": 7, "prices": 3, "index": 2}, "code_version": "abc123"}


def invoice(**kw):
    args = dict(contract=CV, contract_sha256=contract_sha256(DOC), version=1, status="draft", lineage=LINEAGE)
    args.update(kw)
    return build_invoice(RESULT, **args)


def test_spec_shape_and_decimal_strings():
    doc = invoice()
    for key in ("contract_id", "contract_version", "period", "timezone", "version", "status", "currency",
                "total_usd", "lines", "adjusts", "lineage", "vee"):
        assert key in doc
    assert (doc["contract_id"], doc["contract_version"], doc["period"], doc["timezone"], doc["version"],
            doc["status"], doc["currency"], doc["adjusts"]) == ("T-1", 1, "2026-10", "America/Chicago", 1,
                                                                "draft", "USD", None)
    # October 2026 in Chicago: 744 h; on-peak = 27 Mon-Sat days x 16 = 432 h (Sundays 4, 11, 18, 25)
    # on: 432 x 1.234567 MWh = 533.332944 MWh x $64.0625 = 34,166.641725; off: 312 h = 385.184904 MWh
    on, off = doc["lines"]
    assert on == {"line_id": "energy_fixed:on_peak", "charge": "energy_fixed",
                  "description": on["description"], "quantity": "533.332944", "quantity_unit": "MWh",
                  "rate": "64.0625", "rate_unit": "USD/MWh", "amount_usd": "34166.64",
                  "tou_bucket": "on_peak", "contract_versions": [1]}
    # 533.332944 x 64.0625 = 34166.641725    -> 34166.64
    # 385.184904 x 64.0625 = 24675.9079125   -> 24675.91;  total 58842.55
    assert off["quantity"] == "385.184904" and off["amount_usd"] == "24675.91"
    assert doc["total_usd"] == "58842.55"
    assert doc["lineage"] == {**LINEAGE, "contract_sha256": contract_sha256(DOC)}
    assert doc["vee"] == {"intervals_expected": 744, "actual": 744, "estimated": 0, "missing": 0}
    assert doc["delivered_mwh"] == "918.517848"          # 744 h x 1.234567 MWh
    assert doc["parties"] == {"seller": "Lone Star <Onsite> & Co", "buyer": "Prairie \"Compute\""}


def test_canonical_bytes_are_sorted_compact_utf8_with_newline_and_round_trip():
    doc = invoice(adjusts=1, version=2)
    b = invoice_bytes(doc)
    assert b.endswith(b"}\n") and b"\n" not in b[:-1]
    assert b.startswith(b'{"adjusts":1,"contract_id":"T-1","contract_version":1,"contract_versions":[1],')
    assert b'"vee":{"actual":744,"estimated":0,"intervals_expected":744,"missing":0},"version":2}\n' in b
    assert json.loads(b) == doc
    assert invoice_bytes(json.loads(b)) == b
    keys = list(json.loads(b).keys())
    assert keys == sorted(keys)


def test_bad_status_or_version_is_refused():
    with pytest.raises(ValueError, match="status"):
        invoice(status="paid")
    with pytest.raises(ValueError, match="version"):
        invoice(version=0)


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_escapes_all_text():
    html = render_html(invoice())
    assert html.startswith("<!DOCTYPE html>")
    assert "<Onsite>" not in html and "Lone Star &lt;Onsite&gt; &amp; Co" in html
    assert "Prairie &quot;Compute&quot;" in html
    p = _Collect()
    p.feed(html)
    text = "".join(p.text)
    for s in ("$58,842.55", "$34,166.64", "$24,675.91", "533.332944 MWh", "64.0625 USD/MWh", "run-42", "744",
              "Lone Star <Onsite> & Co"):
        assert s in text
    assert "script" not in p.tags and "link" not in p.tags and "img" not in p.tags
