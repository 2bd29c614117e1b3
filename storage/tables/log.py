"""The Delta log of each table: data versions, as-of resolution, commit history, the
file list (snapshot) of a version, and what each commit did.

One :class:`DeltaLog` per :class:`~storage.tables.Tables`: it keeps each table's
latest ``DeltaTable`` (the *head*, updated incrementally), and caches what never
changes once written -- a version's file list (LRU, :data:`SNAPSHOT_CACHE` entries),
a log entry's ``commitInfo`` and its file actions (:class:`LogEntry`) -- so a read
pinned to a known version costs no log round trip. A lock keeps the head still while
it is read or written through.

**Unique keys.** A commit written by the in-place writer says in its ``commitInfo``
whether, at its version, every key has at most one row in the table
(``m2c.keys_unique``, :data:`KEYS_UNIQUE`). A reader of such a version needs no
dedupe (:attr:`Snapshot.keys_unique`). Commits that add or remove no file (table
properties, delta-rs's VACUUM START/END) change nothing there: the answer is the
one of the last commit that did, looked up at most :data:`NEUTRAL_LOOKBACK` commits
back. Any other commit (one written the old way, by another tool, or a version
whose log entry is gone) answers no, and reads dedupe: slower, never wrong.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError, StorageError

from ..errors import storage_errors
from ..objectstore import ObjectStore
from .specs import TableSpec, table_spec

#: snapshots (file lists of one version) kept per instance, least recently used dropped
SNAPSHOT_CACHE = 32
#: parsed log entries (:class:`LogEntry`) kept per instance
LOG_ENTRY_CACHE = 256
#: the ``commitInfo`` key of a commit after which every key has at most one row
KEYS_UNIQUE = "m2c.keys_unique"
#: commits without file actions looked back through for :data:`KEYS_UNIQUE`
NEUTRAL_LOOKBACK = 16


@dataclass(frozen=True)
class Snapshot:
    """The file list of one table version (immutable, so cached)."""
    version: int
    #: one row per data file: ``path`` (filesystem path), ``rel_path`` (relative to
    #: the table), ``size`` (bytes), ``num_records``, the partition values (strings),
    #: ``min_us``/``max_us`` (``interval_start_utc`` range from the log's statistics)
    #: and ``max_minutes`` (longest interval; meter); statistics are null where the
    #: log has none
    files: pa.Table
    #: every key has at most one row at this version (see the module docstring): reads
    #: skip the dedupe
    keys_unique: bool = False
    #: the table's ``delta.appendOnly`` at this version (a table written the old way:
    #: corrections appended, superseded on read)
    append_only: bool = False


@dataclass(frozen=True)
class FileRef:
    """A data file named by a log entry's add or remove action."""
    rel_path: str
    partition: tuple[tuple[str, str | None], ...]
    #: ``interval_start_utc`` range from the add's statistics (None: unknown, or a remove)
    min_us: int | None = None
    max_us: int | None = None


@dataclass(frozen=True)
class LogEntry:
    """What one commit did, read from its ``_delta_log`` JSON."""
    version: int
    info: dict | None
    adds: tuple[FileRef, ...]
    removes: tuple[FileRef, ...]


class DeltaLog:
    """The Delta logs of one object store's tables (see the module docstring)."""

    def __init__(self, store: ObjectStore):
        self.store = store
        self._lock = threading.RLock()
        self._snapshots: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()
        self._heads: dict[str, Any] = {}
        self._commits: dict[tuple[str, int], dict | None] = {}
        self._entries: OrderedDict[tuple[str, int], LogEntry | None] = OrderedDict()
        self._fs: Any = None

    def uri(self, name: str) -> str:
        return self.store.delta_table_uri(table_spec(name).name)

    def table_base(self, name: str) -> str:
        """The table's folder as a path of :meth:`filesystem`."""
        uri = self.uri(name)
        return self.store.arrow_path(uri) if self.store.is_s3 else uri

    def table_path(self, name: str, rel_path: str) -> str:
        """A file of the table (``rel_path`` relative to it) as a path of :meth:`filesystem`."""
        return f"{self.table_base(name)}/{rel_path}"

    def filesystem(self) -> Any:
        """``(pyarrow filesystem, root)`` of the store, built once."""
        if self._fs is None:
            self._fs = self.store.arrow_filesystem()
        return self._fs

    # -- versions ---------------------------------------------------------------------

    def head(self, name: str, *, refresh: bool = True) -> Any:
        """The latest snapshot's DeltaTable (kept and updated incrementally), or None.
        ``refresh=False``: as last seen by this instance, when the caller has just
        refreshed it (a commit still goes on top of the real head or is redone)."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError
        with self._lock, storage_errors("open table", name):
            dt = self._heads.get(name)
            if dt is not None:
                if refresh:
                    dt.update_incremental()
                return dt
            try:
                dt = DeltaTable(self.uri(name), storage_options=self.store.delta_storage_options())
            except TableNotFoundError:
                return None
            self._heads[name] = dt
            return dt

    @contextmanager
    def locked_head(self, name: str, *, refresh: bool = True) -> Iterator[Any]:
        """The head (or None), with the lock held until the block ends: a writer commits
        through it and finds its commit before any other thread of this instance moves it."""
        with self._lock:
            yield self.head(name, refresh=refresh)

    def _known_version(self, table: str) -> int | None:
        """The head version this instance has already seen (no I/O), or None."""
        with self._lock:
            dt = self._heads.get(table)
            return None if dt is None else int(dt.version())

    def version(self, table: str) -> int | None:
        """The current data version of ``table``; None if nothing was ever written."""
        dt = self.head(table)
        return None if dt is None else int(dt.version())

    def resolve_as_of(self, table: str, as_of: int | datetime | None) -> int | None:
        """The data version an ``as_of`` designates (see :mod:`storage.tables`).

        ``None`` -> current version (None if the table does not exist yet). A version
        number that does not exist, or an instant before the first commit, raises
        ``InputError``.
        """
        if isinstance(as_of, int) and not isinstance(as_of, bool) and as_of >= 0:
            known = self._known_version(table)
            if known is not None and as_of <= known:
                return as_of                   # versions are immutable: no log round trip
        current = self.version(table)
        if as_of is None:
            return current
        if isinstance(as_of, bool) or not isinstance(as_of, (int, datetime)):
            raise InputError(f"as_of must be a data version (int) or an aware datetime, "
                             f"got {as_of!r}")
        if current is None:
            raise InputError(f"table {table!r} has no data yet (asked as of {as_of!r})")
        if isinstance(as_of, int):
            return _existing_version(table, as_of, current)
        return self._version_at(table, as_of)

    def _version_at(self, table: str, as_of: datetime) -> int:
        """The latest version committed at or before the aware instant ``as_of``."""
        if as_of.tzinfo is None:
            raise InputError(f"as_of datetime {as_of!r} must be timezone-aware")
        at_ms = int(as_of.timestamp() * 1000)
        candidates = [h["version"] for h in self._raw_history(table) if h["timestamp"] <= at_ms]
        if not candidates:
            raise InputError(f"{table} has no data version committed at or before "
                             f"{as_of.isoformat()}")
        return max(candidates)

    # -- commits ----------------------------------------------------------------------

    def commit_info(self, table: str, version: int) -> dict | None:
        """The ``commitInfo`` of one log entry, read from ``_delta_log`` (cached: immutable).

        Read from the log files rather than ``DeltaTable.history()``, whose version
        labels are wrong when a commit lands while the table is being loaded
        (observed with deltalake 1.6 under concurrent appends).
        """
        key = (table, version)
        with self._lock:
            if key in self._commits:
                return self._commits[key]
        raw = self.store.get_or_none(f"tables/{table}/_delta_log/{version:020d}.json")
        info = None
        if raw is not None:
            for line in raw.splitlines():
                if b'"commitInfo"' in line:
                    info = {**json.loads(line)["commitInfo"], "version": version}
                    break
            with self._lock:
                self._commits[key] = info
        return info

    def _raw_history(self, table: str) -> list[dict]:
        """commitInfo of every version up to the current one, oldest first."""
        current = self.version(table)
        if current is None:
            return []
        with storage_errors("history", table):
            return [c for v in range(current + 1) if (c := self.commit_info(table, v))]

    def history(self, table: str) -> list[dict]:
        """Commits of ``table``, oldest first: ``version``, ``timestamp`` (ISO UTC),
        ``operation``, ``rows_added`` and the ingest ``metadata`` (source files ...)."""
        return sorted((_commit_summary(h) for h in self._raw_history(table)),
                      key=lambda d: d["version"])

    def find_commit(self, table: str, commit_id: str) -> int:
        """The version holding the commit tagged ``m2c.commit_id`` = ``commit_id`` (other
        writers may have committed around it), searched from the head down."""
        head = self.version(table)
        if head is None:
            raise StorageError(f"append to {table}: table missing after commit")
        for v in range(head, -1, -1):
            info = self.commit_info(table, v)
            if info and info.get("m2c.commit_id") == commit_id:
                return v
        raise StorageError(f"append to {table}: commit {commit_id} not found in the log")

    def log_entry(self, table: str, version: int) -> LogEntry | None:
        """The commit of ``version``: its ``commitInfo`` and file actions (cached:
        immutable); None if its log entry does not exist (any more)."""
        key = (table, version)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        with storage_errors("read table log", f"{table}@v{version}"):
            raw = self.store.get_or_none(f"tables/{table}/_delta_log/{version:020d}.json")
        entry = None if raw is None else _parse_entry(version, raw)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > LOG_ENTRY_CACHE:
                self._entries.popitem(last=False)
            if entry is not None:
                self._commits[key] = entry.info
        return entry

    def keys_unique(self, table: str, version: int) -> bool:
        """Does every key have at most one row in ``table`` at ``version``? From the
        commits' :data:`KEYS_UNIQUE` (see the module docstring); False when unsure."""
        for v in range(version, max(version - NEUTRAL_LOOKBACK, -1), -1):
            entry = self.log_entry(table, v)
            if entry is None or entry.info is None:
                return False
            flag = entry.info.get(KEYS_UNIQUE)
            if flag is not None:
                return flag is True
            if entry.adds or entry.removes:
                return False
        return False

    # -- snapshots --------------------------------------------------------------------

    def snapshot(self, name: str, version: int) -> Snapshot:
        """The file list of ``name`` at ``version`` (cached)."""
        key = (name, version)
        with self._lock:
            snap = self._snapshots.get(key)
            if snap is not None:
                self._snapshots.move_to_end(key)
                return snap
        spec = table_spec(name)
        adds, config = self._add_actions(name, version)
        append_only = config.get("delta.appendOnly", "false").lower() == "true"
        snap = Snapshot(version, _file_list(spec, adds, self.table_base(name)),
                        keys_unique=not append_only and self.keys_unique(name, version),
                        append_only=append_only)
        with self._lock:
            self._snapshots[key] = snap
            while len(self._snapshots) > SNAPSHOT_CACHE:
                self._snapshots.popitem(last=False)
        return snap

    def _add_actions(self, name: str, version: int) -> tuple[pa.Table, dict[str, str]]:
        """The log's add actions (flattened) of ``name`` at ``version`` and the table's
        configuration then: from the head when it is at that version, else from the log
        loaded at that version."""
        from deltalake import DeltaTable
        with storage_errors("read table log", f"{name}@v{version}"):
            with self._lock:                  # the head must not move while it is read
                head = self._heads.get(name)
                if head is not None and head.version() == version:
                    return (pa.table(head.get_add_actions(flatten=True)),
                            dict(head.metadata().configuration))
            dt = DeltaTable(self.uri(name), version=version,
                            storage_options=self.store.delta_storage_options())
            return pa.table(dt.get_add_actions(flatten=True)), dict(dt.metadata().configuration)


def _existing_version(table: str, version: int, current: int) -> int:
    if not 0 <= version <= current:
        raise InputError(f"{table} data version {version} does not exist "
                         f"(versions are 0..{current})")
    return version


def _file_list(spec: TableSpec, adds: pa.Table, table_base: str) -> pa.Table:
    """:attr:`Snapshot.files` from the log's add actions."""
    rel = _unquoted(adds.column("path"))
    cols = {"path": pc.binary_join_element_wise(table_base, rel, "/"),
            "rel_path": rel,
            "size": adds.column("size_bytes").cast(pa.int64()),
            "num_records": adds.column("num_records")}
    for p in spec.partition_by:
        cols[p] = adds.column(f"partition.{p}").cast(pa.string())
    # per-file interval_start_utc range from the log's statistics (null if absent)
    for stat in ("min", "max"):
        cols[f"{stat}_us"] = _int_stat(adds, f"{stat}.interval_start_utc")
    # the longest interval in each file (meter table): how far its rows can reach
    cols["max_minutes"] = _int_stat(adds, "max.interval_minutes")
    return pa.table(cols)


def _unquoted(paths: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The log's percent-encoded paths decoded (in Arrow; only those with a ``%`` go
    through Python: partition values with characters outside [A-Za-z0-9_.-~])."""
    paths = pa.chunked_array([paths]) if isinstance(paths, pa.Array) else paths
    paths = paths.combine_chunks().cast(pa.string())
    escaped = pc.match_substring(paths, "%")
    if not pc.any(escaped).as_py():
        return paths
    out = paths.to_pylist()
    for i in pc.indices_nonzero(escaped).to_pylist():
        out[i] = unquote(out[i])
    return pa.array(out, pa.string())


def _int_stat(adds: pa.Table, column: str) -> pa.Array | pa.ChunkedArray:
    """One statistics column of the add actions as int64 (all null if the log has none)."""
    if column in adds.column_names:
        return adds.column(column).cast(pa.int64())
    return pa.nulls(adds.num_rows, pa.int64())


def _parse_entry(version: int, raw: bytes) -> LogEntry:
    """A :class:`LogEntry` from the newline-delimited JSON of one commit."""
    info = None
    adds: list[FileRef] = []
    removes: list[FileRef] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "commitInfo" in action:
            info = {**action["commitInfo"], "version": version}
        elif "add" in action:
            a = action["add"]
            lo, hi = _time_stats(a.get("stats"))
            adds.append(FileRef(unquote(a["path"]), _partition(a), lo, hi))
        elif "remove" in action:
            removes.append(FileRef(unquote(action["remove"]["path"]), _partition(action["remove"])))
    return LogEntry(version, info, tuple(adds), tuple(removes))


def _partition(action: dict) -> tuple[tuple[str, str | None], ...]:
    return tuple(sorted((action.get("partitionValues") or {}).items()))


def _time_stats(stats: str | None) -> tuple[int | None, int | None]:
    """``interval_start_utc`` min and max (UTC us) from an add's statistics; the
    maximum widened by the millisecond the statistics may have truncated."""
    if not stats:
        return None, None
    doc = json.loads(stats)
    lo = (doc.get("minValues") or {}).get("interval_start_utc")
    hi = (doc.get("maxValues") or {}).get("interval_start_utc")
    if lo is None or hi is None:
        return None, None
    return _iso_us(lo), _iso_us(hi) + 1_000


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _iso_us(text: str) -> int:
    """UTC microseconds of a statistics timestamp (``2026-10-01T05:00:00.000Z``)."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return (t - _EPOCH) // timedelta(microseconds=1)


def _commit_summary(h: dict) -> dict:
    """One entry of :meth:`DeltaLog.history` from a raw ``commitInfo``."""
    meta = h.get("m2c.metadata")
    try:
        meta = json.loads(meta) if meta else {}
    except (TypeError, ValueError):
        meta = {"raw": meta}
    ts = datetime.fromtimestamp(h["timestamp"] / 1000, tz=timezone.utc)
    return {"version": int(h["version"]),
            "timestamp": ts.isoformat().replace("+00:00", "Z"),
            "operation": h.get("operation"),
            "rows_added": (h.get("operationMetrics") or {}).get("num_added_rows",
                                                                   h.get("m2c.rows_added")),
            "commit_id": h.get("m2c.commit_id"),
            "metadata": meta}


__all__ = ["DeltaLog", "Snapshot", "LogEntry", "FileRef", "SNAPSHOT_CACHE", "KEYS_UNIQUE",
           "NEUTRAL_LOOKBACK"]
