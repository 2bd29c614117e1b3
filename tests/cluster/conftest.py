"""Fixtures for cluster tests: a real job catalog, and real meter data in Delta tables
(generated deterministically, with a superseding second ingest) plus its expected
totals computed directly in Python."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from engine.schema import METER_SCHEMA
from engine.timebase import US_PER_HOUR, local_month_bounds_us, local_month_labels
from jobs.catalog import JobCatalog

NOW = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
SITES = {"TX-DC1": "America/Chicago", "CA-DC2": "America/Los_Angeles", "AU-DC3": "Australia/Sydney"}
CHANNELS = ("gt1", "load")
MONTHS = ("2026-02", "2026-03", "2026-04")       # spans both DST changes


@pytest.fixture
def catalog(tmp_path) -> JobCatalog:
    cat = JobCatalog(f"sqlite:///{tmp_path / 'm2c.db'}")
    cat.init_schema()
    return cat


def _energy(site: str, channel: str, starts: np.ndarray, salt: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(f"{site}:{channel}:{salt}".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 250_000_000, size=starts.size, dtype=np.int64)   # Wh per hour


def _rows(site: str, tz: str, channel: str, starts: np.ndarray, energy: np.ndarray,
          quality: str, ingested: datetime, source: str) -> pa.Table:
    n = starts.size
    return pa.table({
        "site_id": [site] * n, "channel": [channel] * n,
        "interval_start_utc": pa.array(starts, pa.timestamp("us", tz="UTC")),
        "interval_minutes": pa.array(np.full(n, 60, np.int16)),
        "energy_wh": pa.array(energy), "quality": [quality] * n, "method": [None] * n,
        "source_file": [source] * n,
        "source_sha256": [hashlib.sha256(source.encode()).hexdigest()] * n,
        "ingested_at_utc": pa.array([ingested] * n, pa.timestamp("us", tz="UTC")),
        "month": pa.array(local_month_labels(starts, tz).astype(str)),
    }, schema=METER_SCHEMA)


def write_meter_data(storage_config) -> dict:
    """Two ingests (the second re-reads a week of TX-DC1 gt1 as estimates) and the
    expected totals ``{(site, month, channel): {...}}`` from the surviving values."""
    from storage.objectstore import ObjectStore
    from storage.tables import Tables
    tables = Tables(ObjectStore.from_config(storage_config))
    first, second, expected = [], [], defaultdict(lambda: {"energy_wh": 0, "intervals": 0,
                                                           "actual": 0, "estimated": 0,
                                                           "substituted": 0, "final": 0})
    t1, t2 = datetime(2026, 5, 2, tzinfo=timezone.utc), datetime(2026, 5, 9, tzinfo=timezone.utc)
    for site, tz in SITES.items():
        start, _ = local_month_bounds_us(MONTHS[0], tz)
        _, end = local_month_bounds_us(MONTHS[-1], tz)
        starts = np.arange(start, end, US_PER_HOUR, dtype=np.int64)
        months = local_month_labels(starts, tz).astype(str)
        for channel in CHANNELS:
            energy = _energy(site, channel, starts, "v1")
            quality = np.full(starts.size, "A", dtype=object)
            first.append(_rows(site, tz, channel, starts, energy, "A", t1, "first.csv"))
            if (site, channel) == ("TX-DC1", "gt1"):
                sel = slice(24 * 40, 24 * 47)          # a week in March, re-read
                fixed = _energy(site, channel, starts[sel], "v2")
                second.append(_rows(site, tz, channel, starts[sel], fixed, "E", t2, "fix.csv"))
                energy = energy.copy()
                energy[sel] = fixed
                quality[sel] = "E"
            for m in MONTHS:
                mask = months == m
                e = expected[(site, m, channel)]
                e["energy_wh"] += int(energy[mask].astype(object).sum())
                e["intervals"] += int(mask.sum())
                e["actual"] += int((quality[mask] == "A").sum())
                e["estimated"] += int((quality[mask] == "E").sum())
    v0 = tables.append("meter", pa.concat_tables(first))
    v1 = tables.append("meter", pa.concat_tables(second))
    return {"expected": dict(expected), "versions": (v0, v1)}


@pytest.fixture
def meter_data(local_storage) -> tuple:
    return local_storage, write_meter_data(local_storage)
