"""``probe``: a synthetic job kind for cluster benchmarks and fault-injection tests.

Not offered to users (it is not in :data:`jobs.specs.JobSpec`); it exists so that the
executor's guarantees -- resume, retries after worker death, cancellation, failure
with a partition's data error, deterministic reduce -- can be exercised and measured
without settlement data. Each item ``i`` of ``items``:

* records one execution object ``runs/<job>/probe-exec/<key>/<uuid>`` (so tests can
  count how often each partition really ran),
* "works" for ``work_ms`` milliseconds in 10 ms slices, checking for cancellation
  between slices: sleeping, or with ``cpu`` burning a core (a stand-in for a
  CPU-bound settlement when measuring how the API behaves under load),
* raises ``DataMissingError`` if it is ``fail_item`` (a data error: not retried),
* yields ``value = first 8 bytes of sha256("<seed>:<item key>")`` as an integer.

The reduce sums the values in key order and publishes a canonical JSON document
under ``runs/<job>/probe-result.json`` (create-only).
"""
from __future__ import annotations

import hashlib
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.canonical import canonical_json
from engine.errors import DataMissingError, JobError

from .planning import group_partitions
from .tasks import JobContext, JobKind, Partition, WorkerContext, encode_key

SLICE_MS = 10


class ProbeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["probe"] = "probe"
    items: int = Field(ge=1, le=1_000_000, description="number of work items")
    work_ms: int = Field(default=0, ge=0, le=600_000, description="simulated work per item, ms")
    fail_item: str | None = Field(default=None, description="item key that raises a data error")
    cpu: bool = Field(default=False, description="burn CPU instead of sleeping while working")
    seed: int = 0


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x = (x * 31 + 7) % 1_000_003


def item_key(i: int) -> str:
    return f"item-{i:06d}"


def item_value(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def plan(spec: ProbeSpec, ctx: JobContext) -> list[Partition]:
    items = [(item_key(i), {"seed": spec.seed, "work_ms": spec.work_ms, "cpu": spec.cpu,
                            "fail": item_key(i) == spec.fail_item}) for i in range(spec.items)]
    return group_partitions(items, ctx.partition_size)


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    ctx.store.put(f"runs/{ctx.job_id}/probe-exec/{encode_key(partition.key)}/{uuid.uuid4().hex}",
                  str(ctx.attempt).encode())
    values: dict[str, str] = {}
    for item in partition.params["items"]:
        key, p = item["key"], item["params"]
        deadline = time.monotonic() + p["work_ms"] / 1000
        while True:
            ctx.check_cancelled()
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if p.get("cpu"):
                _burn(min(left, SLICE_MS / 1000))
            else:
                time.sleep(min(left, SLICE_MS / 1000))
        if p["fail"]:
            raise DataMissingError(f"probe item {key}: no input data for this item (injected)")
        values[key] = str(item_value(p["seed"], key))      # as text: JSON-safe beyond 2**53
    return {"values": values}


def reduce(spec: ProbeSpec, results: dict[str, dict], ctx: JobContext) -> dict:
    values: dict[str, int] = {}
    for key in sorted(results):
        for item, value in results[key]["values"].items():
            values[item] = int(value)
    total = sum(values[k] for k in sorted(values))
    doc = {"kind": "probe", "items": len(values), "seed": spec.seed, "total": str(total)}
    result_key = f"runs/{ctx.job_id}/probe-result.json"
    body = canonical_json(doc)
    if not ctx.store.put_if_absent(result_key, body) and ctx.store.get(result_key) != body:
        raise JobError(f"{result_key} already holds a different result")
    return {"result_key": result_key, "items": len(values), "total": str(total)}


KIND = JobKind(name="probe", spec_type=ProbeSpec, plan=plan, run_partition=run_partition,
               reduce=reduce, description="synthetic benchmark / fault-injection job")
