"""Two API replicas on one PostgreSQL catalog (issue 18, point 1).

* 50 schedulers fire the same month-end trigger at once, spread over two replicas (with
  no Idempotency-Key, one shared key, or a key each): one job, handed off once. The
  replicas are real uvicorn servers in processes of their own on one real PostgreSQL
  database; their executor only records hand-offs (``tests/support/replica.py``),
  because the point is the shared catalog: a real runner would settle the period, and
  whether that succeeds says nothing about the dedupe. The two replicas also start at
  the same moment on an empty database, so they race to migrate it.
* API keys live in the same database: a key created through one replica authenticates
  on the other, and a revocation through one is honoured by the other within its cache
  TTL.
* Killing a replica mid-job loses nothing: two ``m2c serve`` processes on the session's
  Ray cluster, a job running, one replica SIGKILLed: the detached runner goes on; then
  its runner is killed too (as when the node it ran on is lost) and the surviving
  replica's reconciler resumes the job as attempt 2, recomputing no committed partition.
  The job is the synthetic ``probe`` kind (deterministic work of a chosen duration,
  counted per partition in the store), written into the catalog as the CLI would.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import httpx
import pytest
import ray

from api.client import ApiClient
from api.keystore import KeyStore
from jobs.catalog import JobCatalog
from jobs.parts import committed_keys
from jobs.probe import ProbeSpec, item_key
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from tests.support.api_servers import ServerProcess
from tests.support.probe_runs import executions, expected_total
from tests.support.replica import ReplicaProcess

CLIENTS = 50
NOW = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


def _until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def shared_catalog(postgres_server) -> str:
    """One empty PostgreSQL database for the module's replicas (nothing migrated yet)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="module")
def replicas(shared_catalog, tmp_path_factory):
    """Two replicas on the shared catalog, started together; and their hand-off record."""
    tmp = tmp_path_factory.mktemp("replicas")
    record = tmp / "handoffs.txt"
    record.touch()
    started = []
    try:
        for i in range(2):
            env = {"M2C_HOME": str(tmp / f"home-{i}"), "M2C_STORAGE": f"file://{tmp / 'store'}",
                   "M2C_DB": shared_catalog}
            replica = ReplicaProcess(env, record=record, log_path=tmp / f"replica-{i}.log")
            replica.start()
            started.append(replica)
        for replica in started:
            replica.wait_ready()
        yield started[0], started[1], record
    finally:
        for replica in started:
            replica.__exit__(None, None, None)


@pytest.fixture(scope="module")
def admin_key(replicas, shared_catalog) -> str:
    return KeyStore(shared_catalog).create("admin", now_utc=NOW, label="test admin")[1]


def test_both_replicas_migrated_the_empty_database_once(replicas, shared_catalog):
    from jobs.db import Database
    db = Database(shared_catalog)
    assert db.applied_versions("jobs") == [1, 2] and db.applied_versions("api_keys") == [1]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("idempotency, period", [("none", "2026-10"), ("same-key", "2026-09"),
                                                 ("own-key", "2026-08")])
def test_fifty_month_end_triggers_over_two_replicas_make_one_job(replicas, shared_catalog,
                                                                 admin_key, idempotency, period):
    a, b, record = replicas
    scheduler = KeyStore(shared_catalog).create("scheduler", now_utc=NOW)[1]

    def headers_for(i: int) -> dict[str, str]:
        h = {"X-API-Key": scheduler}
        if idempotency == "same-key":
            h["Idempotency-Key"] = f'"month-end-{period}"'
        elif idempotency == "own-key":
            h["Idempotency-Key"] = f'"scheduler-{i}-{period}"'
        return h

    barrier = threading.Barrier(CLIENTS)
    responses: list[httpx.Response | None] = [None] * CLIENTS

    def one(i: int) -> None:
        with httpx.Client(base_url=(a, b)[i % 2].url, timeout=60) as c:
            barrier.wait()
            responses[i] = c.post("/v1/jobs", json={"kind": "settlement", "period": period},
                                  headers=headers_for(i))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(r is not None for r in responses)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (CLIENTS - 1) + [202], [r.text for r in responses if r.status_code >= 300]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1 and len({r.headers["location"] for r in responses}) == 1
    job_id = ids.pop()
    jobs = [j for j in JobCatalog(shared_catalog).list(kind="settlement", limit=500)[0]
            if j.spec["period"] == period]
    assert [j.id for j in jobs] == [job_id]
    handoffs = [line.split() for line in record.read_text().splitlines()]
    assert [job for _, job in handoffs].count(job_id) == 1          # handed off once, by one replica
    accepted_by = (a, b)[[r.status_code for r in responses].index(202) % 2]
    assert [pid for pid, job in handoffs if job == job_id] == [str(accepted_by.proc.pid)]


@pytest.mark.timeout(120)
def test_a_key_made_through_one_replica_works_on_the_other(replicas, admin_key):
    a, b, _ = replicas
    with ApiClient(a.url, admin_key) as admin_a, ApiClient(b.url, admin_key) as admin_b:
        created = admin_a.create_key("analyst", label="made on replica a")
        with ApiClient(b.url, created["key"]) as analyst_b:
            assert analyst_b.list_jobs(limit=1)["data"] is not None
        assert [k["label"] for k in admin_b._request("GET", "/v1/keys").json()["data"]
                if k["key_id"] == created["key_id"]] == ["made on replica a"]
        admin_b.revoke_key(created["key_id"])

        def refused_on_a() -> bool:              # within a's key cache TTL (1 s here)
            r = httpx.get(f"{a.url}/v1/jobs", headers={"X-API-Key": created["key"]}, timeout=10)
            return r.status_code == 401
        _until(refused_on_a, 15, "replica a to refuse the key revoked through replica b")
        r = httpx.get(f"{b.url}/v1/jobs", headers={"X-API-Key": created["key"]}, timeout=10)
        assert r.status_code == 401                 # at once on the replica that revoked it


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_killing_a_replica_mid_job_loses_nothing(ray_cluster, postgres_server, tmp_path):
    url = postgres_server.create_database()
    try:
        catalog = JobCatalog(url)
        catalog.init_schema()
        key = KeyStore(url).create("analyst", now_utc=NOW)[1]
        spec = ProbeSpec(items=16, work_ms=500, seed=18)
        rec, _ = catalog.submit(spec, principal="cli", now_utc=datetime.now(timezone.utc))
        storage = StorageConfig(uri=f"file://{tmp_path / 'store'}")
        store = ObjectStore.from_config(storage)
        gcs = ray.get_runtime_context().gcs_address

        def env(i: int) -> dict[str, str]:
            return {"M2C_HOME": str(tmp_path / f"home-{i}"), "M2C_STORAGE": storage.uri,
                    "M2C_DB": url, "RAY_ADDRESS": gcs}

        with ServerProcess(env(0), log_path=tmp_path / "api-0.log") as first, \
                ServerProcess(env(1), log_path=tmp_path / "api-1.log") as second, \
                ApiClient(second.url, key) as api:
            seen = _until(lambda: (j := api.get_job(rec.id))["progress"]["done"] >= 2 and j, 120,
                          "a replica's reconciler to start the job")
            first.kill()                                   # a replica dies mid-job
            # the runner is a detached actor: the job goes on, visible on the other replica
            later = _until(lambda: (j := api.get_job(rec.id))["progress"]["done"]
                           >= seen["progress"]["done"] + 2 and j, 60, "progress after the kill")
            assert later["state"] == "running" and later["attempt"] == 1
            # then its runner is lost too (the node it ran on): the surviving replica's
            # reconciler resumes the job as attempt 2
            committed_before = {k.split("/")[3] for k in committed_keys(store, rec.id)}
            runner = next(a for a in ray.util.list_named_actors(all_namespaces=True)
                          if a["name"] == f"m2c-job-{rec.id}")
            ray.kill(ray.get_actor(runner["name"], namespace=runner["namespace"]), no_restart=True)
            final = api.wait_job(rec.id, poll_s=0.2, timeout_s=150)
        assert final["state"] == "succeeded", final
        assert final["attempt"] == 2 and final["progress"] == {"done": 16, "total": 16, "fraction": 1.0}
        assert final["result"]["total"] == expected_total(spec)
        runs = executions(store, rec.id)
        assert set(runs) == {item_key(i) for i in range(16)}
        assert committed_before and all(runs[k] == 1 for k in committed_before)   # never recomputed
    finally:
        postgres_server.drop_database(url)
