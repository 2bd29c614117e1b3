"""Run one job on Ray: plan -> resume -> dispatch -> reduce, recorded in the catalog.

:class:`JobRun` is the whole life of one attempt of a job, in the calling process (a
detached :mod:`cluster.job_runner` actor, or the CLI with ``--wait``); a
:class:`Runtime` says where (catalog, store, cluster, clock), :class:`RunOptions` how
(none of them changes a result); workers answer each partition with a typed
:class:`cluster.pool.PartitionOutcome`:

1. **Plan** with the job kind (:mod:`jobs.kinds`): a list of partitions with stable
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
   ``max_partition_retries`` times; the worker gets nothing more until it answers
   again, so a node that is down costs each partition it was running one retry, however
   long it stays down. A partition that answers with a data error
   (``InputError``, ``DataMissingError``, ...) fails the job at once with that message
   (no retry: the same data gives the same error).
   **Capacity.** A pool sized from the cluster (no ``workers`` setting) grows as
   nodes join (a worker node after a ``CPU: 0`` head; the autoscaler's). With no worker
   up, the job waits; it fails, publishing nothing, if every worker is dead for good
   or the whole cluster has offered no CPU for ``worker_wait_s`` (its worker nodes
   were lost and did not come back).
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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import ray
from pydantic import BaseModel

from engine.errors import JobCancelledError, JobError, M2CError, error_class
from jobs.catalog import JobCatalog
from jobs.kinds import get_kind, parse_job_spec
from jobs.parts import load_committed
from jobs.states import JobState
from jobs.tasks import JobContext, JobKind, Partition
from storage.config import StorageConfig

from .pool import PartitionOutcome, PartitionStatus, WorkerPool
from .runtime import ClusterConfig, cluster_cpus, pool_size

log = logging.getLogger(__name__)

__all__ = ["JobRun", "Runtime", "RunOptions", "run_job", "utc_now", "SYSTEM_FAILURES"]

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
            self._requested = self.catalog.get(self.job_id).state == JobState.CANCELLING
        return self._requested


@dataclass(frozen=True)
class Runtime:
    """Where a job runs: the catalog that records it, the store it reads and writes,
    the Ray cluster, and the clock (read here, never by the kinds)."""
    storage_config: StorageConfig
    catalog: JobCatalog
    cluster_config: ClusterConfig
    clock: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class RunOptions:
    """Execution knobs; none of them changes a result."""
    #: items per partition; None: ``cluster_config.partition_size``
    partition_size: int | None = None
    #: calls queued per worker (backpressure; the driver holds only small results)
    inflight_per_worker: int = 2
    #: times a partition whose worker died is re-submitted
    max_partition_retries: int = 3
    #: seconds between progress writes and cancel polls
    progress_interval_s: float = 0.5


class JobRun:
    """One attempt of one job, run to a terminal state in the calling process.

    ``attempt`` defaults to the catalog's attempt + 1. ``pool`` lets a caller reuse
    warm workers across jobs (the caller then owns and kills it); otherwise a pool of
    ``min(workers, partitions left)`` is started and killed here."""

    def __init__(self, job_id: str, runtime: Runtime, *, options: RunOptions = RunOptions(),
                 pool: WorkerPool | None = None, attempt: int | None = None,
                 runner: str = "inline", cancel_event: threading.Event | None = None):
        self.job_id, self.runtime, self.options = job_id, runtime, options
        self.catalog = runtime.catalog
        self.pool, self.own_pool = pool, pool is None
        self.attempt = attempt if attempt is not None else self.catalog.get(job_id).attempt + 1
        self.runner = runner
        self.cancelled = _CancelWatch(self.catalog, job_id, cancel_event,
                                      poll_s=options.progress_interval_s)
        self.inflight: dict[ray.ObjectRef, tuple[Partition, int]] = {}
        self.results: dict[str, dict] = {}
        self._idle_since: float | None = None      # nothing in flight since (monotonic)
        self._no_cpu_since: float | None = None    # the cluster offered no CPU since
        self._warned_at = 0.0

    def run(self, spec: BaseModel | dict, now_utc: datetime) -> dict:
        """Plan, resume, dispatch, reduce; returns the job's result document.

        Raises ``JobCancelledError`` if cancelled, the partition's error class (message
        prefixed with the partition key) on a data error, or whatever failed; in every
        case the catalog already records the outcome."""
        # a terminal job or a stale attempt raises ConflictError here, recording nothing
        record = self.catalog.mark_running(self.job_id, attempt=self.attempt, runner=self.runner,
                                           now_utc=now_utc)
        if record.state == JobState.CANCELLING:
            self.catalog.mark_cancelled(self.job_id, self.runtime.clock())
            raise JobCancelledError(f"job {self.job_id} was cancelled before attempt "
                                    f"{self.attempt} started")
        try:
            return self._run(parse_job_spec(spec), now_utc)
        except _Cancelled:
            self._stop()
            self._record("cancel", lambda: self.catalog.mark_cancelled(self.job_id, self.runtime.clock()))
            log.info("job %s cancelled", self.job_id)
            raise JobCancelledError(f"job {self.job_id} was cancelled") from None
        except _PartitionFailed as exc:
            self._fail(str(exc), exc.error_type)
            raise error_class(exc.error_type)(str(exc)) from None
        except KeyboardInterrupt:             # Ctrl-C on `m2c ... --wait`: a cancel
            self._stop()
            self._record("cancel", lambda: self.catalog.mark_cancelled(self.job_id, self.runtime.clock()))
            raise
        except BaseException as exc:
            message, error_type = str(exc) or type(exc).__name__, type(exc).__name__
            if isinstance(exc, ray.exceptions.RayTaskError):
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                message, error_type = f"{type(cause).__name__}: {cause}", type(cause).__name__
            self._fail(message, error_type)
            raise
        finally:
            if self.own_pool and self.pool is not None:
                self.pool.kill()

    def _run(self, spec: BaseModel, now_utc: datetime) -> dict:
        kind = get_kind(spec.kind)
        from storage.objectstore import ObjectStore
        store = ObjectStore.from_config(self.runtime.storage_config)
        jctx = JobContext(store=store, job_id=self.job_id, now_utc=now_utc, attempt=self.attempt,
                          partition_size=(self.options.partition_size
                                          or self.runtime.cluster_config.partition_size))
        partitions = self._plan(kind, spec, jctx)
        pending = deque(sorted((p for p in partitions if p.key not in self.results),
                               key=lambda p: (-p.weight, p.key)))
        if pending:
            if self.pool is None:
                self.pool = WorkerPool(min(pool_size(self.runtime.cluster_config), len(pending)),
                                       self.runtime.storage_config)
            self._dispatch(kind.name, pending, len(partitions))
        if self.cancelled():
            raise _Cancelled()
        missing = sorted({p.key for p in partitions} - self.results.keys())
        if missing:                           # invariant: every partition exactly once
            raise JobError(f"job {self.job_id}: partitions without a result: {missing[:5]}")
        if self.own_pool and self.pool is not None:
            self.pool.kill()                  # free the CPUs before the (driver-side) reduce
        result = kind.reduce(spec, self.results, jctx)
        return self.catalog.mark_succeeded(self.job_id, result, self.runtime.clock()).result or {}

    def _plan(self, kind: JobKind, spec: BaseModel, jctx: JobContext) -> list[Partition]:
        """The kind's plan, and the results of its partitions an earlier attempt
        committed (resume: only keys of this plan count, so nothing committed under
        another plan is counted twice)."""
        partitions = kind.plan(spec, jctx)
        keys = [p.key for p in partitions]
        if len(set(keys)) != len(keys):
            dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
            raise JobError(f"job kind {kind.name} planned duplicate partition keys {dupes[:5]}")
        self.results = load_committed(jctx.store, self.job_id, wanted=keys)
        log.info("job %s attempt %d: %d partitions, %d already committed", self.job_id,
                 self.attempt, len(partitions), len(self.results))
        self._progress(len(partitions))
        return partitions

    def _progress(self, total: int) -> None:
        self.catalog.set_progress(self.job_id, len(self.results), total, self.runtime.clock())

    def _dispatch(self, kind: str, pending: deque, total: int) -> None:
        """The collect loop: keep workers fed, take results in, retry lost partitions."""
        assert self.pool is not None
        opts = self.options
        load: Counter[int] = Counter()            # in-flight calls per worker slot
        lost: Counter[str] = Counter()            # system failures per partition key
        next_progress = time.monotonic() + opts.progress_interval_s
        while pending or self.inflight:
            if self.cancelled():
                raise _Cancelled()
            for slot in sorted(self.pool.poll_ready(), key=lambda s: load[s]):
                while pending and load[slot] < opts.inflight_per_worker:
                    part = pending.popleft()
                    ref = self.pool.submit(slot, self.job_id, self.attempt, kind, part)
                    self.inflight[ref] = (part, slot)
                    load[slot] += 1
            if not self.inflight:
                self._await_workers(len(pending), total)
                continue
            self._idle_since = None
            done, _ = ray.wait(list(self.inflight), num_returns=1, timeout=opts.progress_interval_s)
            if done:   # take everything that is ready, not just the first
                done, _ = ray.wait(list(self.inflight), num_returns=len(self.inflight), timeout=0)
            for ref in done:
                part, slot = self.inflight.pop(ref)
                load[slot] -= 1
                if not self._collect(ref, part, slot, lost):
                    pending.appendleft(part)
            if time.monotonic() >= next_progress or not (pending or self.inflight):
                self._progress(total)
                self._grow(len(pending) + len(self.inflight))
                next_progress = time.monotonic() + opts.progress_interval_s

    def _await_workers(self, left: int, total: int) -> None:
        """Nothing in flight: no worker is up (starting, waiting for a CPU, or
        restarting after its node was lost). Wait a little, growing the pool if the
        cluster gained CPUs; fail the job cleanly if it cannot run any more: every
        worker dead for good, or no CPU in the whole cluster for ``worker_wait_s``."""
        assert self.pool is not None
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = self._warned_at = now
        done = f"{len(self.results)} of {total} partitions done, nothing published"
        if self.pool.exhausted:
            why = next(iter(self.pool.dead.values()))
            raise JobError(f"every worker of the job died and cannot be restarted ({why}); {done}")
        if cluster_cpus() > 0:
            self._no_cpu_since = None
        elif self._no_cpu_since is None:
            self._no_cpu_since = now
        wait_s = self.runtime.cluster_config.worker_wait_s
        if wait_s is not None and self._no_cpu_since is not None and now - self._no_cpu_since > wait_s:
            raise JobError(f"no worker could run for {wait_s:g} s: the Ray cluster offers no CPU "
                           f"(its worker nodes were lost or never started); {done}")
        if now - self._warned_at > 30:
            log.warning("job %s: no worker up for %.0f s (%d partitions waiting; the cluster "
                        "offers %d CPUs); is it busy, or are its worker nodes down?", self.job_id,
                        now - self._idle_since, left, cluster_cpus())
            self._warned_at = now
        self._grow(left)
        self.pool.poll_ready(timeout=self.options.progress_interval_s)

    def _grow(self, left: int) -> None:
        """Follow the cluster's CPUs with an own pool sized from them (no
        ``workers`` setting): nodes that join (a worker node after a ``CPU: 0`` head,
        the autoscaler's) get workers, up to the partitions left."""
        cfg = self.runtime.cluster_config
        if not self.own_pool or self.pool is None or cfg.workers or left <= self.pool.size:
            return
        target = min(pool_size(cfg), left)
        if target > self.pool.size:
            log.info("job %s: the cluster offers %d CPUs; pool %d -> %d workers", self.job_id,
                     cluster_cpus(), self.pool.size, target)
            self.pool.grow(target)

    def _collect(self, ref: ray.ObjectRef, part: Partition, slot: int, lost: Counter[str]) -> bool:
        """Take one finished call in; False if its partition must run again (its worker
        died, within ``max_partition_retries``)."""
        try:
            out: PartitionOutcome = ray.get(ref)
        except SYSTEM_FAILURES as exc:
            assert self.pool is not None
            self.pool.mark_lost(slot)         # nothing more to it until it answers again
            lost[part.key] += 1
            if lost[part.key] > self.options.max_partition_retries:
                raise JobError(f"partition {part.key}: its worker died {lost[part.key]} "
                               f"times; giving up ({type(exc).__name__})") from None
            log.warning("job %s: worker %d died running %s (%s); retrying", self.job_id, slot,
                        part.key, type(exc).__name__)
            return False
        except ray.exceptions.TaskCancelledError:
            raise _Cancelled() from None
        if out.status is PartitionStatus.ERROR:
            raise _PartitionFailed(part.key, out.error_type or "JobError", out.error or "")
        if out.status is PartitionStatus.CANCELLED:
            raise _Cancelled()
        assert out.result is not None
        self.results[part.key] = out.result
        return True

    def _fail(self, message: str, error_type: str) -> None:
        self._stop()
        self._record("failure", lambda: self.catalog.mark_failed(
            self.job_id, message, error_type, self.runtime.clock()))
        log.warning("job %s failed: %s", self.job_id, message)

    def _record(self, what: str, write: Callable[[], Any]) -> None:
        """Write a terminal state; a conflict (another runner or a cancel got there
        first) is logged, never allowed to hide the job's own outcome."""
        try:
            write()
        except M2CError:
            log.exception("could not record the %s of job %s", what, self.job_id)

    def _stop(self) -> None:
        """Cancel in-flight calls and give them a grace period (short for an own pool,
        which is killed next; longer for a caller's pool, whose workers live on)."""
        refs = list(self.inflight)
        for ref in refs:
            try:
                ray.cancel(ref)
            except Exception:                 # already finished or its worker is gone
                log.debug("cancel failed", exc_info=True)
        if refs:
            ray.wait(refs, num_returns=len(refs),
                     timeout=1.0 if self.own_pool else CANCEL_GRACE_S)
        self.inflight.clear()
        if self.own_pool and self.pool is not None:
            self.pool.kill()


def run_job(job_id: str, spec: BaseModel | dict, runtime: Runtime, *, now_utc: datetime,
            **kwargs: Any) -> dict:
    """Run (or resume) job ``job_id`` to a terminal state: ``JobRun(job_id, runtime,
    **kwargs).run(spec, now_utc)``; returns the job's result."""
    return JobRun(job_id, runtime, **kwargs).run(spec, now_utc)
