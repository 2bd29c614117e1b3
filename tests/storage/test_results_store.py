"""storage.results: immutable job results, published atomically, verified on read."""
from __future__ import annotations

import pytest

from engine.errors import InputError, NotFoundError, StorageError
from storage.objectstore import ObjectStore
from storage.results import ResultStore


def test_publish_read_verify_and_immutability(storage_config):
    store = ObjectStore.from_config(storage_config)
    results = ResultStore(store, "scenario")
    parts = {"summary.json": b'{"total":"1.00"}\n', "results.parquet": b"PAR1...PAR1"}
    meta = {"lineage": {"data_versions": {"meter": 3}, "seed": 7}}
    assert results.publish("job-1", parts, meta) is True
    assert results.publish("job-1", parts, meta) is False          # the same result again
    manifest = results.manifest("job-1")
    assert manifest["lineage"] == meta["lineage"] and manifest["result_id"] == "job-1"
    assert results.part("job-1", "summary.json") == parts["summary.json"]
    assert results.ids() == ["job-1"]
    with pytest.raises(StorageError):                               # never rewritten
        results.publish("job-1", {**parts, "summary.json": b"{}"}, meta)
    with pytest.raises(NotFoundError):
        results.part("job-1", "nope.csv")
    with pytest.raises(NotFoundError):
        results.manifest("job-2")


def test_a_tampered_part_is_refused(local_storage):
    store = ObjectStore.from_config(local_storage)
    results = ResultStore(store, "bankability")
    results.publish("job-9", {"summary.json": b'{"irr":"0.08"}'}, {})
    store.put("results/bankability/job-9/summary.json", b'{"irr":"0.80"}')
    with pytest.raises(StorageError, match="does not match"):
        results.part("job-9", "summary.json")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 200, ".hidden"])
def test_names_are_checked_before_any_key_is_built(local_storage, bad):
    results = ResultStore(ObjectStore.from_config(local_storage), "scenario")
    with pytest.raises(InputError):
        results.publish(bad, {"a.json": b"{}"}, {})
