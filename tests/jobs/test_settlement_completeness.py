"""The completeness gate end to end (issue 12, section 1): real storage, real Ray, real
SQLite catalog, the demo portfolio with meter data taken away.

Before the gate, a month with no meter data at all was published as a multi-million
dollar draft rebuilt from like days, and a site with days of data missing was billed
with them as zero; approve accepted both.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli.main import main
from cluster.executor import RunOptions, Runtime, run_job
from cluster.runtime import ClusterConfig
from engine.errors import ConflictError, DataMissingError
from jobs.catalog import JobCatalog
from jobs.readiness import readiness
from jobs.rebill import reproduce_invoice
from jobs.specs import parse_spec
from storage.config import StorageConfig
from storage.invoices import InvoiceStore
from storage.tables import Tables
from tests.support.cli import point_cli_at
from tests.support.portfolio import NOW
from tests.support.short_demo import CONTRACTS, PERIOD, load_short_demo, no_month, tx_dc2_short

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


def _settle(cfg, catalog, ray_cluster, **spec) -> dict:
    record, _ = catalog.submit(parse_spec({"kind": "settlement", "period": PERIOD, **spec}),
                               now_utc=NOW)
    cluster = ClusterConfig(address=None, workers=2, namespace=ray_cluster.namespace)
    return run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW,
                   options=RunOptions(partition_size=1))


def _catalog(path: Path) -> JobCatalog:
    c = JobCatalog(f"sqlite:///{path}")
    c.init_schema()
    return c


@pytest.fixture
def m2c_env(tmp_path, monkeypatch, catalog_url):
    """The CLI's settings pointed at a store the test fills itself."""
    cfg = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    point_cli_at(monkeypatch, tmp_path / "home", cfg, catalog_url)
    return cfg


def test_a_month_without_meter_data_fails_listing_every_contract_site_and_channel(
        tmp_path, ray_cluster, m2c_env, capsys):
    cfg = m2c_env
    store = load_short_demo(cfg, tmp_path / "files", no_month)
    catalog = _catalog(tmp_path / "jobs.db")
    with pytest.raises(DataMissingError) as err:
        _settle(cfg, catalog, ray_cluster)
    message = str(err.value)
    # every contract and site, each with counts (one partition per item: the reduce saw them all)
    for cid in CONTRACTS:
        assert f"{cid} {PERIOD} site " in message, cid
    assert "site TX-DC1 (all channels read): 2976 intervals, 0 estimated (0.00 % <= 5 %), 2976 missing" \
        in message
    assert "PPA-TX-DC1 2026-10 site TX-DC1 channel gt1:" in message
    assert "PPA-TX-DC2 2026-10 site TX-DC2 channel dc:" in message
    job = catalog.list()[0][0]
    assert job.state == "failed" and job.error_type == "DataMissingError"
    assert InvoiceStore(store).list() == []                         # nothing published
    listed = json.loads(store.get(f"runs/{job.id}/completeness.json"))["shortfalls"]
    assert {s["contract_id"] for s in listed} == set(CONTRACTS)
    assert all(s["missing"] == s["intervals_expected"] for s in listed)

    # m2c vee says so with exit 2 (the report is still printed)
    assert main(["vee", "TX-DC1", "--period", PERIOD, "--format", "json"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["vee"]["actual"] == 0
    assert f"no meter data for site TX-DC1 in {PERIOD}" in out.err
    assert main(["vee", "TX-DC1", "--period", "2026-09"]) == 0     # September is there
    capsys.readouterr()
    # and the readiness check says so before any job runs
    doc = readiness(store, Tables(store), [PERIOD])
    assert not doc["ready"]
    assert [(e["contract_id"], e["status"]) for e in doc["contracts"]] == [(c, "short") for c in CONTRACTS]


def test_a_short_site_fails_the_month_then_is_published_estimated_on_override(
        tmp_path, ray_cluster, m2c_env, capsys):
    cfg = m2c_env
    store = load_short_demo(cfg, tmp_path / "files", tx_dc2_short)
    catalog = _catalog(tmp_path / "jobs.db")

    # readiness first: the CLI check (exit 2, a table, and JSON), nothing written
    assert main(["settle", "--period", PERIOD, "--check"]) == 2
    text = capsys.readouterr().out
    assert "NOT READY: 2 of 4 contract-period(s)" in text
    assert "TX-DC2  (site)" in text and "SHORT" in text
    assert main(["settle", "--period", PERIOD, "--check", "--contract", "PPA-TX-DC1",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ready"] and [e["contract_id"] for e in doc["contracts"]] == ["PPA-TX-DC1"]
    site = doc["contracts"][0]["sites"][0]
    assert site["site"]["missing"] == 0 and site["market"] == [] and site["limits"] == {
        "max_estimated_pct": "5", "max_missing_pct": "0"}
    assert InvoiceStore(store).list() == []

    # the job: both TX-DC2 contracts listed, in their own partitions; nothing published
    with pytest.raises(DataMissingError) as err:
        _settle(cfg, catalog, ray_cluster)
    message = str(err.value)
    assert "for 2 contract-period(s)" in message
    assert "GAS-TX-DC2 2026-10 site TX-DC2" in message and "PPA-TX-DC2 2026-10 site TX-DC2" in message
    assert "TX-DC1" not in message
    assert "384 missing" in message                    # 4 days x 96: too much for like days
    assert InvoiceStore(store).list() == []

    # the override: TX-DC2's invoices are published as estimated, marked; TX-DC1's are drafts
    result = _settle(cfg, catalog, ray_cluster, allow_incomplete=True)
    status = {i["contract_id"]: i["status"] for i in result["invoices"]}
    assert status == {"GAS-TX-DC2": "estimated", "PPA-TX-DC1": "draft", "PPA-TX-DC2": "estimated",
                      "VPPA-TX-DC1-SOLAR": "draft"}
    inv = InvoiceStore(store)
    doc, html = inv.get("PPA-TX-DC2", PERIOD)
    assert doc["status"] == "estimated" and doc["completeness"]["override"] == "allow_incomplete"
    short = doc["completeness"]["shortfalls"]
    assert short[0]["site_id"] == "TX-DC2" and short[0]["channel"] is None
    assert short[0]["missing"] == doc["vee"]["missing"] == 384
    assert "ESTIMATED: this invoice rests on meter data beyond its completeness limits" in html
    assert "completeness" not in inv.get("PPA-TX-DC1", PERIOD)[0]
    # reproducible as it stands: the same gate, the same bytes
    assert reproduce_invoice(store, Tables(store), "PPA-TX-DC2", PERIOD, 1) == \
        inv.raw_json("PPA-TX-DC2", PERIOD, 1)

    # approval needs a second explicit flag, and records it
    with pytest.raises(ConflictError, match="estimated.*--accept-estimated"):
        inv.approve("PPA-TX-DC2", PERIOD, now_utc=NOW)
    assert main(["invoices", "approve", "GAS-TX-DC2", PERIOD]) == 1
    assert "--accept-estimated" in capsys.readouterr().err
    assert main(["invoices", "approve", "GAS-TX-DC2", PERIOD, "--accept-estimated"]) == 0
    assert "estimates accepted" in capsys.readouterr().out
    approved, html = inv.get("GAS-TX-DC2", PERIOD)
    assert approved["status"] == "approved" and approved["approval"]["accepted_estimated"] is True
    assert "accepting the estimates" in html
    inv.approve("PPA-TX-DC1", PERIOD, now_utc=NOW)              # a draft needs no flag
    assert "accepted_estimated" not in inv.approval("PPA-TX-DC1", PERIOD, 1)


def test_readiness_over_the_api_is_for_those_who_may_settle(tmp_path):
    import warnings

    from api.app import create_app
    from api.keystore import KeyStore
    from api.settings import Settings
    from tests.support.api_servers import QueueOnlyDispatcher
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    home = tmp_path / "home"
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}"})
    load_short_demo(settings.storage_config(), tmp_path / "files", tx_dc2_short)
    keys = KeyStore(settings.db_url)
    scheduler = keys.create("scheduler", now_utc=NOW)[1]
    investor = keys.create("investor", now_utc=NOW)[1]
    with TestClient(create_app(settings, dispatcher=QueueOnlyDispatcher()),
                    raise_server_exceptions=False) as client:
        url = f"/v1/settlements/{PERIOD}/readiness"
        r = client.get(url, headers={"X-API-Key": scheduler})
        assert r.status_code == 200
        doc = r.json()
        assert doc["ready"] is False
        assert {e["contract_id"]: e["status"] for e in doc["contracts"]} == {
            "GAS-TX-DC2": "short", "PPA-TX-DC1": "ready", "PPA-TX-DC2": "short",
            "VPPA-TX-DC1-SOLAR": "ready"}
        r = client.get(url, params={"contract": ["PPA-TX-DC1"]}, headers={"X-API-Key": scheduler})
        assert r.status_code == 200 and r.json()["ready"] is True
        assert client.get(url, headers={"X-API-Key": investor}).status_code == 403
        r = client.get(url, params={"contract": ["NOPE"]}, headers={"X-API-Key": scheduler})
        assert r.status_code == 400 and "NOPE" in r.json()["detail"]
