"""Appends: every ingest is exactly one Delta commit, and one commit is one data version.

Rows are written sorted by partition then key, one row per key (a commit carrying the
same key twice is refused), so every data file is sorted and duplicate-free: what the
fast paths of :mod:`.merge` rely on. Columns named in ``TableSpec.delta_encoded`` are
written DELTA_BINARY_PACKED without a dictionary; strings keep Parquet's dictionary.

Each commit carries ``m2c.commit_id`` (found again in the log to learn the version it
landed at, whatever other writers committed around it) and ``m2c.metadata``.
Concurrent writers are safe: delta-rs commits with a create-only put of the next log
entry (``conditional_put: etag`` on S3) and retries append/append conflicts.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pyarrow as pa

from engine.errors import InputError

from ..errors import storage_errors
from ..keys import duplicate_pair, sort_order
from .log import DeltaLog
from .specs import TableSpec, table_spec

log = logging.getLogger(__name__)

#: Delta table properties set at creation: append-only, and the log is kept forever
#: (every version must stay readable for as-of reads and multi-decade rebills);
#: delta-rs writes a checkpoint every ``delta.checkpointInterval`` commits.
TABLE_CONFIGURATION = {
    "delta.appendOnly": "true",
    "delta.enableExpiredLogCleanup": "false",
    "delta.logRetentionDuration": "interval 36500 days",
    "delta.deletedFileRetentionDuration": "interval 36500 days",
    "delta.checkpointInterval": "50",
}


def append_commit(delta_log: DeltaLog, table: str, data: pa.Table, *,
           metadata: dict[str, Any] | None = None) -> int:
    """Append ``data`` as ONE commit and return the new data version.

    ``data`` must carry the table's columns (it is cast to the schema) with unique
    keys (``InputError`` otherwise). ``metadata`` (JSON-serialisable) is recorded in
    the commit and returned by :meth:`.log.DeltaLog.history`.
    """
    from deltalake import CommitProperties, PostCommitHookProperties, write_deltalake
    spec = table_spec(table)
    data = _in_write_order(spec, data)
    commit_id = uuid.uuid4().hex
    custom = {"m2c.commit_id": commit_id,
              "m2c.metadata": json.dumps(metadata or {}, sort_keys=True, default=str)}
    with delta_log.locked_head(table) as dt, storage_errors("append", table):
        target = dt if dt is not None else delta_log.uri(table)
        write_deltalake(target, data, mode="append", partition_by=list(spec.partition_by),
                        storage_options=delta_log.store.delta_storage_options(),
                        configuration=TABLE_CONFIGURATION if dt is None else None,
                        commit_properties=CommitProperties(custom_metadata=custom),
                        writer_properties=_writer_properties(spec),
                        post_commithook_properties=PostCommitHookProperties(
                            create_checkpoint=True, cleanup_expired_logs=False))
        version = delta_log.find_commit(table, commit_id)
    log.info("appended %d rows to %s as version %d", data.num_rows, table, version)
    return version


def _in_write_order(spec: TableSpec, data: pa.Table) -> pa.Table:
    """``data`` cast to the table's schema and sorted by partition then key;
    ``InputError`` if a key appears twice."""
    data = data.select(spec.schema.names).cast(spec.schema)
    order = sort_order(data, list(dict.fromkeys((*spec.partition_by, *spec.key))))
    if order is not None:
        data = data.take(order)
    if duplicate_pair(data, list(spec.key)) is not None:
        raise InputError(f"append to {spec.name}: the same key appears twice in one commit; "
                         f"a commit holds at most one row per ({', '.join(spec.key)})")
    return data


def _writer_properties(spec: TableSpec) -> Any:
    """Parquet writer properties: the ``delta_encoded`` columns DELTA_BINARY_PACKED
    without a dictionary (None: delta-rs defaults for every column)."""
    from deltalake import ColumnProperties, WriterProperties
    if not spec.delta_encoded:
        return None
    return WriterProperties(column_properties={
        c: ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED")
        for c in spec.delta_encoded})


__all__ = ["append_commit", "TABLE_CONFIGURATION"]
