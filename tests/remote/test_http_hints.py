"""What the API says when a request is not what it expects (issue 12, points 3 and 7):
a body not sent as JSON names the Content-Type header, a missing key names
``M2C_API_KEY``, an upload over the limit is a 413 and writes nothing."""
from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from api.app import create_app
from api.keystore import KeyStore
from api.settings import Settings

from .conftest import QueueOnlyDispatcher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
CSV = ("site_id,channel,interval_start,interval_minutes,kwh,quality\n"
       "TX-DC1,dc,2026-11-01T05:00:00Z,5,13711.786,A\n")


@pytest.fixture
def api(tmp_path):
    home = tmp_path / "m2c"
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}"})
    settings = replace(settings, api_max_upload_bytes=len(CSV) + 10)
    keys = KeyStore(settings.db_url)
    key = {role: keys.create(role, now_utc=NOW)[1] for role in ("scheduler", "admin")}
    with TestClient(create_app(settings, dispatcher=QueueOnlyDispatcher()),
                    raise_server_exceptions=False) as client:
        client.keys = key
        client.home = home
        yield client


def test_a_body_not_sent_as_json_says_which_header_to_send(api):
    # what `curl -d '{...}'` sends without -H 'Content-Type: application/json'
    resp = api.post("/v1/jobs", content='{"kind": "settlement", "period": "2026-10"}',
                    headers={"X-API-Key": api.keys["scheduler"],
                             "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 422
    assert "Content-Type: application/json" in resp.json()["detail"]
    ok = api.post("/v1/jobs", json={"kind": "settlement", "period": "2026-13"},
                  headers={"X-API-Key": api.keys["scheduler"]})
    assert ok.status_code == 422 and "Content-Type" not in ok.json()["detail"]   # a JSON body


def test_a_missing_key_names_the_header_and_the_environment_variable(api):
    resp = api.get("/v1/invoices")
    assert resp.status_code == 401
    assert "X-API-Key" in resp.json()["detail"] and "M2C_API_KEY" in resp.json()["detail"]


def test_uploads_over_the_limit_are_413_and_write_nothing(api):
    headers = {"X-API-Key": api.keys["scheduler"]}
    big = CSV + "TX-DC1,dc,2026-11-01T05:05:00Z,5,13695.860,A\n"
    raw = api.post("/v1/ingest/meter", params={"filename": "big.csv"}, content=big.encode(),
                   headers={**headers, "Content-Type": "text/csv"})
    assert raw.status_code == 413 and raw.json()["type"].endswith("/request-too-large")
    multi = api.post("/v1/ingest/meter", files=[("file", ("big.csv", big.encode(), "text/csv"))],
                     headers=headers)
    assert multi.status_code == 413
    assert not (api.home / "store" / "tables").exists()
    nameless = api.post("/v1/ingest/prices", content=b"x", headers=headers)
    assert nameless.status_code == 400 and "filename" in nameless.json()["detail"]
    traversal = api.post("/v1/ingest/meter", params={"filename": "../.."}, content=b"x",
                         headers=headers)
    assert traversal.status_code == 400
