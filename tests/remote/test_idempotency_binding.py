"""An Idempotency-Key is bound to the job its first request got, also when that request
matched an existing month-end job by its natural key (issue 12, point 5)."""
from __future__ import annotations

import warnings
from datetime import datetime, timezone

import pytest

from api.app import create_app
from api.keystore import KeyStore
from api.settings import Settings
from jobs.catalog import IdempotencyConflict, JobCatalog
from jobs.specs import parse_spec

from .conftest import QueueOnlyDispatcher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
OCTOBER = {"kind": "settlement", "period": "2026-10"}
SEPTEMBER = {"kind": "settlement", "period": "2026-09"}


def test_catalog_binds_a_key_that_matched_by_natural_key(tmp_path):
    catalog = JobCatalog(f"sqlite:///{tmp_path / 'm2c.db'}")
    catalog.init_schema()
    first, created = catalog.submit(parse_spec(OCTOBER), principal="k1", now_utc=NOW)
    assert created
    again, created = catalog.submit(parse_spec(OCTOBER), principal="k1", idempotency_key="K",
                                    now_utc=NOW)
    assert (again.id, created) == (first.id, False)              # matched by natural key ...
    with pytest.raises(IdempotencyConflict, match=first.id):     # ... and the key is bound
        catalog.submit(parse_spec(SEPTEMBER), principal="k1", idempotency_key="K", now_utc=NOW)
    same, created = catalog.submit(parse_spec(OCTOBER), principal="k1", idempotency_key="K",
                                   now_utc=NOW)
    assert (same.id, created) == (first.id, False)
    # keys are per principal: another caller's "K" is its own
    other, created = catalog.submit(parse_spec(SEPTEMBER), principal="k2", idempotency_key="K",
                                    now_utc=NOW)
    assert created and other.id != first.id
    # a key that created a job is bound as before
    with pytest.raises(IdempotencyConflict):
        catalog.submit(parse_spec({"kind": "settlement", "period": "2026-08"}), principal="k2",
                       idempotency_key="K", now_utc=NOW)


def test_http_reuse_of_a_key_bound_by_natural_key_is_422(tmp_path):
    home = tmp_path / "m2c"
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}"})
    _, key = KeyStore(settings.db_url).create("scheduler", now_utc=NOW)
    headers = {"X-API-Key": key}
    with TestClient(create_app(settings, dispatcher=QueueOnlyDispatcher()),
                    raise_server_exceptions=False) as client:
        first = client.post("/v1/jobs", json=OCTOBER, headers=headers)
        assert first.status_code == 202
        keyed = {**headers, "Idempotency-Key": '"month-end"'}
        again = client.post("/v1/jobs", json=OCTOBER, headers=keyed)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        reuse = client.post("/v1/jobs", json=SEPTEMBER, headers=keyed)
        assert reuse.status_code == 422, reuse.text
        assert reuse.json()["type"].endswith("/idempotency-key-reuse")
        assert client.get("/v1/jobs", headers=headers).json()["data"][0]["id"] == first.json()["id"]
