"""Partition results and their commit markers in the object store.

Layout, per partition (``<key>`` is :func:`jobs.tasks.encode_key` of the key)::

    runs/<job_id>/parts/<key>/result-<sha256[:16]>.json   the partial result, canonical JSON
    runs/<job_id>/parts/<key>/_COMMITTED                  create-only marker -> that file

The result object is content-addressed, so a partition that runs twice (worker died
after writing, job resumed) writes the same object again instead of overwriting a
committed one with different bytes. The marker is written last with ``put_if_absent``:
exactly one execution commits, and a partition with a marker is never recomputed. The
marker names the result object and its SHA-256, which is verified on load.
"""
from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Iterable

from engine.canonical import canonical_json
from engine.errors import JobError
from storage.parallel_io import map_io

from .tasks import part_prefix

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore

log = logging.getLogger(__name__)

__all__ = ["commit_part", "load_part", "load_committed", "committed_keys"]

MARKER = "_COMMITTED"
_LOAD_THREADS = 16


def commit_part(store: "ObjectStore", job_id: str, key: str, result: dict, *, attempt: int,
                objects: dict[str, bytes] | None = None) -> bool:
    """Write a partition's result and its other ``objects`` (``WorkerContext.staged``)
    side by side, then its create-only commit marker.

    Returns True if this call committed, False if the partition was already committed
    (by an earlier execution); in that case the committed result must be the same bytes
    (partitions are deterministic), else ``JobError``.
    """
    body = canonical_json(result)
    digest = hashlib.sha256(body).hexdigest()
    prefix = part_prefix(job_id, key)
    name = f"result-{digest[:16]}.json"
    store.put_many({**(objects or {}), prefix + name: body})
    marker = canonical_json({"key": key, "result": name, "sha256": digest, "attempt": attempt})
    if store.put_if_absent(prefix + MARKER, marker):
        return True
    existing = json.loads(store.get(prefix + MARKER))
    if existing["sha256"] != digest:
        raise JobError(f"partition {key} of job {job_id} is not deterministic: committed result "
                       f"{existing['sha256'][:16]} (attempt {existing['attempt']}), recomputed "
                       f"{digest[:16]} (attempt {attempt})")
    return False


def committed_keys(store: "ObjectStore", job_id: str) -> list[str]:
    """Object keys of the commit markers of a job (one LIST, no GETs)."""
    return [k for k in store.list(f"runs/{job_id}/parts/") if k.endswith("/" + MARKER)]


def _load_one(store: "ObjectStore", marker_key: str) -> tuple[str, dict]:
    marker = json.loads(store.get(marker_key))
    prefix = marker_key[: -len(MARKER)]
    body = store.get(prefix + marker["result"])
    if hashlib.sha256(body).hexdigest() != marker["sha256"]:
        raise JobError(f"partition result {prefix + marker['result']} does not match its commit "
                       "marker's SHA-256")
    return marker["key"], json.loads(body)


def load_part(store: "ObjectStore", job_id: str, key: str) -> dict | None:
    """The committed result of one partition, or None if it is not committed (one GET
    of the marker, one of the result; no listing)."""
    marker_key = part_prefix(job_id, key) + MARKER
    if not store.exists(marker_key):
        return None
    return _load_one(store, marker_key)[1]


def load_committed(store: "ObjectStore", job_id: str,
                   wanted: Iterable[str] | None = None) -> dict[str, dict]:
    """Results of the committed partitions of a job, by partition key.

    ``wanted`` restricts the answer to the keys of the current plan: a partition
    committed under another plan (e.g. another partition size) is ignored, so nothing
    is counted twice.
    """
    wanted_set = None if wanted is None else set(wanted)
    markers = committed_keys(store, job_id)
    loaded = map_io(lambda k: _load_one(store, k), markers, threads=_LOAD_THREADS)
    return {key: res for key, res in loaded if wanted_set is None or key in wanted_set}
