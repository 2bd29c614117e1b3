"""The bankability model document: its schema, field errors and the parsed model."""
from __future__ import annotations

from datetime import date

import jsonschema
import pytest

from engine.contract import parse_contract
from engine.errors import ValidationError
from engine.finance.model import check_references, model_hash, model_schema, parse_model
from engine.sites import parse_sites

PERIODS = [f"2026-{m:02d}" for m in range(1, 13)]


def doc(**over) -> dict:
    d = {"project": {"contracts": ["C1"], "cod": "2027-01", "horizon_years": 10},
         "operations": {"profile": {"periods": PERIODS}},
         "costs": {"capital_usd": 1e8}, "debt": {"tenor_years": 8, "rate_pct": 7}}
    for path, value in over.items():
        node = d
        *head, last = path.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    return d


def test_the_published_schema_is_draft_2020_12_and_accepts_a_minimal_document():
    schema = model_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc())
    m = parse_model(doc())
    assert (m.paths, m.seed, m.horizon_years, m.months[0], m.last_period) == (1000, 0, 10, "2027-01", "2036-12")


@pytest.mark.parametrize("change, field, words", [
    ({"costs.capital_usd": -1}, "costs.capital_usd", ">= 0"),
    ({"costs.variable_om_usd_per_mwh": -0.5}, "costs.variable_om_usd_per_mwh", ">= 0"),
    ({"debt.cases": [{"case": "P50", "dscr": 0}]}, "debt.cases[0].dscr", "> 0"),
    ({"debt.cases": [{"case": "P42", "dscr": 1.2}]}, "debt.cases[0].case", "does not match"),
    ({"uncertainty.generation": {"iav_pct": -1}}, "uncertainty.generation.iav_pct", ">= 0"),
    ({"uncertainty.prices": {"sigma_pct": -3}}, "uncertainty.prices.sigma_pct", ">= 0"),
    ({"project.horizon_years": 41}, "project.horizon_years", "<= 40"),
    ({"project.cod": "2027-13"}, "project.cod", "does not match"),
    ({"project.currency": "EUR"}, "project.currency", "must be 'USD'"),
    ({"costs.bogus": 1}, "costs.bogus", "unknown field"),
    ({"debt.tenor_years": 12}, "debt.tenor_years", "horizon_years"),
    ({"debt.sizing": "fraction"}, "debt.fraction_pct", "required"),
    ({"operations.profile": {"periods": PERIODS[:11]}}, "operations.profile.periods", "missing month"),
    ({"operations.profile": {"periods": PERIODS[:11] + ["2025-01"]}}, "operations.profile.periods", "same month"),
    ({"tax.depreciation": {"macrs_5": 0.8, "sl_20": 0.4}}, "tax.depreciation", "more than 1"),
    ({"uncertainty.prices": {"process": "curves"}}, "uncertainty.prices.curves", "required"),
])
def test_bad_fields_are_named(change, field, words):
    with pytest.raises(ValidationError) as err:
        parse_model(doc(**change), "m.yaml")
    assert err.value.field == field and err.value.file == "m.yaml"
    assert words in str(err.value)


def test_paths_over_the_configured_limit_and_overrides():
    with pytest.raises(ValidationError) as err:
        parse_model(doc(**{"uncertainty.paths": 500}), max_paths=100)
    assert err.value.field == "uncertainty.paths" and "<= 100" in str(err.value)
    m = parse_model(doc(**{"uncertainty.paths": 500}), max_paths=1000, paths=7, seed=3)
    assert (m.paths, m.seed) == (7, 3)
    assert model_hash(m) != model_hash(parse_model(doc(), paths=8, seed=3))


def test_every_problem_is_listed():
    with pytest.raises(ValidationError) as err:
        parse_model(doc(**{"costs.capital_usd": -1, "debt.rate_pct": -2}))
    assert len(err.value.problems) == 2


SITES = parse_sites({"sites": [{"site_id": "S1", "timezone": "America/Chicago",
                                "channels": {"pv": {"kind": "generation"}, "load": {"kind": "load"}}}]})


def contract(end: str = "2040-12-31"):
    return [parse_contract({"contract_id": "C1", "version": 1, "effective_from": "2026-01-01",
                            "parties": {"seller": "S", "buyer": "B"}, "sites": ["S1"],
                            "timezone": "America/Chicago", "term": {"start": "2026-01-01", "end": end},
                            "billing_period": "month", "currency": "USD", "delivered": {"add": ["pv"]},
                            "terms": [{"id": "e", "kind": "energy_fixed", "price_usd_per_mwh": "50"}]}, "t")]


def test_references_unknown_contract_channel_and_horizon():
    m = parse_model(doc())
    check_references(m, {"C1": contract()}, SITES)
    with pytest.raises(ValidationError) as err:
        check_references(parse_model(doc(**{"project.contracts": ["C1", "C9"]})), {"C1": contract()}, SITES)
    assert err.value.field == "project.contracts[1]"
    with pytest.raises(ValidationError) as err:
        check_references(parse_model(doc(**{"costs.fuel": {"index": "HH", "channels": ["gt9"]}})),
                         {"C1": contract()}, SITES)
    assert err.value.field == "costs.fuel.channels[0]"
    with pytest.raises(ValidationError) as err:       # the horizon ends 2036-12-31
        check_references(m, {"C1": contract("2035-06-30")}, SITES)
    assert err.value.field == "project.horizon_years" and "merchant_tail" in str(err.value)
    tail = parse_model(doc(**{"project.merchant_tail": {"share": 0.8}}))
    check_references(tail, {"C1": contract("2035-06-30")}, SITES)
    assert contract()[0].term_end == date(2040, 12, 31)
