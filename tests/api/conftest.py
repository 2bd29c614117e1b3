"""Fixtures of the API tests: settings on a temp folder, one key per role, a TestClient."""
from __future__ import annotations

import warnings
from datetime import datetime, timezone

import pytest

from api.app import create_app
from api.auth import Role
from api.keystore import KeyStore
from api.settings import Settings

from .support import QueueOnlyDispatcher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")          # starlette's httpx deprecation notice
    from fastapi.testclient import TestClient

ROLES = [r.value for r in Role]


@pytest.fixture
def api_settings(tmp_path, catalog_url) -> Settings:
    """Settings of an API on a fresh home, with the job (and key) tables in the suite's
    catalog (``catalog_url``)."""
    home = tmp_path / "m2c"
    return Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}",
                              "M2C_DB": catalog_url})


@pytest.fixture
def keys(api_settings) -> dict[str, str]:
    """One API key per role (plus a revoked analyst key under ``"revoked"``)."""
    store = KeyStore(api_settings.db_url)
    now = datetime.now(timezone.utc)
    out = {role: store.create(role, now_utc=now, label=f"test {role}")[1] for role in ROLES}
    record, out["revoked"] = store.create("analyst", now_utc=now)
    store.revoke(record.key_id, now_utc=now)
    return out


@pytest.fixture
def dispatcher() -> QueueOnlyDispatcher:
    return QueueOnlyDispatcher()


@pytest.fixture
def app(api_settings, keys, dispatcher):
    return create_app(api_settings, dispatcher=dispatcher)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
