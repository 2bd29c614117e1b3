"""GET /v1/invoices/{contract}/{period}: JSON, HTML, versions, drill-down and its role gate.

Invoices are published with the real ``storage.invoices.InvoiceStore`` into the test's
local object store (the ``invoices`` fixture, ``tests/support/api_app.py``); the API reads
them back through the same module.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.api_app import auth, open_client

URL = "/v1/invoices/PPA-TX-DC1/2026-10"


def test_latest_version_as_json_by_default(client, keys, invoices):
    resp = client.get(URL, headers=auth(keys["investor"]))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["version"] == 2 and doc["total_usd"] == "790900.00" and "detail" not in doc


def test_a_given_version_and_404_for_a_missing_one(client, keys, invoices):
    assert client.get(URL, params={"version": 1}, headers=auth(keys["analyst"])).json()["version"] == 1
    missing = client.get(URL, params={"version": 3}, headers=auth(keys["analyst"]))
    assert missing.status_code == 404 and "no version 3" in missing.json()["detail"]
    other = client.get("/v1/invoices/PPA-NONE/2026-10", headers=auth(keys["analyst"]))
    assert other.status_code == 404 and other.json()["type"].endswith("/not-found")


@pytest.mark.parametrize("how", [{"params": {"format": "html"}},
                                 {"headers": {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}}])
def test_html_by_format_or_accept(client, keys, invoices, how):
    headers = {**auth(keys["investor"]), **how.get("headers", {})}
    resp = client.get(URL, params=how.get("params"), headers=headers)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "v2 790900.00" in resp.text


def test_json_wins_when_the_client_prefers_it(client, keys, invoices):
    resp = client.get(URL, headers={**auth(keys["analyst"]),
                                    "Accept": "application/json, text/html;q=0.5"})
    assert resp.headers["content-type"] == "application/json"


def test_approval_shows_in_the_served_status(client, keys, invoices):
    invoices.approve("PPA-TX-DC1", "2026-10", now_utc=datetime(2026, 11, 5, tzinfo=timezone.utc))
    doc = client.get(URL, headers=auth(keys["investor"])).json()
    assert doc["status"] == "approved" and doc["approval"]["version"] == 2


def test_interval_drill_down_for_analysts_only(client, keys, invoices):
    resp = client.get(URL, params={"detail": "intervals", "version": 1},
                      headers=auth(keys["analyst"]))
    assert resp.status_code == 200
    detail = resp.json()["detail"]
    assert detail["columns"] == ["interval_start_utc", "line_id", "energy_wh"]
    assert detail["rows"][1] == {"interval_start_utc": "1970-01-01T00:05:00Z",
                                 "line_id": "energy_fixed:on_peak", "energy_wh": 20833300}
    denied = client.get(URL, params={"detail": "intervals"}, headers=auth(keys["investor"]))
    assert denied.status_code == 403 and "interval-level" in denied.json()["detail"]


def test_bad_period_is_422(client, keys):
    resp = client.get("/v1/invoices/PPA-TX-DC1/2026-13", headers=auth(keys["analyst"]))
    assert resp.status_code == 422 and resp.json()["type"].endswith("/invalid-request")


@pytest.mark.timeout(60)
def test_an_unreachable_object_store_is_503_not_a_traceback(tmp_path, api_settings, keys, dispatcher):
    from api.app import create_app
    from api.settings import Settings
    home = tmp_path / "m2c"
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": "s3://m2c-none/x",
                                  "M2C_DB": api_settings.db_url,       # where the keys are
                                  "M2C_S3_ENDPOINT": "http://127.0.0.1:9",
                                  "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    with open_client(create_app(settings, dispatcher=dispatcher),
                     raise_server_exceptions=False) as client:
        resp = client.get(URL, headers=auth(keys["analyst"]))
    assert resp.status_code == 503, resp.text
    assert resp.json()["type"].endswith("/storage-unavailable")
    assert resp.headers["retry-after"] == "5" and "Traceback" not in resp.text
