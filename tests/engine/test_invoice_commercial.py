"""The commercial invoice (format 2): number, dates, parties, remittance, re-footing lines,
the journal-entry CSV; and format 1 unchanged without an issue."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.contract import contract_sha256, parse_contract
from engine.invoice import (JOURNAL_COLUMNS, ROUNDING_RULE, build_invoice, format_money, invoice_bytes,
                            issue_date_at, issue_of, issuer_id, journal_csv, refooting_rate, render_html)
from engine.pricing import IndexSeries
from engine.settlement import MarketData, fraction_to_cents, required_market_data, settle_period
from engine.terms import TERM_KINDS
from engine.timebase import US_PER_HOUR
from tests.engine.settlement_fixtures import SITES, contract, contract_doc, flat_prices, minimal_doc, series_for

MWH = 1_000_000
LINEAGE = {"run_id": "run-1", "data_versions": {"meter": 1}, "code_version": "test"}
ISSUE = {"issuer": "LSOP", "sequence": 42, "issue_date": "2026-11-02"}


def foots(line: dict) -> bool:
    """quantity x rate, rounded once to the cent (half away from zero), is the amount."""
    q, r = Fraction(Decimal(line["quantity"])), Fraction(Decimal(line["rate"]))
    cents = fraction_to_cents(q * r * 10**12)
    return Decimal(cents) / 100 == Decimal(line["amount_usd"])


# -- re-footing --------------------------------------------------------------------------------
def test_the_issue_example_capacity_line_now_refoots():
    """200,000 kW-month x 8.442682 USD (the rate to 6 places) = 1,688,536.40, not the
    1,688,536.35 billed: the re-footing rate shows enough places."""
    amount = Fraction(168_853_635, 100) + Fraction(1, 10**5)          # exact, rounds to .35
    assert fraction_to_cents(amount * 10**12) == 168_853_635
    rate = refooting_rate(Decimal("200000"), 168_853_635, amount * 10**12, "8.442682")
    assert rate != "8.442682" and len(rate.split(".")[1]) > 6
    assert foots({"quantity": "200000", "rate": rate, "amount_usd": "1688536.35"})
    # a contract rate that foots is kept as stated
    assert refooting_rate(Decimal("533.332944"), 3_416_664, Fraction(533_332_944 * 64_062_500),
                          "64.0625") == "64.0625"
    # a quantity that nets to zero with a non-zero amount has no rate that foots
    assert refooting_rate(Decimal("0.000000"), 1234, Fraction(1234 * 10**10), "1.00") is None
    assert refooting_rate(Decimal("0.000000"), 0, Fraction(0), "45.00") == "45.00"


@given(q_milli=st.integers(1, 10**12), r_micro=st.integers(-10**9, 10**9), extra=st.integers(0, 10**6))
@settings(max_examples=300, deadline=None)
def test_refooting_rate_foots_for_any_line(q_milli, r_micro, extra):
    q = Decimal(q_milli).scaleb(-3)
    exact = Fraction(q_milli, 1000) * Fraction(r_micro, 10**6) * 10**12 + extra     # any exact amount
    cents = fraction_to_cents(exact)
    rate = refooting_rate(q, cents, exact, None)
    assert rate is not None and foots({"quantity": str(q), "rate": rate, "amount_usd": str(Decimal(cents) / 100)})


def _market(versions, period, seed: int) -> MarketData:
    rng = np.random.default_rng(seed)
    needs = required_market_data(versions, period, SITES)
    prices = {key: flat_prices(s, e, 60, lambda st_, r=rng: r.integers(-30_000_000, 150_000_000, st_.size))
              for key, (s, e) in sorted(needs.prices.items())}
    indices = {}
    for name, (d0, d1) in needs.indices.items():
        if name == "CPI_U":                        # monthly: one value on each month's first day
            firsts = sorted({date(y, m, 1) for y in range(d0.year - 1, d1.year + 1) for m in range(1, 13)
                             if date(y, m, 1) <= d1})
            days = np.array([(d - date(1970, 1, 1)).days for d in firsts])
            values = rng.integers(300_000_000, 340_000_000, days.size)
        else:
            days = np.arange((d0 - date(1970, 1, 1)).days, (d1 - date(1970, 1, 1)).days + 1)
            values = rng.integers(2_000_000, 9_000_000, days.size)
        indices[name] = IndexSeries(days, values.astype(np.int64))
    return MarketData(prices=prices, indices=indices)


EXAMPLES = {"ppa_tx_dc1": ["ppa_tx_dc1_v1.yaml", "ppa_tx_dc1_v2.yaml"], "solar": ["solar_vppa_cpi.yaml"],
            "tolling": ["tolling_gas_indexed.yaml"]}


@given(example=st.sampled_from(sorted(EXAMPLES)), period=st.sampled_from(["2026-10", "2027-07", "2027-12"]),
       seed=st.integers(0, 2**32 - 1), gt=st.integers(0, 250), pv=st.integers(0, 80), load=st.integers(1, 400))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_line_of_a_random_settlement_refoots(example, period, seed, gt, pv, load):
    """Random meter data and market prices through settle -> combine -> finalize: every
    line the commercial invoice shows re-foots, whatever its kind."""
    versions = [contract(name) for name in EXAMPLES[example]]
    rng = np.random.default_rng(seed)
    values = {"gt1": lambda g: rng.integers(0, gt * MWH // 12 + 1, g.size),
              "pv1": lambda g: rng.integers(0, pv * MWH // 12 + 1, g.size),
              "pv1_potential": lambda g: rng.integers(pv * MWH // 24, pv * MWH // 12 + 2, g.size),
              "dc": load * MWH // 12, "exp": lambda g: rng.integers(0, 2 * MWH // 12, g.size)}
    series = series_for("TX-DC1", period, 60, values)
    lookback = {f"{period[:4]}-{m:02d}": int(rng.integers(50_000, 120_000)) * MWH for m in range(1, 12)}
    try:
        result = settle_period(versions, period, {"TX-DC1": (SITES["TX-DC1"], series)},
                               _market(versions, period, seed), lookback=lookback)
    except Exception as exc:                      # a contract not in force in the period
        assert "not in force" in str(exc)
        return
    doc = build_invoice(result, contract=versions[-1] if result.contract_version == versions[-1].version
                        else versions[0], contract_sha256="0" * 64, version=1, status="draft",
                        lineage=LINEAGE, issue=ISSUE)
    for line in doc["lines"]:
        if line["rate"] is None:
            assert Decimal(line["quantity"]) == 0 and Decimal(line["amount_usd"]) != 0
        else:
            assert foots(line), line
    assert sum(Decimal(ln["amount_usd"]) for ln in doc["lines"]) == Decimal(doc["total_usd"])


def test_every_term_kind_is_covered_by_the_examples():
    kinds = {t.kind for names in EXAMPLES.values() for n in names for t in contract(n).terms}
    assert kinds == set(TERM_KINDS)


# -- issue, parties, remittance ----------------------------------------------------------------
DOC = minimal_doc([{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "47.123457"}],
                  parties={"seller": "Lone Star Onsite Power LLC", "buyer": "Prairie Compute Inc.",
                           "seller_details": {"address": ["1 Main St", "Houston, TX 77002"],
                                              "tax_id": "EIN 12-3456789"},
                           "buyer_details": {"address": ["9 Elm Ave", "Dallas, TX 75201"], "tax_id": "EIN 98-7654321",
                                             "contact": "ap@prairie.example"}},
                  invoicing={"issuer_id": "LSOP", "payment_terms_days": 30,
                             "remittance": {"bank_name": "First Texas Bank",
                                            "account_name": "Lone Star Onsite Power LLC",
                                            "account_number": "000123456789", "routing_number": "111000025"}})
CV = parse_contract(DOC)
RESULT = settle_period([CV], "2026-10", {"TX-DC1": (SITES["TX-DC1"],
                                                    series_for("TX-DC1", "2026-10", 60, {"pv1": 1_234_567}))},
                       MarketData())


def commercial(**kw):
    return build_invoice(RESULT, contract=CV, contract_sha256=contract_sha256(DOC), version=1, status="draft",
                         lineage=LINEAGE, issue=ISSUE, **kw)


def test_a_numbered_invoice_carries_number_dates_parties_and_remittance():
    doc = commercial()
    assert doc["invoice_format"] == 2 and doc["invoice_number"] == "LSOP-000042"
    assert doc["issue"] == {"issuer_id": "LSOP", "sequence": 42, "issue_date": "2026-11-02",
                            "due_date": "2026-12-02", "payment_terms": "Net 30 days from the issue date"}
    assert doc["billing_period"] == {"start": "2026-10-01", "end": "2026-10-31", "timezone": "America/Chicago"}
    assert doc["party_details"]["seller"]["tax_id"] == "EIN 12-3456789"
    assert doc["party_details"]["buyer"]["address"] == ["9 Elm Ave", "Dallas, TX 75201"]
    assert doc["remittance"]["routing_number"] == "111000025"
    assert doc["rounding"] == ROUNDING_RULE
    assert issue_of(doc) == ISSUE
    html = render_html(doc, document_sha256="ab" * 32)
    for text in ("LSOP-000042", "2 November 2026", "2 December 2026", "EIN 98-7654321", "First Texas Bank",
                 "1 October 2026 to 31 October 2026 (America/Chicago)", "ab" * 32, "Net 30 days",
                 format_money(doc["total_usd"], "USD"), "as many decimal places as needed"):
        assert text in html, text
    assert "," in format_money(doc["total_usd"], "USD") and format_money("-1234567.5", "USD") == "-$1,234,567.5"


def test_payment_terms_from_the_period_end_and_unstated_terms():
    end = parse_contract({**DOC, "invoicing": {"payment_terms_days": 15, "due_from": "period_end"}})
    doc = build_invoice(RESULT, contract=end, contract_sha256="0" * 64, version=1, status="draft",
                        lineage=LINEAGE, issue=ISSUE)
    assert doc["issue"]["due_date"] == "2026-11-15"          # 31 Oct + 15 days
    plain = parse_contract({k: v for k, v in DOC.items() if k != "invoicing"})
    doc = build_invoice(RESULT, contract=plain, contract_sha256="0" * 64, version=1, status="draft",
                        lineage=LINEAGE, issue={**ISSUE, "issuer": issuer_id(plain)})
    assert doc["invoice_number"] == "LONE-STAR-ONSITE-POWER-LLC-000042"
    assert doc["issue"]["due_date"] is None and "Not stated" in render_html(doc)
    assert "remittance" not in doc


def test_issue_date_is_the_local_date_of_publication():
    # 03:00 UTC on 1 November is still 31 October in Chicago
    assert issue_date_at(datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc), "America/Chicago") == date(2026, 10, 31)
    with pytest.raises(ValueError):
        issue_date_at(datetime(2026, 11, 1), "America/Chicago")


def test_without_an_issue_the_document_is_format_1_byte_for_byte():
    """An invoice published before numbering rebuilds to the same bytes: no new key,
    the rates as they were (6 places)."""
    legacy = build_invoice(RESULT, contract=CV, contract_sha256=contract_sha256(DOC), version=1, status="draft",
                           lineage=LINEAGE)
    for key in ("invoice_format", "invoice_number", "issue", "billing_period", "party_details", "remittance",
                "rounding"):
        assert key not in legacy
    assert [ln["rate"] for ln in legacy["lines"]] == [ln.rate for ln in RESULT.lines]
    assert invoice_bytes(legacy).startswith(b'{"adjusts":null,"contract_id":"T-1",')


# -- journal CSV -------------------------------------------------------------------------------
def test_the_journal_entry_balances_and_names_every_column():
    doc = commercial()
    rows = list(csv.DictReader(io.StringIO(journal_csv(doc, document_sha256="cd" * 32))))
    assert list(rows[0]) == list(JOURNAL_COLUMNS)
    debit = sum(Decimal(r["debit"] or 0) for r in rows)
    credit = sum(Decimal(r["credit"] or 0) for r in rows)
    assert debit == credit == Decimal(doc["total_usd"])
    assert rows[0]["account"] == "Accounts Receivable" and rows[0]["debit"] == doc["total_usd"]
    assert [r["account"] for r in rows[1:]] == ["Revenue:energy_fixed"] * len(doc["lines"])
    assert {r["invoice_number"] for r in rows} == {"LSOP-000042"}
    assert {r["due_date"] for r in rows} == {"2026-12-02"} and {r["document_sha256"] for r in rows} == {"cd" * 32}
    # a credit (negative total) posts the other way round
    neg = {**doc, "total_usd": "-10.00", "lines": [{**doc["lines"][0], "amount_usd": "-10.00"}]}
    rows = list(csv.DictReader(io.StringIO(journal_csv(neg))))
    assert rows[0]["credit"] == "10.00" and rows[1]["debit"] == "10.00"


def test_example_contracts_still_parse_and_hash_as_before():
    """The new optional fields change nothing for a document without them."""
    for name in ("ppa_tx_dc1_v1.yaml", "solar_vppa_cpi.yaml"):
        doc = contract_doc(name)
        assert contract(name).invoicing is None and contract(name).parties.seller_details is None
        assert contract_sha256(doc) == contract_sha256(dict(doc))


def test_a_bad_invoicing_block_names_the_field():
    from engine.errors import ContractError
    with pytest.raises(ContractError, match=r"invoicing\.payment_terms_days"):
        parse_contract({**DOC, "invoicing": {"payment_terms_days": -1}})
    with pytest.raises(ContractError, match=r"parties\.seller_details\.tax_id|unknown field"):
        parse_contract({**DOC, "parties": {**DOC["parties"], "seller_details": {"vat": "x"}}})
    assert US_PER_HOUR                              # (imported for the market fixtures)
