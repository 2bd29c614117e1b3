"""Run one job on Ray: plan -> resume -> dispatch -> reduce, recorded in the catalog.

:func:`run_job` is the whole life of one attempt of a job, in the calling process (a
detached :mod:`cluster.job_runner` actor, or the CLI with ``--wait``):

1. **Plan** with the job kind (:mod:`jobs.tasks`): a list of partitions with stable
   keys. Duplicate keys are a bug in the kind and fail the job.
2. **Resume.** Partitions with a commit marker under ``runs/<job_id>/parts/`` (from an
   earlier attempt whose runner died) are loaded, not recomputed. Only keys of the
   current plan count, so nothing committed under another plan is counted twice.
3. **Dispatch** the rest to a warm :class:`cluster.pool.WorkerPool`, heaviest first
   (largest ``weight``, then key: longest-processing-time-first keeps the tail
   short), with at most ``inflight_per_worker`` calls queued per worker
   (backpressure; the driver holds only small results). Workers are used as soon as
   each is scheduled, so a job never waits for its last worker to get a CPU.
4. **Collect** with ``ray.wait``. Results go into a dict keyed by partition key: a
   partition is counted once however often it ran. A worker that died (process
   killed, node lost) is restarted by Ray, and its partition is re-submitted, at most
   ``max_partition_retries`` times. A partition that answers with a data error
   (``InputError``, ``DataMissingError``, ...) fails the job at once with that message
   (no retry: the same data gives the same error).
5. **Cancel**, cooperatively: a cancel request (the catalog says ``cancelling``, or
   the runner's ``cancel_event`` is set) stops dispatch, ``ray.cancel``-s in-flight
   calls (workers see ``is_cancelled()`` between chunks; queued calls are dropped),
   waits a short grace period, kills the pool and marks the job ``cancelled``.
   Nothing is published: the reduce never runs.
6. **Reduce** over the results (the kind iterates keys in sorted order, so the
   published bytes do not depend on worker count, partition size or finish order),
   then ``mark_succeeded`` with the kind's result document.

Progress (partitions done / total) goes to the catalog at most every
``progress_interval_s`` and at the end. The clock is read here (a runner), never in
the kinds.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from datetime import datetime, timezone
from typing import Any, Callable

import ray
from pydantic import BaseModel

import engine.errors as errors
from engine.errors import JobCancelledError, JobError, M2CError
from jobs.catalog import CANCELLING, JobCatalog
from jobs.parts import load_committed
from jobs.kinds import get_kind, parse_job_spec
from jobs.tasks import JobContext, Partition
from storage.config import StorageConfig

from .pool import WorkerPool
from .runtime import ClusterConfig, pool_size

log = logging.getLogger(__name__)

__all__ = ["run_job", "utc_now", "SYSTEM_FAILURES"]

# A partition's worker (or its node) went away: retry the partition elsewhere.
SYSTEM_FAILURES: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
    ray.exceptions.ObjectLostError, ray.exceptions.NodeDiedError)
CANCEL_GRACE_S = 5.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class _Cancelled(Exception):
    pass


class _PartitionFailed(Exception):
    def __init__(self, key: str, error_type: str, message: str):
        super().__init__(f"partition {key}: {message}")
        self.key, self.error_type, self.message = key, error_type, message


def _error_class(name: str) -> type[M2CError]:
    cls = getattr(errors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, M2CError) else JobError


class _CancelWatch:
    """Is a cancel requested? The runner's event (instant) or the catalog (polled)."""

    def __init__(self, catalog: JobCatalog, job_id: str, event: threading.Event | None,
                 poll_s: float):
        self.catalog, self.job_id, self.event, self.poll_s = catalog, job_id, event, poll_s
        self._next_poll = 0.0
        self._requested = False

    def __call__(self) -> bool:
        if self._requested or (self.event is not None and self.event.is_set()):
            self._requested = True
            return True
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self.poll_s
            self._requested = self.catalog.get(self.job_id).state == CANCELLING
        return self._requested


def run_job(job_id: str, spec: BaseModel | dict, *, storage_config: StorageConfig,
            catalog: JobCatalog, cluster_config: ClusterConfig, now_utc: datetime,
            pool: WorkerPool | None = None, attempt: int | None = None,
            runner: str = "inline", cancel_event: threading.Event | None = None,
            partition_size: int | None = None, inflight_per_worker: int = 2,
            max_partition_retries: int = 3, progress_interval_s: float = 0.5,
            clock: Callable[[], datetime] = utc_now) -> dict:
    """Run (or resume) job ``job_id`` to a terminal state; returns the job's result.

    ``attempt`` defaults to the catalog's attempt + 1. ``pool`` lets a caller reuse
    warm workers across jobs (the caller then owns and kills it); otherwise a pool of
    ``min(workers, partitions left)`` is started and killed here. ``partition_size``
    (items per partition; default ``cluster_config.partition_size``) never changes the
    result. Raises ``JobCancelledError`` if cancelled, the partition's error class
    (message prefixed with the partition key) on a data error, or whatever failed;
    in every case the catalog already records the outcome.
    """
    attempt = attempt if attempt is not None else catalog.get(job_id).attempt + 1
    # a terminal job or a stale attempt raises ConflictError here, recording nothing
    record = catalog.mark_running(job_id, attempt=attempt, runner=runner, now_utc=now_utc)
    cancelled = _CancelWatch(catalog, job_id, cancel_event, poll_s=progress_interval_s)
    if record.state == CANCELLING:
        catalog.mark_cancelled(job_id, clock())
        raise JobCancelledError(f"job {job_id} was cancelled before attempt {attempt} started")
    own_pool = pool is None
    inflight: dict[ray.ObjectRef, tuple[Partition, int]] = {}
    try:
        spec = parse_job_spec(spec)
        kind = get_kind(spec.kind)
        from storage.objectstore import ObjectStore
        store = ObjectStore.from_config(storage_config)
        jctx = JobContext(store=store, job_id=job_id, now_utc=now_utc, attempt=attempt,
                          partition_size=partition_size or cluster_config.partition_size)
        partitions = kind.plan(spec, jctx)
        keys = [p.key for p in partitions]
        if len(set(keys)) != len(keys):
            dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
            raise JobError(f"job kind {kind.name} planned duplicate partition keys {dupes[:5]}")
        results = load_committed(store, job_id, wanted=keys)
        total = len(partitions)
        log.info("job %s attempt %d: %d partitions, %d already committed", job_id, attempt,
                 total, len(results))
        catalog.set_progress(job_id, len(results), total, clock())
        pending = deque(sorted((p for p in partitions if p.key not in results),
                               key=lambda p: (-p.weight, p.key)))
        if pending and pool is None:
            pool = WorkerPool(min(pool_size(cluster_config), len(pending)), storage_config)
        if pending:
            _dispatch(job_id, attempt, kind.name, pool, pending, inflight, results, total,
                      catalog, cancelled, clock, inflight_per_worker, max_partition_retries,
                      progress_interval_s)
        if cancelled():
            raise _Cancelled()
        if results.keys() != set(keys):          # invariant: every partition exactly once
            missing = sorted(set(keys) - results.keys())[:5]
            raise JobError(f"job {job_id}: partitions without a result: {missing}")
        if own_pool and pool is not None:
            pool.kill()                  # free the CPUs before the (driver-side) reduce
        result = kind.reduce(spec, results, jctx)
        return catalog.mark_succeeded(job_id, result, clock()).result or {}
    except _Cancelled:
        _stop(inflight, pool if own_pool else None)
        _record(job_id, "cancel", lambda: catalog.mark_cancelled(job_id, clock()))
        log.info("job %s cancelled", job_id)
        raise JobCancelledError(f"job {job_id} was cancelled") from None
    except _PartitionFailed as exc:
        _stop(inflight, pool if own_pool else None)
        message, error_type = str(exc), exc.error_type
        _record(job_id, "failure",
                lambda: catalog.mark_failed(job_id, message, error_type, clock()))
        log.warning("job %s failed: %s", job_id, exc)
        raise _error_class(exc.error_type)(str(exc)) from None
    except KeyboardInterrupt:             # Ctrl-C on `m2c ... --wait`: a cancel
        _stop(inflight, pool if own_pool else None)
        _record(job_id, "cancel", lambda: catalog.mark_cancelled(job_id, clock()))
        raise
    except BaseException as exc:
        _stop(inflight, pool if own_pool else None)
        message = str(exc) or type(exc).__name__
        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            message, error_type = f"{type(cause).__name__}: {cause}", type(cause).__name__
        else:
            error_type = type(exc).__name__
        _record(job_id, "failure", lambda: catalog.mark_failed(job_id, message, error_type, clock()))
        log.warning("job %s failed: %s", job_id, message)
        raise
    finally:
        if own_pool and pool is not None:
            pool.kill()


def _dispatch(job_id: str, attempt: int, kind: str, pool: WorkerPool, pending: deque,
              inflight: dict, results: dict[str, Any], total: int, catalog: JobCatalog,
              cancelled: _CancelWatch, clock: Callable[[], datetime], per_worker: int,
              max_retries: int, progress_interval_s: float) -> None:
    """The collect loop: keep workers fed, take results in, retry lost partitions."""
    load = Counter()                          # in-flight calls per worker slot
    lost = Counter()                          # system failures per partition key
    next_progress = time.monotonic() + progress_interval_s
    waited_since = time.monotonic()
    while pending or inflight:
        if cancelled():
            raise _Cancelled()
        ready = pool.poll_ready()
        for slot in sorted(ready, key=lambda s: load[s]):
            while pending and load[slot] < per_worker:
                part = pending.popleft()
                inflight[pool.submit(slot, job_id, attempt, kind, part)] = (part, slot)
                load[slot] += 1
        if not inflight:
            if time.monotonic() - waited_since > 30:
                log.warning("job %s: no worker has been scheduled for 30 s; is the cluster busy?",
                            job_id)
                waited_since = time.monotonic()
            pool.poll_ready(timeout=progress_interval_s)
            continue
        done, _ = ray.wait(list(inflight), num_returns=1, timeout=progress_interval_s)
        if done:   # take everything that is ready, not just the first
            done, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=0)
        for ref in done:
            part, slot = inflight.pop(ref)
            load[slot] -= 1
            try:
                out = ray.get(ref)
            except SYSTEM_FAILURES as exc:
                lost[part.key] += 1
                if lost[part.key] > max_retries:
                    raise JobError(f"partition {part.key}: its worker died {lost[part.key]} "
                                   f"times; giving up ({type(exc).__name__})") from None
                log.warning("job %s: worker %d died running %s (%s); retrying", job_id, slot,
                            part.key, type(exc).__name__)
                pending.appendleft(part)
                continue
            except ray.exceptions.TaskCancelledError:
                raise _Cancelled() from None
            if out["status"] == "error":
                raise _PartitionFailed(part.key, out["error_type"], out["error"])
            if out["status"] == "cancelled":
                raise _Cancelled()
            results[part.key] = out["result"]
        if time.monotonic() >= next_progress or not (pending or inflight):
            catalog.set_progress(job_id, len(results), total, clock())
            next_progress = time.monotonic() + progress_interval_s


def _record(job_id: str, what: str, write: Callable[[], Any]) -> None:
    """Write a terminal state; a conflict (another runner or a cancel got there first)
    is logged, never allowed to hide the job's own outcome."""
    try:
        write()
    except M2CError:
        log.exception("could not record the %s of job %s", what, job_id)


def _stop(inflight: dict, pool: WorkerPool | None) -> None:
    """Cancel in-flight calls, give them a short grace period, then kill the pool."""
    refs = list(inflight)
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:                 # already finished or its worker is gone
            log.debug("cancel failed", exc_info=True)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S if pool is None else 1.0)
    inflight.clear()
    if pool is not None:
        pool.kill()
