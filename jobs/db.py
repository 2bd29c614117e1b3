"""The catalog database (``M2C_DB``): one seam over SQLite and PostgreSQL.

Everything meter2cash keeps in ``M2C_DB`` goes through :class:`Database`: the job
catalog (:mod:`jobs.catalog`), the API keys (:mod:`api.keystore`) and any other small
transactional state (a component adds its tables with its own :class:`Migrations`).

* ``sqlite:///abs/path.db``: the embedded default (stdlib ``sqlite3``), for one host:
  every process opening the file must see the same local file system.
* ``postgresql://user:pass@host:5432/db`` (or ``postgres://``; any libpq URI parameter,
  e.g. ``?sslmode=require``; libpq's ``PG*`` variables and ``~/.pgpass`` apply): the
  production catalog, shared by API replicas and Ray nodes. psycopg 3 is imported only
  for such a URL, so commands on a SQLite catalog do not pay for it.

The contract a caller sees is the same on both:

* SQL is written once with ``?`` placeholders (the PostgreSQL connection rewrites them to
  psycopg's ``%s``); rows are read by column name (``row["state"]``); ``INSERT ... ON
  CONFLICT``, ``RETURNING``, partial and expression indexes mean the same on both (see
  :func:`upsert_sql`). Where DDL differs (``BIGINT`` vs ``INTEGER``, identity columns,
  ``COLLATE "C"``), a :class:`Migration` gives a script per backend.
* :meth:`Database.read`: a connection in autocommit mode (each statement on its own).
* :meth:`Database.transaction`: a write transaction, committed on exit, rolled back on an
  exception, with **the write-lock semantics of the catalog**: on SQLite ``BEGIN
  IMMEDIATE`` takes the database's one write lock up front, so a read-then-write is
  serialised with every other writer of the file, whatever ``locks`` names. On PostgreSQL
  the transaction runs at ``READ COMMITTED`` and first takes the transaction-scoped
  advisory locks named in ``locks`` (``pg_advisory_xact_lock``, in one fixed order, so
  two such transactions never deadlock): transactions naming a common lock run one after
  the other, and since every statement sees what was committed before it started, a
  statement after the lock sees all that the previous holder wrote. Rows read and then
  updated in one transaction are read ``FOR UPDATE`` (``conn.dialect.for_update``;
  empty on SQLite, whose write lock already covers it). A lock wait is bounded by
  ``LOCK_TIMEOUT_S`` on both (``busy_timeout``; ``lock_timeout``).
* :meth:`Database.migrate`: versioned schema migrations, applied at start-up (see
  :class:`Migrations`); recorded in ``schema_migrations``.
* :meth:`Database.process_lock`: an exclusive lock a process holds until it releases it
  or ends, however it ends (who runs a CLI job): a ``flock`` on a file beside the SQLite
  file; a session advisory lock on a connection of its own on PostgreSQL.
* A unique-constraint violation raises :class:`DuplicateKeyError` (a ``ConflictError``);
  an unreachable server :class:`DatabaseUnavailableError`, naming the URL without its
  password (:func:`redact_url`).

Connections: SQLite opens one per call (``sqlite3`` connections are neither shared across
threads nor processes; opening one costs microseconds), in WAL mode so readers never
block the writer. PostgreSQL keeps a small pool per URL and process (a server connection
costs a backend process and an authentication round trip): up to ``POOL_IDLE`` idle
connections are kept for reuse, at most ``POOL_MAX`` are open at once (a caller beyond
waits up to ``LOCK_TIMEOUT_S``), a connection idle for longer than
``POOL_CHECK_AFTER_S`` is checked before reuse (a restarted server is noticed, not
reported as an error), and a broken one, or one left inside a transaction, is closed.
The pool is plain code without threads, so a CLI command or a Ray worker opens exactly the
connections it uses; a failure to connect is reported at once with libpq's reason.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.errors import ConflictError, InputError, M2CError

log = logging.getLogger(__name__)

__all__ = ["Database", "Connection", "Dialect", "ProcessLock", "Migration", "Migrations", "DuplicateKeyError",
           "DatabaseUnavailableError", "SchemaTooNewError", "parse_db_url", "redact_url",
           "upsert_sql", "close_pools", "SQLITE", "POSTGRESQL"]

#: how long a writer waits for a lock before failing (SQLite busy_timeout, PG lock_timeout)
LOCK_TIMEOUT_S = 30.0
#: connections a process has open at once per PostgreSQL URL, at most (above the API's
#: 40 worker threads, so the event loop's own short reads never queue behind them)
POOL_MAX = 48
#: idle connections it keeps between uses, at most (the others are closed when returned)
POOL_IDLE = 8
#: an idle pooled connection older than this is checked (one round trip) before reuse
POOL_CHECK_AFTER_S = 2.0
#: libpq's connect timeout unless the URL sets one
CONNECT_TIMEOUT_S = 10
_MIGRATIONS_LOCK = "m2c.schema_migrations"


class DuplicateKeyError(ConflictError):
    """A row would break a unique constraint (the same on SQLite and PostgreSQL)."""


class DatabaseUnavailableError(M2CError):
    """The catalog database cannot be reached (server down, wrong host, bad password)."""


class SchemaTooNewError(M2CError):
    """The database was migrated by a newer meter2cash than this one."""


@dataclass(frozen=True)
class Dialect:
    """What differs between the backends in the SQL a caller writes."""
    name: str
    #: appended to a ``SELECT`` whose rows the transaction then updates
    for_update: str
    #: the same, skipping rows another transaction holds (a work queue's ``claim``)
    for_update_skip_locked: str


SQLITE = Dialect("sqlite", for_update="", for_update_skip_locked="")
POSTGRESQL = Dialect("postgresql", for_update=" FOR UPDATE",
                     for_update_skip_locked=" FOR UPDATE SKIP LOCKED")


# -- URLs ----------------------------------------------------------------------------------

def parse_db_url(url: str) -> tuple[Dialect, str]:
    """``(dialect, target)``: the file path of a SQLite URL, or the libpq URI of a
    PostgreSQL one. ``InputError`` for anything else (the message hides the password)."""
    if not isinstance(url, str) or not url:
        raise InputError("no catalog database URL: set M2C_DB to sqlite:///abs/path.db or "
                         "postgresql://user:pass@host:5432/db")
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.startswith(prefix):
            raise InputError(f"catalog database URL {url!r}: expected sqlite:///abs/path.db")
        rest = url[len(prefix):]
        if not rest.strip("/"):
            raise InputError(f"catalog database URL {url!r} names no file")
        # ``sqlite:///abs/path.db`` and SQLAlchemy's ``sqlite:////abs/path.db`` both name
        # the absolute path /abs/path.db (settings always build absolute paths)
        return SQLITE, "/" + rest.lstrip("/")
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parts = urlsplit(url)
        if not parts.path.strip("/") and "dbname=" not in parts.query:
            raise InputError(f"catalog database URL {redact_url(url)!r} names no database: "
                             "expected postgresql://user:pass@host:5432/db")
        return POSTGRESQL, urlunsplit(("postgresql", *parts[1:]))
    raise InputError(f"unsupported catalog database URL {redact_url(url)!r}: expected "
                     "sqlite:///abs/path.db or postgresql://user:pass@host:5432/db")


def redact_url(url: str) -> str:
    """``url`` with its password (and a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(?i)(^|&)(password)=[^&]*", r"\1\2=***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url                               # nothing to hide: exactly as given
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# -- SQL helpers -----------------------------------------------------------------------------

def upsert_sql(table: str, key: Sequence[str], columns: Sequence[str], *,
               update: Sequence[str] | None = None) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...) ON CONFLICT (key) DO UPDATE SET ...``
    (the same statement on SQLite >= 3.24 and PostgreSQL). ``update``: the columns a
    conflict overwrites (default: every column not in ``key``); empty: ``DO NOTHING``."""
    cols = list(columns)
    if not set(key) <= set(cols):
        raise ValueError(f"upsert into {table}: key {list(key)} not among the columns {cols}")
    overwrite = [c for c in cols if c not in key] if update is None else list(update)
    action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in overwrite)
              if overwrite else "DO NOTHING")
    return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(key)}) {action}")


@lru_cache(maxsize=1024)
def _format_placeholders(sql: str) -> str:
    """``?`` -> ``%s`` and ``%`` -> ``%%`` outside string literals, quoted identifiers and
    comments (psycopg's placeholder syntax)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:      # '' or "" inside the quotes
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif c == "?":
            out.append("%s")
            i += 1
        elif c == "%":
            out.append("%%")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _split_sqlite_script(script: str) -> list[str]:
    """The statements of ``script`` (``sqlite3.complete_statement`` decides where one
    ends, so a ``;`` inside a literal or a trigger body does not split it)."""
    statements, start = [], 0
    for m in re.finditer(";", script):
        candidate = script[start:m.end()]
        if sqlite3.complete_statement(candidate):
            if candidate.strip(" \t\r\n;"):
                statements.append(candidate.strip())
            start = m.end()
    tail = script[start:].strip()
    if tail and not all(line.strip().startswith("--") or not line.strip()
                        for line in tail.splitlines()):
        statements.append(tail)
    return statements


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# -- connections -----------------------------------------------------------------------------

class Connection:
    """One connection of either backend, with ``?`` placeholders and rows by name."""

    __slots__ = ("raw", "dialect")

    def __init__(self, raw: Any, dialect: Dialect):
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; the cursor has ``fetchone``, ``fetchall`` and ``rowcount``."""
        try:
            if self.dialect is SQLITE:
                return self.raw.execute(sql, params)
            return self.raw.execute(_format_placeholders(sql), tuple(params))
        except Exception as exc:
            _raise_duplicate(exc)
            raise

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            if self.dialect is SQLITE:
                self.raw.executemany(sql, rows)
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(_format_placeholders(sql), [tuple(r) for r in rows])
        except Exception as exc:
            _raise_duplicate(exc)
            raise

    def execute_script(self, script: str) -> None:
        """Run several statements (DDL), inside the current transaction if there is one.
        No parameters; ``?`` and ``%`` are taken literally."""
        if self.dialect is SQLITE:
            for statement in _split_sqlite_script(script):
                self.raw.execute(statement)
        else:
            self.raw.execute(script)          # no parameters: several statements allowed


def _raise_duplicate(exc: Exception) -> None:
    if isinstance(exc, sqlite3.IntegrityError):
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_UNIQUE",
                                                     "SQLITE_CONSTRAINT_PRIMARYKEY"):
            raise DuplicateKeyError(str(exc)) from exc
        return
    if type(exc).__module__.startswith("psycopg") and getattr(exc, "sqlstate", None) == "23505":
        raise DuplicateKeyError(str(exc).splitlines()[0]) from exc


class Database:
    """The catalog database at ``url``: connections, transactions and migrations.

    Cheap to create (nothing is opened until used); safe to use from many threads and
    processes at once.
    """

    def __init__(self, url: str):
        self.dialect, self._target = parse_db_url(url)
        self.url = url
        self._local = threading.local()

    @property
    def path(self) -> Path | None:
        """The SQLite file; None on PostgreSQL."""
        return Path(self._target) if self.dialect is SQLITE else None

    @property
    def public_url(self) -> str:
        """The URL without its password: for logs and messages."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"Database({self.public_url!r})"

    # -- connections
    def _sqlite(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._target, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")     # durable at checkpoints under WAL
        return conn

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self.dialect is SQLITE:
            raw = self._sqlite()
            try:
                yield Connection(raw, SQLITE)
            finally:
                raw.close()
            return
        pool = _pg_pool(self._target, self.public_url)
        raw = pool.get()
        try:
            yield Connection(raw, POSTGRESQL)
        finally:
            pool.put(raw)

    @contextmanager
    def read(self, *, reuse: bool = False) -> Iterator[Connection]:
        """A connection in autocommit mode: each statement is its own transaction.

        ``reuse``: on SQLite, keep this thread's connection open for its next ``reuse``
        read (a hot path's lookups, e.g. API-key checks); PostgreSQL connections are
        always reused through the pool.
        """
        if reuse and self.dialect is SQLITE:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = Connection(self._sqlite(), SQLITE)
            yield conn
            return
        with self._connection() as conn:
            yield conn

    @contextmanager
    def transaction(self, *, locks: Iterable[str] = ()) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        SQLite: ``BEGIN IMMEDIATE`` (the file's write lock, taken up front). PostgreSQL:
        ``BEGIN`` then the advisory locks named by ``locks`` (see the module docstring).
        """
        with self._connection() as conn:
            raw = conn.raw
            if self.dialect is SQLITE:
                raw.execute("BEGIN IMMEDIATE")
            else:
                raw.execute("BEGIN")
            try:
                if self.dialect is POSTGRESQL:
                    for key in sorted({_lock_key(name) for name in locks}):
                        raw.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
                yield conn
            except BaseException:
                try:
                    raw.execute("ROLLBACK")
                except Exception:                       # noqa: BLE001 - the connection broke
                    log.debug("rollback failed on %s", self.public_url, exc_info=True)
                raise
            raw.execute("COMMIT")

    def process_lock(self, namespace: str, name: str) -> "ProcessLock":
        """The lock ``namespace``/``name`` (not taken yet: :meth:`ProcessLock.acquire`)."""
        if self.dialect is SQLITE:
            return _FileLock(Path(self._target), namespace, name)
        return _AdvisoryLock(self._target, self.public_url, f"{namespace}:{name}")

    # -- schema
    def prepare(self) -> None:
        """What a backend needs once before any schema: SQLite creates the file's folder
        and switches the file to WAL (persistent, so once per file)."""
        if self.dialect is SQLITE:
            Path(self._target).parent.mkdir(parents=True, exist_ok=True)
            raw = self._sqlite()
            try:
                raw.execute("PRAGMA journal_mode = WAL")
            finally:
                raw.close()

    def applied_versions(self, component: str) -> list[int] | None:
        """The versions of ``component`` applied so far; None before any migration."""
        with self.read() as conn:
            if not _has_migrations_table(conn):
                return None
            rows = conn.execute("SELECT version FROM schema_migrations WHERE component = ? "
                                "ORDER BY version", (component,)).fetchall()
        return [r["version"] for r in rows]

    def migrate(self, migrations: "Migrations") -> list[int]:
        """Apply the steps of ``migrations`` this database lacks, in order; returns their
        versions. Each step and its ``schema_migrations`` row commit together; concurrent
        callers (two replicas starting) apply each step once. A database at a version
        newer than ``migrations`` knows raises ``SchemaTooNewError``."""
        self.prepare()
        applied = self.applied_versions(migrations.component)
        if applied is not None and set(applied) >= migrations.versions:
            self._refuse_newer(migrations, applied)
            return []
        done = []
        with self.transaction(locks=[_MIGRATIONS_LOCK]) as conn:
            conn.execute_script(_SCHEMA_MIGRATIONS[self.dialect.name])
            applied = [r["version"] for r in conn.execute(
                "SELECT version FROM schema_migrations WHERE component = ?",
                (migrations.component,)).fetchall()]
            self._refuse_newer(migrations, applied)
            for step in migrations.steps:
                if step.version in applied:
                    continue
                conn.execute_script(step.script(self.dialect))
                conn.execute("INSERT INTO schema_migrations (component, version, name, applied_at) "
                             "VALUES (?, ?, ?, ?)",
                             (migrations.component, step.version, step.name,
                              datetime.now(timezone.utc).isoformat(timespec="seconds")))
                done.append(step.version)
        if done:
            log.info("%s: %s migrated to version %d (applied %s)", self.public_url,
                     migrations.component, migrations.latest, done)
        return done

    def _refuse_newer(self, migrations: "Migrations", applied: list[int]) -> None:
        newer = sorted(set(applied) - migrations.versions)
        if newer:
            raise SchemaTooNewError(
                f"the catalog database {self.public_url} has {migrations.component} schema "
                f"version {max(newer)}, newer than this meter2cash knows "
                f"({migrations.latest}): upgrade meter2cash")


def _has_migrations_table(conn: Connection) -> bool:
    if conn.dialect is SQLITE:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    else:
        sql = "SELECT 1 WHERE to_regclass('schema_migrations') IS NOT NULL"
    return conn.execute(sql).fetchone() is not None


_SCHEMA_MIGRATIONS = {
    "sqlite": """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component   TEXT NOT NULL,        -- who owns the tables: jobs, api_keys, ...
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL,        -- ISO 8601 UTC
    PRIMARY KEY (component, version)
);""",
    "postgresql": """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component   TEXT COLLATE "C" NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    applied_at  TEXT NOT NULL,
    PRIMARY KEY (component, version)
);""",
}


# -- migrations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    """One numbered schema step: a script per backend (``postgresql=None``: the SQLite
    script runs on both). Scripts take no parameters; keep them idempotent where a
    database may already hold the objects (a file created before migrations existed)."""
    version: int
    name: str
    sqlite: str
    postgresql: str | None = None

    def script(self, dialect: Dialect) -> str:
        if dialect is POSTGRESQL and self.postgresql is not None:
            return self.postgresql
        return self.sqlite


@dataclass(frozen=True)
class Migrations:
    """The ordered schema history of one component (its tables), versions 1, 2, ...

    A component owns its migrations next to the code that uses its tables and applies
    them at start-up (``Database(url).migrate(MIGRATIONS)``); a step once released is
    never edited, only followed by another. Components are independent histories in one
    ``schema_migrations`` table; one that references another's tables migrates after it.
    """
    component: str
    steps: tuple[Migration, ...]

    def __post_init__(self) -> None:
        got = [s.version for s in self.steps]
        if got != list(range(1, len(got) + 1)):
            raise ValueError(f"{self.component} migrations must be numbered 1..n, got {got}")

    @property
    def versions(self) -> set[int]:
        return {s.version for s in self.steps}

    @property
    def latest(self) -> int:
        return len(self.steps)


# -- process locks ---------------------------------------------------------------------------

class ProcessLock:
    """An exclusive lock that this process holds until :meth:`release` or until it ends
    (the kernel closes its file or its server connection, and the lock goes with it)."""

    def acquire(self) -> bool:
        """Take the lock if nobody holds it (never blocks)."""
        raise NotImplementedError

    def holder(self) -> str:
        """Who holds it, for messages: ``process 1234`` (``on <host>`` when remote)."""
        raise NotImplementedError

    def release(self, *, remove: bool = False) -> None:
        """Release it; ``remove`` also drops what the lock left behind (its file)."""
        raise NotImplementedError


class _FileLock(ProcessLock):
    """``flock`` on ``<database file>.<namespace>/<name>.lock``, holding the owner's pid."""

    def __init__(self, db_path: Path, namespace: str, name: str):
        self.path = db_path.with_name(f"{db_path.name}.{namespace}") / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        import fcntl
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid.isdigit() else "another process"

    def release(self, *, remove: bool = False) -> None:
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)               # closing the descriptor releases the flock
        self._fd = None


class _AdvisoryLock(ProcessLock):
    """``pg_try_advisory_lock`` on a connection of its own (outside the pool), held open
    while the lock is; the server releases it when that session ends."""

    def __init__(self, target: str, public_url: str, name: str):
        self.target, self.public_url = target, public_url
        self.key = _lock_key(name)
        self._conn: Any = None

    def acquire(self) -> bool:
        conn = _pg_connect(_pg_conninfo(self.target), self.public_url)
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (self.key,)).fetchone()["got"]
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def holder(self) -> str:
        # a bigint advisory key shows in pg_locks as classid (high half), objid (low half)
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        with Database(self.target).read() as conn:
            row = conn.execute(
                "SELECT a.application_name AS app, host(a.client_addr) AS host FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = ? AND l.objid = ? AND l.objsubid = 1",
                (high, low)).fetchone()
        if row is None:
            return "another process"
        m = re.search(r"pid (\d+)", row["app"] or "")
        who = f"process {m.group(1)}" if m else "another process"
        return who if row["host"] in (None, "127.0.0.1", "::1") else f"{who} on {row['host']}"

    def release(self, *, remove: bool = False) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception:                # noqa: BLE001 - closing the session releases it too
            log.debug("advisory unlock failed", exc_info=True)
        self._conn.close()
        self._conn = None


# -- the PostgreSQL pool ---------------------------------------------------------------------

class _PgPool:
    """Idle connections to one PostgreSQL URL in this process (see the module docstring)."""

    def __init__(self, conninfo: str, public_url: str):
        self.conninfo = conninfo
        self.public_url = public_url
        self.pid = os.getpid()
        self._idle: deque[tuple[Any, float]] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(POOL_MAX)

    def get(self) -> Any:
        if not self._slots.acquire(timeout=LOCK_TIMEOUT_S):
            raise DatabaseUnavailableError(
                f"all {POOL_MAX} connections to {self.public_url} stayed busy for "
                f"{LOCK_TIMEOUT_S:.0f} s")
        try:
            while True:
                with self._lock:
                    conn, since = self._idle.pop() if self._idle else (None, 0.0)
                if conn is None:
                    return _pg_connect(self.conninfo, self.public_url)
                if conn.closed:
                    continue
                if time.monotonic() - since > POOL_CHECK_AFTER_S and not _alive(conn):
                    conn.close()
                    continue
                return conn
        except BaseException:
            self._slots.release()
            raise

    def put(self, conn: Any) -> None:
        """Back to the idle list if it is healthy and outside any transaction, else closed."""
        from psycopg.pq import TransactionStatus
        try:
            if conn.broken or conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                conn.close()
            else:
                with self._lock:
                    if len(self._idle) < POOL_IDLE:
                        self._idle.append((conn, time.monotonic()))
                        conn = None
                if conn is not None:
                    conn.close()
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = list(self._idle), deque()
        for conn, _ in idle:
            conn.close()


def _pg_connect(conninfo: str, public_url: str) -> Any:
    """A new connection (autocommit, rows as dicts); ``DatabaseUnavailableError`` with
    libpq's reason when the server cannot be reached. (A connection a forked child
    inherits is left alone: psycopg closes one only in the process that opened it.)"""
    import psycopg
    from psycopg.rows import dict_row
    try:
        return psycopg.connect(conninfo, autocommit=True, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise DatabaseUnavailableError(
            f"cannot connect to the catalog database {public_url}: {reason}") from None


def _alive(conn: Any) -> bool:
    try:
        conn.execute("")                  # an empty query: one round trip
        return True
    except Exception:                     # noqa: BLE001 - any failure: not reusable
        return False


_POOLS: dict[str, _PgPool] = {}
_POOLS_LOCK = threading.Lock()


def _pg_pool(target: str, public_url: str) -> _PgPool:
    with _POOLS_LOCK:
        pool = _POOLS.get(target)
        if pool is None or pool.pid != os.getpid():     # a forked child opens its own
            pool = _POOLS[target] = _PgPool(_pg_conninfo(target), public_url)
        return pool


def _pg_conninfo(url: str) -> str:
    """The libpq connection string of ``url`` with meter2cash's defaults where the URL
    sets nothing: an application name naming this process, a connect timeout, a lock
    timeout."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    given = conninfo_to_dict(url)
    extra: dict[str, Any] = {}
    if "application_name" not in given:     # who holds a lock: ProcessLock.holder
        extra["application_name"] = f"meter2cash pid {os.getpid()}"
    if "connect_timeout" not in given:
        extra["connect_timeout"] = CONNECT_TIMEOUT_S
    if "options" not in given:
        extra["options"] = f"-c lock_timeout={int(LOCK_TIMEOUT_S * 1000)}"
    return make_conninfo(url, **extra)


def close_pools(url: str | None = None) -> None:
    """Close this process's idle PostgreSQL connections (to ``url``, or all)."""
    with _POOLS_LOCK:
        if url is None:
            pools = list(_POOLS.values())
            _POOLS.clear()
        else:
            target = parse_db_url(url)[1]
            pools = [p for p in [_POOLS.pop(target, None)] if p is not None]
    for pool in pools:
        pool.close()
