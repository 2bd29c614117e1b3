"""Meter data for the ``meter_totals`` job tests (executor and CLI): three sites in three
zones over February..April 2026 (both DST changes), written in two ingests (the second
re-reads a week of TX-DC1 gt1 as estimates), and the totals the job must find, computed
directly in Python from the surviving values."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from engine.timebase import US_PER_HOUR, local_month_bounds_us, local_month_labels
from storage.config import StorageConfig
from tests.support.meter_data import meter_table

NOW = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
SITES = {"TX-DC1": "America/Chicago", "CA-DC2": "America/Los_Angeles", "AU-DC3": "Australia/Sydney"}
CHANNELS = ("gt1", "load")
MONTHS = ("2026-02", "2026-03", "2026-04")       # spans both DST changes


def _energy(site: str, channel: str, starts: np.ndarray, salt: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(f"{site}:{channel}:{salt}".encode()).digest()[:4], "big")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 250_000_000, size=starts.size, dtype=np.int64)   # Wh per hour


def write_meter_data(storage_config: StorageConfig) -> dict:
    """Two ingests and the expected totals ``{(site, month, channel): {...}}``; returns
    ``{"expected": ..., "versions": (first, second)}``."""
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
            first.append(meter_table(site, channel, starts, energy, tz=tz, ingested_at=t1,
                                     source_file="first.csv"))
            if (site, channel) == ("TX-DC1", "gt1"):
                sel = slice(24 * 40, 24 * 47)          # a week in March, re-read
                fixed = _energy(site, channel, starts[sel], "v2")
                second.append(meter_table(site, channel, starts[sel], fixed, tz=tz, quality="E",
                                          ingested_at=t2, source_file="fix.csv"))
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
