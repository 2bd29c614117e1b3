"""Job routes against a real catalog (SQLite and PostgreSQL): idempotency, natural keys,
paging, cancel, errors."""
from __future__ import annotations

import pytest

from tests.support.api_app import auth

SETTLE = {"kind": "settlement", "period": "2026-10"}
REBILL = {"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": "2026-01", "to_period": "2026-03"}

pytestmark = pytest.mark.catalog_backends


def test_submit_commits_then_hands_off(client, keys, dispatcher):
    resp = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"]))
    assert resp.status_code == 202
    job = resp.json()
    assert resp.headers["location"] == f"/v1/jobs/{job['id']}" == job["links"]["self"]
    assert job["state"] == "queued" and job["kind"] == "settlement"
    assert job["progress"] == {"done": 0, "total": 0, "fraction": 0.0}
    assert job["spec"] == {"kind": "settlement", "period": "2026-10", "contracts": None, "as_of": None}
    assert dispatcher.submitted == [job["id"]]
    assert client.get(job["links"]["self"], headers=auth(keys["scheduler"])).json() == job


def test_same_idempotency_key_and_body_returns_the_original_job(client, keys, dispatcher):
    headers = {**auth(keys["analyst"]), "Idempotency-Key": '"rebill-2026Q1"'}
    first = client.post("/v1/jobs", json=REBILL, headers=headers)
    again = client.post("/v1/jobs", json=dict(reversed(list(REBILL.items()))), headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert len(dispatcher.submitted) == 1               # the repeat starts nothing
    # a bare (unquoted) key is the same key
    bare = client.post("/v1/jobs", json=REBILL,
                       headers={**auth(keys["analyst"]), "Idempotency-Key": "rebill-2026Q1"})
    assert bare.status_code == 200 and bare.json()["id"] == first.json()["id"]


def test_same_idempotency_key_with_another_body_is_422(client, keys):
    headers = {**auth(keys["analyst"]), "Idempotency-Key": '"k-1"'}
    assert client.post("/v1/jobs", json=REBILL, headers=headers).status_code == 202
    resp = client.post("/v1/jobs", json={**REBILL, "to_period": "2026-04"}, headers=headers)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["type"] == "https://meter2cash.dev/problems/idempotency-key-reuse"
    assert "k-1" in problem["detail"] and problem["instance"] == "/v1/jobs"


def test_idempotency_keys_are_scoped_per_api_key(client, keys):
    first = client.post("/v1/jobs", json=REBILL,
                        headers={**auth(keys["analyst"]), "Idempotency-Key": "shared"})
    other = client.post("/v1/jobs", json=REBILL,
                        headers={**auth(keys["admin"]), "Idempotency-Key": "shared"})
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"]


@pytest.mark.parametrize("bad", ['""', '"has space"', "x" * 256, '"tab\there"'])
def test_malformed_idempotency_key_is_400(client, keys, bad):
    resp = client.post("/v1/jobs", json=REBILL, headers={**auth(keys["analyst"]),
                                                          "Idempotency-Key": bad})
    assert resp.status_code == 400
    assert resp.json()["type"].endswith("/invalid-idempotency-key")


def test_month_end_settlement_runs_once_whoever_triggers_it(client, keys, dispatcher):
    first = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"]))
    # another key, no idempotency key, contracts given as null explicitly: the same run
    again = client.post("/v1/jobs", json={**SETTLE, "contracts": None}, headers=auth(keys["analyst"]))
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert dispatcher.submitted == [first.json()["id"]]
    # a different contract set is a different run
    subset = client.post("/v1/jobs", json={**SETTLE, "contracts": ["B", "A", "A"]},
                         headers=auth(keys["scheduler"]))
    assert subset.status_code == 202 and subset.json()["spec"]["contracts"] == ["A", "B"]


def test_a_cancelled_settlement_can_be_triggered_again(client, keys):
    first = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"])).json()
    cancel = client.post(f"/v1/jobs/{first['id']}/cancel", headers=auth(keys["scheduler"]))
    assert cancel.status_code == 202 and cancel.json()["state"] == "cancelled"
    assert cancel.json()["links"]["cancel"] is None and cancel.json()["finished_at"]
    again = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"]))
    assert again.status_code == 202 and again.json()["id"] != first["id"]


def test_cancel_a_terminal_job_is_409_and_unknown_is_404(client, keys):
    job = client.post("/v1/jobs", json=REBILL, headers=auth(keys["analyst"])).json()
    url = f"/v1/jobs/{job['id']}/cancel"
    assert client.post(url, headers=auth(keys["analyst"])).status_code == 202
    again = client.post(url, headers=auth(keys["analyst"]))
    assert again.status_code == 409 and again.json()["type"].endswith("/conflict")
    missing = client.post("/v1/jobs/job-000000000000/cancel", headers=auth(keys["analyst"]))
    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
    assert client.get("/v1/jobs/job-000000000000", headers=auth(keys["analyst"])).status_code == 404


def test_invalid_specs_are_422_naming_the_field(client, keys):
    cases = [({"kind": "settlement", "period": "2026-13"}, "period"),
             ({"kind": "settlement"}, "period"),
             ({"kind": "rebill", "contract": "X", "from_period": "2026-05", "to_period": "2026-01"},
              "to_period"),
             ({"kind": "teleport"}, None),
             ({**SETTLE, "surprise": 1}, "surprise")]
    for body, field in cases:
        resp = client.post("/v1/jobs", json=body, headers=auth(keys["admin"]))
        assert resp.status_code == 422, body
        problem = resp.json()
        assert problem["type"].endswith("/invalid-request") and problem["errors"]
        if field:
            assert field in problem["detail"], problem


def test_cursor_pagination_walks_every_job_once_newest_first(client, keys):
    ids = [client.post("/v1/jobs", json={**REBILL, "reason": str(i)},
                       headers=auth(keys["analyst"])).json()["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", params=params, headers=auth(keys["analyst"])).json()
        assert len(page["data"]) <= 3
        seen += [j["id"] for j in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    queued = client.get("/v1/jobs", params={"state": "queued", "kind": "rebill"},
                        headers=auth(keys["analyst"])).json()
    assert len(queued["data"]) == 7
    bad = client.get("/v1/jobs", params={"cursor": "garbage!"}, headers=auth(keys["analyst"]))
    assert bad.status_code == 400 and bad.json()["type"].endswith("/invalid-input")
    assert client.get("/v1/jobs", params={"limit": 101},
                      headers=auth(keys["analyst"])).status_code == 422


def test_failed_hand_off_still_accepts_and_leaves_the_job_queued(client, keys, dispatcher):
    dispatcher.fail_submit = True
    resp = client.post("/v1/jobs", json=REBILL, headers=auth(keys["analyst"]))
    assert resp.status_code == 202 and resp.json()["state"] == "queued"
    # the reconciler re-submits queued jobs older than stale_after_s
    from api.app import reconcile_tick
    from datetime import timedelta
    dispatcher.fail_submit = False
    reconcile_tick(client.app.state.ctx, timedelta(seconds=0))
    assert dispatcher.submitted == [resp.json()["id"]]


def test_unexpected_errors_are_a_generic_500_problem(app, client, caplog):
    def boom():
        raise RuntimeError("secret internal detail")
    app.add_api_route("/boom", boom)
    resp = client.get("/boom")
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert "secret" not in resp.text and "Traceback" not in resp.text
    assert resp.json()["type"] == "https://meter2cash.dev/problems/internal"
    assert any("secret internal detail" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_unknown_route_and_method_are_problems(client):
    resp = client.get("/v1/nothing")
    assert resp.status_code == 404 and resp.headers["content-type"] == "application/problem+json"
    resp = client.delete("/v1/jobs")
    assert resp.status_code == 405 and resp.json()["title"] == "Method Not Allowed"


def test_metrics_report_catalog_states_and_requests(client, keys):
    client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"]))
    text = client.get("/metrics").text
    assert 'm2c_jobs{state="queued"} 1.0' in text
    assert 'm2c_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1.0' in text
    assert 'm2c_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/jobs"}' in text


def test_unknown_query_parameters_are_rejected(client, keys):
    resp = client.get("/v1/jobs", params={"status": "queued"}, headers=auth(keys["analyst"]))
    assert resp.status_code == 422 and "status" in resp.json()["detail"]


def test_a_revoked_key_stops_working_within_the_cache_ttl(api_settings, dispatcher):
    from datetime import datetime, timezone
    from api.app import create_app
    from api.keystore import KeyStore
    now = [0.0]
    app = create_app(api_settings, dispatcher=dispatcher, key_cache_ttl_s=5.0)
    store = KeyStore(api_settings.db_url)
    record, key = store.create("analyst", now_utc=datetime.now(timezone.utc))
    keys_in_app = app.state.ctx.keys
    keys_in_app._clock = lambda: now[0]
    assert keys_in_app.authenticate(key) == (record.key_id, record.role)
    store.revoke(record.key_id, now_utc=datetime.now(timezone.utc))
    assert keys_in_app.authenticate(key) is not None        # cached
    now[0] = 5.1
    assert keys_in_app.authenticate(key) is None


def test_a_settled_month_triggered_again_returns_the_job_with_its_invoice_links(client, keys):
    from datetime import datetime, timezone
    first = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"])).json()
    catalog, now = client.app.state.ctx.catalog, datetime.now(timezone.utc)
    catalog.mark_running(first["id"], attempt=1, runner="test", now_utc=now)
    catalog.set_progress(first["id"], 1, 2, now)
    running = client.get(first["links"]["self"], headers=auth(keys["scheduler"])).json()
    assert running["progress"] == {"done": 1, "total": 2, "fraction": 0.5}
    catalog.mark_succeeded(first["id"], {"invoices": [
        {"contract_id": "PPA-TX-DC1", "period": "2026-10", "version": 1, "uri": "s3://x"},
        {"contract_id": "PPA/ODD id", "period": "2026-10", "version": 3, "uri": "s3://y"}]}, now)
    again = client.post("/v1/jobs", json=SETTLE, headers=auth(keys["scheduler"]))
    assert again.status_code == 200
    job = again.json()
    assert job["id"] == first["id"] and job["state"] == "succeeded"
    assert job["progress"]["fraction"] == 1.0 and job["links"]["cancel"] is None
    assert [link["href"] for link in job["links"]["invoices"]] == [
        "/v1/invoices/PPA-TX-DC1/2026-10?version=1", "/v1/invoices/PPA%2FODD%20id/2026-10?version=3"]


def test_the_reconciler_feeds_job_duration_and_partition_metrics(client, keys):
    from datetime import datetime, timedelta, timezone
    from api.app import reconcile_tick
    ctx = client.app.state.ctx
    job = client.post("/v1/jobs", json=REBILL, headers=auth(keys["analyst"])).json()
    t0 = datetime.now(timezone.utc)
    ctx.catalog.mark_running(job["id"], attempt=1, runner="test", now_utc=t0)
    ctx.catalog.set_progress(job["id"], 3, 4, t0)
    reconcile_tick(ctx, timedelta(hours=1))               # sees it running
    text = client.get("/metrics").text
    assert 'm2c_job_partitions_active{kind="rebill",which="done"} 3.0' in text
    ctx.catalog.mark_succeeded(job["id"], {"invoices": []}, t0 + timedelta(seconds=42))
    reconcile_tick(ctx, timedelta(hours=1))               # sees it finished
    reconcile_tick(ctx, timedelta(hours=1))               # counted once only
    text = client.get("/metrics").text
    assert 'm2c_job_duration_seconds_count{kind="rebill",state="succeeded"} 1.0' in text
    assert 'm2c_job_duration_seconds_bucket{kind="rebill",le="30.0",state="succeeded"} 0.0' in text
    assert 'm2c_job_duration_seconds_bucket{kind="rebill",le="60.0",state="succeeded"} 1.0' in text
    assert 'm2c_job_partitions_processed_total{kind="rebill"} 4.0' in text
    assert 'm2c_jobs{state="succeeded"} 1.0' in text
