"""Detached JobRunner actors: how the API hands a job to Ray, and finds it again.

One job = one detached, named, async actor ``m2c-job-<job_id>`` in the cluster
namespace (``meter2cash``), with ``num_cpus=0``. It runs
:func:`cluster.executor.run_job` in a thread, so the actor's event loop stays free to
answer :meth:`JobRunner.cancel` and :meth:`JobRunner.status` while the job works. The
catalog, not the actor, is the record of the job; the actor exits when the job is done.

Why a detached actor rather than Ray Jobs (``JobSubmissionClient``), measured on the
project's 2-core box (engineering notes §0.8, §1.7, §1.9):

* **Start-up**: a runner is one actor process, running 0.2-1.2 s after the hand-off
  here (``bench/ray_overhead.py``; a new driver connects in ~0.4 s), versus ~3.8 s
  for a Ray Job to reach SUCCEEDED on a trivial entrypoint (a driver process, runtime
  env set-up, a supervisor actor); a month-end trigger should not wait seconds.
* **Progress and cancel are cheap**: the runner writes progress to the catalog and a
  cancel is one actor call (plus the catalog flag) that reaches ``ray.cancel`` on the
  in-flight partitions within a second. Ray Jobs has no progress field and stops a job
  by killing its driver.
* **Survives API restarts**: a detached actor is owned by no driver, so a restarted
  API finds it by name; the catalog survives cluster restarts, which Ray's in-memory
  job table does not. :func:`reconcile` ties the two together at start-up (and
  periodically): queued jobs without a runner are handed over, a running job whose
  runner vanished is resumed as attempt + 1 (committed partitions are not recomputed),
  a cancelling job without a runner is marked cancelled.
* ``get_if_exists=True`` makes a double hand-off of the same job (API retry, two API
  replicas reconciling) create one runner.

Ray Jobs stays the better tool for long, isolated, log-heavy batch work on a shared
cluster; nothing here prevents running ``m2c settle --wait`` as a Ray Job entrypoint.

Resources: ``num_cpus=0`` (a runner only waits; holding a CPU would starve its own
workers, notes §1.10). With the SQLite catalog the runner must run on a node that sees
the database file, so it is pinned to the submitting process's node; with PostgreSQL
(``M2C_DB=postgresql://...``) every node reaches the catalog and Ray places it freely.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from engine.errors import JobError, M2CError
from jobs.catalog import JobCatalog, JobRecord
from jobs.states import JobState
from storage.config import StorageConfig

from .executor import Runtime, run_job, utc_now
from .runtime import ClusterConfig, ensure_ray

log = logging.getLogger(__name__)

__all__ = ["JobRunner", "runner_name", "submit_detached", "cancel", "is_running", "reconcile",
           "run_inline", "RUNNER_PREFIX"]

RUNNER_PREFIX = "m2c-job-"
START_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 10.0


def runner_name(job_id: str) -> str:
    return f"{RUNNER_PREFIX}{job_id}"


@ray.remote(num_cpus=0, max_restarts=0)
class JobRunner:
    """Runs one job to a terminal state, then exits. Async: cancel/status stay responsive."""

    def __init__(self, job_id: str, storage_config: StorageConfig, db_url: str,
                 cluster_config: ClusterConfig):
        self.job_id = job_id
        self.storage_config = storage_config
        self.db_url = db_url
        self.cluster_config = cluster_config
        self._cancel = threading.Event()
        self._task: asyncio.Task | None = None
        self._outcome: str | None = None

    async def start(self) -> bool:
        """Start the job (idempotent: True only for the call that started it)."""
        if self._task is not None:
            return False
        self._task = asyncio.get_running_loop().create_task(self._main())
        return True

    async def cancel(self) -> None:
        """Stop dispatching, cancel in-flight partitions, kill the pool, record cancelled."""
        self._cancel.set()

    async def status(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "running": self._task is not None and not self._task.done(),
                "cancel_requested": self._cancel.is_set(), "outcome": self._outcome}

    async def _main(self) -> None:
        try:
            self._outcome = await asyncio.to_thread(self._run)
        except Exception:                  # noqa: BLE001 - e.g. the catalog is unreachable
            log.exception("runner of job %s failed before the job could be recorded", self.job_id)
            self._outcome = "error"
        finally:
            # detached actors live until killed: leave once the catalog has the outcome
            me = ray.get_runtime_context().current_actor
            await asyncio.to_thread(ray.kill, me, no_restart=True)

    def _run(self) -> str:
        catalog = JobCatalog(self.db_url)
        record = catalog.get(self.job_id)
        if record.is_terminal:
            return record.state
        try:
            run_job(self.job_id, record.spec,
                    Runtime(self.storage_config, catalog, self.cluster_config), now_utc=utc_now(),
                    runner=f"ray-actor:{runner_name(self.job_id)}", cancel_event=self._cancel)
        except M2CError as exc:            # recorded in the catalog by run_job
            log.info("job %s ended: %s", self.job_id, exc)
        except Exception:                  # noqa: BLE001 - recorded by run_job; keep the log
            log.exception("job %s crashed", self.job_id)
        return catalog.get(self.job_id).state


def _namespace(namespace: str | None) -> str:
    return namespace or ray.get_runtime_context().namespace


def _handle(job_id: str, namespace: str | None = None):
    try:
        return ray.get_actor(runner_name(job_id), namespace=_namespace(namespace))
    except ValueError:               # no live actor of that name
        return None


def submit_detached(job_id: str, *, storage_config: StorageConfig, db_url: str,
                    cluster_config: ClusterConfig) -> None:
    """Hand a catalogued job to its own detached runner actor (one per job, ever live).

    Returns once the runner has started (or was already running). Raises ``JobError``
    if Ray could not start it; the job then stays queued for :func:`reconcile`.
    """
    ensure_ray(cluster_config)
    options: dict[str, Any] = dict(name=runner_name(job_id), namespace=cluster_config.namespace,
                                   lifetime="detached", get_if_exists=True)
    if db_url.startswith("sqlite:"):
        # the SQLite file is on this machine: keep the runner where it can open it
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
            node_id=ray.get_runtime_context().get_node_id(), soft=False)
    handle = JobRunner.options(**options).remote(job_id, storage_config, db_url, cluster_config)
    try:
        started = ray.get(handle.start.remote(), timeout=START_TIMEOUT_S)
    except ray.exceptions.RayActorError as exc:
        # the runner of an earlier hand-off finished and is exiting; reconcile retries
        raise JobError(f"job {job_id}: its runner is exiting ({type(exc).__name__}); retry") from None
    except ray.exceptions.GetTimeoutError:
        raise JobError(f"job {job_id}: runner did not start within {START_TIMEOUT_S:.0f} s") from None
    log.info("job %s: runner %s %s", job_id, runner_name(job_id),
             "started" if started else "already running")


def cancel(job_id: str, *, namespace: str | None = None) -> bool:
    """Tell the job's runner to cancel now; False if it has no live runner.

    Callers record the request in the catalog first (``request_cancel``): the runner
    also polls the catalog, so a cancel reaches it even when this call cannot.
    """
    handle = _handle(job_id, namespace)
    if handle is None:
        return False
    try:
        ray.get(handle.cancel.remote(), timeout=CALL_TIMEOUT_S)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return False
    return True


def is_running(job_id: str, *, namespace: str | None = None) -> bool:
    """Does the job have a live runner actor that has not finished?"""
    handle = _handle(job_id, namespace)
    if handle is None:
        return False
    try:
        return bool(ray.get(handle.status.remote(), timeout=CALL_TIMEOUT_S)["running"])
    except ray.exceptions.GetTimeoutError:
        return True                  # alive but slow to answer: do not start a second runner
    except ray.exceptions.RayActorError:
        return False


def reconcile(catalog: JobCatalog, *, storage_config: StorageConfig, db_url: str,
              cluster_config: ClusterConfig, now_utc: datetime) -> list[str]:
    """Make Ray match the catalog; returns the ids of jobs handed (again) to a runner.

    For every queued / running / cancelling job without a live runner: queued -> start
    a runner; running -> start a runner, which resumes as attempt + 1 (committed
    partitions are not recomputed); cancelling -> mark cancelled (its workers died with
    its runner). Safe to call at any time and from several processes.
    """
    handed = []
    for rec in catalog.nonterminal():
        if is_running(rec.id, namespace=cluster_config.namespace):
            continue
        if rec.state == JobState.CANCELLING:
            try:
                catalog.mark_cancelled(rec.id, now_utc)
                log.info("reconcile: job %s had no runner; cancelled", rec.id)
            except M2CError:
                log.debug("job %s changed meanwhile", rec.id, exc_info=True)
            continue
        if rec.state in (JobState.QUEUED, JobState.RUNNING):
            log.info("reconcile: job %s is %s without a runner; handing it over", rec.id, rec.state)
            try:
                submit_detached(rec.id, storage_config=storage_config, db_url=db_url,
                                cluster_config=cluster_config)
                handed.append(rec.id)
            except JobError as exc:
                log.warning("reconcile: job %s: %s", rec.id, exc)
    return handed


def run_inline(job_id: str, *, storage_config: StorageConfig, db_url: str,
               cluster_config: ClusterConfig, now_utc: datetime | None = None,
               cancel_event: threading.Event | None = None) -> JobRecord:
    """Run a catalogued job in this process (the CLI's ``--wait`` with embedded Ray).

    Blocks until the job is terminal and returns its final record; the outcome
    (succeeded / failed with the partition's message / cancelled) is in the record,
    not raised. Ctrl-C cancels the job (workers stopped, nothing published).
    """
    ensure_ray(cluster_config)
    catalog = JobCatalog(db_url)
    record = catalog.get(job_id)
    if record.is_terminal:
        return record
    try:
        run_job(job_id, record.spec, Runtime(storage_config, catalog, cluster_config),
                now_utc=now_utc or utc_now(), runner="inline", cancel_event=cancel_event)
    except M2CError as exc:
        log.info("job %s ended: %s", job_id, exc)
    return catalog.get(job_id)
