"""The API as a real process on the session Ray cluster: hand-off, progress, failure,
cancel, and an API crash in the middle of a job.

The API runs as ``m2c serve`` in a child process that joins the session Ray cluster by its
GCS address; jobs run in detached JobRunner actors, so they do not depend on the API
process. Long-running work uses the ``probe`` job kind (synthetic, deterministic work;
``jobs/probe.py``), which is not offered over HTTP: the test writes it into the shared
catalog as another process (a CLI) would, and the API's reconciler starts it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import ray

from api.client import ApiClient
from jobs.probe import ProbeSpec
from tests.support.api_servers import ServerProcess, until

pytestmark = [pytest.mark.ray]


@pytest.fixture
def env(ray_cluster, api_settings) -> dict[str, str]:
    return {"M2C_HOME": str(api_settings.home), "M2C_STORAGE": api_settings.storage_uri,
            "M2C_DB": api_settings.db_url,
            "RAY_ADDRESS": ray.get_runtime_context().gcs_address}


@pytest.mark.timeout(180)
def test_post_hands_off_to_ray_and_reports_the_data_error(env, keys, tmp_path):
    with ServerProcess(env, log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        job = api.submit_job({"kind": "meter_totals", "from_period": "2026-01",
                              "to_period": "2026-02"})
        assert job["state"] == "queued"
        final = api.wait_job(job["id"], poll_s=0.1, timeout_s=120)
    assert final["state"] == "failed"
    assert final["error"]["type"] == "DataMissingError"
    assert "meter" in final["error"]["message"] and final["finished_at"]
    assert final["links"]["cancel"] is None


@pytest.mark.timeout(180)
def test_api_crash_mid_job_the_job_keeps_running_and_is_visible(env, keys, catalog, tmp_path):
    # queued while no API runs (e.g. the API died right after committing it)
    rec, _ = catalog.submit(ProbeSpec(items=20, work_ms=500, seed=7), principal="cli",
                            now_utc=datetime.now(timezone.utc))
    seen = []
    with ServerProcess(env, log_path=tmp_path / "api-1.log") as first:
        with ApiClient(first.url, keys["analyst"]) as api:
            running = until(lambda: (j := api.get_job(rec.id))["progress"]["done"] >= 1 and j,
                             120, "the start-up reconcile to start the job")
            seen.append(running)
        first.kill()                                  # crash: no lifespan shutdown
    assert running["state"] == "running" and running["progress"]["done"] < 20

    with ServerProcess(env, log_path=tmp_path / "api-2.log") as second, \
            ApiClient(second.url, keys["analyst"]) as api:
        final = api.wait_job(rec.id, poll_s=0.2, timeout_s=120, on_progress=seen.append)
        metrics = until(lambda: (t := api._http.get("/metrics").text) and
                         'm2c_job_duration_seconds_count{kind="probe",state="succeeded"}' in t and t,
                         30, "the job duration metric")
    assert final["state"] == "succeeded", final
    assert final["progress"] == {"done": 20, "total": 20, "fraction": 1.0}
    assert final["attempt"] == 1                      # the runner survived; nothing re-ran
    assert final["result"] is not None
    dones = [j["progress"]["done"] for j in seen]
    assert dones == sorted(dones)                     # progress never goes backwards
    assert 'm2c_job_partitions_processed_total{kind="probe"} 20.0' in metrics


@pytest.mark.timeout(180)
def test_cancel_a_running_job_over_http(env, keys, catalog, tmp_path):
    rec, _ = catalog.submit(ProbeSpec(items=40, work_ms=500, seed=1), principal="cli",
                            now_utc=datetime.now(timezone.utc))
    with ServerProcess(env, log_path=tmp_path / "api.log") as server, \
            ApiClient(server.url, keys["analyst"]) as api:
        until(lambda: api.get_job(rec.id)["state"] == "running", 120, "the job to start")
        with ApiClient(server.url, keys["admin"]) as admin:      # probe: an internal kind
            cancelling = admin.cancel_job(rec.id)
        assert cancelling["state"] in ("cancelling", "cancelled")
        final = api.wait_job(rec.id, poll_s=0.1, timeout_s=60)
    assert final["state"] == "cancelled" and final["result"] is None
    assert final["progress"]["done"] < 40
