"""``/v1/bankability``: a published result as JSON, HTML or CSV and its role gate; the
model schema; ``POST /v1/jobs`` with ``kind: bankability`` (who may submit, 422 naming
the field for a bad model or too many paths)."""
from __future__ import annotations

import json

import pytest

from tests.support.api_app import auth

RESULT = "job-0001"
SUMMARY = {"kind": "bankability", "debt": {"size_usd": 1.0}, "distributions": {}}


@pytest.fixture
def result(api_settings):
    from storage.objectstore import ObjectStore
    from storage.results import ResultStore
    store = ResultStore(ObjectStore.from_config(api_settings.storage_config()), "bankability")
    store.publish(RESULT, {"summary.json": json.dumps(SUMMARY).encode(),
                           "report.html": b"<html><body>report</body></html>",
                           "p50_cashflow.csv": b"year,revenue_cents\n1,100\n",
                           "paths.csv": b"path,npv_aftertax_usd\n0,1.5\n"},
                  {"model_sha256": "0" * 64, "seed": 1})
    return store


@pytest.mark.parametrize("role", ["investor", "analyst", "admin"])
def test_roles_that_read_results(client, keys, result, role):
    resp = client.get(f"/v1/bankability/{RESULT}", headers=auth(keys[role]))
    assert resp.status_code == 200 and resp.json() == SUMMARY


def test_formats(client, keys, result):
    h = auth(keys["investor"])
    html = client.get(f"/v1/bankability/{RESULT}", params={"format": "html"}, headers=h)
    assert html.headers["content-type"].startswith("text/html") and "report" in html.text
    csv = client.get(f"/v1/bankability/{RESULT}", params={"format": "csv"}, headers=h)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("year,")
    paths = client.get(f"/v1/bankability/{RESULT}", params={"format": "csv", "part": "paths"}, headers=h)
    assert paths.text.startswith("path,")
    bad = client.get(f"/v1/bankability/{RESULT}", params={"format": "xml"}, headers=h)
    assert bad.status_code == 422


def test_scheduler_may_not_read_and_unknown_is_404(client, keys, result):
    assert client.get(f"/v1/bankability/{RESULT}", headers=auth(keys["scheduler"])).status_code == 403
    missing = client.get("/v1/bankability/job-nope", headers=auth(keys["investor"]))
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/bankability/{RESULT}").status_code == 401


def test_schema(client, keys):
    schema = client.get("/v1/bankability/schema", headers=auth(keys["investor"])).json()
    assert schema["$schema"].endswith("2020-12/schema") and "debt" in schema["properties"]


def _model(**uncertainty) -> dict:
    return {"project": {"contracts": ["PPA-TX-DC1"], "cod": "2027-01", "horizon_years": 10},
            "operations": {"profile": {"periods": [f"2026-{m:02d}" for m in range(1, 13)]}},
            "uncertainty": uncertainty, "costs": {"capital_usd": 1e8},
            "debt": {"tenor_years": 8, "rate_pct": 7}}


def test_submit_roles_and_field_errors(client, keys, api_settings, dispatcher):
    body = {"kind": "bankability", "model": _model(paths=100)}
    for role in ("investor", "analyst", "admin"):
        assert client.post("/v1/jobs", json=body, headers=auth(keys[role])).status_code == 202, role
    assert client.post("/v1/jobs", json=body, headers=auth(keys["scheduler"])).status_code == 403
    bad = {"kind": "bankability", "model": {**_model(), "costs": {"capital_usd": -5}}}
    resp = client.post("/v1/jobs", json=bad, headers=auth(keys["investor"]))
    assert resp.status_code == 422 and "costs.capital_usd" in resp.json()["detail"]
    too_many = {"kind": "bankability", "model": _model(paths=100), "paths": 10**6}
    resp = client.post("/v1/jobs", json=too_many, headers=auth(keys["investor"]))
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["loc"] == ["body", "paths"] and "100000" in resp.json()["detail"]
