"""Publication of numbered invoices: sequential numbers per issuer (create-only claims,
never reused), the invoice index and its events written with them, the list from the
index equal to the store's, and reproduction to the exact bytes of invoices published
before and after numbering. Real local store, real settlement in process, real SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from api import views
from jobs.contract_period import settle_contract_period
from jobs.invoice_index import InvoiceIndex
from jobs.invoicing import InvoiceDraft, publish_invoices
from jobs.outbox import Outbox
from jobs.rebill import reproduce_invoice
from jobs.settle_inputs import DataVersions
from storage.contracts import ContractStore
from storage.invoice_numbers import InvoiceNumbers
from storage.invoices import InvoiceStore
from storage.tables import Tables
from tests.support.portfolio import NOW

PERIOD = "2026-10"


@pytest.fixture
def store(local_storage, demo_stores):
    return demo_stores.copy(local_storage.uri.removeprefix("file://"), minutes=15)[1]


def _drafts(store, contracts: list[str]) -> list[InvoiceDraft]:
    data = DataVersions.resolve(Tables(store), store)
    out = []
    for cid in contracts:
        stored = ContractStore(store).versions(cid)
        out.append(InvoiceDraft(settle_contract_period(store, Tables(store), stored, PERIOD, data, cache={}),
                                stored, data))
    return out


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_numbers_index_events_and_reproduction(store, catalog):
    contracts = ContractStore(store).contract_ids()[:3]
    index = InvoiceIndex(catalog, store.config.uri)
    index.mark_built(now_us=0)
    drafts = _drafts(store, contracts)
    published = publish_invoices(store, drafts, run_id="run-1", now_utc=NOW, index=index)
    docs = [p.document for p in published]
    issuers = {d.issuer() for d in drafts}
    # numbers: per issuer 1, 2, ... in contract order, each claimed create-only
    for issuer in issuers:
        mine = [d for d in docs if d["issue"]["issuer_id"] == issuer]
        assert [d["issue"]["sequence"] for d in mine] == list(range(1, len(mine) + 1))
        claims = InvoiceNumbers(store).claims(issuer)
        assert {n: c["contract_id"] for n, c in claims.items()} == {
            d["issue"]["sequence"]: d["contract_id"] for d in mine}
    assert {(d["invoice_format"], d["issue"]["issue_date"]) for d in docs} == {(2, "2026-11-05")}
    # the same settlement again publishes nothing and takes no number
    again = publish_invoices(store, _drafts(store, contracts), run_id="run-2", now_utc=NOW + timedelta(days=1),
                             index=index)
    assert [p.created for p in again] == [False] * len(contracts)
    assert {i: len(InvoiceNumbers(store).claims(i)) for i in issuers} == {
        i: sum(d["issue"]["issuer_id"] == i for d in docs) for i in issuers}
    # the index lists exactly what the store lists, and the events were written with it
    from_index = views.invoice_page(store, index=index)["data"]
    walked = views.invoice_page(store)["data"]
    assert from_index == walked and len(walked) == len(contracts)
    events = Outbox(catalog).events(event_type="invoice.published")
    assert sorted(e["data"]["invoice_number"] for e in events) == sorted(d["invoice_number"] for d in docs)
    # approval through the view: the index and an invoice.approved event
    cid = contracts[0]
    doc, created = views.approve_invoice(store, cid, PERIOD, version=None, now_utc=NOW, index=index,
                                         approved_by={"key_id": "k1", "label": "ops", "role": "admin",
                                                      "source": "console"})
    assert created and index.page(contract=cid)["data"][0]["status"] == "approved"
    assert Outbox(catalog).events(event_type="invoice.approved")[0]["data"]["contract_id"] == cid
    assert index.page(status="approved")["data"] == views.invoice_page(store, status="approved")["data"]
    # rebuilt from the store (m2c invoices reindex): the same rows, no new events
    n_events = len(Outbox(catalog).events(limit=500))
    before = index.page()["data"]
    assert index.rebuild(store, now_us=1, batch=2) == len(contracts) and index.built()
    assert index.page()["data"] == before and len(Outbox(catalog).events(limit=500)) == n_events
    # reproduction: the numbered invoice re-settles to its exact bytes (same number and dates)
    inv = InvoiceStore(store)
    assert reproduce_invoice(store, Tables(store), cid, PERIOD, 1) == inv.raw_json(cid, PERIOD, 1)
    # the stored page prints the SHA-256 of the stored JSON
    import hashlib
    sha = hashlib.sha256(inv.raw_json(contracts[1], PERIOD, 1)).hexdigest()
    assert sha in store.get(f"invoices/{contracts[1]}/{PERIOD}/v1/invoice.html").decode()


def test_an_invoice_published_before_numbering_reproduces_to_its_bytes(store):
    """Format 1 (no issue): what every invoice published before this change is. It keeps
    its bytes, its rates as published, and gets no number when re-settled."""
    [cid] = ContractStore(store).contract_ids()[:1]
    [old] = publish_invoices(store, _drafts(store, [cid]), run_id="old-run")        # as before: no now_utc
    assert "invoice_number" not in old.document and "invoice_format" not in old.document
    inv = InvoiceStore(store)
    assert reproduce_invoice(store, Tables(store), cid, PERIOD, old.version) == inv.raw_json(cid, PERIOD, 1)
    # a later run with numbering on finds the same invoice: nothing new, no number taken
    [same] = publish_invoices(store, _drafts(store, [cid]), run_id="new-run", now_utc=NOW)
    assert not same.created and InvoiceNumbers(store).issuers() == []


def test_number_claims_never_give_a_number_twice(local_storage):
    from concurrent.futures import ThreadPoolExecutor

    from storage.objectstore import ObjectStore
    numbers = InvoiceNumbers(ObjectStore.from_config(local_storage))
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: numbers.claim("ACME", [{"contract_id": f"C{i}", "period": PERIOD}] * 3),
                            range(8)))
    flat = sorted(n for ns in got for n in ns)
    assert flat == list(range(1, 25))                    # unique, sequential, no gap
    assert all(ns == sorted(ns) for ns in got)
    numbers.store.delete("issuers/ACME/next")            # the hint lost: still never reused
    assert numbers.claim("ACME", [{"contract_id": "X", "period": PERIOD}]) == [25]
    with pytest.raises(Exception, match="issuer"):
        numbers.claim("../x", [{}])
    assert json.loads(numbers.store.get("issuers/ACME/numbers/000000000025")) == {"contract_id": "X",
                                                                                   "period": PERIOD}
