"""`m2c contracts | settle | invoices` through the real CLI entry point (embedded path:
real storage, the session Ray, a real SQLite catalog)."""
from __future__ import annotations

import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import yaml

from api.cli.main import main
from jobs.demo_contracts import demo_contracts
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.objectstore import ObjectStore
from tests.support.portfolio import load_demo

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture
def home(tmp_path, monkeypatch, ray_cluster):
    home = tmp_path / "home"
    store = home / "store"
    monkeypatch.setenv("M2C_HOME", str(home))
    monkeypatch.setenv("M2C_STORAGE", f"file://{store}")
    monkeypatch.delenv("M2C_DB", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    load_demo(StorageConfig(uri=f"file://{store}"), tmp_path / "files")
    return home


def _json(capsys, argv: list[str], code: int = 0):
    assert main(argv) == code, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_contract_errors_exit_2_name_the_field_and_write_nothing(home, tmp_path, capsys):
    store = ContractStore(ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}")))
    before = {cid: len(store.versions(cid)) for cid in store.contract_ids()}

    bad = demo_contracts(2)[1] | {"contract_id": "PPA-NEW"}
    bad["terms"] = [{**bad["terms"][0], "price_usd_per_mwh": 62.5}]       # a float, not a decimal string
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(bad))
    assert main(["contracts", "add", str(f)]) == 2
    assert "terms[0].price_usd_per_mwh" in capsys.readouterr().err

    unknown = demo_contracts(2)[1] | {"contract_id": "PPA-NEW", "sites": ["NOPE"]}
    f.write_text(yaml.safe_dump(unknown))
    assert main(["contracts", "add", str(f)]) == 2
    assert "NOPE" in capsys.readouterr().err

    # an amendment effective before the term start (and so before version 1)
    amendment = demo_contracts(2)[1] | {"version": 2, "effective_from": "2023-12-31"}
    amendment["terms"] = [{**amendment["terms"][0], "price_usd_per_mwh": "70.00"}, *amendment["terms"][1:]]
    f.write_text(yaml.safe_dump(amendment))
    assert main(["contracts", "add", str(f)]) == 2
    assert "effective_from" in capsys.readouterr().err

    assert {cid: len(store.versions(cid)) for cid in store.contract_ids()} == before
    schema = _json(capsys, ["contracts", "schema"])
    assert schema["$schema"].endswith("2020-12/schema")


def test_settle_show_explain_approve(home, tmp_path, capsys):
    job = _json(capsys, ["settle", "--period", "2026-10", "--contract", "PPA-TX-DC1", "--format", "json"])
    assert job["state"] == "succeeded"
    [summary] = job["result"]["invoices"]
    assert (summary["contract_id"], summary["version"], summary["outcome"]) == ("PPA-TX-DC1", 1, "published")

    doc = _json(capsys, ["invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "json"])
    assert doc["total_usd"] == summary["total_usd"] and doc["status"] == "draft"
    assert main(["invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "html"]) == 0
    assert doc["total_usd"] in capsys.readouterr().out

    out = tmp_path / "on_peak.parquet"
    assert main(["invoices", "explain", "PPA-TX-DC1", "2026-10", "energy:on_peak", "--out", str(out)]) == 0
    rows = pq.read_table(out)
    line = next(ln for ln in doc["lines"] if ln["line_id"] == "energy:on_peak")
    exact = sum(rows.column("amount_picousd").to_pylist())
    assert Decimal(exact) / 10**12 == pytest.approx(Decimal(line["amount_usd"]), abs=Decimal("0.005"))
    assert Decimal(sum(rows.column("quantity_wh").to_pylist())) / 10**6 == Decimal(line["quantity"])
    assert main(["invoices", "explain", "PPA-TX-DC1", "2026-10", "no_such_line"]) == 1

    repro = _json(capsys, ["invoices", "reproduce", "PPA-TX-DC1", "2026-10", "--format", "json"])
    assert repro["identical"] and repro["stored_sha256"] == repro["reproduced_sha256"]

    assert main(["invoices", "approve", "PPA-TX-DC1", "2026-10"]) == 0
    capsys.readouterr()
    assert main(["invoices", "approve", "PPA-TX-DC1", "2026-10"]) == 1       # approved is immutable
    assert "already approved" in capsys.readouterr().err
    assert main(["invoices", "show", "PPA-TX-DC1", "2026-10", "--format", "html"]) == 0
    assert ">approved<" in capsys.readouterr().out
    listed = _json(capsys, ["invoices", "list", "--format", "json"])
    assert [(i["contract_id"], i["version"], i["status"]) for i in listed] == [("PPA-TX-DC1", 1, "approved")]


def test_settle_unknown_contract_is_bad_input(home, capsys):
    assert main(["settle", "--period", "2026-10", "--contract", "NOPE"]) == 2
    assert "NOPE" in capsys.readouterr().out
