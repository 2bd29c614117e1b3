"""ObjectStore on both backends (local folder and the real SeaweedFS S3 server)."""
from __future__ import annotations

import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import NotFoundError, StorageError
from storage.objectstore import ObjectStore
from tests.support.race import race


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def test_put_get_exists_delete(store):
    assert not store.exists("a/b.json")
    with pytest.raises(NotFoundError):
        store.get("a/b.json")
    store.put("a/b.json", b"one")
    assert store.exists("a/b.json")
    assert store.get("a/b.json") == b"one"
    store.put("a/b.json", b"two")                    # replace
    assert store.get("a/b.json") == b"two"
    store.delete("a/b.json")
    store.delete("a/b.json")                         # idempotent, as on S3
    assert not store.exists("a/b.json")


def test_list_is_sorted_relative_and_prefix_based(store):
    for key in ("registry/sites/v2.json", "registry/sites/v10.json", "registry/x.json",
                "runs/j1/part-0.parquet", "top.txt"):
        store.put(key, b"x")
    assert store.list("registry/sites/") == ["registry/sites/v10.json", "registry/sites/v2.json"]
    assert store.list("registry/sites/v1") == ["registry/sites/v10.json"]
    assert store.list("registry/") == ["registry/sites/v10.json", "registry/sites/v2.json",
                                       "registry/x.json"]
    assert store.list("nothing/") == []
    assert "top.txt" in store.list()


def test_put_many_writes_every_object_and_reports_a_bad_key_after_the_rest(store):
    objects = {f"many/{i:02d}.bin": bytes([i]) * (1000 * i + 1) for i in range(12)}
    store.put("many/03.bin", b"old")
    store.put_many(objects)
    assert store.list("many/") == sorted(objects)
    assert all(store.get(k) == v for k, v in objects.items())
    with pytest.raises(StorageError, match="invalid object key"):
        store.put_many({"more/a.bin": b"a", "more/../b.bin": b"b", "more/c.bin": b"c"})
    assert store.list("more/") == ["more/a.bin", "more/c.bin"]     # the others were written
    store.put_many({})


def test_put_if_absent_creates_once(store):
    assert store.put_if_absent("m/_COMMITTED", b"first") is True
    assert store.put_if_absent("m/_COMMITTED", b"second") is False
    assert store.get("m/_COMMITTED") == b"first"


def test_put_if_absent_race_has_exactly_one_winner(store):
    n = 16
    results = list(enumerate(race(
        lambda i: store.put_if_absent("race/_COMMITTED", f"writer-{i}".encode()), n)))
    winners = [i for i, won in results if won]
    assert len(results) == n and len(winners) == 1
    assert store.get("race/_COMMITTED") == f"writer-{winners[0]}".encode()
    assert store.list("race/") == ["race/_COMMITTED"]      # no temp files left behind


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "dir/"])
def test_bad_keys_are_refused(store, bad):
    with pytest.raises(StorageError):
        store.put(bad, b"x")


def test_pickles_as_its_config(store):
    store.put("p.txt", b"x")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.config == store.config and clone.get("p.txt") == b"x"


def test_arrow_filesystem_reads_what_pyarrow_wrote(store):
    fs, base = store.arrow_filesystem()
    table = pa.table({"x": [1, 2, 3]})
    if not store.is_s3:
        fs.create_dir(f"{base}/pq", recursive=True)
    pq.write_table(table, f"{base}/pq/t.parquet", filesystem=fs)
    assert store.list("pq/") == ["pq/t.parquet"]
    assert pq.read_table(f"{base}/pq/t.parquet", filesystem=fs).equals(table)


def test_unsupported_uri():
    from storage.config import StorageConfig
    with pytest.raises(StorageError):
        ObjectStore.from_config(StorageConfig(uri="gs://bucket/x"))
    with pytest.raises(StorageError):
        ObjectStore.from_config(StorageConfig(uri="file://relative/path"))


def test_backend_errors_map_into_the_project_tree():
    from botocore.exceptions import ClientError

    from storage.errors import storage_errors, translate
    missing = ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
    assert isinstance(translate(missing, "get", "k"), NotFoundError)
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")
    err = translate(denied, "get", "k")
    assert isinstance(err, StorageError) and "AccessDenied" in str(err)
    with pytest.raises(NotFoundError):
        with storage_errors("get", "x"):
            open("/nonexistent/m2c/file")
    with pytest.raises(StorageError, match="put 'y' failed: PermissionError"):
        with storage_errors("put", "y"):
            raise PermissionError("read-only")


def test_s3_store_on_an_unreachable_endpoint_raises_storage_error():
    from storage.config import StorageConfig
    store = ObjectStore.from_config(StorageConfig(uri="s3://b/p", endpoint="http://127.0.0.1:9",
                                                  access_key="k", secret_key="s"))
    with pytest.raises(StorageError):
        store.exists("x")
