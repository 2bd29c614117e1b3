"""Two ``m2c settle`` of one period run the job once (issue 12, point 5).

A job run in a CLI process is run by the holder of its runner lock; a second command
for the same period gets the same job from the catalog and follows it (same id, the
job's exit code), and takes it over when the process running it has died.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from api.cli.main import main
from api.cli.submit import RunnerLock
from jobs.catalog import JobCatalog
from jobs.specs import parse_spec
from storage.config import StorageConfig
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from tests.support.portfolio import load_demo

PERIOD = "2026-10"
NOW = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    load_demo(StorageConfig(uri=f"file://{home / 'store'}"), tmp_path / "files")
    monkeypatch.setenv("M2C_HOME", str(home))
    monkeypatch.setenv("M2C_STORAGE", f"file://{home / 'store'}")
    for var in ("M2C_DB", "RAY_ADDRESS", "M2C_API_URL", "M2C_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return home


def _catalog(home) -> JobCatalog:
    catalog = JobCatalog(f"sqlite:///{home / 'm2c.db'}")
    catalog.init_schema()
    return catalog


@pytest.mark.timeout(120)
def test_a_second_settle_follows_the_job_another_process_runs(home, capsys):
    catalog = _catalog(home)
    job, _ = catalog.submit(parse_spec({"kind": "settlement", "period": PERIOD}), principal="cli",
                            now_utc=NOW)
    lock = RunnerLock(catalog, job.id)
    assert lock.acquire()                      # "another process" runs it
    codes = []
    follower = threading.Thread(target=lambda: codes.append(
        main(["settle", "--period", PERIOD, "--format", "json"])))
    follower.start()
    time.sleep(1.0)
    assert follower.is_alive() and catalog.get(job.id).state == "queued"   # following, not running
    catalog.mark_running(job.id, attempt=1, runner="inline", now_utc=NOW)
    catalog.mark_failed(job.id, "partition X: no meter data", "DataMissingError", NOW)
    follower.join(30)
    lock.release(remove=True)
    out = capsys.readouterr()
    assert codes == [1]                        # the exit code of the job (it failed)
    assert json.loads(out.out)["id"] == job.id and "is being run by process" in out.err
    assert catalog.get(job.id).attempt == 1


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_a_settle_takes_over_a_job_whose_process_died(home, ray_cluster, capsys):
    catalog = _catalog(home)
    job, _ = catalog.submit(parse_spec({"kind": "settlement", "period": PERIOD}), principal="cli",
                            now_utc=NOW)
    catalog.mark_running(job.id, attempt=1, runner="inline", now_utc=NOW)   # then it died
    assert main(["settle", "--period", PERIOD, "--format", "json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["id"] == job.id and done["state"] == "succeeded" and done["attempt"] == 2


@pytest.mark.timeout(300)
def test_two_settles_started_together_run_the_job_once(home):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    argv = [sys.executable, "-m", "api.cli.main", "settle", "--period", PERIOD, "--format", "json"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=280) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "Traceback" not in err and "ConflictError" not in err
    docs = [json.loads(out) for out, _ in outs]
    assert docs[0]["id"] == docs[1]["id"] and {d["state"] for d in docs} == {"succeeded"}
    assert sum("is being run by process" in err for _, err in outs) == 1
    records, _ = _catalog(home).list()
    assert [(r.id, r.attempt) for r in records] == [(docs[0]["id"], 1)]
    invoices = InvoiceStore(ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}")))
    assert {v for _, _, v in invoices.list(period=PERIOD)} == {1}     # published once
