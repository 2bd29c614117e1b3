"""Invoice statuses as read: ``superseded`` for a draft replaced by a later version and for
an approved version replaced by an approved adjustment, consistent with what ``approve``
refuses (issue 12, section 6). Real local store, real settlement in process, the CLI."""
from __future__ import annotations

import json

import pytest

from engine.errors import ConflictError
from jobs.contract_period import settle_contract_period
from jobs.invoicing import publish_invoice
from jobs.settle_inputs import DataVersions
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore
from storage.tables import Tables
from tests.support.portfolio import NOW

CID, PERIOD = "PPA-TX-DC1", "2026-10"


@pytest.fixture
def store(local_cli_env, local_storage, demo_stores):
    return demo_stores.copy(local_storage.uri.removeprefix("file://"), minutes=15)[1]


def _index():
    """The invoice index of the catalog and store the CLI is pointed at (as a job's reduce
    records what it publishes)."""
    from api.settings import Settings
    from jobs.catalog import JobCatalog
    from jobs.invoice_index import InvoiceIndex
    settings = Settings.from_env()
    return InvoiceIndex(JobCatalog(settings.db_url), settings.storage_uri)


def _publish(store, run_id: str, *, adjusts: int | None = None) -> int:
    stored = ContractStore(store).versions(CID)
    data = DataVersions.resolve(Tables(store), store)
    result = settle_contract_period(store, Tables(store), stored, PERIOD, data, cache={})
    # a different run id alone is "the same invoice"; an adjustment is a new version
    version, created = publish_invoice(store, result, stored, run_id=run_id, data=data,
                                       adjusts=adjusts, extra={"adjustment": {"reason": run_id}}
                                       if adjusts else None, index=_index())
    assert created
    return version


def _listed(m2c) -> dict[int, tuple[str, int | None]]:
    return {row["version"]: (row["status"], row["superseded_by"])
            for row in m2c.json("invoices", "list", "--contract", CID, "--format", "json")}


def test_list_shows_superseded_versions_as_approve_refuses_them(store, m2c):
    inv = InvoiceStore(store)
    _publish(store, "run-1")
    _publish(store, "run-2", adjusts=1)         # a second draft before any approval
    assert _listed(m2c) == {1: ("superseded", 2), 2: ("draft", None)}
    doc, html = inv.get(CID, PERIOD, 1)
    assert doc["status"] == "superseded" and doc["superseded_by"] == 2
    assert "SUPERSEDED by version 2" in html                # the page as published, marked
    stored = inv.store.get(f"invoices/{CID}/{PERIOD}/v1/invoice.html").decode()
    body = stored.index("<body>") + len("<body>")
    assert html.startswith(stored[:body]) and html.endswith(stored[body:])
    with pytest.raises(ConflictError, match="superseded by v2"):
        inv.approve(CID, PERIOD, version=1, now_utc=NOW)

    m2c("invoices", "approve", CID, PERIOD)                                # v2 (and its index row)
    assert [s for s, _ in _listed(m2c).values()] == ["superseded", "approved"]
    _publish(store, "run-3", adjusts=2)                                    # a rebill's adjustment
    # the approved bill stands until its adjustment is approved
    assert [s for s, _ in _listed(m2c).values()] == ["superseded", "approved", "draft"]
    m2c("invoices", "approve", CID, PERIOD)                                # v3
    listed = _listed(m2c)
    assert listed == {1: ("superseded", 2), 2: ("superseded", 3), 3: ("approved", None)}
    doc, html = inv.get(CID, PERIOD, 2)
    assert doc["status"] == "superseded" and doc["superseded_by"] == 3
    assert ">superseded</span>" in html                              # re-rendered with its approval
    assert doc["approval"]["version"] == 2                                 # its approval stays visible
    with pytest.raises(ConflictError, match="already approved"):
        inv.approve(CID, PERIOD, now_utc=NOW)
    # the stored bytes never change: the status is a view
    assert json.loads(inv.raw_json(CID, PERIOD, 2))["status"] == "draft"
