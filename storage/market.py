"""Typed reads of the ISO market tables (``awards``, ``statements``), as of a data version.

Like ``storage.tables.readers``: the request maps to partitions (ISO and month) and a
row filter, the files are chosen from the Delta log and read with pyarrow, and
superseded rows are dropped (the latest ingest of a key wins).
"""
from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotFoundError
from engine.schema import AWARDS_SCHEMA, STATEMENTS_SCHEMA
from engine.timebase import periods_between

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


def read_resource_statements(tables: Tables, iso: str, resource_id: str, first_day: date,
                             last_day: date, *, as_of: int | datetime | None = None) -> pa.Table:
    """The statement lines of one resource for the operating days ``first..last``: of
    each statement, its latest version only (the one that now settles those days);
    STATEMENTS_SCHEMA, sorted by key. Empty if none."""
    log = tables.delta_log
    version = log.resolve_as_of("statements", as_of)
    if version is None:
        return STATEMENTS_SCHEMA.empty_table()
    months = periods_between(first_day.strftime("%Y-%m"), last_day.strftime("%Y-%m"))
    flt = ((pc.field("resource_id") == resource_id) & (pc.field("operating_date") >= first_day)
           & (pc.field("operating_date") <= last_day))
    rows, files = read_rows(log, "statements", version, {"iso": [iso], "month": months}, flt)
    if rows.num_rows == 0:
        return STATEMENTS_SCHEMA.empty_table()
    rows = latest(rows, files, list(table_spec("statements").key)).select(STATEMENTS_SCHEMA.names)
    newest = rows.group_by("statement_id").aggregate([("version_rank", "max")])
    keep = rows.join(newest, keys="statement_id").filter(
        pc.equal(pc.field("version_rank"), pc.field("version_rank_max")))
    order = pc.sort_indices(keep, sort_keys=[(k, "ascending") for k in table_spec("statements").key])
    return keep.take(order).select(STATEMENTS_SCHEMA.names).combine_chunks()


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


__all__ = ["read_awards", "read_statement", "read_resource_statements", "list_statements"]
