"""API keys: created once, shown once, stored only as SHA-256 digests (SQLite).

A key looks like ``m2c_<key_id>_<secret>``:

* ``key_id``: 12 hex characters, public. It names the key in listings and logs, is the
  job catalog's ``principal``, and lets a lookup fetch one row instead of scanning.
* ``secret``: 32 random bytes from ``secrets`` (256 bits), URL-safe base64.

Why a fast hash and not a password KDF (bcrypt/argon2): a KDF exists to slow down
guessing of *low-entropy* secrets chosen by people. These keys are machine-generated
with 256 bits of entropy, so a preimage search on SHA-256 is infeasible whatever its
speed, and a fast hash keeps authentication at microseconds per request. The digest is
compared in constant time.

The table lives in the same SQLite file as the job catalog (``M2C_DB``) but belongs to
this module; it is created on first use.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.errors import InputError, NotFoundError

from .auth import Role

KEY_PREFIX = "m2c"
_CACHE_MAX = 10_000
_KEY_RE = re.compile(r"^m2c_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    key_sha256  TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
)
"""


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


def sqlite_path(db_url: str) -> Path:
    """The file of a ``sqlite:///abs/path.db`` URL."""
    if not db_url.startswith("sqlite:///"):
        raise InputError(f"API keys need a SQLite catalog (sqlite:///path), got {db_url!r}")
    return Path(db_url[len("sqlite:///"):])


def digest(key: str) -> str:
    """Hex SHA-256 of the whole key string."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


class KeyStore:
    """Hashed API keys in SQLite (WAL).

    Key management (create, list, revoke) opens a short-lived connection per call.
    :meth:`authenticate` is on every request's path, so it reuses one connection per
    thread and, with ``cache_ttl_s > 0`` (the API uses a few seconds), remembers each
    lookup's outcome by key digest for that long: a revoked key then stops working
    within ``cache_ttl_s`` seconds, not instantly.
    """

    def __init__(self, db_url: str, *, cache_ttl_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = sqlite_path(db_url)
        self.cache_ttl_s = cache_ttl_s
        self._clock = clock
        self._initialised = False
        self._local = threading.local()
        self._cache: dict[str, tuple[float, tuple[str, Role] | None]] = {}
        self._cache_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self._initialised:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        if not self._initialised:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
            self._initialised = True
        return conn

    def _thread_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def init_schema(self) -> None:
        with closing(self._connect()):
            pass

    def create(self, role: Role | str, *, now_utc: datetime,
               label: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Create a key with ``role``; returns the record and the key (shown once)."""
        role = _role(role)
        key_id = secrets.token_hex(6)
        secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
        key = f"{KEY_PREFIX}_{key_id}_{secret}"
        with closing(self._connect()) as conn:
            conn.execute("INSERT INTO api_keys (key_id, key_sha256, role, label, created_at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (key_id, digest(key), role.value, label, _iso(now_utc)))
        return ApiKeyRecord(key_id, role, label, now_utc, None), key

    def get(self, key_id: str) -> ApiKeyRecord:
        with closing(self._connect()) as conn:
            r = conn.execute("SELECT key_id, role, label, created_at, revoked_at FROM api_keys "
                             "WHERE key_id = ?", (key_id,)).fetchone()
        if r is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return ApiKeyRecord(r[0], Role(r[1]), r[2], _parse_dt(r[3]), _parse_dt(r[4]))

    def list(self) -> list[ApiKeyRecord]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT key_id, role, label, created_at, revoked_at "
                                "FROM api_keys ORDER BY created_at, key_id").fetchall()
        return [ApiKeyRecord(r[0], Role(r[1]), r[2], _parse_dt(r[3]), _parse_dt(r[4]))
                for r in rows]

    def revoke(self, key_id: str, *, now_utc: datetime) -> None:
        with closing(self._connect()) as conn:
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
        row = self._thread_conn().execute(
            "SELECT key_sha256, role FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
            (m.group(1),)).fetchone()
        found = None
        if row is not None and hmac.compare_digest(row[0], key_digest):
            found = (m.group(1), Role(row[1]))
        if self.cache_ttl_s > 0:
            with self._cache_lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache = {d: e for d, e in self._cache.items() if e[0] > now}
                    if len(self._cache) >= _CACHE_MAX:
                        self._cache.clear()
                self._cache[key_digest] = (now + self.cache_ttl_s, found)
        return found


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(f"unknown role {role!r}; choose one of "
                         f"{', '.join(r.value for r in Role)}") from None
