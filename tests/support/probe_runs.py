"""What a `probe` job really did, read back from the object store (cluster tests)."""
from __future__ import annotations

from jobs import probe
from jobs.probe import ProbeSpec
from storage.objectstore import ObjectStore


def executions(store: ObjectStore, job_id: str) -> dict[str, int]:
    """How often each probe partition really ran (one object per execution)."""
    counts: dict[str, int] = {}
    for key in store.list(f"runs/{job_id}/probe-exec/"):
        part = key.split("/")[3]
        counts[part] = counts.get(part, 0) + 1
    return counts


def expected_total(spec: ProbeSpec) -> str:
    return str(sum(probe.item_value(spec.seed, probe.item_key(i)) for i in range(spec.items)))
