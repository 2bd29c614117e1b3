"""The table registry: every stored table's and every result table's columns, once.

Each table is declared here as columns of (name, Arrow type, description,
nullable, unit), and its Arrow schema is made from that declaration
(``TableSchema.to_arrow``): storage writes these schemas, the engine builds its
tables with them, ``docs/nomenclature.md`` describes them (a test checks the
names, types, units and nullability against it). Nobody writes a schema twice.

``unit`` is the column's unit as the nomenclature writes it: ``Wh``, ``min``,
``1e-6 USD/MWh``, ``1e-12 USD``; ``code`` for letter codes, ``YYYY-MM`` for months,
and ``''`` for what has none (identifiers, names, instants, dates, counts of versions).

Times are UTC interval-beginning instants (``timestamp[us, UTC]``); local time
never appears in storage.
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
    unit: str | None = None          # None: not declared (only outside TABLES)


@dataclass(frozen=True)
class TableSchema:
    """A table's columns, in order. ``field_descriptions``: write each column's
    description as Arrow field metadata (``{"description": ...}``)."""
    name: str
    description: str
    columns: tuple[Column, ...]
    field_descriptions: bool = True

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name}: no column {name!r}")

    def to_arrow(self) -> pa.Schema:
        return pa.schema([
            pa.field(c.name, c.type, nullable=c.nullable,
                     metadata={"description": c.description} if self.field_descriptions else None)
            for c in self.columns])


PROVENANCE = (
    Column("source_file", pa.string(), "base name of the file the row came from", unit=""),
    Column("source_sha256", pa.string(), "SHA-256 of that file's bytes", unit=""),
    Column("ingested_at_utc", UTC_TS, "when the row was ingested (UTC)", unit=""),
)

METER = TableSchema("meter", "interval energy per site and channel, as ingested", (
    Column("site_id", pa.string(), "site identifier from the site registry", unit=""),
    Column("channel", pa.string(), "channel name within the site (direction from its kind)", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "interval length in minutes: 1, 5, 15, 30 or 60", unit="min"),
    Column("energy_wh", pa.int64(), "energy in the interval, Wh (>= 0)", unit="Wh"),
    Column("quality", pa.string(), "A actual, E estimated, S substituted, F final substitute", unit="code"),
    Column("method", pa.string(), "source method code (e.g. NEM12 '14'); empty if none", True, unit="code"),
    *PROVENANCE,
    Column("month", pa.string(), "partition: site-local month YYYY-MM of interval_start_utc",
           unit="YYYY-MM"),
))

PRICES = TableSchema("prices", "market prices per node, market run and interval", (
    Column("iso", pa.string(), "market operator, e.g. ERCOT", unit=""),
    Column("node", pa.string(), "settlement point / node / hub", unit=""),
    Column("market_run", pa.string(), "DA or RT", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "price interval length in minutes", unit="min"),
    Column("lmp_microusd_per_mwh", pa.int64(), "locational marginal price, micro-USD/MWh",
           unit="1e-6 USD/MWh"),
    Column("energy_microusd_per_mwh", pa.int64(), "energy component, micro-USD/MWh", True,
           unit="1e-6 USD/MWh"),
    Column("congestion_microusd_per_mwh", pa.int64(), "congestion component, micro-USD/MWh", True,
           unit="1e-6 USD/MWh"),
    Column("loss_microusd_per_mwh", pa.int64(), "loss component, micro-USD/MWh", True,
           unit="1e-6 USD/MWh"),
    *PROVENANCE,
    Column("month", pa.string(), "partition: UTC month YYYY-MM of interval_start_utc", unit="YYYY-MM"),
))

INDEX = TableSchema("index", "published index values (gas, CPI), daily or monthly", (
    Column("index", pa.string(), "index name, e.g. HENRY_HUB, CPI_U", unit=""),
    Column("period_start", pa.date32(), "first day the value applies to (daily or monthly)", unit=""),
    Column("value_micro", pa.int64(), "index value x 1e6 (exact)", unit="1e-6 of unit"),
    Column("unit", pa.string(), "e.g. usd_per_mmbtu, index", unit=""),
    *PROVENANCE,
))

#: ``engine.vee``: ``VeeResult.to_arrow()``, the validated grid of every channel.
VEE = TableSchema("vee", "VEE output: one regular grid per channel, validated or estimated", (
    Column("site_id", pa.string(), "site identifier from the site registry", unit=""),
    Column("channel", pa.string(), "channel name within the site", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC, on the channel's grid", unit=""),
    Column("interval_minutes", pa.int16(), "grid interval length in minutes", unit="min"),
    Column("energy_wh", pa.int64(), "validated or estimated energy in the interval, Wh (>= 0)", unit="Wh"),
    Column("quality", pa.string(),
           "A actual, E estimated, S substituted, F final substitute, N missing", unit="code"),
    Column("method", pa.string(), "ACT, SRC, SPLIT, SUM, LIN, FLAT, LIKEDAY or MISSING", unit="code"),
))

#: ``engine.settlement``: the interval detail of a settlement (``detail.parquet``).
#: No field metadata: detail files written before the registry carry none, and a
#: re-run must give the same bytes.
DETAIL = TableSchema("detail", "settlement interval detail: one row per site, line and interval", (
    Column("line_id", pa.string(), "invoice line: <term id> or <term id>:<part>", unit=""),
    Column("site_id", pa.string(), "site identifier from the site registry", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("quantity_wh", pa.int64(), "billed energy of the interval, Wh", unit="Wh"),
    Column("rate_microusd_per_mwh", pa.int64(), "rate applied, micro-USD/MWh", unit="1e-6 USD/MWh"),
    Column("amount_picousd", pa.int64(),
           "quantity_wh x rate_microusd_per_mwh, exact (> 0: the buyer owes the seller)", unit="1e-12 USD"),
    Column("tou_bucket", pa.string(), "on_peak or off_peak; null for a line without TOU", True, unit=""),
    Column("quality", pa.string(),
           "worst quality of the referenced channels: A actual, E estimated, M missing", unit="code"),
    Column("contract_version", pa.int32(), "contract version in force for the interval", unit=""),
), field_descriptions=False)

TABLES: dict[str, TableSchema] = {t.name: t for t in (METER, PRICES, INDEX, VEE, DETAIL)}

METER_COLUMNS, PRICE_COLUMNS, INDEX_COLUMNS = METER.columns, PRICES.columns, INDEX.columns
VEE_COLUMNS, DETAIL_COLUMNS = VEE.columns, DETAIL.columns
METER_SCHEMA = METER.to_arrow()
PRICE_SCHEMA = PRICES.to_arrow()
INDEX_SCHEMA = INDEX.to_arrow()
VEE_SCHEMA = VEE.to_arrow()
DETAIL_SCHEMA = DETAIL.to_arrow()

__all__ = ["Column", "TableSchema", "UTC_TS", "TABLES", "PROVENANCE",
           "METER", "PRICES", "INDEX", "VEE", "DETAIL",
           "METER_SCHEMA", "PRICE_SCHEMA", "INDEX_SCHEMA", "VEE_SCHEMA", "DETAIL_SCHEMA",
           "METER_COLUMNS", "PRICE_COLUMNS", "INDEX_COLUMNS", "VEE_COLUMNS", "DETAIL_COLUMNS"]
