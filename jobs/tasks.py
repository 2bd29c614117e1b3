"""What a job kind is made of, so ``cluster/`` stays generic (it knows partitions, not
settlement): :class:`JobKind`, :class:`Partition` and the contexts the kind's functions
receive. The table of kinds is :mod:`jobs.kinds`.

A :class:`JobKind` has three functions:

``plan(spec, ctx: JobContext) -> list[Partition]``
    Runs once per attempt in the job runner. Cheap: reads inventories (which
    site-months have data), never the data itself.
``run_partition(partition, ctx: WorkerContext) -> dict``
    Runs on a warm worker actor, which reads its own inputs from the object store
    (never through the driver). Must be **deterministic and idempotent**: a partition
    may run more than once (its worker died, the job resumed), and the result must be
    the same bytes each time. Returns a small JSON-able partial result; big outputs are
    written under ``ctx.part_prefix(partition)`` and only referenced. Long partitions
    call ``ctx.check_cancelled()`` between chunks. A data problem raises an
    ``InputError`` / ``DataMissingError`` naming what is missing; the job then fails
    with that message (it is not retried: the same data gives the same error).
``reduce(spec, results: dict[key, dict], ctx: JobContext) -> dict``
    Runs once, in the job runner, over every partition's result. Must iterate keys in
    sorted order (results arrive in completion order), publish atomically, and return
    the job's ``result`` document (JSON-able).
``check(spec, store)`` (optional)
    Called on submit (``POST /v1/jobs``, the CLI) before the job is recorded: checks
    the spec against what is stored (names of contracts, sites, ...) and raises an
    ``InputError`` naming the field, so bad input is refused before any work. ``plan``
    checks again (the store may change in between).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from pydantic import BaseModel

from engine.errors import JobCancelledError

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

log = logging.getLogger(__name__)

__all__ = ["Partition", "JobContext", "WorkerContext", "JobKind", "part_prefix", "encode_key"]

_KEY_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=+")


def encode_key(key: str) -> str:
    """A partition key as one object-key segment: bytes outside ``[A-Za-z0-9-_.=+]`` are
    percent-encoded (``TX-DC1|2026-10`` -> ``TX-DC1%7C2026-10``); reversible, no ``/``."""
    return "".join(ch if ch in _KEY_SAFE else "".join(f"%{b:02X}" for b in ch.encode("utf-8"))
                   for ch in key)


def part_prefix(job_id: str, key: str) -> str:
    """Where a partition's outputs and commit marker live: ``runs/<job_id>/parts/<key>/``.

    Not attempt-scoped on purpose: a committed partition is valid for every later
    attempt of the same job (partitions are deterministic), which is what makes resume
    recompute nothing committed.
    """
    return f"runs/{job_id}/parts/{encode_key(key)}/"


@dataclass(frozen=True)
class Partition:
    """One unit of parallel work: a stable, unique ``key`` (e.g. ``"TX-DC1|2026-10"``),
    JSON-able ``params`` and a relative cost ``weight`` (heaviest are dispatched first)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    weight: int = 1

    def __post_init__(self) -> None:
        if not self.key or any(ord(c) < 32 for c in self.key):
            raise ValueError(f"invalid partition key {self.key!r}")
        if self.weight < 1:
            raise ValueError(f"partition {self.key}: weight must be >= 1, got {self.weight}")

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "params": dict(self.params), "weight": self.weight}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Partition":
        return cls(key=d["key"], params=dict(d.get("params") or {}), weight=int(d.get("weight", 1)))


def _open_tables(store: "ObjectStore") -> "Tables":
    from storage.tables import Tables          # storage owns the table format
    return Tables(store)


@dataclass(kw_only=True)
class JobContext:
    """What ``plan`` and ``reduce`` get, in the job runner. ``tables`` defaults to a
    ``storage.tables.Tables`` over ``store``. ``partition_size`` is an execution hint
    (items per partition) for kinds that can group work; it never changes a result."""

    store: "ObjectStore"
    job_id: str
    now_utc: datetime
    tables: "Tables" = None  # type: ignore[assignment]  # set in __post_init__
    attempt: int = 1
    partition_size: int = 1

    def __post_init__(self) -> None:
        if self.tables is None:
            self.tables = _open_tables(self.store)


@dataclass(kw_only=True)
class WorkerContext:
    """What ``run_partition`` gets, on a worker actor. ``cache`` lives as long as the
    warm worker: reference data (registry, contracts, price curves) loaded once and
    reused by every partition the worker runs; so does ``tables`` (its snapshot cache)."""

    store: "ObjectStore"
    job_id: str
    attempt: int
    tables: "Tables" = None  # type: ignore[assignment]  # set in __post_init__
    is_cancelled: Callable[[], bool] = lambda: False
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    #: objects of the partition's output besides its result (e.g. interval detail),
    #: written with the result, before the commit marker (:meth:`stage`)
    staged: dict[str, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.tables is None:
            self.tables = _open_tables(self.store)

    def check_cancelled(self) -> None:
        """Raise ``JobCancelledError`` if the job was cancelled; call between chunks."""
        if self.is_cancelled():
            raise JobCancelledError(f"job {self.job_id} was cancelled")

    def part_prefix(self, partition: Partition) -> str:
        return part_prefix(self.job_id, partition.key)

    def stage(self, key: str, data: bytes) -> None:
        """Write object ``key`` as part of this partition's output: it is written side
        by side with the result when the partition commits (nothing is written if it
        fails), so the result may reference it."""
        self.staged[key] = data


@dataclass(frozen=True)
class JobKind:
    name: str
    spec_type: type[BaseModel]
    plan: Callable[[Any, JobContext], list[Partition]]
    run_partition: Callable[[Partition, WorkerContext], dict]
    reduce: Callable[[Any, dict[str, dict], JobContext], dict]
    description: str = ""
    check: Callable[[Any, "ObjectStore"], Any] | None = None
