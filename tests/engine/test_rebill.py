"""engine.rebill: exact charge deltas and telescoping attribution (pure, no Ray, no I/O)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.contract import contract_sha256, parse_contract
from engine.invoice import build_invoice
from engine.money import cents_to_str
from engine.rebill import (CAUSES, Charge, PeriodOutcome, attribute, base_line_id, charges_of_invoice,
                           charges_of_result, diff_charges, diff_invoice, summarize, usd_to_cents)
from engine.settlement import MarketData, settle_period
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

TERMS = [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "64.0625",
          "tou": {"factors": {"on_peak": "1.10", "off_peak": "0.90"}}}]
DOC = minimal_doc(TERMS)
CV1 = parse_contract(DOC)


def settle(versions, pv_wh: int, period: str = "2026-10"):
    series = series_for("TX-DC1", period, 60, {"pv1": pv_wh})
    return settle_period(versions, period, {"TX-DC1": (SITES["TX-DC1"], series)}, MarketData())


def invoice_of(result, cv=CV1, doc=DOC):
    return build_invoice(result, contract=cv, contract_sha256=contract_sha256(doc), version=1,
                         status="draft", lineage={"run_id": "r", "data_versions": {"meter": 1}})


def charges(**amounts: int) -> dict[str, Charge]:
    return {k: Charge(k, "energy_fixed", "MWh", Decimal(v) / 1000, v) for k, v in amounts.items()}


def test_usd_to_cents_is_exact_and_refuses_sub_cent_amounts():
    assert usd_to_cents("1234.56") == 123456
    assert usd_to_cents("-0.01") == -1
    assert usd_to_cents("0.00") == 0
    assert usd_to_cents("90071992547409.93") == 9007199254740993      # beyond float precision
    with pytest.raises(ValueError, match="two decimal places"):
        usd_to_cents("1.005")


def test_base_line_id_drops_the_contract_version_suffix():
    assert base_line_id("energy:on_peak@v2") == "energy:on_peak"
    assert base_line_id("capacity") == "capacity"


def test_resettling_the_same_inputs_gives_no_change():
    result = settle([CV1], 1_234_567)
    diff = diff_invoice(invoice_of(result), result)
    assert not diff.changed
    assert diff.delta_cents == 0 and diff.changed_lines() == ()
    assert [ln.line_id for ln in diff.lines] == ["energy:off_peak", "energy:on_peak"]


def test_corrected_energy_gives_exact_line_deltas_that_sum_to_the_total_delta():
    billed = settle([CV1], 1_234_567)
    rebilled = settle([CV1], 1_234_999)
    diff = diff_invoice(invoice_of(billed), rebilled)
    assert diff.changed
    assert diff.delta_cents == rebilled.total_cents - billed.total_cents != 0
    by_id = {ln.line_id: ln for ln in diff.lines}
    for new in rebilled.lines:
        old = next(ln for ln in billed.lines if ln.line_id == new.line_id)
        d = by_id[new.line_id]
        assert d.amount_delta_cents == new.amount_cents - old.amount_cents
        assert d.quantity_delta == new.quantity - old.quantity
    assert sum(ln.amount_delta_cents for ln in diff.lines) == diff.delta_cents
    # October 2026, Chicago: 432 on-peak hours; 432 x 432 Wh = 0.186624 MWh more on-peak
    assert by_id["energy:on_peak"].quantity_delta == Decimal("0.186624")
    row = by_id["energy:on_peak"].to_dict()
    assert row["amount_delta_usd"] == cents_to_str(by_id["energy:on_peak"].amount_delta_cents)
    assert Decimal(row["quantity"]) - Decimal(row["billed_quantity"]) == Decimal(row["quantity_delta"])


def test_a_mid_month_amendment_is_a_delta_on_the_same_charge():
    """v2 from Oct 16 splits every line into @v1/@v2; the charges stay comparable."""
    doc2 = {**minimal_doc([{**TERMS[0], "price_usd_per_mwh": "70.00"}]), "version": 2,
            "effective_from": "2026-10-16"}
    cv2 = parse_contract(doc2)
    billed = settle([CV1], 1_000_000)
    rebilled = settle([CV1, cv2], 1_000_000)
    assert {ln.line_id for ln in rebilled.lines} == {"energy:on_peak@v1", "energy:on_peak@v2",
                                                     "energy:off_peak@v1", "energy:off_peak@v2"}
    diff = diff_invoice(invoice_of(billed), rebilled)
    assert [ln.line_id for ln in diff.lines] == ["energy:off_peak", "energy:on_peak"]
    assert all(ln.quantity_delta == 0 for ln in diff.lines)       # same energy, new price
    assert diff.delta_cents == rebilled.total_cents - billed.total_cents > 0
    assert charges_of_result(rebilled)["energy:on_peak"].amount_cents == sum(
        ln.amount_cents for ln in rebilled.lines if ln.line_id.startswith("energy:on_peak"))


def test_charges_added_or_removed_count_as_zero_on_the_other_side():
    diff = diff_charges(charges(a=100, b=250), charges(b=200, c=75))
    rows = {ln.line_id: ln for ln in diff.lines}
    assert rows["a"].amount_delta_cents == -100 and rows["a"].quantity == 0
    assert rows["c"].amount_delta_cents == 75 and rows["c"].billed_quantity == 0
    assert rows["b"].amount_delta_cents == -50
    assert diff.delta_cents == 275 - 350 == sum(ln.amount_delta_cents for ln in diff.lines)


def test_invoice_lines_must_sum_to_the_total():
    doc = invoice_of(settle([CV1], 1_000_000))
    assert sum(c.amount_cents for c in charges_of_invoice(doc).values()) == usd_to_cents(doc["total_usd"])
    with pytest.raises(ValueError, match="do not sum"):
        charges_of_invoice({**doc, "total_usd": "0.01"})


def test_attribution_telescopes_per_cause_and_per_charge():
    billed = charges(on=1000, off=500)
    chain = [("method", charges(on=1000, off=500)),
             ("meter", charges(on=1100, off=480)),
             ("market", charges(on=1100, off=470, exp=-30)),
             ("contract", charges(on=1210, off=517, exp=-30))]
    a = attribute(billed, chain)
    assert a.by_cause == {"method": 0, "meter": 80, "market": -40, "contract": 157}
    assert a.delta_cents == 197 == sum(a.by_cause.values())
    assert a.by_line == {"on": {"method": 0, "meter": 100, "market": 0, "contract": 110},
                         "off": {"method": 0, "meter": -20, "market": -10, "contract": 47},
                         "exp": {"method": 0, "meter": 0, "market": -30, "contract": 0}}
    assert a.to_dict()["by_cause_usd"]["contract"] == "1.57"


def test_attribution_skipped_causes_are_zero_and_bad_chains_are_refused():
    a = attribute(charges(x=10), [("contract", charges(x=25))])
    assert a.by_cause == {c: (15 if c == "contract" else 0) for c in CAUSES}
    with pytest.raises(ValueError, match="distinct"):
        attribute(charges(x=1), [("meter", charges(x=2)), ("meter", charges(x=3))])
    with pytest.raises(ValueError, match="among"):
        attribute(charges(x=1), [("weather", charges(x=2))])


amounts = st.integers(min_value=-10**14, max_value=10**14)
states = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), amounts, max_size=4)


@settings(max_examples=200, deadline=None)
@given(billed=states, chain=st.lists(states, min_size=1, max_size=4))
def test_attribution_always_sums_exactly_to_the_total_delta(billed, chain):
    def ch(d):
        return charges(**d)
    named = list(zip(CAUSES, [ch(s) for s in chain]))
    a = attribute(ch(billed), named)
    diff = diff_charges(ch(billed), ch(chain[-1]))
    assert a.delta_cents == diff.delta_cents == sum(a.by_cause.values())
    for ln in diff.lines:
        assert sum(a.by_line.get(ln.line_id, {}).values()) == ln.amount_delta_cents


def test_summary_nets_the_range_exactly():
    att = attribute(charges(x=1000), [("meter", charges(x=1234)), ("contract", charges(x=1300))])
    rows = [PeriodOutcome("2026-02", 1, 1000, 1300, att),
            PeriodOutcome("2026-01", 1, 999, 999, None)]
    s = summarize(rows)
    assert s == {"periods": 2, "changed_periods": 1, "billed_usd": "19.99", "rebilled_usd": "22.99",
                 "net_adjustment_usd": "3.00",
                 "by_cause_usd": {"method": "0.00", "meter": "2.34", "market": "0.00", "contract": "0.66"}}
