"""The stored tables' layout: schema, Delta partition columns, dedupe key and encodings
of each table (:data:`TABLES`), and the month partitions a time range maps to.

Partition labels are ``YYYY-MM``: the meter table's month is SITE-LOCAL (a site's
billing month is one partition), the prices (and grid factors') month is UTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from engine.errors import InputError
from engine.schema import (AWARDS_SCHEMA, GRID_FACTORS_SCHEMA, INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA,
                           STATEMENTS_SCHEMA)
from engine.timebase import local_month_labels, periods_between


@dataclass(frozen=True)
class TableSpec:
    """One stored table: schema, Delta partition columns and dedupe key."""
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    key: tuple[str, ...]
    #: integer columns written DELTA_BINARY_PACKED, without a dictionary: rows are
    #: stored sorted by key, so times step regularly and a channel's readings change
    #: little from one interval to the next. A 1-minute site-month of meter rows:
    #: 1.42 -> 0.27 MB, and the settlement's read of it 2.7 -> 1.4 ms.
    delta_encoded: tuple[str, ...] = ()

    @cached_property
    def file_schema(self) -> pa.Schema:
        """Columns stored inside the Parquet files (Delta keeps partition values in the log)."""
        return pa.schema([f for f in self.schema if f.name not in self.partition_by])

    @property
    def key_partitions(self) -> tuple[str, ...]:
        """Partition columns that are part of the key (``site_id`` of the meter table):
        rows of one key always share them. The others (``month``) are derived from the
        key by a rule that may change (a site's zone), so the same key can sit in two
        of their partitions; writers look for a key across them (:mod:`.rewrite`)."""
        return tuple(c for c in self.partition_by if c in self.key)


TABLES: dict[str, TableSpec] = {
    "meter": TableSpec("meter", METER_SCHEMA, ("site_id", "month"),
                       ("site_id", "channel", "interval_start_utc"),
                       delta_encoded=("interval_start_utc", "energy_wh")),
    "prices": TableSpec("prices", PRICE_SCHEMA, ("market_run", "month"),
                        ("iso", "node", "market_run", "interval_start_utc"),
                        delta_encoded=("interval_start_utc",)),
    "index": TableSpec("index", INDEX_SCHEMA, ("index",), ("index", "period_start")),
    # ISO markets (engine.market): awards by ISO and UTC month; statements by ISO and
    # the month of their operating day (a statement's lines stay in one partition)
    "awards": TableSpec("awards", AWARDS_SCHEMA, ("iso", "month"),
                        ("iso", "resource_id", "product", "interval_start_utc"),
                        delta_encoded=("interval_start_utc", "power_w")),
    "statements": TableSpec("statements", STATEMENTS_SCHEMA, ("iso", "month"),
                            ("iso", "statement_id", "version", "charge_type", "resource_id",
                             "interval_start_utc"),
                            delta_encoded=("interval_start_utc",)),
    # carbon (engine.carbon): hourly grid factors by balancing authority and UTC month
    "grid_factors": TableSpec("grid_factors", GRID_FACTORS_SCHEMA, ("balancing_authority", "month"),
                              ("balancing_authority", "interval_start_utc"),
                              delta_encoded=("interval_start_utc",)),
}


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise InputError(f"unknown table {name!r}; tables are {', '.join(TABLES)}") from None


def utc_month_labels(utc_us: np.ndarray) -> np.ndarray:
    """``YYYY-MM`` UTC month of each instant (object array), vectorised."""
    months = np.asarray(utc_us, dtype="int64").astype("datetime64[us]").astype("datetime64[M]")
    uniq, inv = np.unique(months, return_inverse=True)
    return np.array([str(m) for m in uniq], dtype=object)[inv]


def months_overlapping(start_us: int, end_us: int, tz: str | None) -> list[str]:
    """Month labels (local in ``tz``, or UTC if None) overlapping ``[start, end)``."""
    if end_us <= start_us:
        return []
    edges = np.array([start_us, end_us - 1], dtype=np.int64)
    first, last = (local_month_labels(edges, tz) if tz else utc_month_labels(edges))
    return periods_between(str(first), str(last))


__all__ = ["TableSpec", "TABLES", "table_spec", "utc_month_labels", "months_overlapping"]
