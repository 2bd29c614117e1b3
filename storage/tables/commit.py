"""One commit of data files: add the files a writer wrote, retire the ones it rewrote,
exactly on top of the version it planned from -- or plan again.

A writer (:mod:`.rewrite` for ingest, :mod:`storage.maintenance` for compaction)
hands :func:`commit_changes` a *planner*: given the base version (None: no table
yet) it reads what it needs, writes its data files and returns the
:class:`Changes`. The commit is then attempted at ``base + 1`` only
(``max_commit_retries=0``: delta-rs does not rebase it on its own). If another
writer committed first, the commits in between are read from the log
(:meth:`.log.DeltaLog.log_entry`) and checked against what the plan relied on:

* a file the plan retires was retired by another commit -> **plan again**;
* another commit added a file that may hold a key the plan writes (same values of
  the key's partition columns, ``TableSpec.key_partitions``, and an
  ``interval_start_utc`` range overlapping the plan's, or no statistics) -> **plan
  again**: the plan looked for those keys in the base only;
* otherwise the same actions are committed on the new head.

So two writers never both append a row for one key (which would make the table
mean one thing to meter2cash and another to a plain Delta reader), and a writer
never retires a file another already rewrote. Files of an abandoned plan are
deleted at once.

Each commit records in its ``commitInfo``: ``m2c.commit_id``, ``m2c.operation``,
``m2c.rows_added``, ``m2c.metadata`` (the caller's JSON) and ``m2c.keys_unique``
(:data:`.log.KEYS_UNIQUE`): True when the base had unique keys (or the commit
establishes it: a new table, a full dedupe) and the commit keeps them so.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from engine.errors import StorageError

from ..errors import storage_errors
from .datafiles import DataFile, remove_actions
from .log import KEYS_UNIQUE, DeltaLog, LogEntry
from .scan import STATS_MARGIN_US
from .specs import TableSpec

log = logging.getLogger(__name__)

#: plans (and rebases) tried before a writer gives up under contention
MAX_ATTEMPTS = 32

#: Delta table properties of a table created by this version: corrections rewrite
#: the files holding the rows they supersede (remove actions with ``dataChange``,
#: so not ``delta.appendOnly``), and the log is kept forever (every version must
#: stay readable for as-of reads and multi-decade rebills; data files are removed
#: only by ``m2c tables vacuum``, which keeps every version a lineage names);
#: delta-rs writes a checkpoint every ``delta.checkpointInterval`` commits.
TABLE_CONFIGURATION = {
    "delta.appendOnly": "false",
    "delta.enableExpiredLogCleanup": "false",
    "delta.logRetentionDuration": "interval 36500 days",
    "delta.deletedFileRetentionDuration": "interval 36500 days",
    "delta.checkpointInterval": "50",
}


@dataclass(frozen=True)
class Reach:
    """Where the keys a plan writes can be: one set of values of the key's partition
    columns and the ``interval_start_utc`` range (None: the whole of them)."""
    partition: tuple[tuple[str, str], ...]
    min_us: int | None = None
    max_us: int | None = None


@dataclass
class Changes:
    """What one commit does: files to add, files to retire, and what the plan relied on."""
    operation: str                       # m2c.operation: "ingest", "optimize", ...
    files: list[DataFile]
    retired: pa.Table                    # rows of Snapshot.files retired by the commit
    rows_added: int
    #: rows change for a reader (ingest; a compaction that drops superseded rows) or
    #: only their files (a compaction of unique rows: Delta's ``dataChange=false``)
    data_change: bool = True
    #: True: the table has unique keys after this commit whatever the base had
    establishes_unique: bool = False
    reach: list[Reach] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)   # for the caller's report

    @property
    def empty(self) -> bool:
        """No file added or retired (committed all the same when it establishes unique
        keys: the commit that says so)."""
        return not self.files and self.retired.num_rows == 0


Planner = Callable[[int | None], Changes]


def commit_changes(delta_log: DeltaLog, spec: TableSpec, plan: Planner, *,
                   refreshed: bool = False) -> tuple[int | None, Changes]:
    """Plan on the current head and commit (see the module docstring); the new version
    and the changes committed. Nothing to commit: ``(head version, changes)``.
    ``refreshed``: the caller has just brought the head up to date (saves a log read)."""
    name = spec.name
    for attempt in range(MAX_ATTEMPTS):
        with delta_log.locked_head(name, refresh=not (refreshed and attempt == 0)) as dt:
            base = None if dt is None else int(dt.version())
            changes = plan(base)
            if changes.empty and not changes.establishes_unique:
                return base, changes
            while True:
                if _try_commit(delta_log, spec, dt, base, changes):
                    version = 0 if base is None else base + 1
                    return version, changes
                head = delta_log.head(name)
                moved = [delta_log.log_entry(name, v) for v in range(
                    0 if base is None else base + 1, int(head.version()) + 1)]
                if base is None or _conflicts(spec, changes, moved):
                    _discard(delta_log, spec, changes)
                    log.info("commit to %s: another writer changed what the plan read; "
                             "planning again", name)
                    break
                dt, base = head, int(head.version())
        time.sleep(min(0.01 * 2 ** attempt, 0.5))
    raise StorageError(f"commit to {name}: still conflicting with other writers after "
                       f"{MAX_ATTEMPTS} attempts")


def _try_commit(delta_log: DeltaLog, spec: TableSpec, dt: Any, base: int | None,
                changes: Changes) -> bool:
    """One commit attempt at ``base + 1``; False if another commit took that version."""
    from deltalake import CommitProperties, PostCommitHookProperties
    from deltalake.exceptions import CommitFailedError, DeltaError
    from deltalake.transaction import create_table_with_add_actions
    unique = changes.establishes_unique or base is None or delta_log.keys_unique(spec.name, base)
    info = {"m2c.commit_id": uuid.uuid4().hex, "m2c.operation": changes.operation,
            "m2c.rows_added": changes.rows_added, KEYS_UNIQUE: bool(unique),
            "m2c.metadata": json.dumps(changes.metadata, sort_keys=True, default=str)}
    props = CommitProperties(custom_metadata=info, max_commit_retries=0)
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
    adds = [f.add_action(data_change=changes.data_change) for f in changes.files]
    with storage_errors("commit", spec.name):
        try:
            if base is None:
                create_table_with_add_actions(
                    delta_log.uri(spec.name), _delta_schema(spec), adds, mode="error",
                    partition_by=list(spec.partition_by), configuration=TABLE_CONFIGURATION,
                    storage_options=delta_log.store.delta_storage_options(),
                    commit_properties=props, post_commithook_properties=hooks)
            else:
                removes = remove_actions(spec, changes.retired, data_change=changes.data_change)
                dt.create_write_transaction([*adds, *removes], "append", spec.schema,
                                            list(spec.partition_by), commit_properties=props,
                                            post_commithook_properties=hooks)
        except (CommitFailedError, DeltaError) as exc:
            head = delta_log.head(spec.name)
            if head is not None and (base is None or int(head.version()) > base):
                return False                  # another writer took base + 1
            raise StorageError(f"commit to {spec.name} failed: {exc}") from exc
    entry = delta_log.log_entry(spec.name, 0 if base is None else base + 1)
    if entry is None or (entry.info or {}).get("m2c.commit_id") != info["m2c.commit_id"]:
        raise StorageError(f"commit to {spec.name}: version {0 if base is None else base + 1} "
                           "is not the commit just written")
    log.info("%s %s: %d file(s) added, %d retired -> version %d", changes.operation, spec.name,
             len(changes.files), changes.retired.num_rows, 0 if base is None else base + 1)
    return True


def _conflicts(spec: TableSpec, changes: Changes, moved: list[LogEntry | None]) -> bool:
    """Do the commits ``moved`` (after the plan's base) touch what the plan relied on?"""
    retired = set(changes.retired.column("rel_path").to_pylist())
    for entry in moved:
        if entry is None:
            return True
        if any(r.rel_path in retired for r in entry.removes):
            return True
        if (changes.establishes_unique and (entry.adds or entry.removes)
                and KEYS_UNIQUE not in (entry.info or {})):
            return True                      # written the old way: may hold any key again
        for add in entry.adds:
            values = dict(add.partition)
            for reach in changes.reach:
                if any(values.get(c) != v for c, v in reach.partition):
                    continue
                if (reach.min_us is None or reach.max_us is None or add.min_us is None
                        or add.max_us is None
                        or (add.max_us + STATS_MARGIN_US >= reach.min_us
                            and add.min_us <= reach.max_us)):
                    return True
    return False


def _discard(delta_log: DeltaLog, spec: TableSpec, changes: Changes) -> None:
    """Delete the files of a plan that will not be committed (best effort: an orphan
    is harmless, ``vacuum`` would remove it)."""
    fs, _ = delta_log.filesystem()
    for f in changes.files:
        try:
            fs.delete_file(delta_log.table_path(spec.name, f.rel_path))
        except OSError:
            log.warning("could not delete the uncommitted file %s/%s", spec.name, f.rel_path)


def _delta_schema(spec: TableSpec) -> Any:
    from deltalake import Schema
    return Schema.from_arrow(spec.schema)


__all__ = ["commit_changes", "Changes", "Reach", "Planner", "TABLE_CONFIGURATION",
           "MAX_ATTEMPTS"]
