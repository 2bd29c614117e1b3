"""Two Ray nodes on this machine, started as production starts them, with the API in front.

Why ``ray start`` processes rather than ``ray.cluster_utils.Cluster``: ``Cluster``
starts every node from inside the test process (one Python process owns all their
raylets, without token auth, its nodes sharing the driver's temp dir), which is the
right tool for the scale benchmark (``bench/scale.py``) but not the path a deployment
takes. Here the head is ``ray start --head --num-cpus=0`` and the worker node
``ray start --address=…``, separate process trees with their own temp dirs and token
authentication, exactly as ``ray_config.yaml``'s start commands and KubeRay's pods run
them (``tests/support/ray_nodes.py``). The API is ``m2c serve`` in a child process with
``RAY_ADDRESS`` set to that cluster; jobs run in the detached job-runner actors
(``cluster/job_runner.py``), pinned to the head with the SQLite catalog. The head
offers no CPU, so every partition worker lands on the worker node, and the store is
the real S3 server (SeaweedFS), as in production (nothing is shared through a disk).

The test process itself never joins this cluster: it stays on the session's embedded
Ray, which is where the reference ("embedded") runs are made.

1. A month-end settlement and a rebill through the API publish the same invoice bytes
   as the embedded run of the same jobs on the same inputs (the run id, which names the
   job, aside).
2. The worker node's processes are killed mid-job: the job waits and completes once the
   node is back, on its first attempt (the runner on the head survived), recomputing
   no committed partition.
3. The worker node hangs and dies and does not come back: the job fails cleanly with
   its reason once the cluster has offered no CPU for ``M2C_WORKER_WAIT_S``, and
   publishes nothing.
4. A job submitted while no worker node is up (the head has no CPU) waits with one
   worker pending, and the pool grows to the CPUs of the node that joins.
5. (On the session's Ray.) Every worker of a pool dead for good fails the job with
   that reason rather than waiting for ever.

One two-node cluster serves the module (about 20 s to start on the 2-core CI box);
every process it started is ended at the end of the module.
"""
from __future__ import annotations

import json
import secrets
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from api.client import ApiClient
from cluster.executor import Runtime, run_job
from cluster.runtime import ClusterConfig
from jobs import probe
from jobs.parts import committed_keys
from jobs.probe import ProbeSpec
from jobs.specs import parse_spec
from storage.ingest import ingest_meter
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from storage.sites import load_sites
from tests.support.api_servers import ServerProcess
from tests.support.portfolio import NOW, load_demo
from tests.support.probe_runs import executions, expected_total
from tests.support.ray_nodes import RayNodes

pytestmark = [pytest.mark.ray, pytest.mark.s3]

PERIOD = "2026-10"
WORKER = "worker"
WORKER_CPUS = 2
REBILLED = "VPPA-TX-DC1-SOLAR"
APPROVED_AT = NOW + timedelta(days=1)
CORRECTED_AT = NOW + timedelta(days=20)


@pytest.fixture
def catalog_backend() -> str:
    """SQLite, the layout under test (the catalog on the head, runners pinned there);
    the catalog's backends have their own tests, and this module is the suite's
    slowest: it runs once."""
    return "sqlite"


@pytest.fixture(scope="module")
def nodes():
    root = Path(tempfile.mkdtemp(prefix="m2c-rn-", dir="/tmp"))      # short: socket paths
    cluster = RayNodes(root, token=secrets.token_hex(24))
    try:
        cluster.start_head()
        cluster.start_worker(WORKER, WORKER_CPUS)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def up(nodes) -> RayNodes:
    """The cluster with its worker node up (a test before may have killed it)."""
    if not nodes.is_up(WORKER):
        nodes.start_worker(WORKER, WORKER_CPUS)
    return nodes


@pytest.fixture
def api_settings(tmp_path, catalog_url, s3_storage):
    """The API's settings: S3 storage, the suite's catalog (overrides the plugin's, so
    ``keys`` are made in this catalog)."""
    from api.settings import Settings
    return Settings.from_env({
        "M2C_HOME": str(tmp_path / "m2c"), "M2C_STORAGE": s3_storage.uri,
        "M2C_S3_ENDPOINT": s3_storage.endpoint, "AWS_ACCESS_KEY_ID": s3_storage.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_storage.secret_key, "M2C_DB": catalog_url})


def server_env(settings, cluster: RayNodes, **extra: str) -> dict[str, str]:
    return {"M2C_HOME": str(settings.home), "M2C_STORAGE": settings.storage_uri,
            "M2C_S3_ENDPOINT": settings.s3_endpoint, "AWS_ACCESS_KEY_ID": settings.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key, "M2C_DB": settings.db_url,
            "M2C_WORKERS": "", "RAY_ADDRESS": cluster.address, **cluster.env, **extra}


def until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def run_embedded(cfg, catalog, ray_cluster, spec: dict) -> str:
    """The same job on the session's embedded Ray, in this process; returns its id."""
    record, _ = catalog.submit(parse_spec(spec), now_utc=NOW)
    run_job(record.id, record.spec,
            Runtime(cfg, catalog, ClusterConfig(workers=2, namespace=ray_cluster.namespace)),
            now_utc=NOW)
    assert catalog.get(record.id).state == "succeeded"
    return record.id


def published(store: ObjectStore, run_ids: list[str]) -> dict[str, bytes]:
    """Every object under ``invoices/``, with the run id (the job's id) blanked. The
    SHA-256 a manifest lists for each part, and the manifest's own in the commit
    marker, differ with the run id in the JSON and HTML: they are blanked too (the
    parts they cover are compared themselves)."""
    out = {}
    for key in store.list("invoices/"):
        body = store.get(key)
        for run_id in run_ids:
            body = body.replace(run_id.encode(), b"<run>")
        out[key] = body
    for key, body in list(out.items()):
        if key.endswith("/manifest.json"):
            doc = json.loads(body)
            _blank_hashes(doc)
            out[key] = json.dumps(doc, sort_keys=True).encode()
        elif key.endswith("/_COMMITTED"):
            assert len(body.strip()) == 64, body
            out[key] = b"<sha256>"
    return out


def _blank_hashes(node) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "sha256" or k.endswith("_sha256"):
                node[k] = "<sha256>"
            else:
                _blank_hashes(v)
    elif isinstance(node, list):
        for v in node:
            _blank_hashes(v)


def approve_and_correct(store: ObjectStore, files: Path) -> int:
    """Approve every October invoice, then ingest a re-read of a TX-DC1 solar hour
    (twelve 5-minute intervals): the same in both stores. Returns the new data version."""
    invoices = InvoiceStore(store)
    for cid, period, version in invoices.list(period=PERIOD):
        invoices.approve(cid, period, version=version, now_utc=APPROVED_AT)
    start = datetime(2026, 10, 15, 18, 0, tzinfo=timezone.utc)       # 13:00 in Chicago
    rows = [f"TX-DC1,pv1,{(start + timedelta(minutes=5 * i)).isoformat().replace('+00:00', 'Z')},"
            f"5,{4321.5 + i},A" for i in range(12)]
    path = files / "reread.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("site_id,channel,interval_start,interval_minutes,kwh,quality\n" + "\n".join(rows) + "\n")
    return ingest_meter(store, [path], "csv", sites=load_sites(store), now_utc=CORRECTED_AT).version


@pytest.mark.timeout(600)
def test_month_end_and_rebill_through_the_api_equal_the_embedded_run(
        up, api_settings, keys, s3_storage, catalog, new_catalog, demo_stores, ray_cluster, tmp_path):
    infos = up.infos()
    assert sorted((n["head"], n["cpus"]) for n in infos if n["alive"]) == [(False, WORKER_CPUS), (True, 0)]
    cluster_store = load_demo(s3_storage, tmp_path / "files")          # the API's store: S3
    local_cfg, local_store = demo_stores.copy(tmp_path / "embedded")   # same portfolio, a folder
    embedded_catalog = new_catalog()

    env = server_env(api_settings, up)
    with ServerProcess(env, log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        job = api.submit_job({"kind": "settlement", "period": PERIOD})
        settled = api.wait_job(job["id"], poll_s=0.2, timeout_s=300)
        assert settled["state"] == "succeeded", settled
        assert catalog.get(job["id"]).runner == f"ray-actor:m2c-job-{job['id']}"
        reference = run_embedded(local_cfg, embedded_catalog, ray_cluster,
                                 {"kind": "settlement", "period": PERIOD})
        first = published(cluster_store, [job["id"]])
        assert len([k for k in first if k.endswith("/invoice.json")]) == 4
        assert first == published(local_store, [reference])

        # the rebill of an approved invoice after a meter re-read
        versions = {approve_and_correct(s, tmp_path / name)
                    for s, name in ((cluster_store, "fix-c"), (local_store, "fix-e"))}
        assert len(versions) == 1
        spec = {"kind": "rebill", "contract": REBILLED, "from_period": PERIOD, "to_period": PERIOD,
                "reason": "TX-DC1 solar re-read"}
        rebill = api.submit_job(spec)
        rebilled = api.wait_job(rebill["id"], poll_s=0.2, timeout_s=300)
        assert rebilled["state"] == "succeeded", rebilled
        rebill_reference = run_embedded(local_cfg, embedded_catalog, ray_cluster, spec)
        api_doc = api.get_invoice(REBILLED, PERIOD)
    both = [job["id"], rebill["id"]]
    after = published(cluster_store, both)
    assert after == published(local_store, [reference, rebill_reference])
    new = {k for k in after.keys() - first.keys() if not k.endswith("/_APPROVED")}
    assert new == {f"invoices/{REBILLED}/{PERIOD}/v2/{part}" for part in
                   ("invoice.json", "invoice.html", "detail.parquet", "manifest.json", "_COMMITTED")}
    assert api_doc["version"] == 2 and api_doc["lineage"]["run_id"] == rebill["id"]
    reference_result = embedded_catalog.get(rebill_reference).result
    assert json.dumps(rebilled["result"], sort_keys=True).replace(rebill["id"], "<run>") == \
        json.dumps(reference_result, sort_keys=True).replace(rebill_reference, "<run>")


@pytest.mark.timeout(600)
def test_worker_node_killed_mid_job_the_job_completes_when_it_returns(
        up, api_settings, keys, s3_storage, catalog, tmp_path):
    spec = ProbeSpec(items=16, work_ms=600, seed=5)
    store = ObjectStore.from_config(s3_storage)
    # probe is not offered over HTTP: written to the catalog, the API's reconciler runs it
    rec, _ = catalog.submit(spec, principal="cli", now_utc=datetime.now(timezone.utc))
    with ServerProcess(server_env(api_settings, up), log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        until(lambda: api.get_job(rec.id)["progress"]["done"] >= 2, 180, "two partitions")
        killed = up.kill(WORKER)
        committed = {k.split("/")[3] for k in committed_keys(store, rec.id)}
        during = api.get_job(rec.id)
        assert killed and during["state"] == "running", during
        assert 2 <= len(committed) < spec.items                        # mid-job
        time.sleep(3)                                                  # the node stays lost a while
        assert api.get_job(rec.id)["state"] == "running"               # waiting, not failing
        up.start_worker(WORKER, WORKER_CPUS)                           # the node returns
        final = api.wait_job(rec.id, poll_s=0.2, timeout_s=300)
    assert final["state"] == "succeeded", final
    assert final["attempt"] == 1            # the runner (on the head) lived through it
    assert final["result"]["total"] == expected_total(spec)
    assert final["progress"] == {"done": spec.items, "total": spec.items, "fraction": 1.0}
    runs = executions(store, rec.id)
    assert set(runs) == {probe.item_key(i) for i in range(spec.items)}
    assert all(runs[key] == 1 for key in committed)                   # nothing committed re-ran


@pytest.mark.timeout(600)
def test_worker_node_lost_for_good_the_job_fails_cleanly_and_publishes_nothing(
        up, api_settings, keys, s3_storage, catalog, tmp_path):
    store = load_demo(s3_storage, tmp_path / "files", sites=1)
    env = server_env(api_settings, up, M2C_WORKER_WAIT_S="5")
    with ServerProcess(env, log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        up.freeze(WORKER)               # the node hangs: the job's workers are placed on it
        job = api.submit_job({"kind": "settlement", "period": PERIOD})
        until(lambda: api.get_job(job["id"])["state"] == "running", 120, "the job to start")
        up.kill(WORKER)                 # ... and dies, and does not come back
        final = api.wait_job(job["id"], poll_s=0.2, timeout_s=300)
    assert final["state"] == "failed", final
    assert final["error"]["type"] == "JobError"
    message = final["error"]["message"]
    assert "offers no CPU" in message and "nothing published" in message, message
    assert final["progress"]["done"] == 0
    assert InvoiceStore(store).list() == [] and store.list("invoices/") == []


@pytest.mark.timeout(600)
def test_a_job_submitted_before_any_worker_node_is_up_runs_on_every_cpu_of_the_one_that_joins(
        nodes, api_settings, keys, s3_storage, catalog, tmp_path):
    if nodes.is_up(WORKER):
        nodes.kill(WORKER)
    nodes.wait_for(lambda infos: not any(n["alive"] and not n["head"] for n in infos), 120,
                   "the worker node to be gone")
    spec = ProbeSpec(items=8, work_ms=800, seed=9)
    rec, _ = catalog.submit(spec, principal="cli", now_utc=datetime.now(timezone.utc))
    with ServerProcess(server_env(api_settings, nodes), log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        until(lambda: api.get_job(rec.id)["state"] == "running", 120, "the job to start")
        time.sleep(2)
        waiting = api.get_job(rec.id)
        assert waiting["state"] == "running" and waiting["progress"]["done"] == 0   # no CPU yet
        nodes.start_worker(WORKER, WORKER_CPUS)
        busy = set()

        def both_workers_busy() -> bool:
            busy.add(sum(t.startswith("ray::PartitionWorker") for t in nodes.titles(WORKER)))
            return max(busy) >= WORKER_CPUS or api.get_job(rec.id)["state"] != "running"
        until(both_workers_busy, 120, "the partition workers")
        final = api.wait_job(rec.id, poll_s=0.2, timeout_s=300)
    assert final["state"] == "succeeded" and final["attempt"] == 1, final
    assert final["result"]["total"] == expected_total(spec)
    # the pool, one worker while the cluster had no CPU, grew to the joining node's CPUs
    assert max(busy) == WORKER_CPUS


@pytest.mark.timeout(120)
def test_a_pool_whose_workers_are_all_dead_for_good_fails_the_job_cleanly(
        ray_cluster, local_storage, catalog):
    """Not multi-node: on the session's Ray, every worker is killed without restart
    mid-job (restarts exhausted): the job fails with that reason, publishing nothing,
    instead of waiting for workers that will never come back."""
    import threading

    import ray

    from cluster.pool import WorkerPool
    from engine.errors import JobError
    spec = ProbeSpec(items=20, work_ms=300, seed=3)
    store = ObjectStore.from_config(local_storage)
    rec, _ = catalog.submit(spec, now_utc=NOW)
    box: dict = {}
    with WorkerPool(2, local_storage) as pool:
        def run() -> None:
            try:
                run_job(rec.id, spec, Runtime(local_storage, catalog, ray_cluster), now_utc=NOW,
                        pool=pool)
            except BaseException as exc:            # noqa: BLE001 - handed to the test
                box["error"] = exc
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        until(lambda: catalog.get(rec.id).progress_done >= 2, 60, "two partitions")
        for worker in pool.workers:
            ray.kill(worker, no_restart=True)
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert isinstance(box.get("error"), JobError), box
    final = catalog.get(rec.id)
    assert final.state == "failed" and final.error_type == "JobError"
    assert "every worker of the job died" in final.error and "nothing published" in final.error
    assert not store.exists(f"runs/{rec.id}/probe-result.json")
