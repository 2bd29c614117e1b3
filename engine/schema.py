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

#: hourly grid factors per balancing authority (``storage.ingest.ingest_grid_factors``;
#: ``engine.carbon``): the location-based factor, the residual mix, the carbon-free share.
GRID_FACTORS = TableSchema("grid_factors", "hourly grid emission factors and carbon-free share per "
                           "balancing authority", (
    Column("balancing_authority", pa.string(), "EIA balancing authority code, e.g. ERCO, PJM, CISO", unit=""),
    Column("interval_start_utc", UTC_TS, "hour-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "60: grid factors are hourly", unit="min"),
    Column("co2e_mg_per_mwh", pa.int64(),
           "location-based (grid-average) emission factor, kg CO2e/MWh x 1e6 (>= 0)", unit="1e-6 kg/MWh"),
    Column("residual_co2e_mg_per_mwh", pa.int64(),
           "residual-mix emission factor for market-based Scope 2, kg CO2e/MWh x 1e6; null if none", True,
           unit="1e-6 kg/MWh"),
    Column("cfe_ppm", pa.int64(), "carbon-free share of the grid's supply, millionths (0..1,000,000)",
           unit="1e-6"),
    Column("source", pa.string(), "where the row's factors come from (dataset, version, column)", True,
           unit=""),
    *PROVENANCE,
    Column("month", pa.string(), "partition: UTC month YYYY-MM of interval_start_utc", unit="YYYY-MM"),
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

#: ISO market awards (``storage.ingest.ingest_awards``; products in ``engine.market.inputs``).
AWARDS = TableSchema("awards", "ISO market awards, schedules and base points per resource and interval", (
    Column("iso", pa.string(), "market operator: ERCOT, PJM or CAISO", unit=""),
    Column("resource_id", pa.string(), "resource id as the ISO names it (site registry market.resources)",
           unit=""),
    Column("product", pa.string(),
           "da_sale, da_purchase (MW >= 0), fmm, rtd, base_point (signed MW, > 0 injection)", unit="code"),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "interval the power is held: 5, 15 or 60 minutes", unit="min"),
    Column("power_w", pa.int64(), "awarded or scheduled power, W (MW x 1e6, exact)", unit="W"),
    Column("price_microusd_per_mwh", pa.int64(), "cleared price of the award, if given", True,
           unit="1e-6 USD/MWh"),
    *PROVENANCE,
    Column("month", pa.string(), "partition: UTC month YYYY-MM of interval_start_utc", unit="YYYY-MM"),
))

#: ISO settlement statements, line by line (``storage.ingest.ingest_statements``).
STATEMENTS = TableSchema("statements", "ISO settlement statement lines: charge type x resource x interval", (
    Column("iso", pa.string(), "market operator: ERCOT, PJM or CAISO", unit=""),
    Column("statement_id", pa.string(), "the statement (market, participant, operating day)", unit=""),
    Column("version", pa.string(), "initial, final, true_up or resettlement_<n>", unit="code"),
    Column("version_rank", pa.int32(), "order of versions: initial 1, final 2, true_up 3, "
           "resettlement_<n> 3 + n", unit=""),
    Column("operating_date", pa.date32(), "the ISO operating day (prevailing time)", unit=""),
    Column("charge_type", pa.string(), "charge type / code / billing line item, e.g. RTEIAMT, 6475",
           unit="code"),
    Column("resource_id", pa.string(), "resource id as the ISO names it", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "settlement interval length: 5, 15 or 60", unit="min"),
    Column("energy_wh", pa.int64(), "bill determinant quantity, Wh (null if not given)", True, unit="Wh"),
    Column("price_microusd_per_mwh", pa.int64(), "bill determinant price (null if not given)", True,
           unit="1e-6 USD/MWh"),
    Column("amount_microusd", pa.int64(),
           "line amount, micro-USD (> 0: a charge to the participant, < 0: a payment to it)",
           unit="1e-6 USD"),
    *PROVENANCE,
    Column("month", pa.string(), "partition: month YYYY-MM of operating_date", unit="YYYY-MM"),
))

#: ``engine.market.shadow``: one shadow-settlement line per charge type, resource and interval.
SHADOW = TableSchema("shadow", "shadow settlement lines: charge type x resource x settlement interval", (
    Column("iso", pa.string(), "market operator", unit=""),
    Column("resource_id", pa.string(), "resource id as the ISO names it", unit=""),
    Column("settlement_point", pa.string(), "settlement point / pnode the line is priced at", unit=""),
    Column("charge_type", pa.string(), "charge type / code / billing line item", unit="code"),
    Column("operating_date", pa.date32(), "the ISO operating day (prevailing time)", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "settlement interval length", unit="min"),
    Column("metered_wh12", pa.int64(), "metered net injection in the interval, 1/12 Wh", True,
           unit="1/12 Wh"),
    Column("da_wh12", pa.int64(), "day-ahead position in the interval (sale - purchase), 1/12 Wh", True,
           unit="1/12 Wh"),
    Column("instructed_wh12", pa.int64(),
           "instructed energy (base points, FMM or RTD schedule) in the interval, 1/12 Wh", True,
           unit="1/12 Wh"),
    Column("quantity_wh12", pa.int64(), "the bill quantity the price multiplies, 1/12 Wh",
           unit="1/12 Wh"),
    Column("price_microusd_per_mwh", pa.int64(), "the price applied, micro-USD/MWh",
           unit="1e-6 USD/MWh"),
    Column("amount_cents", pa.int64(), "the line amount, exact then rounded once to cents "
           "(> 0: a charge to the participant, < 0: a payment to it)", unit="1e-2 USD"),
    Column("rule", pa.string(), "the rule module that computed the line, e.g. ercot.rteiamt", unit=""),
), field_descriptions=False)

#: ``engine.market.reconcile``: shadow vs statement, line by line.
RECONCILE = TableSchema("reconcile", "shadow vs statement: one row per charge type, resource and interval", (
    Column("charge_type", pa.string(), "charge type / code", unit="code"),
    Column("resource_id", pa.string(), "resource id", unit=""),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC", unit=""),
    Column("interval_minutes", pa.int16(), "settlement interval length", unit="min"),
    Column("statement_amount_microusd", pa.int64(), "the statement's amount (0 if no line)",
           unit="1e-6 USD"),
    Column("shadow_amount_microusd", pa.int64(), "the shadow amount (0 if no line)", unit="1e-6 USD"),
    Column("difference_microusd", pa.int64(), "statement - shadow", unit="1e-6 USD"),
    Column("status", pa.string(), "match, mismatch, statement_only or shadow_only (beyond tolerance)",
           unit="code"),
    Column("statement_quantity_wh12", pa.int64(), "the statement's bill quantity, 1/12 Wh", True,
           unit="1/12 Wh"),
    Column("shadow_quantity_wh12", pa.int64(), "the shadow bill quantity, 1/12 Wh", True, unit="1/12 Wh"),
    Column("statement_price_microusd_per_mwh", pa.int64(), "the statement's price", True,
           unit="1e-6 USD/MWh"),
    Column("shadow_price_microusd_per_mwh", pa.int64(), "the shadow price", True, unit="1e-6 USD/MWh"),
), field_descriptions=False)

TABLES: dict[str, TableSchema] = {t.name: t for t in (METER, PRICES, INDEX, VEE, DETAIL, AWARDS,
                                                       STATEMENTS, SHADOW, RECONCILE, GRID_FACTORS)}

METER_COLUMNS, PRICE_COLUMNS, INDEX_COLUMNS = METER.columns, PRICES.columns, INDEX.columns
VEE_COLUMNS, DETAIL_COLUMNS = VEE.columns, DETAIL.columns
METER_SCHEMA = METER.to_arrow()
PRICE_SCHEMA = PRICES.to_arrow()
INDEX_SCHEMA = INDEX.to_arrow()
VEE_SCHEMA = VEE.to_arrow()
DETAIL_SCHEMA = DETAIL.to_arrow()
AWARDS_SCHEMA = AWARDS.to_arrow()
STATEMENTS_SCHEMA = STATEMENTS.to_arrow()
SHADOW_SCHEMA = SHADOW.to_arrow()
RECONCILE_SCHEMA = RECONCILE.to_arrow()
GRID_FACTORS_SCHEMA = GRID_FACTORS.to_arrow()

__all__ = ["Column", "TableSchema", "UTC_TS", "TABLES", "PROVENANCE",
           "METER", "PRICES", "INDEX", "VEE", "DETAIL",
           "METER_SCHEMA", "PRICE_SCHEMA", "INDEX_SCHEMA", "VEE_SCHEMA", "DETAIL_SCHEMA",
           "METER_COLUMNS", "PRICE_COLUMNS", "INDEX_COLUMNS", "VEE_COLUMNS", "DETAIL_COLUMNS",
           "AWARDS", "STATEMENTS", "SHADOW", "RECONCILE", "AWARDS_SCHEMA", "STATEMENTS_SCHEMA",
           "SHADOW_SCHEMA", "RECONCILE_SCHEMA", "GRID_FACTORS", "GRID_FACTORS_SCHEMA"]
