"""Webhooks end to end with a real HTTP receiver on loopback: events written with the
change they report (a job's end, an invoice's approval), signed deliveries a receiver
verifies, retries with backoff after failures, the delivery log; the API, the CLI and
admin-only access."""
from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.webhooks import SIGNATURE_HEADER, deliver_due, sign, verify
from jobs.outbox import EVENT_TYPES, Outbox, Retry
from jobs.specs import parse_spec
from tests.support.api_app import auth

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)


class Receiver:
    """A loopback HTTP server recording each POST; answers ``statuses`` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):             # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _job_events(catalog, state: str, period: str = "2026-10") -> str:
    rec, _ = catalog.submit(parse_spec({"kind": "settlement", "period": period}), now_utc=NOW)
    catalog.mark_running(rec.id, attempt=1, runner="t", now_utc=NOW)
    if state == "succeeded":
        catalog.mark_succeeded(rec.id, {"invoices": [{"contract_id": "C1", "period": "2026-10", "version": 1}]},
                               NOW)
    else:
        catalog.mark_failed(rec.id, "no meter data", "DataMissingError", NOW)
    return rec.id


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_signed_deliveries_a_receiver_verifies(catalog, receiver):
    outbox = Outbox(catalog)
    hook, secret = outbox.add_webhook(receiver.url, event_types=["job.succeeded", "job.failed"], now_us=0)
    ok_id, failed_id = _job_events(catalog, "succeeded"), _job_events(catalog, "failed", "2026-09")
    assert asyncio.run(deliver_due(outbox, now=NOW)) == 2
    got = {json.loads(body)["type"]: (headers, body) for headers, body in receiver.requests}
    assert set(got) == {"job.succeeded", "job.failed"}
    headers, body = got["job.succeeded"]
    event = json.loads(body)
    assert event["data"]["job_id"] == ok_id and event["data"]["invoices"][0]["contract_id"] == "C1"
    assert headers["M2C-Event-Type"] == "job.succeeded" and headers["M2C-Event-Id"] == event["id"]
    # the receiver's check: HMAC-SHA256 over "<t>.<body>" with the secret, t recent
    sig = headers[SIGNATURE_HEADER]
    t = int(sig.split(",")[0].removeprefix("t="))
    assert t == int(NOW.timestamp()) and sig.endswith(sign(secret, t, body))
    assert verify(secret, sig, body, now=t + 10)
    assert not verify(secret, sig, body + b" ", now=t)             # a changed body
    assert not verify("whsec_other", sig, body, now=t)             # another secret
    assert not verify(secret, sig, body, now=t + 3600)             # a replay an hour later
    assert json.loads(got["job.failed"][1])["data"] == {**json.loads(got["job.failed"][1])["data"],
                                                        "job_id": failed_id, "error_type": "DataMissingError"}
    log = outbox.deliveries(webhook_id=hook.id)
    assert [d["state"] for d in log] == ["delivered", "delivered"] and all(d["log"][0]["status"] == 200 for d in log)
    assert asyncio.run(deliver_due(outbox, now=NOW)) == 0            # nothing due twice


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_failures_are_retried_with_exponential_backoff_then_given_up(catalog):
    receiver = Receiver(statuses=[500, 503, 500, 500])
    try:
        outbox = Outbox(catalog)
        outbox.add_webhook(receiver.url, now_us=0)
        _job_events(catalog, "succeeded")
        retry = Retry(base_s=10, max_delay_s=25, max_attempts=4)
        t = NOW
        assert asyncio.run(deliver_due(outbox, now=t, retry=retry)) == 1      # 500: retry in 10 s
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(seconds=9), retry=retry)) == 0
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(seconds=10), retry=retry)) == 1  # 503: 20 s
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(seconds=29), retry=retry)) == 0
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(seconds=30), retry=retry)) == 1  # 500: 25 s cap
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(seconds=55), retry=retry)) == 1  # 4th: gives up
        [d] = outbox.deliveries()
        assert d["state"] == "failed" and d["attempts"] == 4 and [a["status"] for a in d["log"]] == [500, 503, 500, 500]
        assert asyncio.run(deliver_due(outbox, now=t + timedelta(days=1), retry=retry)) == 0
        assert len({h["M2C-Event-Id"] for h, _ in receiver.requests}) == 1      # the same event id each time
    finally:
        receiver.close()


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_a_refused_connection_is_an_attempt_and_never_blocks_the_job(catalog):
    outbox = Outbox(catalog)
    outbox.add_webhook("http://127.0.0.1:9/unreachable", now_us=0)     # nothing listens on port 9
    job_id = _job_events(catalog, "succeeded")                          # the job ends, whatever the receiver
    assert catalog.get(job_id).state == "succeeded"
    asyncio.run(deliver_due(outbox, now=NOW, retry=Retry(base_s=1)))
    [d] = outbox.deliveries()
    assert d["state"] == "pending" and d["attempts"] == 1 and "Connect" in d["last_error"]


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_a_removed_webhook_gets_nothing_and_unknown_types_are_refused(catalog, receiver):
    outbox = Outbox(catalog)
    hook, _ = outbox.add_webhook(receiver.url, event_types=["invoice.approved"], now_us=0)
    _job_events(catalog, "succeeded")                                   # not subscribed
    assert outbox.deliveries() == []
    outbox.emit("invoice.approved", {"contract_id": "C1"}, now_us=1)
    outbox.remove_webhook(hook.id, now_us=2)
    assert asyncio.run(deliver_due(outbox, now=NOW)) == 0 and receiver.requests == []
    from engine.errors import InputError
    with pytest.raises(InputError, match="unknown event type"):
        outbox.add_webhook(receiver.url, event_types=["invoice.paid"], now_us=0)
    with pytest.raises(InputError, match="http"):
        outbox.add_webhook("file:///etc/passwd", now_us=0)
    assert set(EVENT_TYPES) >= {"job.succeeded", "job.failed", "invoice.published", "invoice.approved",
                                "invoice.adjusted"}


@pytest.mark.catalog_backends       # SQLite and a real PostgreSQL
def test_the_api_sender_delivers_an_approval_made_through_the_api(api_settings, keys, dispatcher, invoices,
                                                                  receiver):
    """The API process's background sender (``create_app``'s lifespan) posts the
    ``invoice.approved`` event of an approval made with ``POST /v1/.../approve``."""
    import time

    from api.app import create_app
    from tests.support.api_app import open_client
    app = create_app(api_settings, dispatcher=dispatcher, webhook_interval_s=0.05)
    with open_client(app, raise_server_exceptions=False) as client:
        assert client.post("/v1/webhooks", json={"url": receiver.url}, headers=auth(keys["analyst"])).status_code == 403
        r = client.post("/v1/webhooks", json={"url": receiver.url, "event_types": ["invoice.approved"]},
                        headers=auth(keys["admin"]))
        assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
        secret = r.json()["secret"]
        assert "secret" not in client.get("/v1/webhooks", headers=auth(keys["admin"])).json()[0]
        assert client.post("/v1/invoices/PPA-TX-DC1/2026-10/approve", headers=auth(keys["analyst"])).status_code == 201
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        headers, body = receiver.requests[0]
        event = json.loads(body)
        assert event["type"] == "invoice.approved" and event["data"]["version"] == 2
        assert event["data"]["approval"]["approved_by"]["key_id"]
        sig = headers[SIGNATURE_HEADER]
        assert verify(secret, sig, body, now=int(sig.split(",")[0][2:]))
        log = client.get("/v1/webhook-deliveries", headers=auth(keys["admin"])).json()
        assert log[0]["state"] == "delivered"
        hook_id = r.json()["id"]
        assert client.delete(f"/v1/webhooks/{hook_id}", headers=auth(keys["admin"])).status_code == 200
        assert client.get("/v1/webhooks", headers=auth(keys["admin"])).json() == []


def test_the_cli_adds_lists_and_removes_webhooks(m2c, local_cli_env, receiver):
    added = m2c.json("webhooks", "add", receiver.url, "--event", "job.failed", "--format", "json")
    assert added["secret"].startswith("whsec_") and added["event_types"] == ["job.failed"]
    listed = m2c.json("webhooks", "list", "--format", "json")
    assert [h["id"] for h in listed] == [added["id"]]
    assert m2c("webhooks", "remove", added["id"]).code == 0
    assert m2c.json("webhooks", "list", "--format", "json") == []
    assert "no active webhook" in m2c("webhooks", "remove", added["id"], code=1).err    # not any more
