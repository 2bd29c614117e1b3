"""`GET /v1/esg/...`: every role reads the summaries; certificates need the data role."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api_app import auth
from tests.support.carbon import NOW, ingest_factors, trace_sites


@pytest.fixture
def traced_api(api_settings, demo_stores, tmp_path):
    _, store = demo_stores.copy(Path(api_settings.storage_config().uri.removeprefix("file://")))
    trace_sites(store)
    ingest_factors(store, tmp_path)
    return store


@pytest.mark.parametrize("role", ["scheduler", "analyst", "investor", "admin"])
def test_every_role_reads_esg_summaries(traced_api, client, keys, role):
    r = client.get("/v1/esg/sites/TX-DC1", params={"period": "2026-10"}, headers=auth(keys[role]))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["statement"]["coverage"]["hours"] == 744
    assert client.get("/v1/esg/factors", headers=auth(keys[role])).json()["default_gwp"] == "AR5"


def test_reports_formats_and_problems(traced_api, client, keys):
    h = auth(keys["investor"])
    r = client.get("/v1/esg/contracts/PPA-TX-DC1", params={"period": "2026-10", "format": "html"}, headers=h)
    assert r.status_code == 200 and "<svg" in r.text
    r = client.get("/v1/esg/contracts/PPA-TX-DC1", params={"period": "2026-10", "format": "csv"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert client.get("/v1/esg/sites/TX-DC1", params={"period": "2026-10", "year": 2026},
                      headers=h).status_code == 422
    assert client.get("/v1/esg/sites/NOPE", params={"period": "2026-10"}, headers=h).status_code == 400
    assert client.get("/v1/esg/sites/TX-DC1", params={"period": "2026-13"}, headers=h).status_code == 422
    assert client.get("/v1/esg/sites/TX-DC1", params={"period": "2026-10"}).status_code == 401


def test_certificates_need_the_data_role(traced_api, client, keys):
    from jobs.carbon import issue_certificates
    from storage.tables import Tables
    issue_certificates(traced_api, Tables(traced_api), "TX-DC1", "2026-10", now_utc=NOW)
    assert client.get("/v1/esg/sites/TX-DC1/certificates", headers=auth(keys["scheduler"])).status_code == 403
    r = client.get("/v1/esg/sites/TX-DC1/certificates", headers=auth(keys["analyst"]))
    assert r.status_code == 200
    doc = r.json()
    assert doc["registry_version"] == 1 and doc["granular_certificate_bundles"][0]["face_value"] == 1
