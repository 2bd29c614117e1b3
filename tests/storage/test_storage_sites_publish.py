"""Site registry versions and atomic publish, on both backends."""
from __future__ import annotations

import pytest

from engine.errors import InputError, StorageError
from storage.invoices import InvoiceParts, InvoiceStore
from storage.objectstore import ObjectStore
from storage.publish import publish, publish_many, read_committed, verify_part
from storage.sites import load_sites, merge_sites, registry_versions, save_sites
from tests.support.meter_data import site_registry
from tests.support.race import race


def _sites(*ids: str, channel: str = "gt1"):
    return site_registry(*ids, channels={channel: "generation"})


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def test_registry_versions_and_merge(store):
    assert load_sites(store) == {}
    assert save_sites(store, _sites("A")) == 1
    v, added, replaced = merge_sites(store, _sites("A", "B", channel="pv1"))
    assert (v, added, replaced) == (2, ["B"], ["A"])
    now = load_sites(store)
    assert sorted(now) == ["A", "B"] and list(now["A"].channels) == ["pv1"]
    assert list(load_sites(store, version=1)["A"].channels) == ["gt1"]     # history kept
    with pytest.raises(InputError):
        load_sites(store, version=7)
    assert registry_versions(store) == [1, 2]


def test_concurrent_merges_lose_nothing(store):
    race(lambda i: merge_sites(store, _sites(f"S{i}")), 6)
    assert sorted(load_sites(store)) == [f"S{i}" for i in range(6)]
    assert registry_versions(store) == list(range(1, 7))


def test_publish_commits_once_and_readers_trust_only_committed(store):
    assert read_committed(store, "runs/j1/attempt-1") is None
    parts = {"part-0.parquet": b"zero", "part-1.parquet": b"one"}
    assert publish(store, "runs/j1/attempt-1", parts, {"job_id": "j1"}) is True
    m = read_committed(store, "runs/j1/attempt-1")
    assert m["job_id"] == "j1" and m["parts"]["part-1.parquet"]["size"] == 3
    assert verify_part(store, "runs/j1/attempt-1", m, "part-0.parquet") == b"zero"
    assert publish(store, "runs/j1/attempt-1", {"part-0.parquet": b"x"}, {}) is False
    assert read_committed(store, "runs/j1/attempt-1") == m                  # unchanged
    # an uncommitted prefix (manifest written, marker missing) is invisible
    store.put("runs/j2/attempt-1/manifest.json", b"{}")
    assert read_committed(store, "runs/j2/attempt-1") is None
    # a manifest replaced after the commit is detected
    store.put("runs/j1/attempt-1/manifest.json", b"{}")
    with pytest.raises(StorageError, match="does not match"):
        read_committed(store, "runs/j1/attempt-1")


def test_publish_many_commits_each_prefix_on_its_own(store):
    assert publish(store, "runs/j3/b", {"x.bin": b"b-first"}, {}) is True
    won = publish_many(store, [("runs/j3/a", {"x.bin": b"a"}, {"n": 1}),
                               ("runs/j3/b", {"x.bin": b"b-again"}, {"n": 2}),
                               ("runs/j3/c", {"x.bin": b"c", "y.bin": b"cc"}, {"n": 3})])
    assert won == [True, False, True]
    for prefix, part, data in (("runs/j3/a", "x.bin", b"a"), ("runs/j3/b", "x.bin", b"b-first"),
                               ("runs/j3/c", "y.bin", b"cc")):
        assert verify_part(store, prefix, read_committed(store, prefix), part) == data
    assert read_committed(store, "runs/j3/c")["n"] == 3
    assert publish_many(store, []) == []
    with pytest.raises(StorageError, match="reserved"):
        publish_many(store, [("runs/j3/d", {"_COMMITTED": b"x"}, {})])
    assert read_committed(store, "runs/j3/d") is None
    with pytest.raises(StorageError, match="twice"):    # two writers of one prefix: refused
        publish_many(store, [("runs/j3/e", {"x.bin": b"1"}, {}), ("runs/j3/e", {"x.bin": b"2"}, {})])
    assert read_committed(store, "runs/j3/e") is None and not store.list("runs/j3/e")


def test_invoice_batch_numbers_versions_per_contract_period(store):
    inv = InvoiceStore(store)

    def parts(tag: str):
        return lambda v: InvoiceParts(f'{{"tag": "{tag}", "v": {v}}}'.encode(), tag, b"detail")
    inv.publish("C1", "2026-10", parts("first"))
    # C1 already has v1; C2 twice in one batch: the second loses v1 and is retried as v2
    got = inv.publish_many([("C1", "2026-10", parts("c1")), ("C2", "2026-10", parts("c2-a")),
                            ("C2", "2026-10", parts("c2-b"))])
    assert got == [2, 1, 2]
    assert [inv.get("C2", "2026-10", v)[1] for v in (1, 2)] == ["c2-a", "c2-b"]
    assert inv.get("C1", "2026-10", 2)[1] == "c1"


def test_writers_of_different_bytes_never_mix_their_parts(store):
    """Eight writers race on one prefix with different parts: one commits, and every
    committed part is its (the manifest's claim keeps the losers from writing)."""
    results = race(lambda i: publish(store, "invoices/C/2026-11/v1",
                                     {"invoice.json": f"writer {i}".encode() * (i + 1),
                                      "detail.parquet": bytes([i]) * 50_000}, {"writer": i}), 8)
    assert results.count(True) == 1
    winner = results.index(True)
    m = read_committed(store, "invoices/C/2026-11/v1")
    assert m["writer"] == winner
    assert verify_part(store, "invoices/C/2026-11/v1", m, "detail.parquet") == bytes([winner]) * 50_000
    assert verify_part(store, "invoices/C/2026-11/v1", m, "invoice.json").startswith(b"writer")


def test_a_claimed_but_uncommitted_invoice_version_is_skipped(store):
    inv = InvoiceStore(store)
    parts = lambda v: InvoiceParts(f'{{"v": {v}}}'.encode(), f"v{v}", b"d")   # noqa: E731
    assert inv.publish("C3", "2026-10", parts) == 1
    store.put("invoices/C3/2026-10/v2/manifest.json", b"{}")    # a publisher died after its claim
    assert inv.publish("C3", "2026-10", parts) == 3
    assert inv.versions("C3", "2026-10") == [1, 3]


def test_concurrent_invoice_publishers_get_distinct_intact_versions(store):
    inv = InvoiceStore(store)
    got = race(lambda i: inv.publish("C4", "2026-10", lambda v: InvoiceParts(
        f'{{"writer": {i}, "v": {v}}}'.encode(), f"writer {i}", bytes([i]) * 20_000)), 6)
    assert sorted(got) == inv.versions("C4", "2026-10") == list(range(1, 7))
    for i, v in enumerate(got):
        doc, html = inv.get("C4", "2026-10", v)
        assert doc == {"writer": i, "v": v} and html == f"writer {i}"
        m = read_committed(store, f"invoices/C4/2026-10/v{v}")
        assert verify_part(store, f"invoices/C4/2026-10/v{v}", m, "detail.parquet") == bytes([i]) * 20_000


def test_publish_race_has_one_winner(store):
    results = race(lambda i: publish(store, "invoices/C/2026-10/v1", {"invoice.json": b"same"},
                                     {"writer": "any"}), 8)
    assert results.count(True) == 1
    assert read_committed(store, "invoices/C/2026-10/v1")["parts"]["invoice.json"]["size"] == 4
