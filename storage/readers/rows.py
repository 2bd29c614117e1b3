"""What every reader returns: canonical rows with their source line, before ingest.

Readers turn a file into these tables; ``storage.ingest`` then validates references
against the site registry, adds provenance (``source_file``, ``source_sha256``,
``ingested_at_utc``) and the partition ``month``, and appends to the stored table
(``engine.schema``). ``line`` is the 1-based file line (or Parquet row) of each row,
kept so that every later error can still name it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from engine.schema import INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA

PROVENANCE_AND_PARTITION = ("source_file", "source_sha256", "ingested_at_utc", "month")


def _rows_schema(stored: pa.Schema) -> pa.Schema:
    fields = [f for f in stored if f.name not in PROVENANCE_AND_PARTITION]
    return pa.schema([*fields, pa.field("line", pa.int64(), nullable=False,
                                        metadata={"description": "1-based source line (or row)"})])


METER_ROWS_SCHEMA = _rows_schema(METER_SCHEMA)
PRICE_ROWS_SCHEMA = _rows_schema(PRICE_SCHEMA)
INDEX_ROWS_SCHEMA = _rows_schema(INDEX_SCHEMA)


@dataclass
class ReadResult:
    """A file's canonical rows (one of the ``*_ROWS_SCHEMA``) and notes for the user
    (e.g. NEM12 streams skipped because they are not active energy)."""
    table: pa.Table
    format: str
    notes: list[str] = field(default_factory=list)


__all__ = ["METER_ROWS_SCHEMA", "PRICE_ROWS_SCHEMA", "INDEX_ROWS_SCHEMA", "ReadResult"]
