"""Typed reads of the ISO market tables (``awards``, ``statements``), as of a data version.

Like ``storage.tables.readers``: the request maps to partitions (ISO and month) and a
row filter, the files are chosen from the Delta log and read with pyarrow, and
superseded rows are dropped (the latest ingest of a key wins).
"""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotFoundError
from engine.schema import AWARDS_SCHEMA, STATEMENTS_SCHEMA

from .tables import Tables, table_spec
from .tables.merge import latest
from .tables.scan import read_rows
from .tables.specs import months_overlapping


def read_awards(tables: Tables, iso: str, resource_id: str, start_us: int, end_us: int, *,
                as_of: int | datetime | None = None) -> pa.Table:
    """Deduped awards of one resource with ``interval_start_utc`` in ``[start, end)``,
    sorted by (product, interval); AWARDS_SCHEMA. Awards starting up to one hour
    before ``start`` are included (an hourly award covers the first settlement
    intervals of a range that begins mid-hour)."""
    log = tables.delta_log
    version = log.resolve_as_of("awards", as_of)
    lo = start_us - 3_600_000_000
    months = months_overlapping(lo, end_us, None)
    if version is None or not months:
        return AWARDS_SCHEMA.empty_table()
    flt = pc.field("resource_id") == resource_id
    rows, files = read_rows(log, "awards", version, {"iso": [iso], "month": months}, flt,
                            time_range=(lo, end_us))
    return latest(rows, files, ["product", "interval_start_utc"])


def read_statement(tables: Tables, statement_id: str, *,
                   as_of: int | datetime | None = None) -> pa.Table:
    """Every deduped row of one statement (all its versions), sorted by key;
    ``NotFoundError`` if there is none."""
    log = tables.delta_log
    version = log.resolve_as_of("statements", as_of)
    if version is None:
        raise NotFoundError(f"no statement {statement_id!r}: no statements were ingested")
    rows, files = read_rows(log, "statements", version, {},
                            pc.field("statement_id") == statement_id)
    if rows.num_rows == 0:
        raise NotFoundError(f"no statement {statement_id!r} (statements data version {version})")
    key = [k for k in table_spec("statements").key]
    return latest(rows, files, key).select(STATEMENTS_SCHEMA.names)


def list_statements(tables: Tables, *, as_of: int | datetime | None = None) -> list[dict]:
    """One entry per statement: id, ISO, operating days, versions, lines."""
    log = tables.delta_log
    version = log.resolve_as_of("statements", as_of)
    if version is None:
        return []
    rows, _ = read_rows(log, "statements", version, {}, None)
    if rows.num_rows == 0:
        return []
    g = rows.group_by(["statement_id", "iso"]).aggregate([
        ("operating_date", "min"), ("operating_date", "max"), ("version", "distinct"),
        ("charge_type", "count")])
    out = []
    for r in g.to_pylist():
        out.append({"statement_id": r["statement_id"], "iso": r["iso"],
                    "first_day": r["operating_date_min"].isoformat(),
                    "last_day": r["operating_date_max"].isoformat(),
                    "versions": sorted(r["version_distinct"]), "rows": r["charge_type_count"]})
    return sorted(out, key=lambda d: d["statement_id"])


__all__ = ["read_awards", "read_statement", "list_statements"]
