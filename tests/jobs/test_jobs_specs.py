"""Job specs: validation naming the field, canonical fingerprints, natural keys."""
from __future__ import annotations

import pytest

from engine.errors import InputError, ValidationError
from jobs.specs import (MeterTotalsSpec, RebillSpec, SettlementSpec, natural_key, parse_spec,
                        spec_fingerprint)


def test_parse_each_kind():
    assert isinstance(parse_spec({"kind": "settlement", "period": "2026-10"}), SettlementSpec)
    assert isinstance(parse_spec({"kind": "rebill", "contract": "PPA-1", "from_period": "2024-01",
                                  "to_period": "2026-09", "as_of": 12, "reason": "meter fix"}),
                      RebillSpec)
    assert isinstance(parse_spec({"kind": "meter_totals", "from_period": "2026-01",
                                  "to_period": "2026-01"}), MeterTotalsSpec)


@pytest.mark.parametrize("body, field", [
    ({"period": "2026-10"}, "kind"),
    ({"kind": "teleport"}, "kind"),
    ({"kind": "scenario"}, "document"),
    ({"kind": "settlement"}, "period"),
    ({"kind": "settlement", "period": "2026-13"}, "period"),
    ({"kind": "settlement", "period": "26-10"}, "period"),
    ({"kind": "settlement", "period": "2026-10", "contracts": []}, "contracts"),
    ({"kind": "settlement", "period": "2026-10", "contracts": ["A", " "]}, "contracts"),
    ({"kind": "settlement", "period": "2026-10", "as_of": {"meterr": 1}}, "as_of"),
    ({"kind": "settlement", "period": "2026-10", "as_of": {"meter": "x"}}, "as_of.meter"),
    ({"kind": "settlement", "period": "2026-10", "priority": 1}, "priority"),
    ({"kind": "rebill", "contract": "C", "from_period": "2026-05", "to_period": "2026-01"},
     "to_period"),
    ({"kind": "rebill", "contract": "C", "from_period": "2026-01", "to_period": "2026-02",
      "as_of": "2026-03-01T00:00:00"}, "as_of"),
    ({"kind": "rebill", "contract": "", "from_period": "2026-01", "to_period": "2026-02"},
     "contract"),
])
def test_bad_specs_name_the_field(body, field):
    with pytest.raises(ValidationError) as err:
        parse_spec(body, source="POST /v1/jobs")
    assert err.value.field == field
    assert isinstance(err.value, InputError)
    assert str(err.value).startswith("POST /v1/jobs: field ")


def test_fingerprint_is_canonical():
    a = parse_spec({"kind": "settlement", "period": "2026-10", "contracts": ["B", "A", "A"]})
    b = parse_spec({"contracts": ["A", "B"], "period": "2026-10", "kind": "settlement",
                    "as_of": None})
    c = parse_spec({"kind": "settlement", "period": "2026-10", "contracts": ["A"]})
    assert a.contracts == ["A", "B"]
    assert spec_fingerprint(a) == spec_fingerprint(b) != spec_fingerprint(c)
    assert len(spec_fingerprint(a)) == 64


def test_natural_keys():
    assert natural_key(SettlementSpec(period="2026-10")) == "settlement:2026-10:*"
    assert natural_key(SettlementSpec(period="2026-10", contracts=["Z", "A"])) == "settlement:2026-10:A,Z"
    assert (natural_key(SettlementSpec(period="2026-10", as_of={"prices": 3, "meter": 7}))
            == "settlement:2026-10:*@meter=7,prices=3")
    assert natural_key(RebillSpec(contract="C", from_period="2026-01", to_period="2026-02")) is None
    assert natural_key(MeterTotalsSpec(from_period="2026-01", to_period="2026-02")) is None


def test_spec_round_trips_through_json():
    spec = parse_spec({"kind": "rebill", "contract": "C", "from_period": "2026-01",
                       "to_period": "2026-02", "as_of": "2026-03-01T00:00:00Z"})
    assert parse_spec(spec.model_dump(mode="json")) == spec
