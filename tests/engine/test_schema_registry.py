"""engine/schema.py is the one registry of table schemas, and docs/nomenclature.md agrees with it."""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import engine.settlement
import engine.vee
from engine.schema import DETAIL_SCHEMA, PROVENANCE, TABLES, UTC_TS, VEE_SCHEMA

DOC = Path(__file__).resolve().parents[2] / "docs" / "nomenclature.md"
# The line of docs/nomenclature.md just before each table's column table.
DOC_TABLE_AFTER = {"meter": "`meter` (key", "prices": "`prices` (key", "index": "`index` (key",
                   "vee": "Output grid (", "detail": "Interval detail (", "grid_factors": "`grid_factors` (key"}


def doc_rows(marker: str) -> list[list[str]]:
    """The body rows (cells stripped) of the first markdown table after the line starting with ``marker``."""
    lines = DOC.read_text().splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith(marker))
    while not lines[i].startswith("|"):
        i += 1
    rows = []
    while i < len(lines) and lines[i].startswith("|"):
        rows.append([c.strip() for c in lines[i].strip("|").split("|")])
        i += 1
    return rows[2:]                                       # header and |---| rule


def doc_type(t: pa.DataType) -> str:
    """The type as the nomenclature writes it."""
    return {UTC_TS: "timestamp[us, UTC]", pa.date32(): "date32"}.get(t, str(t))


def plain(cell: str) -> str:
    return "" if cell == "—" else cell.replace("`", "")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_column_has_a_unit_and_a_description(name):
    table = TABLES[name]
    assert len(set(table.names)) == len(table.names)
    for c in table.columns:
        assert c.unit is not None, f"{name}.{c.name}: no unit ('' if it has none)"
        assert c.description.strip(), f"{name}.{c.name}: no description"


@pytest.mark.parametrize("name", sorted(DOC_TABLE_AFTER))
def test_the_nomenclature_lists_each_column_with_its_type_unit_and_nullability(name):
    table = TABLES[name]
    columns = [c for c in table.columns if c not in PROVENANCE]      # documented once, in their own table
    rows = doc_rows(DOC_TABLE_AFTER[name])
    assert [plain(r[0]) for r in rows] == [c.name for c in columns]
    for c, (_, typ, unit, meaning) in zip(columns, rows):
        assert typ.removesuffix(" (nullable)") == doc_type(c.type), c.name
        assert plain(unit) == c.unit, c.name
        assert ("(nullable)" in typ or "null" in meaning) == c.nullable, c.name


def test_provenance_columns_are_documented_once():
    rows = doc_rows("Provenance columns on every stored row")
    assert [(plain(r[0]), r[1]) for r in rows] == [(c.name, doc_type(c.type)) for c in PROVENANCE]
    for name in ("meter", "prices", "index"):
        names = TABLES[name].names
        assert [n for n in names if n in {c.name for c in PROVENANCE}] == [c.name for c in PROVENANCE]


def test_stored_schemas_carry_descriptions_and_detail_keeps_its_bare_fields():
    for name in ("meter", "prices", "index", "vee"):
        schema = TABLES[name].to_arrow()
        assert [f.metadata for f in schema] == [{b"description": c.description.encode()}
                                                for c in TABLES[name].columns]
    # detail.parquet has been written without field metadata: adding it would change stored bytes
    assert all(f.metadata is None for f in DETAIL_SCHEMA)
    assert [(f.name, f.type, f.nullable) for f in DETAIL_SCHEMA] == [
        ("line_id", pa.string(), False), ("site_id", pa.string(), False),
        ("interval_start_utc", UTC_TS, False), ("quantity_wh", pa.int64(), False),
        ("rate_microusd_per_mwh", pa.int64(), False), ("amount_picousd", pa.int64(), False),
        ("tou_bucket", pa.string(), True), ("quality", pa.string(), False),
        ("contract_version", pa.int32(), False)]


def test_settlement_and_vee_use_the_registry():
    assert engine.settlement.DETAIL_SCHEMA is DETAIL_SCHEMA
    assert engine.vee.VEE_SCHEMA is VEE_SCHEMA and engine.vee.VEE_COLUMNS is TABLES["vee"].columns


def test_column_lookup_names_the_table():
    assert TABLES["meter"].column("energy_wh").unit == "Wh"
    with pytest.raises(KeyError, match=re.escape("meter: no column 'kwh'")):
        TABLES["meter"].column("kwh")


MARKET_TABLE_AFTER = {"awards": "`awards` (key", "statements": "`statements` (key",
                      "shadow": "Shadow lines (", "reconcile": "Reconciliation ("}


@pytest.mark.parametrize("name", sorted(MARKET_TABLE_AFTER))
def test_the_nomenclature_lists_the_market_tables(name):
    table = TABLES[name]
    columns = [c for c in table.columns if c not in PROVENANCE]
    rows = doc_rows(MARKET_TABLE_AFTER[name])
    assert [plain(r[0]) for r in rows] == [c.name for c in columns]
    for c, (_, typ, unit, _meaning) in zip(columns, rows):
        assert typ.removesuffix(" (nullable)") == doc_type(c.type), c.name
        assert plain(unit) == c.unit, c.name
        assert ("(nullable)" in typ) == c.nullable, c.name
