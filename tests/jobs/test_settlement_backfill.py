"""``m2c settle --from YYYY-MM --to YYYY-MM``: a backfill of consecutive months in one
job, each month its own invoices (issue 12, section 6). The CLI end to end on the
session's Ray and a real local store."""
from __future__ import annotations

import json

import pytest

from api.cli.main import main
from storage.config import StorageConfig
from storage.invoices import InvoiceStore
from tests.support.portfolio import load_demo

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

CONTRACTS = ["GAS-TX-DC2", "PPA-TX-DC1", "PPA-TX-DC2", "VPPA-TX-DC1-SOLAR"]


@pytest.fixture
def m2c_env(tmp_path, monkeypatch, ray_cluster):
    cfg = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    monkeypatch.setenv("M2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("M2C_STORAGE", cfg.uri)
    for var in ("M2C_DB", "RAY_ADDRESS", "M2C_S3_ENDPOINT", "M2C_API_URL"):
        monkeypatch.delenv(var, raising=False)
    return load_demo(cfg, tmp_path / "files", months=2, minutes=15)


def test_a_backfill_settles_each_month_into_its_own_invoices_in_one_job(m2c_env, capsys):
    store = m2c_env
    argv = ["settle", "--from", "2026-09", "--to", "2026-10", "--format", "json"]
    assert main(argv) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["state"] == "succeeded"
    assert job["spec"]["from_period"] == "2026-09" and job["spec"]["to_period"] == "2026-10"
    result = job["result"]
    assert result["periods"] == ["2026-09", "2026-10"] and result["period"] is None
    assert [(i["period"], i["contract_id"], i["version"], i["outcome"]) for i in result["invoices"]] \
        == [(p, c, 1, "published") for p in ("2026-09", "2026-10") for c in CONTRACTS]
    inv = InvoiceStore(store)
    for p in ("2026-09", "2026-10"):
        for cid in CONTRACTS:
            doc, _ = inv.get(cid, p)
            assert doc["period"] == p and doc["lineage"]["run_id"] == job["id"]
            assert doc["lineage"]["data_versions"] == result["data_versions"]
    # the same backfill again is the same job (natural key); a month of it is another one
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["id"] == job["id"]
    assert main(["settle", "--period", "2026-10", "--format", "json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["id"] != job["id"]
    assert {i["outcome"] for i in single["result"]["invoices"]} == {"unchanged"}


def test_a_backfill_needs_both_ends(m2c_env, capsys):
    assert main(["settle", "--from", "2026-09"]) == 2
    assert "--from YYYY-MM and --to YYYY-MM" in capsys.readouterr().err
    assert main(["settle", "--period", "2026-10", "--to", "2026-11"]) == 2
    assert main(["settle", "--from", "2026-10", "--to", "2026-09"]) == 2
    assert "before from_period" in capsys.readouterr().err
