"""Fixtures of the API (a pytest plugin of ``tests/conftest.py``, so the API tests and
the CLI's ``--api`` tests share them): settings on a temp folder with the suite's job
catalog, one key per role, the app, a TestClient, and two published invoice versions.

API modules are imported inside the fixtures, so runs that use none stay light.
"""
from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import pytest

from tests.support.api_servers import QueueOnlyDispatcher

def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def open_client(app, **kw):
    """Starlette's TestClient (imported here: its httpx deprecation notice silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    return TestClient(app, **kw)


@pytest.fixture
def api_settings(tmp_path, catalog_url):
    """Settings of an API on a fresh home, with the job (and key) tables in the suite's
    catalog (``catalog_url``)."""
    from api.settings import Settings
    home = tmp_path / "m2c"
    return Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}",
                              "M2C_DB": catalog_url})


@pytest.fixture
def keys(api_settings) -> dict[str, str]:
    """One API key per role (plus a revoked analyst key under ``"revoked"``)."""
    from api.auth import Role
    from api.keystore import KeyStore
    store = KeyStore(api_settings.db_url)
    now = datetime.now(timezone.utc)
    out = {r.value: store.create(r.value, now_utc=now, label=f"test {r.value}")[1] for r in Role}
    record, out["revoked"] = store.create("analyst", now_utc=now)
    store.revoke(record.key_id, now_utc=now)
    return out


@pytest.fixture
def dispatcher() -> QueueOnlyDispatcher:
    return QueueOnlyDispatcher()


@pytest.fixture
def app(api_settings, keys, dispatcher):
    from api.app import create_app
    return create_app(api_settings, dispatcher=dispatcher)


@pytest.fixture
def client(app):
    with open_client(app, raise_server_exceptions=False) as c:
        yield c


def invoice_doc(version: int, total: str) -> dict:
    """A minimal stored invoice document of PPA-TX-DC1 2026-10 (one line)."""
    return {"contract_id": "PPA-TX-DC1", "contract_version": 2, "period": "2026-10",
            "timezone": "America/Chicago", "version": version, "status": "draft",
            "currency": "USD", "total_usd": total,
            "lines": [{"line_id": "energy_fixed:on_peak", "charge": "energy_fixed",
                       "quantity": "12345.678", "quantity_unit": "MWh", "rate": "64.0625",
                       "rate_unit": "USD/MWh", "amount_usd": total}],
            "adjusts": None if version == 1 else 1}


@pytest.fixture
def invoices(api_settings):
    """Versions 1 (790888.06) and 2 (790900.00) of PPA-TX-DC1 2026-10, published with the
    real ``InvoiceStore`` into the API's store."""
    import pyarrow as pa

    from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
    from storage.objectstore import ObjectStore
    store = InvoiceStore(ObjectStore.from_config(api_settings.storage_config()))
    detail = pa.table({"interval_start_utc": pa.array([0, 300_000_000], pa.timestamp("us", "UTC")),
                       "line_id": ["energy_fixed:on_peak"] * 2,
                       "energy_wh": pa.array([20_833_300, 20_833_300], pa.int64())})
    for total in ("790888.06", "790900.00"):
        store.publish("PPA-TX-DC1", "2026-10", lambda v, t=total: InvoiceParts(
            invoice_json=json.dumps(invoice_doc(v, t)).encode(),
            invoice_html=f'<html data-status="draft"><body>v{v} {t}</body></html>',
            detail_parquet=detail_to_parquet(detail)))
    return store
