"""401/403 matrix: every role (and no key, a bad key, a revoked key) against every endpoint."""
from __future__ import annotations

import pytest

from api.auth import Role
from tests.support.api_app import auth

ROLES = [r.value for r in Role]

SETTLE = {"kind": "settlement", "period": "2026-10"}
REBILL = {"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": "2026-01", "to_period": "2026-03"}


@pytest.fixture
def jobs(client, keys):
    """One settlement and one rebill job created by the admin, and a key to revoke."""
    s = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["admin"]))
    r = client.post("/v1/jobs", json=REBILL, headers=auth(keys["admin"]))
    k = client.post("/v1/keys", json={"role": "investor"}, headers=auth(keys["admin"]))
    assert s.status_code == r.status_code == 202 and k.status_code == 201
    return {"settlement": s.json()["id"], "rebill": r.json()["id"], "key": k.json()["key_id"]}


def _requests(jobs):
    """(name, method, url, json) of every authenticated endpoint."""
    return [
        ("submit settlement", "POST", "/v1/jobs", {**SETTLE, "period": "2026-11"}),
        ("submit rebill", "POST", "/v1/jobs", {**REBILL, "reason": "meter fix"}),
        ("list jobs", "GET", "/v1/jobs", None),
        ("list rebill jobs", "GET", "/v1/jobs?kind=rebill", None),
        ("get settlement job", "GET", f"/v1/jobs/{jobs['settlement']}", None),
        ("get rebill job", "GET", f"/v1/jobs/{jobs['rebill']}", None),
        ("cancel settlement job", "POST", f"/v1/jobs/{jobs['settlement']}/cancel", None),
        ("cancel rebill job", "POST", f"/v1/jobs/{jobs['rebill']}/cancel", None),
        ("get invoice", "GET", "/v1/invoices/PPA-TX-DC1/2026-10", None),
        ("get invoice intervals", "GET", "/v1/invoices/PPA-TX-DC1/2026-10?detail=intervals", None),
        ("create key", "POST", "/v1/keys", {"role": "analyst"}),
        ("list keys", "GET", "/v1/keys", None),
        ("get key", "GET", f"/v1/keys/{jobs['key']}", None),
        ("revoke key", "POST", f"/v1/keys/{jobs['key']}/revoke", None),
    ]


# Expected status per endpoint and role. 404 on a job means "not visible to this role";
# 404 on an invoice means the role may read it but none exists in this empty store.
EXPECTED = {
    "submit settlement":     {"scheduler": 202, "analyst": 202, "investor": 403, "admin": 202},
    "submit rebill":         {"scheduler": 403, "analyst": 202, "investor": 403, "admin": 202},
    "list jobs":             {"scheduler": 200, "analyst": 200, "investor": 200, "admin": 200},
    "list rebill jobs":      {"scheduler": 403, "analyst": 200, "investor": 403, "admin": 200},
    "get settlement job":    {"scheduler": 200, "analyst": 200, "investor": 404, "admin": 200},
    "get rebill job":        {"scheduler": 404, "analyst": 200, "investor": 404, "admin": 200},
    "cancel settlement job": {"scheduler": 202, "analyst": 202, "investor": 404, "admin": 202},
    "cancel rebill job":     {"scheduler": 404, "analyst": 202, "investor": 404, "admin": 202},
    "get invoice":           {"scheduler": 403, "analyst": 404, "investor": 404, "admin": 404},
    "get invoice intervals": {"scheduler": 403, "analyst": 404, "investor": 403, "admin": 404},
    "create key":            {"scheduler": 403, "analyst": 403, "investor": 403, "admin": 201},
    "list keys":             {"scheduler": 403, "analyst": 403, "investor": 403, "admin": 200},
    "get key":               {"scheduler": 403, "analyst": 403, "investor": 403, "admin": 200},
    "revoke key":            {"scheduler": 403, "analyst": 403, "investor": 403, "admin": 200},
}


def _assert_problem(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert "Traceback" not in resp.text


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, keys, jobs, role):
    for name, method, url, body in _requests(jobs):
        resp = client.request(method, url, json=body, headers=auth(keys[role]))
        expected = EXPECTED[name][role]
        if expected >= 400:
            _assert_problem(resp, expected)
            if expected == 403:
                assert resp.json()["type"].endswith("/forbidden")
        else:
            assert resp.status_code == expected, f"{name} as {role}: {resp.text}"


@pytest.mark.parametrize("credential", ["missing", "malformed", "unknown", "revoked"])
def test_every_v1_endpoint_needs_a_valid_key(client, keys, jobs, credential):
    key = {"missing": None, "malformed": "not-a-key",
           "unknown": "m2c_000000000000_" + "A" * 43, "revoked": keys["revoked"]}[credential]
    headers = auth(key) if key else {}
    for name, method, url, body in _requests(jobs):
        resp = client.request(method, url, json=body, headers=headers)
        _assert_problem(resp, 401)
        assert resp.headers["www-authenticate"] == 'ApiKey header="X-API-Key"', name
        assert resp.json()["type"].endswith("/unauthenticated")


def test_scheduler_sees_only_settlement_jobs(client, keys, jobs):
    page = client.get("/v1/jobs", headers=auth(keys["scheduler"])).json()
    assert [j["kind"] for j in page["data"]] == ["settlement"]
    everything = client.get("/v1/jobs", headers=auth(keys["analyst"])).json()
    assert sorted(j["kind"] for j in everything["data"]) == ["rebill", "settlement"]
    assert client.get("/v1/jobs", headers=auth(keys["investor"])).json()["data"] == []


def test_probes_and_metrics_need_no_key(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_openapi_declares_the_api_key_scheme(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "API key created with `m2c keys create --role ROLE`."}
    assert {"APIKeyHeader": []} in schema["paths"]["/v1/jobs"]["post"]["security"]


def test_admin_manages_keys_over_http(client, keys):
    created = client.post("/v1/keys", json={"role": "scheduler", "label": "cron"},
                          headers=auth(keys["admin"]))
    assert created.status_code == 201
    body = created.json()
    assert created.headers["location"] == f"/v1/keys/{body['key_id']}"
    assert body["key"].startswith(f"m2c_{body['key_id']}_") and body["revoked_at"] is None
    new_key = body["key"]
    assert client.get("/v1/jobs", headers=auth(new_key)).status_code == 200
    listed = client.get("/v1/keys", headers=auth(keys["admin"])).json()["data"]
    assert body["key_id"] in [k["key_id"] for k in listed]
    assert new_key not in str(listed) and all("key" not in k for k in listed)
    revoked = client.post(f"/v1/keys/{body['key_id']}/revoke", headers=auth(keys["admin"]))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/v1/jobs", headers=auth(new_key)).status_code == 401   # at once
    again = client.post(f"/v1/keys/{body['key_id']}/revoke", headers=auth(keys["admin"]))
    assert again.status_code == 404
    bad = client.post("/v1/keys", json={"role": "root"}, headers=auth(keys["admin"]))
    assert bad.status_code == 422
