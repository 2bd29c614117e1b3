"""Contract documents: schema, parsing, field-path errors, amendments, version selection."""
from __future__ import annotations

import copy
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from engine.contract import (active_in_period, check_amendments, contract_schema, contract_sha256,
                             parse_contract, validate_contract_sites, versions_in_force,
                             _normalise)
from engine.errors import ContractError, InputError, UnknownReferenceError
from engine.timebase import local_month_bounds_us, to_us
from tests.engine.settlement_fixtures import CONTRACTS, SITES, contract, contract_doc, minimal_doc

ALL = sorted(p.name for p in CONTRACTS.glob("*.yaml"))


def test_schema_is_valid_draft_2020_12():
    schema = contract_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", ALL)
def test_example_contracts_parse_and_pass_jsonschema(name):
    doc = contract_doc(name)
    jsonschema.Draft202012Validator(contract_schema()).validate(_normalise(doc))
    cv = parse_contract(doc, name)
    validate_contract_sites(cv, SITES)
    assert cv.contract_id and cv.version >= 1 and cv.terms


BAD = [
    # (mutation, expected field path, message fragment)
    (lambda d: d["terms"][1].pop("strike_usd_per_mwh"), "terms[1].strike_usd_per_mwh", "required"),
    (lambda d: d.pop("parties"), "parties", "required"),
    (lambda d: d.__setitem__("version", "2"), "version", "expected integer"),
    (lambda d: d.__setitem__("version", 0), "version", ">= 1"),
    (lambda d: d["terms"][0].__setitem__("price_usd_per_mwh", 64.0), "terms[0].price_usd_per_mwh",
     "expected string"),
    (lambda d: d["terms"][0].__setitem__("price_usd_per_mwh", "sixty"), "terms[0].price_usd_per_mwh",
     "does not match"),
    (lambda d: d["terms"][0].__setitem__("colour", "red"), "terms[0].colour", "unknown field"),
    (lambda d: d["terms"][1].__setitem__("negative_price_rule", "floor"), "terms[1].negative_price_rule",
     "must be one of"),
    (lambda d: d["terms"][1].__setitem__("hedge_share", "1.5"), "terms[1].hedge_share", "does not match"),
    (lambda d: d["term"].__setitem__("end", "2045-02-30"), "term.end", "not a valid date"),
    (lambda d: d.__setitem__("currency", "EUR"), "currency", "must be 'USD'"),
    (lambda d: d["terms"][0].__setitem__("kind", "energy_magic"), "terms[0].kind", "must be one of"),
    (lambda d: d["delivered"].__setitem__("add", []), "delivered.add", "at least 1"),
    (lambda d: d.__setitem__("timezone", "America/Gotham"), "timezone", "unknown time zone"),
    (lambda d: d["term"].__setitem__("end", "2020-01-01"), "term.end", "before term.start"),
    (lambda d: d["terms"][1].__setitem__("id", "energy_fixed"), "terms[1].id", "duplicate term id"),
]


def _v2_vppa_doc() -> dict:
    d = copy.deepcopy(contract_doc("ppa_tx_dc1_v2.yaml"))
    assert d["terms"][1]["kind"] == "vppa"
    return d


@pytest.mark.parametrize("mutate,field,fragment", BAD)
def test_errors_name_contract_version_and_field(mutate, field, fragment):
    doc = _v2_vppa_doc()
    mutate(doc)
    with pytest.raises(ContractError) as ei:
        parse_contract(doc)
    msg = str(ei.value)
    assert msg.startswith(f"contract PPA-TX-DC1 v{doc['version']}: {field}: "), msg
    assert fragment in msg
    assert isinstance(ei.value, InputError)
    assert ei.value.field == field


def test_the_exact_message_of_the_brief():
    doc = _v2_vppa_doc()
    del doc["terms"][1]["strike_usd_per_mwh"]
    with pytest.raises(ContractError, match=r"^contract PPA-TX-DC1 v2: terms\[1\]\.strike_usd_per_mwh: required$"):
        parse_contract(doc)


def test_source_file_is_named_when_given():
    doc = _v2_vppa_doc()
    del doc["sites"]
    with pytest.raises(ContractError, match=r"^contracts/x\.yaml: contract PPA-TX-DC1 v2: sites: required"):
        parse_contract(doc, "contracts/x.yaml")


def test_every_bad_case_is_a_schema_or_semantic_error_naming_its_field():
    for mutate, field, _ in BAD:
        doc = _v2_vppa_doc()
        mutate(doc)
        with pytest.raises(ContractError, match=re.escape(field)):
            parse_contract(doc)


def test_semantic_term_checks_name_the_field():
    doc = minimal_doc([{"id": "cpi", "kind": "energy_indexed", "formula": "cpi", "index": "CPI_U",
                        "base_price_usd_per_mwh": "40", "base_index_value": "300",
                        "floor_usd_per_mwh": "50", "cap_usd_per_mwh": "45"}])
    with pytest.raises(ContractError, match=r"terms\[0\]\.cap_usd_per_mwh: cap 45 is below floor 50"):
        parse_contract(doc)
    doc = minimal_doc([{"id": "cpi", "kind": "energy_indexed", "formula": "heat_rate", "index": "HH"}])
    with pytest.raises(ContractError, match=r"terms\[0\]\.heat_rate_mmbtu_per_mwh: required"):
        parse_contract(doc)
    doc = minimal_doc([{"id": "c", "kind": "curtailment", "potential": ["pv1_potential"]}])
    with pytest.raises(ContractError, match=r"terms\[0\]\.price_usd_per_mwh: give exactly one"):
        parse_contract(doc)
    doc = minimal_doc([{"id": "c", "kind": "take_or_pay", "contracted_mwh_per_month": "10",
                        "take_share": "0.8", "price_term": "nope"}])
    with pytest.raises(ContractError, match=r"terms\[0\]\.price_term: no term with id 'nope'"):
        parse_contract(doc)
    doc = minimal_doc([{"id": "v", "kind": "vppa", "strike_usd_per_mwh": "40"}], pricing={})
    with pytest.raises(ContractError, match=r"terms\[0\]\.hub: required"):
        parse_contract(doc)
    doc = minimal_doc([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "40"}], version=1,
                      effective_from="2026-02-01")
    with pytest.raises(ContractError, match=r"effective_from: version 1 must take effect at term.start"):
        parse_contract(doc)


def test_yaml_dates_are_accepted_and_normalised():
    doc = minimal_doc([{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "40"}],
                      effective_from=date(2026, 1, 1), term={"start": date(2026, 1, 1), "end": date(2045, 12, 31)})
    cv = parse_contract(doc)
    assert cv.term_start == date(2026, 1, 1) and cv.term_end == date(2045, 12, 31)
    assert contract_sha256(doc) == contract_sha256(minimal_doc(
        [{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "40"}]))


def test_unknown_site_and_channel_name_the_field():
    cv = contract("ppa_tx_dc1_v2.yaml", sites=["TX-DC1", "TX-NOPE"])
    with pytest.raises(UnknownReferenceError, match=r"^contract PPA-TX-DC1 v2: sites\[1\]: unknown site 'TX-NOPE'"):
        validate_contract_sites(cv, SITES)
    doc = contract_doc("ppa_tx_dc1_v2.yaml")
    doc["terms"][1]["volume"] = ["pv9"]
    with pytest.raises(UnknownReferenceError, match=r"terms\[1\]\.volume\[0\]: site TX-DC1 has no channel 'pv9'"):
        validate_contract_sites(parse_contract(doc), SITES)
    doc = contract_doc("ppa_tx_dc1_v1.yaml")
    doc["delivered"]["subtract"] = ["bess_chg2"]
    with pytest.raises(UnknownReferenceError, match=r"delivered\.subtract\[0\]: site TX-DC1 has no channel"):
        validate_contract_sites(parse_contract(doc), SITES)
    doc = contract_doc("ppa_tx_dc1_v1.yaml")
    doc["sites"] = ["TX-DC1", "TX-DC2"]       # TX-DC2 has no gt1 (capacity availability channel)
    with pytest.raises(UnknownReferenceError, match=r"terms\[1\]\.availability\.channels\[0\]: site TX-DC2"):
        validate_contract_sites(parse_contract(doc), SITES)


def test_sha256_is_canonical():
    d1 = contract_doc("ppa_tx_dc1_v1.yaml")
    d2 = dict(reversed(list(copy.deepcopy(d1).items())))
    assert contract_sha256(d1) == contract_sha256(d2)
    d2["terms"][0]["price_usd_per_mwh"] = "64.01"
    assert contract_sha256(d1) != contract_sha256(d2)


# --------------------------------------------------------------------------- amendments
def v(name, **over):
    return contract(name, **over)


def test_amendment_chain_ok():
    check_amendments([v("ppa_tx_dc1_v2.yaml"), v("ppa_tx_dc1_v1.yaml")])


@pytest.mark.parametrize("over,fragment", [
    ({"effective_from": "2025-06-01"}, "effective_from"),        # refused by parse (outside the term)
    ({"version": 3}, "v3: version: missing version"),
    ({"version": 1}, "version"),
    ({"contract_id": "OTHER"}, "contract OTHER v2: contract_id: differs"),
    ({"timezone": "America/New_York"}, "timezone: an amendment cannot change"),
])
def test_bad_amendments_are_refused_naming_the_field(over, fragment):
    with pytest.raises(ContractError) as ei:
        check_amendments([v("ppa_tx_dc1_v1.yaml"), v("ppa_tx_dc1_v2.yaml", **over)])
    assert fragment in str(ei.value)


def test_versions_in_force_split_at_local_midnight():
    vs = [v("ppa_tx_dc1_v1.yaml"), v("ppa_tx_dc1_v2.yaml", effective_from="2027-06-15")]
    b0, b1 = local_month_bounds_us("2027-06", "America/Chicago")
    got = versions_in_force(vs, b0, b1)
    cut = to_us(datetime(2027, 6, 15, tzinfo=ZoneInfo("America/Chicago")))   # 05:00Z (CDT)
    assert [(cv.version, s, e) for cv, s, e in got] == [(1, b0, cut), (2, cut, b1)]
    assert cut == to_us(datetime(2027, 6, 15, 5, tzinfo=ZoneInfo("UTC")))
    may = local_month_bounds_us("2027-05", "America/Chicago")
    assert [cv.version for cv, _, _ in versions_in_force(vs, *may)] == [1]


def test_active_in_period_follows_the_term():
    vs = [v("ppa_tx_dc1_v1.yaml")]
    assert not active_in_period(vs, "2025-12")
    assert active_in_period(vs, "2026-01")
    assert active_in_period(vs, "2045-12")
    assert not active_in_period(vs, "2046-01")
    short = [v("ppa_tx_dc1_v1.yaml", term={"start": "2026-01-01", "end": "2026-01-15"})]
    b0, b1 = local_month_bounds_us("2026-01", "America/Chicago")
    (_, s, e), = versions_in_force(short, b0, b1)
    assert s == b0 and e == to_us(datetime(2026, 1, 16, tzinfo=ZoneInfo("America/Chicago")))
