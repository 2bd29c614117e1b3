"""Console sessions: an API key exchanged for a server-side session, and its CSRF token.

Signing in with an API key (``POST /console/sign-in``) checks the key exactly as the
API does (``KeyStore.authenticate``) and creates a session row in the catalog
database (``console_sessions``: its own :data:`MIGRATIONS`, on SQLite or PostgreSQL);
the browser gets only a random session token in a cookie (``m2c_session``: ``HttpOnly``,
``SameSite=Strict``, ``Secure`` when the console is served over HTTPS, ``Path=/``). The
table stores the token's SHA-256, never the token, nor the API key.

A session is valid while it is not signed out, younger than :data:`SESSION_TTL`
(absolute, 8 hours) and used within :data:`IDLE_TIMEOUT` (1 hour), and its key is not
revoked: every request reads the key (``KeyStore.get``), so revoking a key ends its
sessions at once, and the role is always the key's.

CSRF: each session has its own random token (32 bytes). Every form carries it in a
hidden ``csrf_token`` field and htmx sends it as ``X-CSRF-Token``; every state-changing
request (``POST``) is refused (403, nothing changed) unless one of them equals the
session's, compared in constant time. The sign-in form, before any session exists,
uses a double-submit token (a ``m2c_signin`` cookie equal to its hidden field).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from jobs.db import Migration, Migrations

from ..roles import Principal, Role

if TYPE_CHECKING:  # pragma: no cover
    from jobs.catalog import JobCatalog

    from ..keystore import KeyStore

__all__ = ["SESSION_COOKIE", "SIGNIN_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "SESSION_TTL",
           "IDLE_TIMEOUT", "Session", "Sessions", "tokens_match"]

SESSION_COOKIE = "m2c_session"
SIGNIN_COOKIE = "m2c_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(hours=1)
#: last-seen is written at most this often (not on every request)
_TOUCH_EVERY_US = 60 * 1_000_000

#: the ``console_sessions`` component of the catalog database (``jobs.db``); version 1
#: on SQLite is ``IF NOT EXISTS`` (a catalog that has the table adopts it unchanged)
MIGRATIONS = Migrations("console_sessions", (
    Migration(1, "console sessions", sqlite="""
CREATE TABLE IF NOT EXISTS console_sessions (
    token_sha256  TEXT PRIMARY KEY,
    key_id        TEXT NOT NULL,
    role          TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_us    INTEGER NOT NULL,
    expires_us    INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    ended_us      INTEGER
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_us);
""", postgresql="""
CREATE TABLE console_sessions (
    token_sha256  TEXT COLLATE "C" PRIMARY KEY,
    key_id        TEXT NOT NULL,
    role          TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_us    BIGINT NOT NULL,
    expires_us    BIGINT NOT NULL,
    last_seen_us  BIGINT NOT NULL,
    ended_us      BIGINT
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_us);
"""),
))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time equality of two tokens; False if either is missing."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass(frozen=True)
class Session:
    key_id: str
    role: Role
    label: str | None
    csrf_token: str
    expires_us: int

    @property
    def principal(self) -> Principal:
        return Principal(self.key_id, self.role)


class Sessions:
    """Console sessions in the catalog database (``JobCatalog.transaction``)."""

    def __init__(self, catalog: "JobCatalog", keys: "KeyStore"):
        self.catalog, self.keys = catalog, keys
        self._ready = False

    def _init(self) -> None:
        if not self._ready:
            self.catalog.db.migrate(MIGRATIONS)
            self._ready = True

    def start(self, api_key: str, *, now_us: int) -> tuple[str, Session] | None:
        """A new session for a valid API key: ``(token for the cookie, session)``;
        None if the key is unknown or revoked."""
        found = self.keys.authenticate(api_key)
        if found is None:
            return None
        self._init()
        key_id, role = found
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now_us + int(SESSION_TTL.total_seconds() * 1e6)
        with self.catalog.transaction() as conn:
            conn.execute("DELETE FROM console_sessions WHERE expires_us < ?", (now_us,))
            conn.execute("INSERT INTO console_sessions (token_sha256, key_id, role, csrf_token, created_us, "
                         "expires_us, last_seen_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (_digest(token), key_id, role.value, csrf, now_us, expires, now_us))
        return token, Session(key_id, role, self._label(key_id), csrf, expires)

    def _label(self, key_id: str) -> str | None:
        from engine.errors import NotFoundError
        try:
            return self.keys.get(key_id).label
        except NotFoundError:
            return None

    def get(self, token: str | None, *, now_us: int) -> Session | None:
        """The live session of a cookie token (None: absent, unknown, ended, expired,
        idle too long, or its key revoked); refreshes its last-seen time."""
        if not token or len(token) > 200:
            return None
        self._init()
        with self.catalog.connection() as conn:
            row = conn.execute("SELECT key_id, role, csrf_token, expires_us, last_seen_us, ended_us FROM "
                               "console_sessions WHERE token_sha256 = ?", (_digest(token),)).fetchone()
        if row is None or row["ended_us"] is not None or row["expires_us"] <= now_us:
            return None
        if now_us - row["last_seen_us"] > IDLE_TIMEOUT.total_seconds() * 1e6:
            return None
        from engine.errors import NotFoundError
        try:
            key = self.keys.get(row["key_id"])
        except NotFoundError:
            return None
        if key.revoked_at is not None:
            return None
        if now_us - row["last_seen_us"] > _TOUCH_EVERY_US:
            with self.catalog.transaction() as conn:
                conn.execute("UPDATE console_sessions SET last_seen_us = ? WHERE token_sha256 = ?",
                             (now_us, _digest(token)))
        return Session(row["key_id"], Role(row["role"]), key.label, row["csrf_token"], row["expires_us"])

    def end(self, token: str | None, *, now_us: int) -> None:
        """Sign out: the session stops working at once (its row is kept, ended)."""
        if not token:
            return
        self._init()
        with self.catalog.transaction() as conn:
            conn.execute("UPDATE console_sessions SET ended_us = ? WHERE token_sha256 = ? AND ended_us IS NULL",
                         (now_us, _digest(token)))
