"""Pinned inputs (issue 12, section 2) and backfills (section 6) at the plan level: real
storage, no Ray.

A settlement or rebill pins its data versions and contract-version caps when its first
attempt plans; a later attempt of the same job plans from those pins, whatever landed
meanwhile. A backfill is one job whose items carry their billing period.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from engine.errors import InputError, ValidationError
from jobs import rebill, settle
from jobs.demo_contracts import demo_contracts
from jobs.contract_period import settle_contract_period
from jobs.invoicing import publish_invoice
from jobs.settle_inputs import DataVersions, pins_key
from jobs.specs import SettlementSpec, natural_key, parse_spec, spec_fingerprint, spec_to_dict
from jobs.tasks import JobContext
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_meter
from storage.invoices import InvoiceStore
from storage.sites import load_sites
from storage.tables import Tables
from tests.support.portfolio import NOW, load_demo


@pytest.fixture
def store(tmp_path):
    cfg = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    return load_demo(cfg, tmp_path / "files", months=2, minutes=15)


def _land_meter_data(store, directory: Path) -> int:
    """A correction of a day of TX-DC1's load in October: a new meter data version."""
    source = directory / "meter" / "TX-DC1_2026-10.csv"
    head, *lines = source.read_text().splitlines()
    fixed = [",".join([*f[:4], str(float(f[4]) * 1.5), f[5]])
             for f in (line.split(",") for line in lines) if f[1] == "dc" and f[2] < "2026-10-02"]
    path = directory / "fix.csv"
    path.write_text("\n".join([head, *fixed]) + "\n")
    return ingest_meter(store, [path], "csv", sites=load_sites(store),
                        now_utc=NOW + timedelta(days=1)).version


def _items(parts) -> list[tuple[str, dict]]:
    return [(i["key"], i["params"]) for p in parts for i in p.params["items"]]


def test_a_resumed_settlement_plans_from_the_pins_of_its_first_attempt(store, tmp_path):
    spec = parse_spec({"kind": "settlement", "period": "2026-10"})
    first = settle.plan(spec, JobContext(store=store, job_id="job-1", now_utc=NOW, attempt=1))
    meter_then = _items(first)[0][1]["data"]["meter"]
    # meanwhile: new meter data, an amendment, a new contract
    meter_now = _land_meter_data(store, tmp_path / "files")
    assert meter_now != meter_then
    contracts = ContractStore(store)
    amended = {**contracts.versions("PPA-TX-DC1")[-1].document, "version": 2,
               "effective_from": "2026-10-15"}
    contracts.add(amended, sites=load_sites(store))
    contracts.add({**demo_contracts(2)[0], "contract_id": "PPA-NEW"}, sites=load_sites(store))

    again = settle.plan(spec, JobContext(store=store, job_id="job-1", now_utc=NOW, attempt=2))
    assert _items(again) == _items(first)                  # the same snapshot, key for key
    assert {p["data"]["meter"] for _, p in _items(again)} == {meter_then}
    assert not any(p["contract_id"] == "PPA-NEW" for _, p in _items(again))
    assert {p["contract_cap"] for _, p in _items(again) if p["contract_id"] == "PPA-TX-DC1"} == {1}
    pins = store.get(pins_key("job-1", spec))
    assert b'"meter":' in pins and b'"PPA-TX-DC1":1' in pins
    # another job sees what is current
    other = settle.plan(spec, JobContext(store=store, job_id="job-2", now_utc=NOW))
    assert {p["data"]["meter"] for _, p in _items(other)} == {meter_now}
    assert any(p["contract_id"] == "PPA-NEW" for _, p in _items(other))
    assert {p["contract_cap"] for _, p in _items(other) if p["contract_id"] == "PPA-TX-DC1"} == {2}


def test_a_resumed_rebill_plans_from_the_pins_of_its_first_attempt(store, tmp_path):
    inv = InvoiceStore(store)
    stored = ContractStore(store).versions("PPA-TX-DC1")
    data = DataVersions.resolve(Tables(store), store)
    result = settle_contract_period(store, Tables(store), stored, "2026-10", data, cache={})
    publish_invoice(store, result, stored, run_id="billed", data=data)
    inv.approve("PPA-TX-DC1", "2026-10", now_utc=NOW)
    spec = parse_spec({"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": "2026-10",
                       "to_period": "2026-10"})
    first = rebill.plan(spec, JobContext(store=store, job_id="rb-1", now_utc=NOW, attempt=1))
    meter_now = _land_meter_data(store, tmp_path / "files")
    again = rebill.plan(spec, JobContext(store=store, job_id="rb-1", now_utc=NOW, attempt=2))
    assert [p.params for p in again] == [p.params for p in first]
    assert first[0].params["data"]["meter"] == data.meter != meter_now


def test_a_backfill_is_one_job_whose_items_carry_their_billing_period(store):
    spec = parse_spec({"kind": "settlement", "from_period": "2026-09", "to_period": "2026-10"})
    assert spec.periods == ["2026-09", "2026-10"]
    parts = settle.plan(spec, JobContext(store=store, job_id="bf", now_utc=NOW, partition_size=3))
    items = _items(parts)
    keys = [k for k, _ in items]
    assert len(keys) == len(set(keys)) == 2 * 4                 # 4 one-site contracts x 2 months
    assert {k.split("|")[0] for k in keys} == {"2026-09", "2026-10"}
    assert all(k.split("|")[0] == p["billing_period"] for k, p in items)
    assert keys == sorted(keys, key=lambda k: (k.split("|")[0], k))   # months in order


def test_backfill_specs_validate_and_keep_month_end_keys():
    single = parse_spec({"kind": "settlement", "period": "2026-10"})
    as_range = parse_spec({"kind": "settlement", "from_period": "2026-10", "to_period": "2026-10"})
    assert as_range == single and spec_fingerprint(as_range) == spec_fingerprint(single)
    assert natural_key(single) == "settlement:2026-10:*"
    backfill = parse_spec({"kind": "settlement", "from_period": "2026-01", "to_period": "2026-03",
                           "contracts": ["B", "A"]})
    assert natural_key(backfill) == "settlement:2026-01..2026-03:A,B"
    assert backfill.periods == ["2026-01", "2026-02", "2026-03"]
    # a spec that uses none of the new fields is stored (and fingerprinted) as before
    assert spec_to_dict(single) == {"kind": "settlement", "period": "2026-10", "contracts": None,
                                    "as_of": None}
    assert spec_to_dict(parse_spec({"kind": "settlement", "period": "2026-10",
                                    "allow_incomplete": True}))["allow_incomplete"] is True
    for body, field in [({"kind": "settlement"}, "period"),
                        ({"kind": "settlement", "from_period": "2026-01"}, "period"),
                        ({"kind": "settlement", "period": "2026-01", "to_period": "2026-02"}, "period"),
                        ({"kind": "settlement", "from_period": "2026-05", "to_period": "2026-01"},
                         "to_period"),
                        ({"kind": "settlement", "from_period": "1990-01", "to_period": "2026-01"},
                         "period")]:
        with pytest.raises(ValidationError) as err:
            parse_spec(body)
        assert err.value.field == field, body
    assert isinstance(SettlementSpec(period="2026-10"), SettlementSpec)


def test_a_named_contract_must_be_active_somewhere_in_the_backfill(store):
    spec = parse_spec({"kind": "settlement", "from_period": "2023-01", "to_period": "2023-02",
                       "contracts": ["PPA-TX-DC1"]})
    with pytest.raises(InputError, match=r"not active in 2023-01\.\.2023-02"):
        settle.plan(spec, JobContext(store=store, job_id="bf-x", now_utc=NOW))
