"""`m2c contracts | settle | invoices` through the real CLI entry point (embedded path:
real storage, the session Ray, a real SQLite catalog)."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from jobs.demo_contracts import demo_contracts
from storage.contracts import ContractStore
from storage.objectstore import ObjectStore

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture
def home(local_cli_env, local_storage, demo_stores, ray_cluster):
    """The CLI on a local store holding the demo portfolio, and the session's Ray."""
    demo_stores.copy(Path(local_storage.uri.removeprefix("file://")))
    return local_cli_env


def test_contract_errors_exit_2_name_the_field_and_write_nothing(home, local_storage, tmp_path, m2c):
    store = ContractStore(ObjectStore.from_config(local_storage))
    before = {cid: len(store.versions(cid)) for cid in store.contract_ids()}

    bad = demo_contracts(2)[1] | {"contract_id": "PPA-NEW"}
    bad["terms"] = [{**bad["terms"][0], "price_usd_per_mwh": 62.5}]       # a float, not a decimal string
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    assert "terms[0].price_usd_per_mwh" in m2c("contracts", "add", str(f), code=2).err

    unknown = demo_contracts(2)[1] | {"contract_id": "PPA-NEW", "sites": ["NOPE"]}
    f.write_text(yaml.safe_dump(unknown))
    assert "NOPE" in m2c("contracts", "add", str(f), code=2).err

    # an amendment effective before the term start (and so before version 1)
    amendment = demo_contracts(2)[1] | {"version": 2, "effective_from": "2023-12-31"}
    amendment["terms"] = [{**amendment["terms"][0], "price_usd_per_mwh": "70.00"}, *amendment["terms"][1:]]
    f.write_text(yaml.safe_dump(amendment))
    assert "effective_from" in m2c("contracts", "add", str(f), code=2).err

    assert {cid: len(store.versions(cid)) for cid in store.contract_ids()} == before
    schema = m2c.json("contracts", "schema")
    assert schema["$schema"].endswith("2020-12/schema")


def test_settle_show_explain_approve(home, tmp_path, m2c):
    job = m2c.json("settle", "--period", "2026-10", "--contract", "PPA-TX-DC1", "--format", "json")
    assert job["state"] == "succeeded"
    [summary] = job["result"]["invoices"]
    assert (summary["contract_id"], summary["version"], summary["outcome"]) == ("PPA-TX-DC1", 1, "published")

    doc = m2c.json("invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "json")
    assert doc["total_usd"] == summary["total_usd"] and doc["status"] == "draft"
    assert doc["total_usd"] in m2c("invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "html").out

    out = tmp_path / "on_peak.parquet"
    m2c("invoices", "explain", "PPA-TX-DC1", "2026-10", "energy:on_peak", "--out", str(out))
    rows = pq.read_table(out)
    line = next(ln for ln in doc["lines"] if ln["line_id"] == "energy:on_peak")
    exact = sum(rows.column("amount_picousd").to_pylist())
    assert Decimal(exact) / 10**12 == pytest.approx(Decimal(line["amount_usd"]), abs=Decimal("0.005"))
    assert Decimal(sum(rows.column("quantity_wh").to_pylist())) / 10**6 == Decimal(line["quantity"])
    m2c("invoices", "explain", "PPA-TX-DC1", "2026-10", "no_such_line", code=1)

    repro = m2c.json("invoices", "reproduce", "PPA-TX-DC1", "2026-10", "--format", "json")
    assert repro["identical"] and repro["stored_sha256"] == repro["reproduced_sha256"]

    m2c("invoices", "approve", "PPA-TX-DC1", "2026-10")
    assert "already approved" in m2c("invoices", "approve", "PPA-TX-DC1", "2026-10",
                                     code=1).err                 # approved is immutable
    assert ">approved<" in m2c("invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "html").out
    listed = m2c.json("invoices", "list", "--format", "json")
    assert [(i["contract_id"], i["version"], i["status"]) for i in listed] == [("PPA-TX-DC1", 1, "approved")]


def test_settle_unknown_contract_is_bad_input(home, m2c):
    assert "NOPE" in m2c("settle", "--period", "2026-10", "--contract", "NOPE", code=2).out
