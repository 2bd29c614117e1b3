"""The job catalog: the system of record for jobs (SQLite or PostgreSQL: :mod:`jobs.db`).

Ray keeps no durable job table (its job info lives in GCS memory, has no progress
field and no domain states), so the catalog owns the truth: state, progress, attempt,
error and result of every job, plus Idempotency-Key and natural-key dedupe.

State machine: :mod:`jobs.states` (every transition is one guarded
``UPDATE ... WHERE state IN (...)``; a transition not in ``TRANSITIONS`` raises
``ConflictError``). Terminal states never change.

Concurrency: the same database is used by the API process (or several API replicas),
Ray job-runner actors and the CLI, each call on a connection of its own
(:class:`jobs.db.Database`). Read-then-write sequences run in a write transaction:
``submit`` takes the locks of the Idempotency-Key and the natural key it checks (on
SQLite the file's one write lock, ``BEGIN IMMEDIATE``; on PostgreSQL transaction-scoped
advisory locks on those keys, so two replicas' submits of one month-end are serialised
while unrelated submits are not), and a transition that reads a job before updating it
reads it ``FOR UPDATE``. Uniqueness is also enforced by indexes: one job per
(principal, idempotency key) and one live-or-succeeded job per natural key, so even a
buggy caller cannot create duplicates.

SQLite (``sqlite:///abs/path.db``, the embedded default) is for one host: every process
that opens the file must see the same local file system. PostgreSQL
(``postgresql://user:pass@host:5432/db``) is the catalog of a deployment with API
replicas and Ray nodes on several machines.

The schema is versioned (:data:`MIGRATIONS`, applied by :meth:`JobCatalog.init_schema`
at start-up). Times are stored as int64 microseconds since the epoch (UTC) and returned
as aware UTC datetimes; ``JobRecord.to_dict`` renders them as ISO 8601 with ``Z``. Specs
and results are stored as canonical JSON text on both backends (the same bytes back).
"""
from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.errors import ConflictError, InputError, NotFoundError
from engine.timebase import from_us, to_us

from .db import Connection, Database, Migration, Migrations
from .specs import JobSpec, natural_key, parse_spec, spec_fingerprint, spec_to_dict
from .states import ACTIVE_STATES, TRANSITIONS, JobState

log = logging.getLogger(__name__)

__all__ = ["JobCatalog", "JobRecord", "IdempotencyConflict", "MIGRATIONS"]

MAX_PAGE = 500
#: the longest Idempotency-Key (the API's header limit; the CLI's --idempotency-key alike)
MAX_IDEMPOTENCY_KEY = 255


class IdempotencyConflict(ConflictError):
    """The Idempotency-Key was already used with a different request body (HTTP 422)."""


def new_job_id() -> str:
    """``job-`` + 12 random hex characters (48 bits); names Ray actors and object paths."""
    return "job-" + secrets.token_hex(6)


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    spec: dict
    state: JobState
    progress_done: int
    progress_total: int
    attempt: int
    runner: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    error: str | None
    error_type: str | None
    result: dict | None
    principal: str | None
    idempotency_key: str | None
    natural_key: str | None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def parsed_spec(self) -> JobSpec:
        return parse_spec(self.spec, source=f"job {self.id}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; times as ISO 8601 UTC with ``Z``; progress also as a fraction."""
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")
        total = self.progress_total
        return {
            "id": self.id, "kind": self.kind, "spec": self.spec, "state": self.state,
            "progress": {"done": self.progress_done, "total": total,
                         "fraction": (self.progress_done / total) if total else None},
            "attempt": self.attempt, "runner": self.runner,
            "created_at": iso(self.created_at), "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at), "updated_at": iso(self.updated_at),
            "error": self.error, "error_type": self.error_type, "result": self.result,
            "principal": self.principal, "idempotency_key": self.idempotency_key,
            "natural_key": self.natural_key,
        }


def _sql_states(states: frozenset[JobState]) -> str:
    """``'a', 'b'``: a state set as an SQL list (trusted enum values, sorted)."""
    return ", ".join(f"'{s}'" for s in sorted(states))


#: a natural key is free again once its job failed or was cancelled
_NATURAL_KEY_FREE = frozenset({JobState.FAILED, JobState.CANCELLED})
#: states whose progress a runner records
_PROGRESSING = frozenset({JobState.RUNNING, JobState.CANCELLING})

_STATES = ", ".join(f"'{s}'" for s in JobState)

#: version 1 on SQLite is the schema of the catalogs created before migrations existed
#: (every statement ``IF NOT EXISTS``), so such a file adopts it unchanged
_V1_SQLITE = f"""
CREATE TABLE IF NOT EXISTS jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    spec_json        TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,          -- sha256 of the canonical spec JSON
    state            TEXT NOT NULL CHECK (state IN ({_STATES})),
    progress_done    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    runner           TEXT,
    created_us       INTEGER NOT NULL,       -- UTC microseconds since the epoch
    started_us       INTEGER,
    finished_us      INTEGER,
    updated_us       INTEGER NOT NULL,
    error            TEXT,
    error_type       TEXT,
    result_json      TEXT,
    principal        TEXT,
    idempotency_key  TEXT,
    natural_key      TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency
    ON jobs (COALESCE(principal, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS jobs_natural_key_live
    ON jobs (natural_key) WHERE natural_key IS NOT NULL AND state NOT IN ({_sql_states(_NATURAL_KEY_FREE)});
CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_us DESC, id DESC);
-- an Idempotency-Key bound to the job its first request got, whether that request
-- created the job or matched an existing one by its natural key
CREATE TABLE IF NOT EXISTS job_idempotency_keys (
    principal        TEXT NOT NULL,          -- '' for none
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,          -- of the request's spec
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    created_us       INTEGER NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
"""

#: the same on PostgreSQL: 64-bit times; ids compare bytewise (``COLLATE "C"``, whatever
#: the database's locale) so keyset pages order exactly as on SQLite
_V1_POSTGRESQL = f"""
CREATE TABLE jobs (
    id               TEXT COLLATE "C" PRIMARY KEY,
    kind             TEXT NOT NULL,
    spec_json        TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ({_STATES})),
    progress_done    INTEGER NOT NULL DEFAULT 0,
    progress_total   INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    runner           TEXT,
    created_us       BIGINT NOT NULL,
    started_us       BIGINT,
    finished_us      BIGINT,
    updated_us       BIGINT NOT NULL,
    error            TEXT,
    error_type       TEXT,
    result_json      TEXT,
    principal        TEXT,
    idempotency_key  TEXT,
    natural_key      TEXT
);
CREATE UNIQUE INDEX jobs_idempotency
    ON jobs ((COALESCE(principal, '')), idempotency_key) WHERE idempotency_key IS NOT NULL;
-- a natural key can be long (a settlement of 10,000 named contracts) and a B-tree entry
-- may not be (~2.7 kB): uniqueness on its md5, lookups through a hash index
CREATE UNIQUE INDEX jobs_natural_key_live
    ON jobs (md5(natural_key)) WHERE natural_key IS NOT NULL AND state NOT IN ({_sql_states(_NATURAL_KEY_FREE)});
CREATE INDEX jobs_natural_key ON jobs USING hash (natural_key);
CREATE INDEX jobs_newest ON jobs (created_us DESC, id DESC);
CREATE TABLE job_idempotency_keys (
    principal        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    job_id           TEXT COLLATE "C" NOT NULL REFERENCES jobs (id),
    created_us       BIGINT NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX jobs_state ON jobs (state);
"""

#: jobs created with an Idempotency-Key before keys were bound in their own table get
#: their binding, so a key is looked up in one place
_V2_BIND_OLD_KEYS = """
INSERT INTO job_idempotency_keys (principal, idempotency_key, fingerprint, job_id, created_us)
SELECT COALESCE(principal, ''), idempotency_key, fingerprint, id, created_us
  FROM jobs WHERE idempotency_key IS NOT NULL
ON CONFLICT (principal, idempotency_key) DO NOTHING;
"""

MIGRATIONS = Migrations("jobs", (
    Migration(1, "jobs and idempotency keys", sqlite=_V1_SQLITE, postgresql=_V1_POSTGRESQL),
    Migration(2, "bind idempotency keys of older jobs", sqlite=_V2_BIND_OLD_KEYS),
))

_COLUMNS = ("id, kind, spec_json, state, progress_done, progress_total, attempt, runner, "
            "created_us, started_us, finished_us, updated_us, error, error_type, result_json, "
            "principal, idempotency_key, natural_key")


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


def _record(row: Mapping[str, Any]) -> JobRecord:
    return JobRecord(
        id=row["id"], kind=row["kind"], spec=json.loads(row["spec_json"]), state=JobState(row["state"]),
        progress_done=row["progress_done"], progress_total=row["progress_total"],
        attempt=row["attempt"], runner=row["runner"], created_at=from_us(row["created_us"]),
        started_at=_opt_dt(row["started_us"]), finished_at=_opt_dt(row["finished_us"]),
        updated_at=from_us(row["updated_us"]), error=row["error"], error_type=row["error_type"],
        result=None if row["result_json"] is None else json.loads(row["result_json"]),
        principal=row["principal"], idempotency_key=row["idempotency_key"],
        natural_key=row["natural_key"])


def _encode_cursor(created_us: int, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_us}:{job_id}".encode()).decode().rstrip("=")


_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")             # unpadded URL-safe base64
_CURSOR_BODY = re.compile(r"(?P<created>0|[1-9][0-9]{0,18}):(?P<id>[A-Za-z0-9_.:-]{1,64})")
_INT64_MAX = 2**63 - 1


def _decode_cursor(cursor: str) -> tuple[int, str]:
    """``(created_us, job_id)`` of a ``next_cursor``; ``InputError`` (HTTP 400) for
    anything :func:`_encode_cursor` cannot have produced: bad base64, not ASCII, no
    ``:``, a time that is not a non-negative 64-bit integer, a malformed job id."""
    invalid = InputError("invalid cursor: pass back the next_cursor of the previous page")
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor) or len(cursor) % 4 == 1:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    m = _CURSOR_BODY.fullmatch(raw)
    if m is None or int(m["created"]) > _INT64_MAX:
        raise invalid
    return int(m["created"]), m["id"]


class JobCatalog:
    """Jobs in the catalog database at ``db_url`` (:mod:`jobs.db`); safe to use from many
    threads and processes at once."""

    def __init__(self, db_url: str):
        self.db = Database(db_url)
        self.db_url = db_url

    @property
    def path(self) -> Path | None:
        """The SQLite file of the catalog; None on PostgreSQL."""
        return self.db.path

    def __repr__(self) -> str:
        return f"JobCatalog({self.db.public_url!r})"

    def init_schema(self) -> None:
        """Apply the catalog's pending migrations (creating the file or tables on first
        use); safe to call any number of times, from several processes at once."""
        self.db.migrate(MIGRATIONS)

    # -- submit and read -------------------------------------------------------------------
    def submit(self, spec: JobSpec, *, principal: str | None = None,
               idempotency_key: str | None = None, now_utc: datetime) -> tuple[JobRecord, bool]:
        """Create a queued job, or return the job this request is a repeat of.

        Returns ``(record, created)``. In one write transaction:

        1. same ``(principal, idempotency_key)`` and same spec fingerprint -> that job;
           same key and a different fingerprint -> ``IdempotencyConflict``;
        2. a live (queued/running/cancelling) or succeeded job with the same
           :func:`natural_key` -> that job;
        3. otherwise a new ``queued`` job.

        A key is bound to the job its first request got, in cases 2 and 3 alike, so a
        later request with the same key and another body is refused (422) even when the
        first one only matched an existing job by its natural key.
        """
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise InputError(f"an Idempotency-Key has 1 to {MAX_IDEMPOTENCY_KEY} characters, "
                             f"got {len(idempotency_key)}")
        fingerprint = spec_fingerprint(spec)
        nkey = natural_key(spec)
        now = to_us(now_utc)
        locks = [f"jobs.natural_key:{nkey}"] if nkey is not None else []
        if idempotency_key is not None:
            locks.append(f"jobs.idempotency_key:{principal or ''}:{idempotency_key}")
        with self.db.transaction(locks=locks) as conn:
            if idempotency_key is not None:
                bound = self._bound_job(conn, principal, idempotency_key)
                if bound is not None:
                    if bound["fingerprint"] != fingerprint:
                        raise IdempotencyConflict(
                            f"Idempotency-Key {idempotency_key!r} was already used for job "
                            f"{bound['id']} with a different request body")
                    return _record(bound), False
            if nkey is not None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE natural_key = ? "
                    f"AND state NOT IN ({_sql_states(_NATURAL_KEY_FREE)})", (nkey,)).fetchone()
                if row is not None:
                    self._bind(conn, principal, idempotency_key, fingerprint, row["id"], now)
                    return _record(row), False
            job_id = new_job_id()
            conn.execute(
                "INSERT INTO jobs (id, kind, spec_json, fingerprint, state, created_us, updated_us, "
                "principal, idempotency_key, natural_key) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, spec.kind, json.dumps(spec_to_dict(spec), sort_keys=True), fingerprint,
                 now, now, principal, idempotency_key, nkey))
            self._bind(conn, principal, idempotency_key, fingerprint, job_id, now)
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        log.info("job %s submitted: %s", job_id, spec.kind)
        return _record(row), True

    @staticmethod
    def _bound_job(conn: Connection, principal: str | None, key: str) -> Mapping[str, Any] | None:
        """The job ``key`` is bound to, with the fingerprint of the request that bound it."""
        return conn.execute(
            f"SELECT {', '.join('j.' + c.strip() for c in _COLUMNS.split(','))}, "
            "b.fingerprint AS fingerprint FROM job_idempotency_keys b JOIN jobs j ON "
            "j.id = b.job_id WHERE b.principal = ? AND b.idempotency_key = ?",
            (principal or "", key)).fetchone()

    @staticmethod
    def _bind(conn: Connection, principal: str | None, key: str | None,
              fingerprint: str, job_id: str, now_us: int) -> None:
        if key is not None:
            conn.execute("INSERT INTO job_idempotency_keys (principal, idempotency_key, "
                         "fingerprint, job_id, created_us) VALUES (?, ?, ?, ?, ?)",
                         (principal or "", key, fingerprint, job_id, now_us))

    def get(self, job_id: str) -> JobRecord:
        with self.db.read() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        return _record(row)

    def list(self, *, kind: str | None = None, state: str | None = None, limit: int = 50,
             cursor: str | None = None) -> tuple[list[JobRecord], str | None]:
        """Jobs newest first, keyset-paginated on ``(created_at, id)``.

        ``next_cursor`` is None on the last page. Pages stay stable while jobs are
        inserted: new jobs sort before the cursor and never shift later pages.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if state is not None and state not in set(JobState):
            raise InputError(f"unknown state {state!r}; one of {[str(s) for s in JobState]}")
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if cursor is not None:
            created_us, job_id = _decode_cursor(cursor)
            where.append("(created_us < ? OR (created_us = ? AND id < ?))")
            params += [created_us, created_us, job_id]
        sql = (f"SELECT {_COLUMNS} FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY created_us DESC, id DESC LIMIT ?")
        with self.db.read() as conn:
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        records = [_record(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(last["created_us"], last["id"])
        return records, next_cursor

    def nonterminal(self) -> list[JobRecord]:
        """Queued, running and cancelling jobs, oldest first (for reconciliation)."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state IN ({_sql_states(ACTIVE_STATES)}) "
                "ORDER BY created_us, id").fetchall()
        return [_record(r) for r in rows]

    def counts_by_state(self) -> dict[str, int]:
        """Number of jobs in every state (zeros included), for /metrics."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        counts = {str(s): 0 for s in JobState}
        counts.update({r["state"]: r["n"] for r in rows})
        return counts

    # -- transitions -------------------------------------------------------------------------
    def _transition(self, conn: Connection, job_id: str, target: JobState,
                    assignments: str = "", params: tuple = (), *, now_us: int) -> JobRecord:
        sources = sorted(TRANSITIONS[target])
        cur = conn.execute(
            f"UPDATE jobs SET state = ?, updated_us = ?{', ' + assignments if assignments else ''} "
            f"WHERE id = ? AND state IN ({', '.join('?' * len(sources))})",
            (target, now_us, *params, job_id, *sources))
        row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        if cur.rowcount != 1:
            raise ConflictError(f"job {job_id} is {row['state']}: cannot become {target}")
        return _record(row)

    def mark_running(self, job_id: str, *, attempt: int, runner: str, now_utc: datetime) -> JobRecord:
        """A runner starts attempt ``attempt`` (1, 2, ... ; must exceed the recorded one).

        From queued or running (a new attempt after a lost runner). A job already
        ``cancelling`` stays so (the new runner must finish the cancel); the attempt and
        runner are still recorded. The returned record tells the runner which it is.
        """
        now = to_us(now_utc)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT state, attempt FROM jobs WHERE id = ?" + conn.dialect.for_update,
                               (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no job {job_id!r}")
            if attempt <= row["attempt"]:
                raise ConflictError(f"job {job_id} is already at attempt {row['attempt']}; "
                                    f"attempt {attempt} is stale")
            if row["state"] == JobState.CANCELLING:
                conn.execute("UPDATE jobs SET attempt = ?, runner = ?, updated_us = ? WHERE id = ?",
                             (attempt, runner, now, job_id))
                return _record(conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
                                            (job_id,)).fetchone())
            return self._transition(
                conn, job_id, JobState.RUNNING, "attempt = ?, runner = ?, started_us = COALESCE(started_us, ?)",
                (attempt, runner, now), now_us=now)

    def set_progress(self, job_id: str, done: int, total: int, now_utc: datetime) -> None:
        """Record progress (partitions done / total) of a running or cancelling job.

        Progress is advisory: on a job in any other state this is a no-op, so a runner
        racing a cancel never fails because of a progress write.
        """
        if not 0 <= done <= total:
            raise ValueError(f"progress {done}/{total} out of range")
        with self.db.transaction() as conn:
            conn.execute("UPDATE jobs SET progress_done = ?, progress_total = ?, updated_us = ? "
                         f"WHERE id = ? AND state IN ({_sql_states(_PROGRESSING)})",
                         (done, total, to_us(now_utc), job_id))

    def mark_succeeded(self, job_id: str, result: dict, now_utc: datetime) -> JobRecord:
        now = to_us(now_utc)
        with self.db.transaction() as conn:
            return self._transition(
                conn, job_id, JobState.SUCCEEDED,
                "result_json = ?, finished_us = ?, progress_done = progress_total, error = NULL, "
                "error_type = NULL", (json.dumps(result, sort_keys=True), now), now_us=now)

    def mark_failed(self, job_id: str, error: str, error_type: str, now_utc: datetime) -> JobRecord:
        now = to_us(now_utc)
        with self.db.transaction() as conn:
            return self._transition(conn, job_id, JobState.FAILED,
                                    "error = ?, error_type = ?, finished_us = ?",
                                    (error, error_type, now), now_us=now)

    def request_cancel(self, job_id: str, now_utc: datetime) -> JobRecord:
        """Ask a job to stop: queued -> cancelled at once; running -> cancelling (the
        runner finishes the cancel); cancelling -> unchanged (idempotent); a terminal
        job -> ``ConflictError``."""
        now = to_us(now_utc)
        with self.db.transaction() as conn:
            row = conn.execute("SELECT state FROM jobs WHERE id = ?" + conn.dialect.for_update,
                               (job_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no job {job_id!r}")
            state = row["state"]
            if state == JobState.QUEUED:
                return self._transition(conn, job_id, JobState.CANCELLED, "finished_us = ?", (now,), now_us=now)
            if state == JobState.RUNNING:
                return self._transition(conn, job_id, JobState.CANCELLING, now_us=now)
            if state == JobState.CANCELLING:
                return _record(conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?",
                                            (job_id,)).fetchone())
            raise ConflictError(f"job {job_id} is already {state}")

    def mark_cancelled(self, job_id: str, now_utc: datetime) -> JobRecord:
        now = to_us(now_utc)
        with self.db.transaction() as conn:
            return self._transition(conn, job_id, JobState.CANCELLED, "finished_us = ?", (now,), now_us=now)
