"""Every read of an invoice part is checked against its committed manifest: one byte
changed on disk after publication and the read is refused, naming the object."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from engine.errors import IntegrityError, StorageError, ValidationError
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.objectstore import ObjectStore

CID, PERIOD = "PPA-TX-DC1", "2026-10"


def _publish(store: InvoiceStore) -> int:
    detail = pa.table({"interval_start_utc": pa.array([0], pa.timestamp("us", "UTC")),
                       "energy_wh": pa.array([20_833_300], pa.int64())})
    return store.publish(CID, PERIOD, lambda v: InvoiceParts(
        invoice_json=json.dumps({"contract_id": CID, "contract_version": 1, "version": v,
                                 "total_usd": "790888.06"},
                                sort_keys=True).encode(),
        invoice_html="<html><body>790888.06</body></html>",
        detail_parquet=detail_to_parquet(detail)))


def _flip_one_byte(path: Path, find: bytes, to: bytes) -> None:
    data = path.read_bytes()
    assert find in data
    path.write_bytes(data.replace(find, to, 1))


@pytest.fixture
def published(local_storage):
    objects = ObjectStore.from_config(local_storage)
    store = InvoiceStore(objects)
    v = _publish(store)
    root = Path(local_storage.uri[len("file://"):])
    return store, root / f"invoices/{CID}/{PERIOD}/v{v}", v


def test_untampered_reads_pass(published):
    store, _, v = published
    doc, html = store.get(CID, PERIOD)
    assert doc["total_usd"] == "790888.06" and "790888.06" in html
    assert store.detail(CID, PERIOD).num_rows == 1
    assert json.loads(store.raw_json(CID, PERIOD, v))["version"] == v


@pytest.mark.parametrize("part, find, to, read", [
    ("invoice.json", b"790888.06", b"790888.07", lambda s, v: s.get(CID, PERIOD)),
    ("invoice.json", b"790888.06", b"790888.07", lambda s, v: s.raw_json(CID, PERIOD, v)),
    ("invoice.html", b"790888.06", b"190888.06", lambda s, v: s.get(CID, PERIOD)),
    ("detail.parquet", b"PAR1", b"PAR2", lambda s, v: s.detail(CID, PERIOD)),
])
def test_a_tampered_part_is_refused_naming_the_object(published, part, find, to, read):
    store, prefix, v = published
    _flip_one_byte(prefix / part, find, to)
    with pytest.raises(IntegrityError) as err:
        read(store, v)
    assert isinstance(err.value, StorageError)
    assert f"invoices/{CID}/{PERIOD}/v{v}/{part}" in str(err.value)
    assert str(prefix) not in str(err.value)              # a store key, not a server path


def test_a_rewritten_manifest_is_refused(published):
    store, prefix, _ = published
    manifest = json.loads((prefix / "manifest.json").read_bytes())
    manifest["parts"]["invoice.json"]["size"] += 0          # same content, re-serialised
    (prefix / "manifest.json").write_text(json.dumps(manifest) + " ")
    with pytest.raises(IntegrityError, match="manifest.json"):
        store.get(CID, PERIOD)


def test_invoice_reads_check_the_contract_id(published):
    store, _, _ = published
    with pytest.raises(ValidationError, match="contract_id"):
        store.get("../../etc", PERIOD)
    with pytest.raises(ValidationError, match="contract_id"):
        store.list(contract_id="a/b")


def test_the_supersession_check_reads_approved_invoices_verified(published):
    from datetime import datetime, timezone

    from storage.contracts import approved_invoices_on
    store, prefix, v = published
    store.approve(CID, PERIOD, now_utc=datetime(2026, 11, 5, tzinfo=timezone.utc))
    assert approved_invoices_on(store.store, CID, {1}) == [f"{PERIOD} v{v}"]
    _flip_one_byte(prefix / "invoice.json", b"790888.06", b"790888.07")
    with pytest.raises(IntegrityError, match="invoice.json"):
        approved_invoices_on(store.store, CID, {1})
