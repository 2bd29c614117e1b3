"""The ``scenario`` job: on real Ray the same bytes with one worker or two; a variant
whose LP has no solution fails alone; cancel stops the compute; the base reproduces
the published invoices to the cent and nothing published changes; bad references are
refused before any work."""
from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import replace

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from engine.errors import JobCancelledError, ValidationError
from engine.rebill import usd_to_cents
from jobs import scenario as sj
from jobs.contract_period import settle_contract_period
from jobs.settle_inputs import DataVersions
from jobs.specs import parse_spec
from jobs.tasks import JobContext
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from storage.results import ResultStore
from storage.tables import Tables
from tests.jobs import rebill_fixtures as rb
from tests.jobs.scenario_fixtures import DEMO, FIRST, LAST, NOW, run_in_process, scenario_doc


@pytest.fixture
def demo(demo_stores, tmp_path):
    return demo_stores.copy(tmp_path / "store", **DEMO)[0]


def _run(cfg, cluster, spec: dict, catalog, **kw):
    from cluster.executor import Runtime, run_job
    record, _ = catalog.submit(parse_spec(spec), now_utc=NOW)
    return record.id, run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW, **kw)


def _parts(store: ObjectStore, result_id: str) -> dict[str, bytes]:
    rs = ResultStore(store, "scenario")
    manifest = rs.manifest(result_id)
    return {name: rs.part(result_id, name, manifest) for name in sorted(manifest["parts"])}


@pytest.mark.ray
@pytest.mark.timeout(420)
def test_same_bytes_with_one_and_two_workers(demo, ray_cluster, catalog):
    spec = {"kind": "scenario", "document": scenario_doc()}
    one_id, one = _run(demo, replace(ray_cluster, workers=1), spec, catalog)
    two_id, two = _run(demo, replace(ray_cluster, workers=2), spec, catalog)
    store = ObjectStore.from_config(demo)
    a, b = _parts(store, one_id), _parts(store, two_id)
    assert set(a) == {"lines.parquet", "variants.parquet", "site_energy.parquet", "summary.json",
                      "report.html", "scenario.json"}
    assert a == b                                                   # byte for byte
    rec = catalog.get(two_id)
    assert rec.state == "succeeded" and rec.progress_done == rec.progress_total >= 2

    # one variant failed alone, with its reason; the others completed
    assert one["variants"] == 9 and one["failed"] == 1
    summary = json.loads(a["summary.json"])
    assert summary["failures"] == [{"variant": "battery unreachable", "reason": summary["failures"][0]["reason"]}]
    assert "InfeasibleError" in summary["failures"][0]["reason"] and "window 1 of 1" in summary["failures"][0]["reason"]
    status = {v["variant"]: v["status"] for v in summary["variant_totals"]}
    assert status["battery"] == "ok" and status["battery unreachable"] == "failed"

    # the result table: variant x contract x period x line, deltas against the base
    lines = pq.read_table(io.BytesIO(a["lines.parquet"]))
    assert set(lines.column("variant").to_pylist()) == {v["variant"] for v in summary["variant_totals"]
                                                       if v["status"] == "ok"}
    base = lines.filter(pc.equal(lines.column("variant"), "base"))
    assert set(pc.unique(base.column("delta_cents")).to_pylist()) == {0}
    strike = lines.filter(pc.equal(lines.column("variant"), "strike 30"))
    changed = {r["contract_id"] for r in strike.to_pylist() if r["delta_cents"]}
    assert changed == {"VPPA-TX-DC1-SOLAR"}                        # only the VPPA's strike moved

    # the base is what the billing engine settles for these inputs, to the cent
    stores = ContractStore(store)
    tables = Tables(store)
    data = DataVersions.resolve(tables, store)
    for cid in ("PPA-TX-DC1", "VPPA-TX-DC1-SOLAR"):
        for period in (FIRST, LAST):
            result = settle_contract_period(store, tables, stores.versions(cid), period, data, cache={},
                                            detail=False)
            got = {r["line_id"]: r["amount_cents"] for r in base.to_pylist()
                   if r["contract_id"] == cid and r["period"] == period}
            assert got == {ln.line_id: ln.amount_cents for ln in result.lines}

    # the battery variant moved the storage channels and the grid with them, exactly
    energy = pq.read_table(io.BytesIO(a["site_energy.parquet"]))
    bat = {(r["period"], r["channel"]): r["delta_wh"] for r in energy.to_pylist() if r["variant"] == "battery"}
    for period in (FIRST, LAST):
        assert bat[(period, "bess_chg")] != 0
        assert (bat[(period, "bess_chg")] - bat[(period, "bess_dis")]
                == bat[(period, "imp")] - bat[(period, "exp")])        # the balance holds

    manifest = ResultStore(store, "scenario").manifest(two_id)
    lineage = manifest["lineage"]
    assert lineage["scenario_sha256"] == parse_scenario_sha(spec)
    assert lineage["data_versions"] == data.to_dict() and lineage["solver"].startswith("HiGHS ")
    assert set(lineage["contracts"]) == {"PPA-TX-DC1", "VPPA-TX-DC1-SOLAR"}
    assert all(len(v[0]["sha256"]) == 64 for v in lineage["contracts"].values())
    assert b"<svg" in a["report.html"] and b"http" not in a["report.html"].replace(b"http://www.w3.org/2000/svg", b"")


def parse_scenario_sha(spec: dict) -> str:
    from engine.scenario import parse_scenario
    return parse_scenario(spec["document"]).sha256


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_cancel_stops_the_compute(demo, ray_cluster, catalog):
    big = scenario_doc(variants=[], outputs={}, sweep={
        "parameters": [{"name": "s", "values": [str(i) for i in range(60)]},
                       {"name": "f", "values": [f"1.{i:02d}" for i in range(100)]}],
        "transforms": [{"op": "price_shift", "usd_per_mwh": "{s}"}, {"op": "price_scale", "factor": "{f}"}]})
    spec = parse_spec({"kind": "scenario", "document": big})
    record, _ = catalog.submit(spec, now_utc=NOW)
    box: dict = {}

    def target():
        from cluster.executor import RunOptions, Runtime, run_job
        try:
            box["result"] = run_job(record.id, record.spec, Runtime(demo, catalog, ray_cluster), now_utc=NOW,
                                    options=RunOptions(progress_interval_s=0.2))
        except BaseException as exc:            # noqa: BLE001 - handed to the test
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while catalog.get(record.id).progress_done < 1:
        assert time.monotonic() < deadline and thread.is_alive(), catalog.get(record.id)
        time.sleep(0.1)
    assert catalog.request_cancel(record.id, NOW).state == "cancelling"
    thread.join(timeout=60)
    assert not thread.is_alive() and isinstance(box.get("error"), JobCancelledError)
    rec = catalog.get(record.id)
    assert rec.state == "cancelled" and rec.progress_done < rec.progress_total
    assert ResultStore(ObjectStore.from_config(demo), "scenario").ids() == [] or record.id not in \
        ResultStore(ObjectStore.from_config(demo), "scenario").ids()


def test_the_base_reproduces_the_published_invoices(tmp_path, local_storage):
    rs = rb.build_store(local_storage, tmp_path / "files")
    periods = ["2024-01", "2024-02", "2024-03"]
    approved = rs.settle_and_approve(periods)
    before = {p: InvoiceStore(rs.store).raw_json(rb.CID, p, approved[p]) for p in periods}
    doc = {"scenario": "rebill-base", "base": {"from_period": "2024-01", "to_period": "2024-03"},
           "variants": [{"name": "node +20", "transforms": [{"op": "price_shift", "usd_per_mwh": "20"}]},
                        {"name": "no export below zero", "transforms": [{"op": "no_negative_export"}]},
                        {"name": "share 0.8", "transforms": [{"op": "export_share", "share_to_buyer": "0.8"}]}]}
    result = run_in_process(rs.store, doc, "job-base-1")
    lines = pq.read_table(io.BytesIO(ResultStore(rs.store, "scenario").part("job-base-1", "lines.parquet")))
    for p in periods:
        invoice = InvoiceStore(rs.store).get(rb.CID, p)[0]
        base = {r["line_id"]: r["amount_cents"] for r in lines.to_pylist()
                if r["variant"] == "base" and r["period"] == p}
        assert base == {ln["line_id"]: usd_to_cents(ln["amount_usd"]) for ln in invoice["lines"]}
        assert sum(base.values()) == usd_to_cents(invoice["total_usd"])
    shifted = [r for r in lines.to_pylist() if r["variant"] == "node +20" and r["line_id"] == "export"]
    assert all(r["delta_cents"] < 0 for r in shifted)        # the buyer's credit grows with the price
    assert result["failed"] == 0
    # nothing published changed: same versions, same bytes, nothing approved anew
    for p in periods:
        assert InvoiceStore(rs.store).versions(rb.CID, p) == [approved[p]]
        assert InvoiceStore(rs.store).raw_json(rb.CID, p, approved[p]) == before[p]
    # the same document and data again: the same result bytes (under another id)
    run_in_process(rs.store, doc, "job-base-2")
    assert _parts(rs.store, "job-base-1") == _parts(rs.store, "job-base-2")


def test_references_are_refused_before_any_work(tmp_path, local_storage):
    rs = rb.build_store(local_storage, tmp_path / "files")
    bad = {"scenario": "bad", "base": {"from_period": "2024-01", "to_period": "2024-02", "contracts": ["NOPE"]}}
    spec = parse_spec({"kind": "scenario", "document": bad})
    jctx = JobContext(store=rs.store, job_id="job-bad", now_utc=NOW)
    with pytest.raises(ValidationError) as exc:
        sj.plan(spec, jctx)
    assert exc.value.field == "base.contracts[0]" and "unknown contract 'NOPE'" in str(exc.value)
    chan = {"scenario": "bad", "base": {"from_period": "2024-01", "to_period": "2024-02"},
            "variants": [{"name": "wind", "transforms": [{"op": "channel_scale", "channel": "wind", "factor": "2"}]}]}
    with pytest.raises(ValidationError) as exc:
        sj.plan(parse_spec({"kind": "scenario", "document": chan}), jctx)
    assert exc.value.field == "variants[0].transforms[0].channel" and "variant 'wind'" in str(exc.value)
    assert rs.store.list("results/") == [] and rs.store.list("runs/") == []
