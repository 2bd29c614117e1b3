"""Detached JobRunner actors on the real session Ray: hand-off, dedupe, cancel,
runner death + reconcile (resume as attempt 2), inline runs."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
import ray

from cluster import job_runner
from jobs import probe
from jobs.parts import committed_keys
from jobs.probe import ProbeSpec
from storage.objectstore import ObjectStore
from tests.support.probe_runs import executions, expected_total

pytestmark = pytest.mark.ray

NOW = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


def _wait(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _runner_gone(job_id: str) -> bool:
    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    return job_runner.runner_name(job_id) not in names


@pytest.mark.timeout(90)
def test_detached_runner_runs_once_and_exits(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=6, work_ms=50)
    rec, _ = catalog.submit(spec, now_utc=NOW)
    kw = dict(storage_config=local_storage, db_url=catalog.db_url, cluster_config=ray_cluster)
    job_runner.submit_detached(rec.id, **kw)
    job_runner.submit_detached(rec.id, **kw)            # a double hand-off: same runner
    _wait(lambda: catalog.get(rec.id).is_terminal, what="job end")
    done = catalog.get(rec.id)
    assert done.state == "succeeded" and done.attempt == 1
    assert done.runner == f"ray-actor:m2c-job-{rec.id}"
    assert done.result["total"] == expected_total(spec)
    assert sum(executions(ObjectStore.from_config(local_storage), rec.id).values()) == 6
    _wait(lambda: _runner_gone(rec.id), what="runner exit")
    assert not job_runner.is_running(rec.id)
    assert job_runner.cancel(rec.id) is False


@pytest.mark.timeout(90)
def test_cancel_through_the_runner(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=40, work_ms=300)
    rec, _ = catalog.submit(spec, now_utc=NOW)
    job_runner.submit_detached(rec.id, storage_config=local_storage, db_url=catalog.db_url,
                               cluster_config=ray_cluster)
    _wait(lambda: catalog.get(rec.id).progress_done >= 1, what="progress")
    assert job_runner.is_running(rec.id)
    catalog.request_cancel(rec.id, NOW)                 # what the API does ...
    assert job_runner.cancel(rec.id) is True            # ... and then tells the runner
    _wait(lambda: catalog.get(rec.id).is_terminal, timeout=15, what="cancel")
    assert catalog.get(rec.id).state == "cancelled"
    store = ObjectStore.from_config(local_storage)
    assert not store.exists(f"runs/{rec.id}/probe-result.json")
    _wait(lambda: _runner_gone(rec.id), what="runner exit")


@pytest.mark.timeout(120)
def test_runner_death_then_reconcile_resumes(ray_cluster, local_storage, catalog):
    spec = ProbeSpec(items=16, work_ms=200, seed=11)
    store = ObjectStore.from_config(local_storage)
    rec, _ = catalog.submit(spec, now_utc=NOW)
    kw = dict(storage_config=local_storage, db_url=catalog.db_url, cluster_config=ray_cluster)
    job_runner.submit_detached(rec.id, **kw)
    _wait(lambda: len(committed_keys(store, rec.id)) >= 4, what="4 committed partitions")
    # the driver dies: its worker pool dies with it (actors fate-share with their owner)
    ray.kill(ray.get_actor(job_runner.runner_name(rec.id)), no_restart=True)
    _wait(lambda: not job_runner.is_running(rec.id), what="runner death")
    committed_before = {k.split("/")[3] for k in committed_keys(store, rec.id)}
    assert catalog.get(rec.id).state == "running"
    handed = job_runner.reconcile(catalog, now_utc=NOW, **kw)
    assert handed == [rec.id]
    _wait(lambda: catalog.get(rec.id).is_terminal, timeout=60, what="resumed job end")
    done = catalog.get(rec.id)
    assert done.state == "succeeded" and done.attempt == 2
    assert done.result["total"] == expected_total(spec)
    runs = executions(store, rec.id)
    assert all(runs[k] == 1 for k in committed_before)       # committed: never recomputed
    assert set(runs) == {probe.item_key(i) for i in range(16)}
    assert job_runner.reconcile(catalog, now_utc=NOW, **kw) == []


@pytest.mark.timeout(60)
def test_reconcile_queued_and_orphaned_cancelling(ray_cluster, local_storage, catalog):
    kw = dict(storage_config=local_storage, db_url=catalog.db_url, cluster_config=ray_cluster)
    queued, _ = catalog.submit(ProbeSpec(items=2), now_utc=NOW)
    orphan, _ = catalog.submit(ProbeSpec(items=3), now_utc=NOW)
    catalog.mark_running(orphan.id, attempt=1, runner="gone", now_utc=NOW)
    catalog.request_cancel(orphan.id, NOW)
    assert job_runner.reconcile(catalog, now_utc=NOW, **kw) == [queued.id]
    assert catalog.get(orphan.id).state == "cancelled"
    _wait(lambda: catalog.get(queued.id).is_terminal, what="queued job end")
    assert catalog.get(queued.id).state == "succeeded"


@pytest.mark.timeout(60)
def test_run_inline(ray_cluster, local_storage, catalog):
    ok, _ = catalog.submit(ProbeSpec(items=4), now_utc=NOW)
    bad, _ = catalog.submit(ProbeSpec(items=4, fail_item="item-000002"), now_utc=NOW)
    kw = dict(storage_config=local_storage, db_url=catalog.db_url, cluster_config=ray_cluster)
    assert job_runner.run_inline(ok.id, **kw).state == "succeeded"
    failed = job_runner.run_inline(bad.id, **kw)
    assert failed.state == "failed" and "item-000002" in failed.error
    assert job_runner.run_inline(ok.id, **kw).attempt == 1      # terminal: not rerun
    cancel = threading.Event()
    cancel.set()
    slow, _ = catalog.submit(ProbeSpec(items=4, work_ms=1000), now_utc=NOW)
    assert job_runner.run_inline(slow.id, cancel_event=cancel, **kw).state == "cancelled"
