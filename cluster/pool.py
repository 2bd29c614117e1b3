"""Warm worker actors that run job partitions.

A :class:`WorkerPool` is ``size`` Ray actors, each reserving one CPU (``num_cpus=1``)
and holding, for its whole life, an open ``ObjectStore``, a ``Tables`` with its
snapshot cache, and a reference-data cache shared by every partition it runs. Each
worker reads its own partition's inputs from the object store; the driver sends only
the partition (a small dict) and receives only the small result.

Guarantees a partition run gives the executor:

* **Committed once.** The worker writes the result and then the create-only commit
  marker (:func:`jobs.parts.commit_part`) before answering, so a result the executor
  counts is durable, and a rerun of a committed partition (its worker died after
  committing, or the job resumed) returns the committed result instead of recomputing.
* **Data errors are answers, not crashes.** An ``M2CError`` raised by the kind
  (``InputError``, ``DataMissingError``, ...) comes back as a
  :class:`PartitionOutcome` with status ``error``, its type and message: the executor fails the job
  with it and does not retry (the same data gives the same error). Unexpected
  exceptions propagate as ``RayTaskError`` and fail the job too.
* **Cooperative cancel.** ``ray.cancel`` on a running actor task sets a flag that the
  kind polls through ``ctx.is_cancelled()`` between chunks; queued calls are dropped.

Actors restart after their process dies (``max_restarts``); the executor, not Ray,
re-submits the partition that was running (``max_task_retries=0``), so it counts
retries and never runs a partition twice at the same time.

Pools must be killed when the job ends (:meth:`WorkerPool.kill`): actors holding
every CPU starve any later task or actor that needs one (engineering notes, §1.10).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import ray

from engine.errors import JobCancelledError, M2CError
from jobs.parts import commit_part, load_part
from jobs.kinds import get_kind
from jobs.tasks import Partition, WorkerContext
from storage.config import StorageConfig

log = logging.getLogger(__name__)

__all__ = ["PartitionWorker", "WorkerPool", "PartitionOutcome", "PartitionStatus",
           "WORKER_MAX_RESTARTS"]

WORKER_MAX_RESTARTS = 16


class PartitionStatus(StrEnum):
    OK = "ok"                  # committed (now, or by an earlier execution: ``reused``)
    ERROR = "error"            # a data error (an M2CError): the job fails with it
    CANCELLED = "cancelled"    # the job was cancelled while it ran; nothing committed


@dataclass(frozen=True)
class PartitionOutcome:
    """What a worker answers for one partition."""
    key: str
    status: PartitionStatus
    result: dict | None = None           # the committed result (status ok)
    reused: bool = False                 # committed before this call: not recomputed
    error_type: str | None = None        # the error's class in engine.errors (status error)
    error: str | None = None
    pid: int | None = None               # the worker process (fault-injection tests)
    seconds: float = 0.0                 # compute time of this call


@ray.remote(num_cpus=1, max_restarts=WORKER_MAX_RESTARTS, max_task_retries=0)
class PartitionWorker:
    """One warm worker: a CPU, an object store, table snapshots and a cache."""

    def __init__(self, storage_config: StorageConfig, slot: int):
        from storage.objectstore import ObjectStore
        self.slot = slot
        self.store = ObjectStore.from_config(storage_config)
        self.cache: dict[str, Any] = {}
        self._tables = None
        self.partitions_run = 0

    def ready(self) -> dict[str, Any]:
        """Answered once ``__init__`` ran: where this worker lives."""
        ctx = ray.get_runtime_context()
        return {"slot": self.slot, "pid": os.getpid(), "node_id": ctx.get_node_id()}

    def pid(self) -> int:
        return os.getpid()

    def _tables_for(self) -> Any:
        if self._tables is None:
            from storage.tables import Tables
            self._tables = Tables(self.store)
        return self._tables

    def run(self, job_id: str, attempt: int, kind_name: str, partition: dict) -> PartitionOutcome:
        """Run one partition and commit it (or return its committed result)."""
        part = Partition.from_dict(partition)
        started = time.perf_counter()
        committed = load_part(self.store, job_id, part.key)
        if committed is not None:        # a rerun of a committed partition: do not recompute
            return PartitionOutcome(part.key, PartitionStatus.OK, committed, reused=True,
                                    pid=os.getpid())
        kind = get_kind(kind_name)
        runtime = ray.get_runtime_context()
        ctx = WorkerContext(store=self.store, job_id=job_id, attempt=attempt,
                            is_cancelled=runtime.is_canceled, cache=self.cache,
                            tables=self._tables_for())
        try:
            result = kind.run_partition(part, ctx)
            if runtime.is_canceled():
                raise JobCancelledError(f"job {job_id} was cancelled")
            commit_part(self.store, job_id, part.key, result, attempt=attempt, objects=ctx.staged)
        except JobCancelledError:
            return PartitionOutcome(part.key, PartitionStatus.CANCELLED, pid=os.getpid())
        except M2CError as exc:
            log.info("partition %s of %s failed: %s", part.key, job_id, exc)
            return PartitionOutcome(part.key, PartitionStatus.ERROR, error_type=type(exc).__name__,
                                    error=str(exc), pid=os.getpid())
        self.partitions_run += 1
        return PartitionOutcome(part.key, PartitionStatus.OK, result, pid=os.getpid(),
                                seconds=round(time.perf_counter() - started, 6))


class WorkerPool:
    """``size`` warm :class:`PartitionWorker` actors owned by the calling process.

    Workers become usable as they are scheduled (:meth:`poll_ready`); on a busy
    cluster, or one whose worker nodes are not up yet (a head with ``CPU: 0``), some
    or all wait for a CPU while the others already work. A worker whose call failed
    because its process or node went away is set aside (:meth:`mark_lost`) and asked
    again, every ``RECOVERY_PROBE_S``, whether it is back: Ray restarts it, on its node
    or on another one, as soon as a CPU is free, and until then no partition is sent
    to it (a call to a restarting actor fails at once, and would burn the partition's
    retries while its node is down). A worker whose restarts are exhausted is
    :attr:`dead`. The pool can :meth:`grow` when the cluster gains CPUs. Use as a
    context manager or call :meth:`kill`.
    """

    #: seconds between two "are you back?" calls to a lost worker
    RECOVERY_PROBE_S = 1.0

    def __init__(self, size: int, storage_config: StorageConfig):
        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.storage_config = storage_config
        self.workers: list[Any] = []
        self._ready_refs: dict[ray.ObjectRef, int] = {}
        self._probe_at: dict[int, float] = {}      # lost slot -> when to ask it again
        self.ready_slots: set[int] = set()
        self.dead: dict[int, str] = {}             # slot -> why (restarts exhausted)
        self.info: dict[int, dict[str, Any]] = {}
        self._killed = False
        self.grow(size)

    @property
    def size(self) -> int:
        return len(self.workers)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def grow(self, size: int) -> int:
        """Add workers up to ``size`` in all (never shrinks); returns how many were added."""
        added = 0
        while len(self.workers) < size:
            slot = len(self.workers)
            worker = PartitionWorker.remote(self.storage_config, slot)
            self.workers.append(worker)
            self._ready_refs[worker.ready.remote()] = slot
            added += 1
        return added

    @property
    def exhausted(self) -> bool:
        """Every worker is dead for good: nothing can run on this pool any more."""
        return len(self.dead) == len(self.workers)

    def mark_lost(self, slot: int) -> None:
        """A call to ``slot`` failed because its worker (or node) went away: send it
        nothing until it answers again (a probe that finds it dead for good marks it
        :attr:`dead`)."""
        self.ready_slots.discard(slot)
        if slot not in self.dead and slot not in self._ready_refs.values():
            self._probe_at[slot] = time.monotonic() + self.RECOVERY_PROBE_S

    def poll_ready(self, timeout: float = 0.0) -> set[int]:
        """Slots whose worker is up (waits up to ``timeout`` s for one to come up)."""
        now = time.monotonic()
        for slot, at in list(self._probe_at.items()):
            if at <= now:
                del self._probe_at[slot]
                self._ready_refs[self.workers[slot].ready.remote()] = slot
        if self._ready_refs:
            done, _ = ray.wait(list(self._ready_refs), num_returns=1, timeout=timeout)
            if done:
                done, _ = ray.wait(list(self._ready_refs), num_returns=len(self._ready_refs),
                                   timeout=0)
            for ref in done:
                slot = self._ready_refs.pop(ref)
                try:
                    self.info[slot] = ray.get(ref)
                except ray.exceptions.ActorDiedError as exc:      # restarts exhausted
                    self.dead[slot] = str(exc).splitlines()[0]
                    continue
                except ray.exceptions.RayActorError:
                    # restarting (its process or node died) or unreachable: ask again later
                    self._probe_at[slot] = time.monotonic() + self.RECOVERY_PROBE_S
                    continue
                self.ready_slots.add(slot)
        elif timeout > 0 and not self.ready_slots:
            time.sleep(min(timeout, self.RECOVERY_PROBE_S))
        return set(self.ready_slots)

    def wait_ready(self, timeout: float | None = None) -> set[int]:
        """Block until every live worker has started (or ``timeout`` s passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._ready_refs or self._probe_at:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.poll_ready(timeout=0.5 if left is None else min(0.5, left))
            if deadline is not None and time.monotonic() >= deadline:
                break
        return set(self.ready_slots)

    def submit(self, slot: int, job_id: str, attempt: int, kind: str,
               partition: Partition) -> ray.ObjectRef:
        return self.workers[slot].run.remote(job_id, attempt, kind, partition.to_dict())

    def pids(self, timeout_s: float = 120.0) -> list[int]:
        """Process ids of the workers (waits for them to start, or to finish restarting:
        a restarting actor answers ``ActorUnavailableError`` until it is back)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return ray.get([w.pid.remote() for w in self.workers])
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def kill(self) -> None:
        """Kill every worker now (no restart); frees their CPUs. Idempotent."""
        if self._killed:
            return
        self._killed = True
        for w in self.workers:
            try:
                ray.kill(w, no_restart=True)
            except Exception:        # already gone: nothing to free
                log.debug("worker already gone", exc_info=True)
