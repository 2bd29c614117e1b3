"""``POST /v1/jobs`` with ``kind: scenario`` (422 naming the variant and field before
the job is recorded; roles) and ``GET /v1/scenarios`` (JSON, CSV, HTML; roles; 404)."""
from __future__ import annotations

import csv
import io

import pytest

from tests.support.api_app import auth
from tests.jobs import rebill_fixtures as rb
from tests.jobs.scenario_fixtures import run_in_process

DOC = {"scenario": "api", "base": {"from_period": "2024-01", "to_period": "2024-02"},
       "variants": [{"name": "node +5", "transforms": [{"op": "price_shift", "usd_per_mwh": "5"}]}]}


@pytest.fixture
def stored(api_settings, tmp_path):
    return rb.build_store(api_settings.storage_config(), tmp_path / "files")


def post(client, key, doc):
    return client.post("/v1/jobs", json={"kind": "scenario", "document": doc}, headers=auth(key))


def test_submit_checks_the_document_before_recording_the_job(client, keys, stored, dispatcher):
    r = post(client, keys["analyst"], {**DOC, "base": {**DOC["base"], "contracts": ["NOPE"]}})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["field"] == "base.contracts[0]" and "unknown contract 'NOPE'" in body["detail"]
    r = post(client, keys["analyst"], {**DOC, "variants": [{"name": "wind", "transforms": [
        {"op": "channel_scale", "channel": "wind", "factor": "2"}]}]})
    assert r.status_code == 422 and r.json()["field"] == "variants[0].transforms[0].channel"
    assert "variant 'wind'" in r.json()["detail"]
    r = post(client, keys["analyst"], {**DOC, "variants": [{"name": "b", "transforms": [
        {"op": "battery_dispatch", "site": "RB-1", "power_mw": "0", "energy_mwh": "1"}]}]})
    assert r.status_code == 422
    assert "variants[0].transforms[0].power_mw" in r.json()["detail"] and "variant 'b'" in r.json()["detail"]
    assert dispatcher.submitted == []                                  # nothing recorded, nothing started
    ok = post(client, keys["analyst"], DOC)
    assert ok.status_code == 202 and ok.json()["kind"] == "scenario" and dispatcher.submitted == [ok.json()["id"]]
    for role in ("scheduler", "investor"):
        assert post(client, keys[role], DOC).status_code == 403
    assert post(client, keys["admin"], DOC).status_code == 202


def test_get_a_result_as_json_csv_and_html(client, keys, stored):
    run_in_process(stored.store, DOC, "job-api-1")
    key = auth(keys["analyst"])
    r = client.get("/v1/scenarios/job-api-1", headers=key)
    assert r.status_code == 200 and r.json()["result_id"] == "job-api-1"
    assert [v["variant"] for v in r.json()["variant_totals"]] == ["base", "node +5"]
    r = client.get("/v1/scenarios/job-api-1", params={"format": "csv"}, headers=key)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["variant"] for row in rows} == {"base", "node +5"} and "delta_cents" in rows[0]
    r = client.get("/v1/scenarios/job-api-1", headers={**key, "Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and "<svg" in r.text
    listed = client.get("/v1/scenarios", headers=key).json()["data"]
    assert [x["result_id"] for x in listed] == ["job-api-1"]
    assert client.get("/v1/scenarios/job-api-1", headers=auth(keys["admin"])).status_code == 200
    for role in ("investor", "scheduler"):
        assert client.get("/v1/scenarios/job-api-1", headers=auth(keys[role])).status_code == 403
    assert client.get("/v1/scenarios/nope", headers=key).status_code == 404
    assert client.get("/v1/scenarios/job-api-1", params={"format": "xml"}, headers=key).status_code == 422
