"""A settlement resumed after its runner died bills the snapshot its first attempt
pinned (issue 12, section 2): real Ray workers, real storage, real catalog.

Before the pins, the resumed attempt re-planned with the data versions current at the
resume and reused the partition the dead attempt had committed at the old ones: a
two-site contract's invoice said ``meter 0`` while one site was settled at ``meter 1``,
and ``reproduce`` gave other bytes.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import ray

from cluster.executor import RunOptions, Runtime, run_job
from cluster.pool import WorkerPool
from cluster.runtime import ClusterConfig
from jobs import settle
from jobs.demo_contracts import demo_contracts
from jobs.parts import MARKER
from jobs.rebill import reproduce_invoice
from jobs.settle_inputs import pins_key
from jobs.specs import parse_spec
from jobs.tasks import JobContext, part_prefix
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_meter
from storage.invoices import InvoiceStore
from storage.sites import load_sites
from storage.tables import Tables
from tests.support.portfolio import NOW, load_demo

pytestmark = pytest.mark.ray

PERIOD = "2026-10"


def _land_tx_dc2_correction(store, directory) -> int:
    """A re-read of TX-DC2's October load (10 % higher): a new meter data version."""
    head, *lines = (directory / "meter" / f"TX-DC2_{PERIOD}.csv").read_text().splitlines()
    fixed = [",".join([*f[:4], f"{float(f[4]) * 1.1:.3f}", f[5]])
             for f in (line.split(",") for line in lines) if f[1] == "dc"]
    path = directory / "late.csv"
    path.write_text("\n".join([head, *fixed]) + "\n")
    return ingest_meter(store, [path], "csv", sites=load_sites(store),
                        now_utc=NOW + timedelta(hours=1)).version


@pytest.mark.timeout(240)
def test_a_resumed_settlement_bills_and_names_the_snapshot_its_first_attempt_pinned(
        ray_cluster, tmp_path, catalog):
    cfg = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    store = load_demo(cfg, tmp_path / "files", minutes=15)
    both = {**demo_contracts(2)[0], "contract_id": "PPA-TX-BOTH", "sites": ["TX-DC1", "TX-DC2"]}
    ContractStore(store).add(both, sites=load_sites(store))
    meter_then = Tables(store).resolve_as_of("meter", None)
    spec = parse_spec({"kind": "settlement", "period": PERIOD})
    record, _ = catalog.submit(spec, now_utc=NOW)

    # attempt 1: its runner plans, a worker commits the first partition, the runner dies
    catalog.mark_running(record.id, attempt=1, runner="dead-runner", now_utc=NOW)
    parts = settle.plan(spec, JobContext(store=store, job_id=record.id, now_utc=NOW, attempt=1))
    first = next(p for p in parts if any(
        (i["params"]["contract_id"], i["params"]["site_id"]) == ("PPA-TX-BOTH", "TX-DC1")
        for i in p.params["items"]))
    with WorkerPool(1, cfg) as pool:
        outcome = ray.get(pool.submit(0, record.id, 1, "settlement", first))
    assert outcome.status == "ok" and not outcome.reused

    # new meter data lands for the contract's other site, then the job is resumed
    meter_now = _land_tx_dc2_correction(store, tmp_path / "files")
    assert meter_now != meter_then
    cluster = ClusterConfig(address=None, workers=2, namespace=ray_cluster.namespace)
    result = run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW,
                     options=RunOptions(partition_size=1))
    rec = catalog.get(record.id)
    assert rec.state == "succeeded" and rec.attempt == 2
    marker = json.loads(store.get(part_prefix(record.id, first.key) + MARKER))
    assert marker["attempt"] == 1                              # reused, not recomputed

    # every invoice names the pinned snapshot and reproduces to the byte
    pins = json.loads(store.get(pins_key(record.id, spec)))
    assert pins["data"]["meter"] == meter_then and result["data_versions"] == pins["data"]
    inv = InvoiceStore(store)
    published = [(i["contract_id"], i["version"]) for i in result["invoices"]]
    assert ("PPA-TX-BOTH", 1) in published and len(published) == 5
    tables = Tables(store)
    for cid, version in published:
        doc = json.loads(inv.raw_json(cid, PERIOD, version))
        assert doc["lineage"]["data_versions"]["meter"] == meter_then, cid
        assert doc["lineage"]["contract_version_cap"] == pins["contracts"][cid]
        assert reproduce_invoice(store, tables, cid, PERIOD, version) == \
            inv.raw_json(cid, PERIOD, version), cid
