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

from engine.schema import AWARDS_SCHEMA, INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA, STATEMENTS_SCHEMA

PROVENANCE_AND_PARTITION = ("source_file", "source_sha256", "ingested_at_utc", "month")


def _rows_schema(stored: pa.Schema) -> pa.Schema:
    fields = [f for f in stored if f.name not in PROVENANCE_AND_PARTITION]
    return pa.schema([*fields, pa.field("line", pa.int64(), nullable=False,
                                        metadata={"description": "1-based source line (or row)"})])


METER_ROWS_SCHEMA = _rows_schema(METER_SCHEMA)
PRICE_ROWS_SCHEMA = _rows_schema(PRICE_SCHEMA)
INDEX_ROWS_SCHEMA = _rows_schema(INDEX_SCHEMA)
AWARDS_ROWS_SCHEMA = _rows_schema(AWARDS_SCHEMA)
STATEMENTS_ROWS_SCHEMA = _rows_schema(STATEMENTS_SCHEMA)


@dataclass
class ReadResult:
    """A file's canonical rows (one of the ``*_ROWS_SCHEMA``) and notes for the user
    (e.g. NEM12 streams skipped because they are not active energy).

    ``reference_lines`` maps ``(site_id, channel)`` to the line that declares them
    when the format has such a line (the NEM12 200 record), for reference errors."""
    table: pa.Table
    format: str
    notes: list[str] = field(default_factory=list)
    reference_lines: dict[tuple[str, str], int] = field(default_factory=dict)


__all__ = ["METER_ROWS_SCHEMA", "PRICE_ROWS_SCHEMA", "INDEX_ROWS_SCHEMA", "AWARDS_ROWS_SCHEMA",
           "STATEMENTS_ROWS_SCHEMA", "ReadResult"]
