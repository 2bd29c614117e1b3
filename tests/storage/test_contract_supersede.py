"""A contract version may be superseded from its own date (a price change from the
term start) until an approved invoice rests on it; then the store refuses, naming
the invoice. On both backends, with real invoices published and approved."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.contract import contract_sha256
from engine.errors import ConflictError, ContractError
from engine.invoice import build_invoice, invoice_bytes, render_html
from engine.settlement import MarketData, settle_period
from storage.contracts import ContractStore, approved_invoices_on
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.objectstore import ObjectStore
from tests.engine.settlement_fixtures import SITES, minimal_doc, series_for

MWH = 1_000_000
NOW = datetime(2026, 2, 3, 9, tzinfo=timezone.utc)
JAN = "2026-01"
SERIES = series_for("TX-DC1", JAN, 60, {"pv1": MWH})          # 744 MWh in January


def doc(price: str, effective: str = "2026-01-01") -> dict:
    """A contract document as a user writes it (no version: the store numbers it)."""
    d = minimal_doc([{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": price}],
                    effective_from=effective)
    del d["version"]
    return d


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def publish_january(store: ObjectStore) -> tuple[int, dict]:
    """Settle January on the stored versions and publish the invoice (a draft)."""
    stored = ContractStore(store).versions("T-1")
    result = settle_period([s.version for s in stored], JAN, {"TX-DC1": (SITES["TX-DC1"], SERIES)}, MarketData())
    at_end = next(s for s in stored if s.version.version == result.contract_version)

    def build(v: int) -> InvoiceParts:
        inv = build_invoice(result, contract=at_end.version, contract_sha256=at_end.sha256, version=v,
                            status="draft", lineage={})
        return InvoiceParts(invoice_bytes(inv), render_html(inv), detail_to_parquet(result.detail))

    v = InvoiceStore(store).publish("T-1", JAN, build)
    return v, InvoiceStore(store).get("T-1", JAN, v)[0]


def test_a_term_start_amendment_reprices_january_until_its_invoice_is_approved(store):
    contracts = ContractStore(store)
    assert contracts.add(doc("64.00"), sites=SITES)[0].version.version == 1
    # a price change from the term start: same effective date, supersedes v1
    stored, created = contracts.add(doc("70.00"), sites=SITES)
    assert (stored.version.version, created) == (2, True)

    v, inv = publish_january(store)                                 # 744 MWh x 70.00 = 52,080.00
    assert (v, inv["total_usd"], inv["contract_versions"]) == (1, "52080.00", [2])

    # a draft does not hold the version: a correction from the same date is still taken
    assert contracts.add(doc("71.00"), sites=SITES)[0].version.version == 3
    v, inv = publish_january(store)                                 # 744 x 71.00 = 52,824.00
    assert (v, inv["total_usd"], inv["contract_versions"]) == (2, "52824.00", [3])
    InvoiceStore(store).approve("T-1", JAN, version=2, approved_by="test", now_utc=NOW)

    # now January's approved invoice rests on v3: a further same-date amendment is refused
    with pytest.raises(ConflictError) as ei:
        contracts.add(doc("72.00"), sites=SITES, source="amend.yaml")
    msg = str(ei.value)
    assert msg.startswith("amend.yaml: contract T-1 v4: effective_from: 2026-01-01 would supersede v1, v2, v3")
    assert "approved invoice(s) 2026-01 v2 were settled on them" in msg and "amend from a later date" in msg
    assert [s.version.version for s in contracts.versions("T-1")] == [1, 2, 3]          # nothing written

    # an amendment from a later date leaves January's terms alone and is taken
    stored, created = contracts.add(doc("72.00", effective="2026-02-01"), sites=SITES)
    assert (stored.version.version, created) == (4, True)
    assert approved_invoices_on(store, "T-1", {1, 2, 3, 4}) == ["2026-01 v2"]


def test_only_approved_invoices_on_the_superseded_versions_count(store):
    contracts = ContractStore(store)
    contracts.add(doc("64.00"), sites=SITES)
    publish_january(store)
    InvoiceStore(store).approve("T-1", JAN, version=1, approved_by="test", now_utc=NOW)
    publish_january(store)                                          # a later draft, not approved
    assert approved_invoices_on(store, "T-1", {1}) == ["2026-01 v1"]
    assert approved_invoices_on(store, "T-1", {2}) == []
    assert approved_invoices_on(store, "OTHER", {1}) == []
    with pytest.raises(ConflictError, match=r"would supersede v1 \(effective the same date\), but approved "
                                            r"invoice\(s\) 2026-01 v1 were settled on it;"):
        contracts.add(doc("65.00"), sites=SITES)
    # February's amendment is independent of January's approval
    assert contracts.add(doc("66.00", effective="2026-02-01"), sites=SITES)[0].version.version == 2
    # ... and v2 may still be superseded from its own date: no approved invoice rests on it
    assert contracts.add(doc("67.00", effective="2026-02-01"), sites=SITES)[0].version.version == 3


def test_an_amendment_that_goes_back_in_time_is_still_bad_input(store):
    contracts = ContractStore(store)
    contracts.add(doc("64.00"), sites=SITES)
    contracts.add(doc("66.00", effective="2026-03-01"), sites=SITES)
    with pytest.raises(ContractError, match=r"v3: effective_from: 2026-02-01 is before v2 \(effective 2026-03-01\)"):
        contracts.add(doc("65.00", effective="2026-02-01"), sites=SITES)
    # re-adding the latest document unchanged is not an amendment
    stored, created = contracts.add(doc("66.00", effective="2026-03-01"), sites=SITES)
    assert (stored.version.version, created) == (2, False)
    assert stored.sha256 == contract_sha256({**doc("66.00", effective="2026-03-01"), "version": 2})
