"""The executor on the real session Ray (2 CPUs) with real storage and a real catalog:
results, worker death, resume, cancel, data errors, determinism."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace

import pytest

from cluster.executor import RunOptions, Runtime, run_job
from cluster.pool import WorkerPool
from engine.errors import DataMissingError, InputError, JobCancelledError
from jobs import probe
from jobs.meter_totals import result_key, result_prefix
from jobs.parts import commit_part, committed_keys
from jobs.probe import ProbeSpec
from jobs.specs import MeterTotalsSpec
from jobs.tasks import JobContext, WorkerContext, encode_key
from storage.objectstore import ObjectStore
from storage.publish import read_committed, verify_part
from tests.support.meter_totals_data import NOW, write_meter_data
from tests.support.probe_runs import executions, expected_total

pytestmark = pytest.mark.ray


def _submit(catalog, spec):
    rec, created = catalog.submit(spec, now_utc=NOW)
    assert created
    return rec.id


def _run(catalog, spec, storage, cluster, **kw):
    job_id = _submit(catalog, spec)
    return job_id, run_job(job_id, spec, Runtime(storage, catalog, cluster), now_utc=NOW, **kw)


def _wait_progress(catalog, job_id, done: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while catalog.get(job_id).progress_done < done:
        assert time.monotonic() < deadline, f"job {job_id} made no progress: {catalog.get(job_id)}"
        time.sleep(0.05)


def _in_thread(fn):
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:          # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


# (a) + (g-data): a real audit job over several partitions equals a direct computation --------

@pytest.mark.timeout(120)
def test_meter_totals_equals_direct_computation(ray_cluster, s3_storage, catalog):
    data = write_meter_data(s3_storage)
    spec = MeterTotalsSpec(from_period="2026-02", to_period="2026-04")
    job_id, result = _run(catalog, spec, s3_storage, ray_cluster)
    rec = catalog.get(job_id)
    assert rec.state == "succeeded" and rec.progress_done == rec.progress_total == 9
    assert result == rec.result and result["meter_version"] == data["versions"][1]
    store = ObjectStore.from_config(s3_storage)
    manifest = read_committed(store, result_prefix(job_id))          # atomically published
    assert manifest["meter_version"] == result["meter_version"]
    assert result["manifest"] == result_prefix(job_id) + "manifest.json"
    doc = json.loads(verify_part(store, result_prefix(job_id), manifest, "totals.json"))
    got = {(r["site_id"], r["month"], r["channel"]):
           {k: r[k] for k in ("energy_wh", "intervals", "actual", "estimated", "substituted", "final")}
           for r in doc["rows"]}
    assert got == data["expected"]
    assert doc["energy_wh"] == result["energy_wh"] == sum(e["energy_wh"] for e in data["expected"].values())
    # the superseded week is estimated data of the second ingest
    assert got[("TX-DC1", "2026-03", "gt1")]["estimated"] == 7 * 24

    # as of the first ingest, the superseded values are back
    job_v0, res_v0 = _run(catalog, MeterTotalsSpec(from_period="2026-03", to_period="2026-03",
                                                   sites=["TX-DC1"], as_of=data["versions"][0]),
                          s3_storage, ray_cluster)
    doc_v0 = json.loads(ObjectStore.from_config(s3_storage).get(res_v0["uri"]))
    assert {r["estimated"] for r in doc_v0["rows"]} == {0}
    assert res_v0["site_months"] == 1


# (f) determinism ---------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_same_bytes_whatever_workers_and_partition_size(ray_cluster, meter_data, catalog):
    storage, _ = meter_data
    store = ObjectStore.from_config(storage)
    spec = MeterTotalsSpec(from_period="2026-02", to_period="2026-04")
    published = []
    for workers, size in ((1, 1), (2, 1), (2, 4)):
        cluster = replace(ray_cluster, workers=workers, partition_size=size)
        job_id, _ = _run(catalog, spec, storage, cluster)
        assert len(committed_keys(store, job_id)) == -(-9 // size)
        published.append(store.get(result_key(job_id)))
    assert published[0] == published[1] == published[2]


# (e) a data error fails the job with that message -------------------------------------------

@pytest.mark.timeout(90)
def test_partition_data_error_fails_the_job(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=8, work_ms=20, fail_item="item-000005")
    job_id = _submit(catalog, spec)
    with pytest.raises(DataMissingError, match="item-000005: no input data"):
        run_job(job_id, spec, Runtime(local_storage, catalog, ray_cluster), now_utc=NOW)
    rec = catalog.get(job_id)
    assert rec.state == "failed" and rec.error_type == "DataMissingError"
    assert "partition item-000005: probe item item-000005: no input data" in rec.error
    assert not ObjectStore.from_config(local_storage).exists(f"runs/{job_id}/probe-result.json")


@pytest.mark.timeout(90)
def test_planning_input_error_fails_the_job(ray_cluster, meter_data, catalog):
    storage, _ = meter_data
    spec = MeterTotalsSpec(from_period="2026-02", to_period="2026-04", sites=["NO-SUCH-SITE"])
    job_id = _submit(catalog, spec)
    with pytest.raises(InputError, match="NO-SUCH-SITE"):
        run_job(job_id, spec, Runtime(storage, catalog, ray_cluster), now_utc=NOW)
    rec = catalog.get(job_id)
    assert rec.state == "failed" and rec.error_type == "InputError" and "NO-SUCH-SITE" in rec.error


# (b) a worker dies mid-job -----------------------------------------------------------------

@pytest.mark.timeout(120)
def test_worker_killed_mid_job_gives_identical_result(ray_cluster, local_storage, catalog, caplog):
    spec = ProbeSpec(items=12, work_ms=150, seed=7)
    store = ObjectStore.from_config(local_storage)
    caplog.set_level("WARNING", logger="cluster.executor")
    with WorkerPool(2, local_storage) as pool:
        pids = pool.pids()
        job_id = _submit(catalog, spec)
        thread, box = _in_thread(lambda: run_job(
            job_id, spec, Runtime(local_storage, catalog, ray_cluster), now_utc=NOW, pool=pool))
        _wait_progress(catalog, job_id, 2)
        os.kill(pids[0], signal.SIGKILL)
        thread.join(timeout=90)
        assert not thread.is_alive()
        assert "error" not in box, box.get("error")
        assert pool.pids()[0] != pids[0]           # the actor was restarted in a new process
    assert box["result"]["total"] == expected_total(spec)
    assert box["result"]["items"] == 12
    runs = executions(store, job_id)
    assert set(runs) == {probe.item_key(i) for i in range(12)}
    # the dead worker's in-flight partitions were dispatched again (one may have died before
    # it started, so the execution count alone cannot prove the retry)
    assert any("died running" in r.getMessage() and "retrying" in r.getMessage()
               for r in caplog.records if r.name == "cluster.executor")
    assert len(committed_keys(store, job_id)) == 12
    assert catalog.get(job_id).state == "succeeded"


# (c) resume after the driver died ----------------------------------------------------------

@pytest.mark.timeout(90)
def test_resume_recomputes_nothing_committed(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=10, work_ms=10, seed=3)
    store = ObjectStore.from_config(local_storage)
    job_id = _submit(catalog, spec)
    # attempt 1: a runner started, committed 4 partitions, then died (no terminal state)
    catalog.mark_running(job_id, attempt=1, runner="dead-runner", now_utc=NOW)
    parts = probe.plan(spec, JobContext(store=store, job_id=job_id, now_utc=NOW))
    wctx = WorkerContext(store=store, job_id=job_id, attempt=1)
    for part in parts[:4]:
        commit_part(store, job_id, part.key, probe.run_partition(part, wctx), attempt=1)
    probe.run_partition(parts[4], wctx)            # ran but never committed
    result = run_job(job_id, spec, Runtime(local_storage, catalog, ray_cluster), now_utc=NOW)
    rec = catalog.get(job_id)
    assert rec.state == "succeeded" and rec.attempt == 2
    assert result["total"] == expected_total(spec)
    runs = executions(store, job_id)
    assert all(runs[encode_key(p.key)] == 1 for p in parts[:4])      # not recomputed
    assert runs[encode_key(parts[4].key)] == 2                        # uncommitted: rerun
    assert all(runs[encode_key(p.key)] == 1 for p in parts[5:])


# (d) cancel mid-job ------------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_cancel_mid_job(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=40, work_ms=300)            # ~6 s of work on 2 workers
    store = ObjectStore.from_config(local_storage)
    job_id = _submit(catalog, spec)
    thread, box = _in_thread(lambda: run_job(
        job_id, spec, Runtime(local_storage, catalog, ray_cluster), now_utc=NOW,
        options=RunOptions(progress_interval_s=0.2)))
    _wait_progress(catalog, job_id, 2)
    assert catalog.request_cancel(job_id, NOW).state == "cancelling"
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert isinstance(box.get("error"), JobCancelledError)
    rec = catalog.get(job_id)
    assert rec.state == "cancelled" and rec.progress_done < 40
    assert not store.exists(f"runs/{job_id}/probe-result.json")      # nothing published
    ran = sum(executions(store, job_id).values())
    time.sleep(0.5)
    assert sum(executions(store, job_id).values()) == ran            # workers stopped
    assert ran < 40


@pytest.mark.timeout(30)
def test_unrunnable_spec_fails_the_job_not_hangs(local_storage, catalog):
    from engine.errors import ConflictError
    job_id = _submit(catalog, ProbeSpec(items=1))
    with pytest.raises(InputError):
        run_job(job_id, {"kind": "no_such_kind", "years": 20}, Runtime(local_storage, catalog, None),
                now_utc=NOW)
    rec = catalog.get(job_id)
    assert rec.state == "failed" and "no_such_kind" in rec.error
    with pytest.raises(ConflictError):        # terminal: a late runner records nothing
        run_job(job_id, ProbeSpec(items=1), Runtime(local_storage, catalog, None), now_utc=NOW)


@pytest.mark.timeout(60)
def test_worker_returns_a_committed_partition_without_recomputing(ray_cluster, local_storage):
    import ray
    store = ObjectStore.from_config(local_storage)
    spec = ProbeSpec(items=2)
    parts = probe.plan(spec, JobContext(store=store, job_id="job-w", now_utc=NOW))
    wctx = WorkerContext(store=store, job_id="job-w", attempt=1)
    commit_part(store, "job-w", parts[0].key, probe.run_partition(parts[0], wctx), attempt=1)
    with WorkerPool(1, local_storage) as pool:
        again, fresh = ray.get([pool.submit(0, "job-w", 2, "probe", parts[0]),
                                pool.submit(0, "job-w", 2, "probe", parts[1])])
    assert again.status == fresh.status == "ok"
    assert again.reused is True and fresh.reused is False
    assert executions(store, "job-w") == {parts[0].key: 1, parts[1].key: 1}
