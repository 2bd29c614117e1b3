"""The settlement job end to end: real storage, real Ray, real SQLite catalog."""
from __future__ import annotations

import json
from decimal import Decimal

import pyarrow.compute as pc
import pytest

from cluster.executor import RunOptions, Runtime, run_job
from cluster.runtime import ClusterConfig
from engine.errors import DataMissingError
from jobs.catalog import JobCatalog
from jobs.demo_contracts import demo_contracts
from jobs.contract_period import settle_contract_period
from jobs.settle_inputs import DataVersions
from jobs.specs import parse_spec
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from storage.sites import load_sites
from storage.tables import Tables
from tests.support.portfolio import NOW

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

PERIOD = "2026-10"


def _run(cfg: StorageConfig, catalog: JobCatalog, ray_cluster: ClusterConfig, *, workers: int,
         partition_size: int = 1, contracts: list[str] | None = None) -> dict:
    spec = {"kind": "settlement", "period": PERIOD, **({"contracts": contracts} if contracts else {})}
    record, _ = catalog.submit(parse_spec(spec), now_utc=NOW, idempotency_key=None)
    cluster = ClusterConfig(address=None, workers=workers, namespace=ray_cluster.namespace)
    return run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW,
                   options=RunOptions(partition_size=partition_size))


def _invoice_bytes(cfg: StorageConfig) -> dict[str, tuple[dict, bytes]]:
    """contract -> (invoice document without its run id, detail parquet bytes)."""
    inv = InvoiceStore(ObjectStore.from_config(cfg))
    out = {}
    for cid, period, version in inv.list(period=PERIOD):
        doc = json.loads(inv.raw_json(cid, period, version))
        doc["lineage"]["run_id"] = None
        prefix = f"invoices/{cid}/{period}/v{version}/"
        out[cid] = (doc, inv.store.get(prefix + "detail.parquet"))
    return out


def test_settles_every_active_contract_with_exact_totals(tmp_path, ray_cluster, catalog, demo_stores):
    cfg, store = demo_stores.copy(tmp_path / "store")
    result = _run(cfg, catalog, ray_cluster, workers=2)
    ids = [i["contract_id"] for i in result["invoices"]]
    assert ids == ["GAS-TX-DC2", "PPA-TX-DC1", "PPA-TX-DC2", "VPPA-TX-DC1-SOLAR"]
    inv = InvoiceStore(store)
    for summary in result["invoices"]:
        assert summary["outcome"] == "published" and summary["version"] == 1
        doc, html = inv.get(summary["contract_id"], PERIOD)
        # lines sum to the total to the cent; the stored bytes are the canonical document
        assert sum(Decimal(ln["amount_usd"]) for ln in doc["lines"]) == Decimal(doc["total_usd"])
        assert doc["lineage"]["data_versions"] == result["data_versions"]
        assert doc["vee"]["intervals_expected"] == 31 * 24 * 12   # October 2026, Chicago: 744 h
        assert 'data-status="draft"' in html or "draft" in html
        # every interval-level line is explained exactly by its detail rows
        detail = inv.detail(summary["contract_id"], PERIOD)
        for ln in doc["lines"]:
            rows = detail.filter(pc.equal(detail.column("line_id"), ln["line_id"]))
            if rows.num_rows:
                exact = sum(rows.column("amount_picousd").to_pylist())
                cents = (abs(exact) + 5 * 10**9) // 10**10 * (1 if exact >= 0 else -1)
                assert Decimal(cents) / 100 == Decimal(ln["amount_usd"])


def test_a_contract_over_two_sites_combines_their_detail_as_settled_in_process(tmp_path, ray_cluster,
                                                                             catalog, demo_stores):
    """Two billing site-months for one contract: the reduce reads both partitions'
    detail, combines and encodes it (one site-month publishes the partition's bytes);
    the invoice equals the in-process settlement of the same pinned inputs."""
    cfg, store = demo_stores.copy(tmp_path / "store")
    both = {**demo_contracts(2)[0], "contract_id": "PPA-TX-BOTH", "sites": ["TX-DC1", "TX-DC2"]}
    ContractStore(store).add(both, sites=load_sites(store))
    result = _run(cfg, catalog, ray_cluster, workers=2, contracts=["PPA-TX-BOTH"])
    inv = InvoiceStore(store)
    doc, _ = inv.get("PPA-TX-BOTH", PERIOD)
    tables = Tables(store)
    data = DataVersions.from_dict(result["data_versions"])
    stored = ContractStore(store).versions("PPA-TX-BOTH")
    expected = settle_contract_period(store, tables, stored, PERIOD, data, cache={})
    assert Decimal(doc["total_usd"]) * 100 == expected.total_cents
    assert [Decimal(ln["amount_usd"]) * 100 for ln in doc["lines"]] == [
        ln.amount_cents for ln in expected.lines]
    detail = inv.detail("PPA-TX-BOTH", PERIOD)
    assert detail.equals(expected.detail)
    assert sorted(set(detail.column("site_id").to_pylist())) == ["TX-DC1", "TX-DC2"]


def test_same_invoices_whatever_the_workers_and_partition_size(tmp_path, ray_cluster, new_catalog,
                                                                demo_stores):
    runs = []
    for i, (workers, size) in enumerate([(1, 1), (2, 1), (2, 3)]):
        cfg, _ = demo_stores.copy(tmp_path / f"store{i}")
        _run(cfg, new_catalog(), ray_cluster, workers=workers, partition_size=size)
        runs.append(_invoice_bytes(cfg))
    assert runs[0].keys() == runs[1].keys() == runs[2].keys()
    for cid in runs[0]:
        assert runs[0][cid] == runs[1][cid] == runs[2][cid], cid


def test_retrigger_is_idempotent_and_approved_invoices_are_not_resettled(tmp_path, ray_cluster, catalog,
                                                                         new_catalog, demo_stores):
    cfg, store = demo_stores.copy(tmp_path / "store")
    first = _run(cfg, catalog, ray_cluster, workers=2, contracts=["PPA-TX-DC1"])
    InvoiceStore(store).approve("PPA-TX-DC1", PERIOD, now_utc=NOW)
    # a second trigger for the same period and contracts is the same job (natural key)
    record, created = catalog.submit(parse_spec({"kind": "settlement", "period": PERIOD,
                                                 "contracts": ["PPA-TX-DC1"]}), now_utc=NOW)
    assert not created and record.result == first
    # a fresh job (e.g. after the first was archived) does not settle an approved period again
    again = _run(cfg, new_catalog(), ray_cluster, workers=1, contracts=["PPA-TX-DC1"])
    assert [(i["outcome"], i["version"], i["status"]) for i in again["invoices"]] == [("approved", 1, "approved")]
    assert InvoiceStore(store).versions("PPA-TX-DC1", PERIOD) == [1]


def test_missing_prices_fail_the_job_with_the_reason_and_publish_nothing(tmp_path, ray_cluster, catalog,
                                                                         demo_stores):
    cfg, store = demo_stores.copy(tmp_path / "store", with_prices=False)
    with pytest.raises(DataMissingError) as err:
        _run(cfg, catalog, ray_cluster, workers=2, contracts=["VPPA-TX-DC1-SOLAR"])
    assert "HB_NORTH" in str(err.value) and "RT" in str(err.value)
    job = catalog.list()[0][0]
    assert job.state == "failed" and "HB_NORTH" in job.error
    assert InvoiceStore(store).list() == []
