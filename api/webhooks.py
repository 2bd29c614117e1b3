"""Webhook delivery: signed POSTs of the outbox's events (``jobs.outbox``), retried.

Where it runs, and why. The API process runs :func:`deliver_forever` as a background
task beside the reconciler (``api.app``). Deliveries are network waits, not compute:
an ``httpx.AsyncClient`` posts a batch concurrently on the event loop at no CPU cost,
while a Ray actor would tie notifications to Ray being up and add a process for
work that is only waiting. Jobs never wait for it: they write events into the outbox
in their own transactions, and the sender reads the outbox. Several API processes may
run it at once: a delivery is leased (``Outbox.lease_due``) before it is sent, so an
attempt is made by one sender. Without an API process, ``m2c webhooks deliver``
sends what is due once (a cron job can run it).

The request. ``POST <url>`` with the event as a JSON body
(``{"id", "type", "created_at", "data"}``) and the headers::

    Content-Type: application/json
    User-Agent: meter2cash-webhooks/1
    M2C-Event-Id: evt_...            (the same on every retry: deduplicate on it)
    M2C-Event-Type: invoice.approved
    M2C-Signature: t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

``v1`` is the hex HMAC-SHA256, keyed with the webhook's secret (``whsec_...``, shown once
when it is added), of ``<t>.<body>``: the Unix time of the attempt, a dot, and the raw
body bytes (Stripe's scheme). A receiver recomputes it over the body as received,
compares in constant time (:func:`verify`), and refuses a ``t`` more than a few minutes
old (replays). Any 2xx answer delivers; anything else, a time-out (10 s) or a refused
connection is retried with exponential backoff (``jobs.outbox.Retry``), every attempt
logged (``GET /v1/webhook-deliveries``, ``m2c webhooks deliveries``, the console).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import datetime

import httpx

from engine.timebase import to_us
from jobs.outbox import Delivery, Outbox, Retry

logger = logging.getLogger(__name__)

__all__ = ["SIGNATURE_HEADER", "sign", "verify", "signature_header", "deliver_due",
           "deliver_forever", "TIMEOUT_S"]

SIGNATURE_HEADER = "M2C-Signature"
TIMEOUT_S = 10.0
DEFAULT_RETRY = Retry()
USER_AGENT = "meter2cash-webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body,
                    hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: the ``M2C-Signature`` header matches ``body`` and its
    time is within ``tolerance_s`` of ``now`` (Unix seconds)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), fields.get("v1", ""))


async def _post(client: httpx.AsyncClient, d: Delivery, now_s: int) -> tuple[int | None, str | None, int]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "M2C-Event-Id": d.event_id, "M2C-Event-Type": d.event_type,
               SIGNATURE_HEADER: signature_header(d.secret, now_s, d.body)}
    started = time.perf_counter()
    try:
        r = await client.post(d.url, content=d.body, headers=headers)
        status, error = r.status_code, None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    return status, error, int((time.perf_counter() - started) * 1000)


async def deliver_due(outbox: Outbox, *, now: datetime, retry: Retry = DEFAULT_RETRY,
                      client: httpx.AsyncClient | None = None, limit: int = 20) -> int:
    """Post every due delivery (up to ``limit``) concurrently and record each attempt;
    returns how many were attempted. Catalog calls run in threads (they block)."""
    due = await asyncio.to_thread(outbox.lease_due, now_us=to_us(now), limit=limit)
    if not due:
        return 0
    own = client is None
    client = client or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
    try:
        now_s = int(now.timestamp())
        outcomes = await asyncio.gather(*(_post(client, d, now_s) for d in due))
    finally:
        if own:
            await client.aclose()
    for d, (status, error, ms) in zip(due, outcomes):
        state = await asyncio.to_thread(outbox.record_attempt, d, now_us=to_us(now), status=status,
                                        error=error, duration_ms=ms, retry=retry)
        log = logger.info if state != "failed" else logger.warning
        log("webhook %s %s -> %s: %s", d.webhook_id, d.event_type, d.url, error or f"HTTP {status}")
    return len(due)


async def deliver_forever(outbox: Outbox, clock, *, interval_s: float = 1.0,
                          retry: Retry = DEFAULT_RETRY) -> None:
    """The API's background sender: every ``interval_s``, send what is due."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        while True:
            try:
                while await deliver_due(outbox, now=clock(), retry=retry, client=client):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("webhook delivery pass failed; retrying in %.1f s", interval_s)
            await asyncio.sleep(interval_s)
