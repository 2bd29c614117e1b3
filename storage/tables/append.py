"""Writes: every write is exactly one Delta commit, and one commit is one data version.

:func:`append_commit` is the one entry. How a commit supersedes depends on the table:

* **A table created by this version** (``delta.appendOnly`` false,
  :data:`.commit.TABLE_CONFIGURATION`): supersession *inside the table*
  (:mod:`.rewrite`): rows with new keys are appended; a file holding a row that a
  written row supersedes is rewritten in the same commit. Every Delta reader sees
  one row per key.
* **A table written the old way** (``delta.appendOnly`` true,
  :data:`LEGACY_CONFIGURATION`): every row is appended and the latest row per key
  wins on read, in meter2cash only (:mod:`.merge`). ``m2c tables optimize``
  upgrades such a table (:mod:`storage.maintenance`); until then it is written as
  it always was (:func:`append_on_read`).

Rows are written sorted by partition then key, one row per key (a commit carrying
the same key twice is refused), so every data file is sorted and duplicate-free:
what the fast paths of :mod:`.merge` rely on. Columns named in
``TableSpec.delta_encoded`` are written DELTA_BINARY_PACKED without a dictionary;
strings keep Parquet's dictionary.

Each commit carries ``m2c.commit_id`` and ``m2c.metadata``. Concurrent writers are
safe: commits are create-only puts of the next log entry (``conditional_put: etag``
on S3); see :mod:`.commit` for how an in-place write is planned again when another
one got there first.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pyarrow as pa

from ..errors import storage_errors
from .commit import TABLE_CONFIGURATION
from .datafiles import in_write_order
from .log import DeltaLog
from .rewrite import upsert_commit
from .specs import TableSpec, table_spec

log = logging.getLogger(__name__)

#: Delta table properties of a table written before supersession moved into the table:
#: append-only, the log and every file kept forever
LEGACY_CONFIGURATION = {**TABLE_CONFIGURATION, "delta.appendOnly": "true"}


def append_commit(delta_log: DeltaLog, table: str, data: pa.Table, *,
                  metadata: dict[str, Any] | None = None) -> int:
    """Write ``data`` as ONE commit and return the new data version.

    ``data`` must carry the table's columns (it is cast to the schema) with unique
    keys (``InputError`` otherwise). ``metadata`` (JSON-serialisable) is recorded in
    the commit and returned by :meth:`.log.DeltaLog.history`.
    """
    if is_append_only(delta_log, table):
        return append_on_read(delta_log, table, data, metadata=metadata)
    return upsert_commit(delta_log, table, data, metadata=metadata, refreshed=True)


def is_append_only(delta_log: DeltaLog, table: str) -> bool:
    """Is ``table`` written the old way (``delta.appendOnly``)? False if it does not exist."""
    dt = delta_log.head(table)
    if dt is None:
        return False
    return dt.metadata().configuration.get("delta.appendOnly", "false").lower() == "true"


def append_on_read(delta_log: DeltaLog, table: str, data: pa.Table, *,
                   metadata: dict[str, Any] | None = None) -> int:
    """Append ``data`` as ONE commit, superseded rows left to the readers (the old way;
    a missing table is created so, append-only). The version is found again by the
    commit's ``m2c.commit_id``, whatever other writers committed around it."""
    from deltalake import CommitProperties, PostCommitHookProperties, write_deltalake
    spec = table_spec(table)
    data = in_write_order(spec, data)
    commit_id = uuid.uuid4().hex
    custom = {"m2c.commit_id": commit_id,
              "m2c.metadata": json.dumps(metadata or {}, sort_keys=True, default=str)}
    with delta_log.locked_head(table) as dt, storage_errors("append", table):
        target = dt if dt is not None else delta_log.uri(table)
        write_deltalake(target, data, mode="append", partition_by=list(spec.partition_by),
                        storage_options=delta_log.store.delta_storage_options(),
                        configuration=LEGACY_CONFIGURATION if dt is None else None,
                        commit_properties=CommitProperties(custom_metadata=custom),
                        writer_properties=_writer_properties(spec),
                        post_commithook_properties=PostCommitHookProperties(
                            create_checkpoint=True, cleanup_expired_logs=False))
        version = delta_log.find_commit(table, commit_id)
    log.info("appended %d rows to %s as version %d", data.num_rows, table, version)
    return version


def _writer_properties(spec: TableSpec) -> Any:
    """Parquet writer properties: the ``delta_encoded`` columns DELTA_BINARY_PACKED
    without a dictionary (None: delta-rs defaults for every column)."""
    from deltalake import ColumnProperties, WriterProperties
    if not spec.delta_encoded:
        return None
    return WriterProperties(column_properties={
        c: ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED")
        for c in spec.delta_encoded})


__all__ = ["append_commit", "append_on_read", "is_append_only", "TABLE_CONFIGURATION",
           "LEGACY_CONFIGURATION"]
