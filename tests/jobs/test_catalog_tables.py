"""The catalog's other tables on both backends (SQLite and a real PostgreSQL): their
migrations, the invoice index's list statuses and keyset pages (bytewise order, as on
SQLite), its unique invoice numbers, and webhook deliveries leased once by concurrent
senders."""
from __future__ import annotations

import threading

import pytest

from jobs.db import DuplicateKeyError
from jobs.invoice_index import InvoiceIndex
from jobs.outbox import Outbox

pytestmark = pytest.mark.catalog_backends       # SQLite and a real PostgreSQL

US = 1_700_000_000_000_000


def _doc(cid: str, period: str, version: int, total: str, *, number: str | None = None,
         adjusts: int | None = None, status: str = "draft") -> dict:
    return {"contract_id": cid, "period": period, "version": version, "status": status,
            "total_usd": total, "currency": "USD", "adjusts": adjusts, "invoice_number": number,
            "issue": {"issue_date": "2026-11-03", "due_date": "2026-12-03"},
            "lineage": {"run_id": f"run-{cid}-{version}"}}


def test_migrations_are_recorded_per_component(catalog):
    versions = {c: catalog.db.applied_versions(c) for c in ("jobs", "outbox", "invoice_index")}
    assert versions == {"jobs": [1, 2], "outbox": [1], "invoice_index": [1]}
    catalog.init_schema()                                    # idempotent
    assert catalog.db.applied_versions("outbox") == [1]


def test_invoice_index_statuses_pages_and_numbers(catalog):
    index = InvoiceIndex(catalog, "file:///store")
    # ids whose bytewise order differs from a locale's (case, punctuation)
    cids = ["PPA-b", "PPA-A", "PPA_a", "ppa-a", "PPA-TX.1"]
    docs = [_doc(c, "2026-10", 1, "1000.05", number=f"INV-{i:04d}") for i, c in enumerate(cids)]
    index.published(docs, now_us=US)
    index.published([_doc("PPA-A", "2026-10", 2, "-12.34", adjusts=1, status="estimated")], now_us=US + 1)

    page1 = index.page(limit=2)
    keys = [(r["contract_id"], r["version"]) for r in page1["data"]]
    rest = index.page(limit=10, cursor=page1["next_cursor"])
    keys += [(r["contract_id"], r["version"]) for r in rest["data"]]
    assert rest["next_cursor"] is None
    assert keys == sorted([(c, 1) for c in cids] + [("PPA-A", 2)],
                          key=lambda k: (k[0].encode(), k[1]))
    versions = {r["version"]: r for r in index.page(contract="PPA-A")["data"]}
    assert versions[1]["status"] == "superseded" and versions[1]["superseded_by"] == 2
    assert versions[2]["status"] == "estimated" and versions[2]["total_usd"] == "-12.34"
    assert index.count() == 6 and index.count(status="superseded") == 1

    approved = {**_doc("PPA-A", "2026-10", 2, "-12.34", adjusts=1, status="estimated"),
                "completeness": {"status": "estimated"},
                "approval": {"approved_by": "k1", "via": "api", "approved_at": "2026-11-05T12:00:00Z"}}
    index.approved(approved, now_us=US + 2)
    assert [r["version"] for r in index.page(status="approved")["data"]] == [2]
    assert index.page(contract="PPA-A", status="approved")["data"][0]["approval"]["approved_by"] == "k1"
    assert index.by_number("INV-0002")["contract_id"] == "PPA_a"
    assert index.by_number("INV-9999") is None
    with pytest.raises(DuplicateKeyError):                  # a number is never given twice
        index.published([_doc("PPA-Z", "2026-10", 1, "1.00", number="INV-0001")], now_us=US + 3)
    assert index.by_number("INV-0001")["contract_id"] == "PPA-A"     # nothing half-written
    types = [e["type"] for e in Outbox(catalog).events(limit=20)]
    assert types.count("invoice.published") == 5 and types.count("invoice.adjusted") == 1
    assert types[0] == "invoice.approved"


def test_index_built_for_its_store(catalog):
    index = InvoiceIndex(catalog, "file:///store")
    assert not index.built()
    index.mark_built(now_us=US)
    assert index.built() and not InvoiceIndex(catalog, "s3://other").built()
    index.mark_built(now_us=US + 1)                          # again: an upsert
    assert index.built()


def test_concurrent_senders_lease_each_delivery_once(catalog_url):
    from tests.support.catalog import open_catalog
    catalog = open_catalog(catalog_url)
    outbox = Outbox(catalog)
    outbox.add_webhook("http://127.0.0.1:9/hook", now_us=US)
    for i in range(30):
        outbox.emit("job.succeeded", {"job_id": f"job-{i}"}, now_us=US + i)
    leased: list[list[int]] = []
    barrier = threading.Barrier(3)

    def sender() -> None:
        mine = Outbox(open_catalog(catalog_url))           # another process's catalog, as it were
        barrier.wait()
        got = []
        for _ in range(10):
            got += [d.id for d in mine.lease_due(now_us=US + 100, limit=4)]
        leased.append(got)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for got in leased for i in got]
    assert len(every) == len(set(every)) == 30                # each once, none left
    assert outbox.lease_due(now_us=US + 100) == []
