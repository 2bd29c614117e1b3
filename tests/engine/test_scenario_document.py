"""The scenario document: its published schema, parsing with errors that name the
variant and the field, the sweep, and the checks against stored references."""
from __future__ import annotations

import copy

import jsonschema
import pytest

from engine.contract import parse_contract
from engine.errors import ValidationError
from engine.scenario import References, check_references, parse_scenario, scenario_schema
from engine.scenario.sweep import count, placeholders, substitute

from tests.engine.settlement_fixtures import SITES, contract_doc

BASE = {"from_period": "2026-01", "to_period": "2026-03"}


def doc(**kw) -> dict:
    return {"scenario": "test", "base": dict(BASE), **kw}


def variant(name: str, *transforms: dict) -> dict:
    return {"name": name, "transforms": list(transforms)}


def refused(d: dict) -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        parse_scenario(d, source="s.yaml")
    return exc.value


def test_the_published_schema_is_draft_2020_12_and_names_every_op():
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    ops = schema["$defs"]["transform"]["properties"]["op"]["enum"]
    assert {"price_scale", "price_shift", "price_floor", "price_cap", "price_replace", "price_curve",
            "price_scarcity", "price_negative_hours", "index_scale", "index_shift", "channel_scale", "outage",
            "add_capacity", "load_growth", "export_cap", "no_negative_export", "export_share",
            "battery_dispatch", "term_set", "term_add", "term_remove"} == set(ops)
    assert all(f"op_{o}" in schema["$defs"] for o in ops)


def test_variants_and_sweep_expand_in_order_with_the_base_first():
    d = doc(variants=[variant("hub +10", {"op": "price_shift", "usd_per_mwh": "10"})],
            sweep={"parameters": [{"name": "gas", "values": ["0.5", "1", "2"]},
                                  {"name": "hub", "values": ["-10", "25"]}],
                   "transforms": [{"op": "index_scale", "index": "HENRY_HUB", "factor": "{gas}"},
                                  {"op": "price_shift", "usd_per_mwh": "{hub}"}]})
    s = parse_scenario(d)
    assert [v.name for v in s.variants] == ["base", "hub +10", "gas=0.5,hub=-10", "gas=0.5,hub=25",
                                            "gas=1,hub=-10", "gas=1,hub=25", "gas=2,hub=-10", "gas=2,hub=25"]
    assert s.variants[0].transforms == ()
    gas = s.variants[2].transforms[0].params
    assert gas.index == "HENRY_HUB" and str(gas.factor) == "1/2"
    assert s.variants[2].transforms[0] is s.variants[3].transforms[0]     # parsed once per value
    assert s.sha256 == parse_scenario(copy.deepcopy(d)).sha256
    named = parse_scenario(doc(sweep={**d["sweep"], "name": "gas x{gas}, hub {hub}"}))
    assert named.variants[1].name == "gas x0.5, hub -10"


def test_sweep_helpers():
    assert count({"parameters": [{"name": "a", "values": [1, 2, 3]}, {"name": "b", "values": [1, 2]}]}) == 6
    assert placeholders({"x": "{a}", "y": ["pre {b} post", 3]}) == {"a", "b"}
    assert substitute({"x": "{a}", "y": "v{a}"}, {"a": "1.5"}) == {"x": "1.5", "y": "v1.5"}


@pytest.mark.parametrize("bad, field, words", [
    (variant("x", {"op": "price_scale", "factor": 1.5}), "variants[0].transforms[0].factor",
     ["variant 'x'", "expected string"]),
    (variant("y", {"op": "price_scale", "factor": "abc"}), "variants[0].transforms[0].factor",
     ["variant 'y'", "decimal string"]),
    (variant("z", {"op": "teleport"}), "variants[0].transforms[0].op", ["variant 'z'", "must be one of"]),
    (variant("b1", {"op": "battery_dispatch", "site": "X", "power_mw": "0", "energy_mwh": "6"}),
     "variants[0].transforms[0].power_mw", ["variant 'b1'", "must be > 0"]),
    (variant("b2", {"op": "battery_dispatch", "site": "X", "power_mw": "4", "energy_mwh": "6",
                    "soc_min_pct": "80", "soc_max_pct": "50"}),
     "variants[0].transforms[0].soc_min_pct", ["variant 'b2'", "above the maximum"]),
    (variant("b3", {"op": "battery_dispatch", "site": "X", "energy_mwh": "6"}),
     "variants[0].transforms[0].power_mw", ["required"]),
    (variant("n", {"op": "price_negative_hours", "share_pct": "5", "usd_per_mwh": "3"}),
     "variants[0].transforms[0].usd_per_mwh", ["must be negative"]),
    (variant("s", {"op": "price_shift", "usd_per_mwh": "0.0000001"}),
     "variants[0].transforms[0].usd_per_mwh", ["more decimal places"]),
    (variant("o", {"op": "outage", "channel": "gt1", "from": "2026-02-10", "to": "2026-02-01"}),
     "variants[0].transforms[0].to", ["before from"]),
    (variant("t", {"op": "term_set", "term": "energy", "set": {"kind": "vppa"}}),
     "variants[0].transforms[0].set", ["cannot be changed"]),
])
def test_bad_transforms_name_the_variant_and_field(bad, field, words):
    err = refused(doc(variants=[bad]))
    assert err.field == field and err.file == "s.yaml"
    for w in words:
        assert w in str(err)


def test_document_level_refusals():
    assert refused(doc(variants=[variant("base")])).field == "variants[0].name"
    two = [variant("a"), variant("a")]
    assert "used twice" in str(refused(doc(variants=two)))
    err = refused({"scenario": "t", "base": {"from_period": "2026-05", "to_period": "2026-01"}})
    assert err.field == "base.to_period"
    err = refused(doc(bogus=1))
    assert err.field == "bogus" and "unknown field" in str(err)
    sweep = {"parameters": [{"name": "a", "values": list(range(1000))}, {"name": "b", "values": list(range(101))}],
             "transforms": [{"op": "price_shift", "usd_per_mwh": "{a}"}]}
    err = refused(doc(sweep=sweep))
    assert err.field == "sweep.parameters" and "101,000 variants is over the limit of 100,000" in str(err)
    err = refused(doc(sweep={**sweep, "parameters": sweep["parameters"][:1]}, max_variants=999))
    assert "1,000 variants is over the limit of 999" in str(err)
    err = refused(doc(sweep={"parameters": [{"name": "a", "values": ["1"]}],
                             "transforms": [{"op": "price_shift", "usd_per_mwh": "{b}"}]}))
    assert err.field == "sweep.transforms[0]" and "unknown sweep parameter(s) b" in str(err)
    err = refused(doc(sweep={"parameters": [{"name": "f", "values": ["x"]}],
                             "transforms": [{"op": "price_scale", "factor": "{f}"}]}))
    assert err.field == "sweep.transforms[0].factor" and "sweep variant 'f=x'" in str(err)


# ------------------------------------------------------------------ references
def refs(**kw) -> References:
    docs = {"PPA-TX-DC1": [contract_doc("ppa_tx_dc1_v1.yaml")]}
    versions = {c: [parse_contract(d) for d in v] for c, v in docs.items()}
    base = dict(docs=docs, versions=versions, sites=SITES,
                price_keys=frozenset({("ERCOT", "DC1_NODE", "RT")}), indices=frozenset({"HENRY_HUB"}),
                curves=frozenset({"fwd2027"}), timezones={"TX-DC1": frozenset({"America/Chicago"})})
    return References(**{**base, **kw})


def check(*transforms: dict, r: References | None = None) -> ValidationError | None:
    s = parse_scenario(doc(variants=[variant("v", *transforms)]))
    try:
        check_references(s, r or refs(), source="s.yaml")
    except ValidationError as exc:
        return exc
    return None


def test_fixture_contract():
    cv = refs().versions["PPA-TX-DC1"][0]
    assert cv.sites == ("TX-DC1",) and [t.id for t in cv.terms][:1] == ["energy_fixed"]


@pytest.mark.parametrize("transform, field, words", [
    ({"op": "price_shift", "series": {"node": "NOPE"}, "usd_per_mwh": "1"}, "variants[0].transforms[0].series",
     ["node=NOPE matches no series", "ERCOT/DC1_NODE/RT"]),
    ({"op": "index_scale", "index": "CPI_U", "factor": "2"}, "variants[0].transforms[0].index",
     ["no base contract reads index 'CPI_U'", "HENRY_HUB"]),
    ({"op": "price_curve", "series": {"market_run": "RT"}, "curve": "nope"}, "variants[0].transforms[0].curve",
     ["no curve 'nope' is stored"]),
    ({"op": "channel_scale", "site": "TX-DC1", "channel": "wind9", "factor": "2"},
     "variants[0].transforms[0].channel", ["site TX-DC1 has no channel 'wind9'"]),
    ({"op": "channel_scale", "site": "ELSEWHERE", "channel": "pv1", "factor": "2"},
     "variants[0].transforms[0].site", ["'ELSEWHERE' is not settled by the base contracts"]),
    ({"op": "add_capacity", "channel": "dc", "added_kw": "1000"}, "variants[0].transforms[0].channel",
     ["no nameplate_kw"]),
    ({"op": "term_set", "term": "nope", "set": {"price_usd_per_mwh": "1"}}, "variants[0].transforms[0].term",
     ["no term 'nope'"]),
    ({"op": "term_set", "contract": "GHOST", "term": "energy_fixed", "set": {"price_usd_per_mwh": "1"}},
     "variants[0].transforms[0].contract", ["'GHOST' is not in the base"]),
    ({"op": "term_set", "term": "energy_fixed", "set": {"price_usd_per_mwh": 64}}, "variants[0].transforms[0]",
     ["terms[0].price_usd_per_mwh"]),
    ({"op": "battery_dispatch", "site": "TX-DC1", "charge_channel": "pv1", "power_mw": "4", "energy_mwh": "8"},
     "variants[0].transforms[0].charge_channel", ["no storage_charge channel 'pv1'"]),
])
def test_references_are_checked_before_any_work(transform, field, words):
    err = check(transform)
    assert err is not None and err.field == field and err.file == "s.yaml", err
    assert "variant 'v'" in str(err)
    for w in words:
        assert w in str(err)


def test_good_references_pass_and_sites_must_rebalance():
    assert check({"op": "price_shift", "series": {"market_run": "RT"}, "usd_per_mwh": "5"},
                 {"op": "index_scale", "index": "HENRY_HUB", "factor": "1.5"},
                 {"op": "add_capacity", "channel": "pv1", "added_kw": "50000"},
                 {"op": "battery_dispatch", "site": "TX-DC1", "power_mw": "50", "energy_mwh": "200"},
                 {"op": "term_set", "term": "energy_fixed", "set": {"price_usd_per_mwh": "70.00"}}) is None
    zones = refs(timezones={"TX-DC1": frozenset({"America/Chicago", "America/New_York"})})
    err = check({"op": "load_growth", "pct": "5"}, r=zones)
    assert err is not None and "2 time zones" in str(err)
