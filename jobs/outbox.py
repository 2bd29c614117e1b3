"""The event outbox and the webhook tables of the catalog database.

Something happens (a job succeeds or fails, an invoice is published, approved or
adjusted): the code that makes it happen writes an **event** row in the same
transaction as the change itself (:func:`emit`: the job's state transition in
``jobs.catalog``, the invoice index rows in ``jobs.invoice_index``), and one
**delivery** row per webhook subscribed to that event type. Nothing is sent there: a
job never waits on a receiver, and an event cannot be lost between the change and its
notification (the transactional-outbox pattern). The API process delivers
(``api.webhooks``): it leases due deliveries, posts them, and records each attempt.

Tables::

    events              id (order), event_id "evt_<hex>", type, created_us, payload_json
    webhooks            id "wh_<hex>", url, secret, event_types (JSON list, "*" = all),
                        description, created_us, created_by, removed_us
    webhook_deliveries  webhook x event: state pending | delivered | failed, attempts,
                        next_attempt_us, lease_until_us, last status / error, delivered_us
    webhook_attempts    every attempt: when, HTTP status or error, duration

Event types (:data:`EVENT_TYPES`): ``job.succeeded``, ``job.failed``,
``invoice.published`` (a new invoice version), ``invoice.adjusted`` (a new version that
adjusts an earlier one: a rebill), ``invoice.approved``. The payload a receiver gets is
``{"id", "type", "created_at", "data"}`` (``data``: the job or invoice summary with its
API URL).

Retries: a failed attempt (a non-2xx answer, a time-out, a refused connection) is
retried after ``base x 2^(attempts-1)`` seconds, capped at ``max_delay`` (with the
defaults 30 s, 1 min, 2 min, ... 1 h), until ``max_attempts`` (10 by default, about
8.5 hours); then the delivery is ``failed`` and stays in the log. A removed webhook
gets no new deliveries; its pending ones are dropped.

The tables are the ``outbox`` component of the catalog database (:data:`MIGRATIONS`,
applied by ``JobCatalog.init_schema``), on SQLite or PostgreSQL alike through
``JobCatalog.transaction`` / ``connection`` (:mod:`jobs.db`).
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import InputError, NotFoundError

from .db import Connection, Migration, Migrations

if TYPE_CHECKING:  # pragma: no cover
    from .catalog import JobCatalog

__all__ = ["EVENT_TYPES", "MIGRATIONS", "emit", "Outbox", "Webhook", "Delivery", "Retry", "iso_us"]

EVENT_TYPES = ("job.succeeded", "job.failed", "invoice.published", "invoice.adjusted",
               "invoice.approved")

#: version 1 (SQLite): ``IF NOT EXISTS`` throughout, so a catalog that has the tables
#: already adopts it unchanged
_V1_SQLITE = """
CREATE TABLE IF NOT EXISTS events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- insertion order (lists: newest first)
    event_id      TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    created_us    INTEGER NOT NULL,                    -- UTC microseconds since the epoch
    payload_json  TEXT NOT NULL                        -- the body a receiver gets
);
CREATE TABLE IF NOT EXISTS webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    secret        TEXT NOT NULL,
    event_types   TEXT NOT NULL,                       -- JSON list; ["*"]: every type
    description   TEXT,
    created_us    INTEGER NOT NULL,
    created_by    TEXT,
    removed_us    INTEGER
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id),
    event_id         TEXT NOT NULL REFERENCES events (event_id),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  INTEGER NOT NULL,
    lease_until_us   INTEGER NOT NULL DEFAULT 0,
    last_attempt_us  INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_us     INTEGER,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_us);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id DESC);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempt      INTEGER NOT NULL,
    at_us        INTEGER NOT NULL,
    status       INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
"""

#: the same on PostgreSQL: identity columns, 64-bit times, ids compared bytewise
_V1_POSTGRESQL = """
CREATE TABLE events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      TEXT COLLATE "C" NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    created_us    BIGINT NOT NULL,
    payload_json  TEXT NOT NULL
);
CREATE TABLE webhooks (
    id            TEXT COLLATE "C" PRIMARY KEY,
    url           TEXT NOT NULL,
    secret        TEXT NOT NULL,
    event_types   TEXT NOT NULL,
    description   TEXT,
    created_us    BIGINT NOT NULL,
    created_by    TEXT,
    removed_us    BIGINT
);
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id),
    event_id         TEXT COLLATE "C" NOT NULL REFERENCES events (event_id),
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_us  BIGINT NOT NULL,
    lease_until_us   BIGINT NOT NULL DEFAULT 0,
    last_attempt_us  BIGINT,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_us     BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_us);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id DESC);
CREATE TABLE webhook_attempts (
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    attempt      INTEGER NOT NULL,
    at_us        BIGINT NOT NULL,
    status       INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
"""

MIGRATIONS = Migrations("outbox", (
    Migration(1, "events, webhooks, deliveries and attempts", sqlite=_V1_SQLITE,
              postgresql=_V1_POSTGRESQL),
))


def iso_us(us: int | None) -> str | None:
    """UTC microseconds -> ISO 8601 with ``Z`` (stdlib only: the CLI's parser imports this module)."""
    if us is None:
        return None
    from datetime import datetime, timedelta, timezone
    return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).isoformat() \
        .replace("+00:00", "Z")


def emit(conn: Connection, event_type: str, data: dict[str, Any], *, now_us: int) -> str:
    """Record one event, and a pending delivery for every live webhook subscribed to
    its type, in the caller's open transaction. Returns the event id."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id = "evt_" + secrets.token_hex(12)
    payload = {"id": event_id, "type": event_type, "created_at": iso_us(now_us), "data": data}
    conn.execute("INSERT INTO events (event_id, type, created_us, payload_json) VALUES (?, ?, ?, ?)",
                 (event_id, event_type, now_us, json.dumps(payload, sort_keys=True,
                                                           separators=(",", ":"))))
    for hook in conn.execute("SELECT id, event_types FROM webhooks WHERE removed_us IS NULL "
                             "ORDER BY id").fetchall():
        wanted = json.loads(hook["event_types"])
        if "*" in wanted or event_type in wanted:
            conn.execute("INSERT INTO webhook_deliveries (webhook_id, event_id, state, next_attempt_us) "
                         "VALUES (?, ?, 'pending', ?)", (hook["id"], event_id, now_us))
    return event_id


@dataclass(frozen=True)
class Retry:
    """The backoff: ``base_s x 2^(attempts-1)``, at most ``max_delay_s``, ``max_attempts`` tries."""
    base_s: float = 30.0
    max_delay_s: float = 3600.0
    max_attempts: int = 10

    def delay_s(self, attempts: int) -> float:
        return min(self.base_s * 2 ** max(attempts - 1, 0), self.max_delay_s)


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    event_types: tuple[str, ...]
    description: str | None
    created_us: int
    created_by: str | None
    removed_us: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "event_types": list(self.event_types),
                "description": self.description, "created_at": iso_us(self.created_us),
                "created_by": self.created_by, "removed_at": iso_us(self.removed_us)}


@dataclass(frozen=True)
class Delivery:
    """A due delivery, leased to one sender: what to post, where, signed with what."""
    id: int
    webhook_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int          # attempts made before this one


def _check_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000 \
            or any(c.isspace() for c in url):
        raise InputError(f"a webhook URL is an http:// or https:// URL without spaces; got {url!r:.80}")
    return url


def _check_types(types: list[str] | None) -> list[str]:
    if not types:
        return ["*"]
    bad = [t for t in types if t != "*" and t not in EVENT_TYPES]
    if bad:
        raise InputError(f"unknown event type(s) {', '.join(map(repr, bad))}; one of "
                         f"{', '.join(EVENT_TYPES)} or *")
    return sorted(set(types))


class Outbox:
    """The webhook subscriptions, the events and their deliveries in a catalog."""

    def __init__(self, catalog: "JobCatalog"):
        self.catalog = catalog

    # -- subscriptions ------------------------------------------------------------------
    def add_webhook(self, url: str, *, event_types: list[str] | None = None,
                    description: str | None = None, created_by: str | None = None,
                    now_us: int) -> tuple[Webhook, str]:
        """A new subscription; returns it and its signing secret (shown once)."""
        url, types = _check_url(url), _check_types(event_types)
        hook_id = "wh_" + secrets.token_hex(8)
        secret = "whsec_" + secrets.token_urlsafe(32)
        with self.catalog.transaction() as conn:
            conn.execute("INSERT INTO webhooks (id, url, secret, event_types, description, created_us, "
                         "created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (hook_id, url, secret, json.dumps(types), description, now_us, created_by))
        return self.webhook(hook_id), secret

    def webhook(self, hook_id: str) -> Webhook:
        with self.catalog.connection() as conn:
            row = conn.execute("SELECT id, url, event_types, description, created_us, created_by, "
                               "removed_us FROM webhooks WHERE id = ?", (hook_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no webhook {hook_id!r}")
        return _webhook(row)

    def webhooks(self, *, include_removed: bool = False) -> list[Webhook]:
        where = "" if include_removed else "WHERE removed_us IS NULL"
        with self.catalog.connection() as conn:
            rows = conn.execute("SELECT id, url, event_types, description, created_us, created_by, "
                                f"removed_us FROM webhooks {where} ORDER BY created_us, id").fetchall()
        return [_webhook(r) for r in rows]

    def remove_webhook(self, hook_id: str, *, now_us: int) -> Webhook:
        """Stop a subscription: no new deliveries, its pending ones dropped (the log stays)."""
        with self.catalog.transaction() as conn:
            cur = conn.execute("UPDATE webhooks SET removed_us = ? WHERE id = ? AND removed_us IS NULL",
                               (now_us, hook_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no active webhook {hook_id!r}")
            conn.execute("UPDATE webhook_deliveries SET state = 'failed', last_error = "
                         "'webhook removed' WHERE webhook_id = ? AND state = 'pending'", (hook_id,))
        return self.webhook(hook_id)

    # -- events -------------------------------------------------------------------------
    def emit(self, event_type: str, data: dict[str, Any], *, now_us: int) -> str:
        with self.catalog.transaction() as conn:
            return emit(conn, event_type, data, now_us=now_us)

    def events(self, *, limit: int = 50, event_type: str | None = None) -> list[dict]:
        """The newest events (their payloads as sent), newest first."""
        sql = "SELECT payload_json FROM events"
        params: list[Any] = []
        if event_type:
            sql += " WHERE type = ?"
            params.append(event_type)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.catalog.connection() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [json.loads(r["payload_json"]) for r in rows]

    # -- deliveries ---------------------------------------------------------------------
    def lease_due(self, *, now_us: int, limit: int = 20, lease_s: float = 60.0) -> list[Delivery]:
        """Take up to ``limit`` due deliveries for ``lease_s`` seconds: another sender
        (another API process or replica) skips them until then, so an attempt is made once.

        Each lease is a guarded ``UPDATE ... WHERE lease_until_us <= now``: on PostgreSQL
        two senders that picked the same row are serialised by its row lock and the
        second one's re-checked condition fails, so it does not take it (on SQLite the
        transaction's write lock already serialises them)."""
        until = now_us + int(lease_s * 1e6)
        taken = []
        with self.catalog.transaction() as conn:
            rows = conn.execute(
                "SELECT d.id, d.webhook_id, w.url, w.secret, d.event_id, e.type, e.payload_json, "
                "d.attempts FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                "JOIN events e ON e.event_id = d.event_id WHERE d.state = 'pending' AND "
                "d.next_attempt_us <= ? AND d.lease_until_us <= ? AND w.removed_us IS NULL "
                "ORDER BY d.next_attempt_us, d.id LIMIT ?", (now_us, now_us, limit)).fetchall()
            for r in rows:
                cur = conn.execute("UPDATE webhook_deliveries SET lease_until_us = ? WHERE id = ? AND "
                                   "state = 'pending' AND lease_until_us <= ?", (until, r["id"], now_us))
                if cur.rowcount == 1:
                    taken.append(r)
        return [Delivery(r["id"], r["webhook_id"], r["url"], r["secret"], r["event_id"], r["type"],
                         r["payload_json"].encode(), r["attempts"]) for r in taken]

    def record_attempt(self, delivery: Delivery, *, now_us: int, status: int | None,
                       error: str | None, duration_ms: int, retry: Retry) -> str:
        """Log one attempt and settle the delivery: ``delivered`` on a 2xx answer, else
        ``pending`` again after the backoff, or ``failed`` after the last attempt.
        Returns the new state."""
        attempt = delivery.attempts + 1
        ok = status is not None and 200 <= status < 300
        if ok:
            state, next_us = "delivered", now_us
        elif attempt >= retry.max_attempts:
            state, next_us = "failed", now_us
        else:
            state, next_us = "pending", now_us + int(retry.delay_s(attempt) * 1e6)
        with self.catalog.transaction() as conn:
            conn.execute("INSERT INTO webhook_attempts (delivery_id, attempt, at_us, status, error, "
                         "duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
                         (delivery.id, attempt, now_us, status, error, duration_ms))
            conn.execute("UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_us = ?, "
                         "lease_until_us = 0, last_attempt_us = ?, last_status = ?, last_error = ?, "
                         "delivered_us = ? WHERE id = ? AND state = 'pending'",
                         (state, attempt, next_us, now_us, status, error,
                          now_us if ok else None, delivery.id))
        return state

    def deliveries(self, *, webhook_id: str | None = None, limit: int = 50) -> list[dict]:
        """The delivery log, newest first: each delivery with its attempts."""
        sql = ("SELECT d.id, d.webhook_id, d.event_id, e.type, d.state, d.attempts, d.next_attempt_us, "
               "d.last_attempt_us, d.last_status, d.last_error, d.delivered_us, e.created_us AS event_created_us "
               "FROM webhook_deliveries d JOIN events e ON e.event_id = d.event_id")
        params: list[Any] = []
        if webhook_id:
            sql += " WHERE d.webhook_id = ?"
            params.append(webhook_id)
        sql += " ORDER BY d.id DESC LIMIT ?"
        with self.catalog.connection() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
            attempts: dict[int, list[dict]] = {}
            if rows:
                marks = ", ".join("?" * len(rows))
                for a in conn.execute(f"SELECT delivery_id, attempt, at_us, status, error, duration_ms "
                                      f"FROM webhook_attempts WHERE delivery_id IN ({marks}) "
                                      "ORDER BY delivery_id, attempt", [r["id"] for r in rows]).fetchall():
                    attempts.setdefault(a["delivery_id"], []).append(
                        {"attempt": a["attempt"], "at": iso_us(a["at_us"]), "status": a["status"],
                         "error": a["error"], "duration_ms": a["duration_ms"]})
        return [{"id": r["id"], "webhook_id": r["webhook_id"], "event_id": r["event_id"],
                 "event_type": r["type"], "state": r["state"], "attempts": r["attempts"],
                 "next_attempt_at": iso_us(r["next_attempt_us"]) if r["state"] == "pending" else None,
                 "last_attempt_at": iso_us(r["last_attempt_us"]), "last_status": r["last_status"],
                 "last_error": r["last_error"], "delivered_at": iso_us(r["delivered_us"]),
                 "event_created_at": iso_us(r["event_created_us"]), "log": attempts.get(r["id"], [])}
                for r in rows]


def _webhook(row: Any) -> Webhook:
    return Webhook(row["id"], row["url"], tuple(json.loads(row["event_types"])), row["description"],
                   row["created_us"], row["created_by"], row["removed_us"])
