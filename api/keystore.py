"""API keys: created once, shown once, stored only as SHA-256 digests (in ``M2C_DB``).

A key looks like ``m2c_<key_id>_<secret>``:

* ``key_id``: 12 hex characters, public. It names the key in listings and logs, is the
  job catalog's ``principal``, and lets a lookup fetch one row instead of scanning.
* ``secret``: 32 random bytes from ``secrets`` (256 bits), URL-safe base64.

Why a fast hash and not a password KDF (bcrypt/argon2): a KDF exists to slow down
guessing of *low-entropy* secrets chosen by people. These keys are machine-generated
with 256 bits of entropy, so a preimage search on SHA-256 is infeasible whatever its
speed, and a fast hash keeps authentication at microseconds per request. The digest is
compared in constant time.

The table lives in the catalog database with the jobs (``M2C_DB``: SQLite or PostgreSQL,
through :class:`jobs.db.Database`), so every API replica on one catalog knows the same
keys; it belongs to this module, which versions its schema (:data:`MIGRATIONS`, the
``api_keys`` component) and applies it at start-up or on first use.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from engine.errors import InputError, NotFoundError
from jobs.db import Database, Migration, Migrations

from .auth import Role

KEY_PREFIX = "m2c"
_CACHE_MAX = 10_000
_KEY_RE = re.compile(r"^m2c_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")

#: version 1 is the table of the files created before migrations existed (``IF NOT
#: EXISTS``: such a file adopts it unchanged); times are ISO 8601 UTC text on both backends
MIGRATIONS = Migrations("api_keys", (
    Migration(1, "api keys", sqlite="""
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    key_sha256  TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);""", postgresql="""
CREATE TABLE api_keys (
    key_id      TEXT COLLATE "C" PRIMARY KEY,
    key_sha256  TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT COLLATE "C" NOT NULL,
    revoked_at  TEXT
);"""),
))


@dataclass(frozen=True)
class ApiKeyRecord:
    """One stored key; never holds the key itself."""

    key_id: str
    role: Role
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict:
        return {"key_id": self.key_id, "role": self.role.value, "label": self.label,
                "created_at": _iso(self.created_at),
                "revoked_at": _iso(self.revoked_at) if self.revoked_at else None}


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def digest(key: str) -> str:
    """Hex SHA-256 of the whole key string."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


class KeyStore:
    """Hashed API keys in the catalog database.

    :meth:`authenticate` is on every request's path: with ``cache_ttl_s > 0`` (the API
    uses a few seconds) it remembers each lookup's outcome by key digest for that long,
    so a revoked key stops working within ``cache_ttl_s`` seconds on every replica, at
    once on the one that revoked it. A lookup otherwise costs one indexed read, on a
    connection kept per thread (SQLite) or pooled (PostgreSQL).
    """

    def __init__(self, db_url: str, *, cache_ttl_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.db = Database(db_url)
        self.cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._initialised = False
        self._cache: dict[str, tuple[float, tuple[str, Role] | None]] = {}
        self._cache_lock = threading.Lock()

    def init_schema(self) -> None:
        """Apply this table's pending migrations (idempotent)."""
        self.db.migrate(MIGRATIONS)
        self._initialised = True

    def _ready(self) -> Database:
        if not self._initialised:
            self.init_schema()
        return self.db

    def create(self, role: Role | str, *, now_utc: datetime,
               label: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Create a key with ``role``; returns the record and the key (shown once)."""
        role = _role(role)
        key_id = secrets.token_hex(6)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
        key = f"{KEY_PREFIX}_{key_id}_{secret}"
        with self._ready().transaction() as conn:
            conn.execute("INSERT INTO api_keys (key_id, key_sha256, role, label, created_at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (key_id, digest(key), role.value, label, _iso(now_utc)))
        return ApiKeyRecord(key_id, role, label, now_utc, None), key

    def get(self, key_id: str) -> ApiKeyRecord:
        with self._ready().read() as conn:
            r = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM api_keys WHERE key_id = ?",
                             (key_id,)).fetchone()
        if r is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _key_record(r)

    def list(self) -> list[ApiKeyRecord]:
        with self._ready().read() as conn:
            rows = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM api_keys "
                                "ORDER BY created_at, key_id").fetchall()
        return [_key_record(r) for r in rows]

    def revoke(self, key_id: str, *, now_utc: datetime) -> None:
        with self._ready().transaction() as conn:
            cur = conn.execute("UPDATE api_keys SET revoked_at = ? "
                               "WHERE key_id = ? AND revoked_at IS NULL", (_iso(now_utc), key_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no active API key with id {key_id!r}")
        with self._cache_lock:
            self._cache.clear()          # this process forgets at once; others within the TTL

    def authenticate(self, key: str | None) -> tuple[str, Role] | None:
        """``(key_id, role)`` for a valid, unrevoked key; ``None`` otherwise."""
        if not key:
            return None
        m = _KEY_RE.match(key)
        if m is None:
            return None
        key_digest = digest(key)
        now = self._clock()
        if self.cache_ttl_s > 0:
            hit = self._cache.get(key_digest)
            if hit is not None and hit[0] > now:
                return hit[1]
        with self._ready().read(reuse=True) as conn:
            row = conn.execute(
                "SELECT key_sha256, role FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
                (m.group(1),)).fetchone()
        found = None
        if row is not None and hmac.compare_digest(row["key_sha256"], key_digest):
            found = (m.group(1), Role(row["role"]))
        if self.cache_ttl_s > 0:
            with self._cache_lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
                    if len(self._cache) >= _CACHE_MAX:
                        self._cache.clear()
                self._cache[key_digest] = (now + self.cache_ttl_s, found)
        return found


_RECORD_COLUMNS = "key_id, role, label, created_at, revoked_at"


def _key_record(r) -> ApiKeyRecord:
    return ApiKeyRecord(r["key_id"], Role(r["role"]), r["label"], _parse_dt(r["created_at"]),
                        _parse_dt(r["revoked_at"]))


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"unknown role {role!r}; choose one of "
                         f"{', '.join(r.value for r in Role)}") from None
