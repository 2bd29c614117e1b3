"""The table registry: every stored table's columns, with unit and meaning, once.

Storage writes these schemas; the engine reads them; ``docs/nomenclature.md``
describes them. Times are UTC interval-beginning instants (``timestamp[us, UTC]``);
local time never appears in storage.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    nullable: bool = False


def _schema(cols: list[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type, nullable=c.nullable,
                               metadata={"description": c.description}) for c in cols])


PROVENANCE = [
    Column("source_file", pa.string(), "base name of the file the row came from"),
    Column("source_sha256", pa.string(), "SHA-256 of that file's bytes"),
    Column("ingested_at_utc", UTC_TS, "when the row was ingested (UTC)"),
]

METER_COLUMNS = [
    Column("site_id", pa.string(), "site identifier from the site registry"),
    Column("channel", pa.string(), "channel name within the site (direction from its kind)"),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC"),
    Column("interval_minutes", pa.int16(), "interval length in minutes: 1, 5, 15, 30 or 60"),
    Column("energy_wh", pa.int64(), "energy in the interval, Wh (>= 0)"),
    Column("quality", pa.string(), "A actual, E estimated, S substituted, F final substitute"),
    Column("method", pa.string(), "source method code (e.g. NEM12 '14'); empty if none", True),
    *PROVENANCE,
    Column("month", pa.string(), "partition: site-local month YYYY-MM of interval_start_utc"),
]
METER_SCHEMA = _schema(METER_COLUMNS)

PRICE_COLUMNS = [
    Column("iso", pa.string(), "market operator, e.g. ERCOT"),
    Column("node", pa.string(), "settlement point / node / hub"),
    Column("market_run", pa.string(), "DA or RT"),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC"),
    Column("interval_minutes", pa.int16(), "price interval length in minutes"),
    Column("lmp_microusd_per_mwh", pa.int64(), "locational marginal price, micro-USD/MWh"),
    Column("energy_microusd_per_mwh", pa.int64(), "energy component, micro-USD/MWh", True),
    Column("congestion_microusd_per_mwh", pa.int64(), "congestion component, micro-USD/MWh", True),
    Column("loss_microusd_per_mwh", pa.int64(), "loss component, micro-USD/MWh", True),
    *PROVENANCE,
    Column("month", pa.string(), "partition: UTC month YYYY-MM of interval_start_utc"),
]
PRICE_SCHEMA = _schema(PRICE_COLUMNS)

INDEX_COLUMNS = [
    Column("index", pa.string(), "index name, e.g. HENRY_HUB, CPI_U"),
    Column("period_start", pa.date32(), "first day the value applies to (daily or monthly)"),
    Column("value_micro", pa.int64(), "index value x 1e6 (exact)"),
    Column("unit", pa.string(), "e.g. usd_per_mmbtu, index"),
    *PROVENANCE,
]
INDEX_SCHEMA = _schema(INDEX_COLUMNS)

__all__ = ["Column", "UTC_TS", "METER_SCHEMA", "PRICE_SCHEMA", "INDEX_SCHEMA",
           "METER_COLUMNS", "PRICE_COLUMNS", "INDEX_COLUMNS"]
