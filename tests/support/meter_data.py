"""Meter data for tests, built one way: site registries, rows of the stored ``meter``
table, and the canonical CSV files ``m2c ingest meter`` reads.

* ``site_registry`` builds sites through ``engine.sites.parse_sites`` (the validating
  path a registry file takes).
* ``meter_table`` gives one channel of one site as rows of ``engine.schema.METER_SCHEMA``:
  UTC interval-beginning instants, integer ``energy_wh``, quality and method codes, the
  provenance columns, and the site-local ``month`` partition label. Only what a test
  varies is an argument; everything else has one default here.
* ``meter_csv_lines`` / ``write_meter_csv`` give the same data as canonical CSV (kWh
  written exactly, three decimals), for tests that go through ingest.

Times are UTC microseconds since the epoch (``engine.timebase``) or aware datetimes.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.schema import METER_SCHEMA
from engine.sites import Site, parse_sites
from engine.timebase import US_PER_MINUTE, local_month_labels, to_us

#: the zone of the test sites unless a test says otherwise
TZ = "America/Chicago"
#: when rows were ingested unless a test says otherwise (after any interval built here)
INGESTED_AT = datetime(2026, 11, 2, tzinfo=timezone.utc)
SOURCE_FILE = "f.csv"
METER_CSV_HEADER = "site_id,channel,interval_start,interval_minutes,kwh,quality"

#: the first interval's start (then one interval per value), or every interval's start (us)
Starts = datetime | int | np.ndarray | Sequence[int]


def site_registry(*site_ids: str, tz: str = TZ,
                  channels: Mapping[str, str] | None = None) -> dict[str, Site]:
    """Sites ``site_ids`` in zone ``tz``, each with ``channels`` (name -> kind; one
    ``gt1`` generation channel by default), validated as a registry file is."""
    chans = {"gt1": "generation"} if channels is None else channels
    return parse_sites({"sites": [
        {"site_id": sid, "timezone": tz, "channels": {name: {"kind": kind} for name, kind in chans.items()}}
        for sid in site_ids]})


def interval_starts(start: datetime | int, count: int, minutes: int = 60) -> np.ndarray:
    """``count`` consecutive interval starts (UTC us) from ``start``, ``minutes`` apart."""
    first = to_us(start) if isinstance(start, datetime) else int(start)
    return first + np.arange(count, dtype=np.int64) * (minutes * US_PER_MINUTE)


def _starts(starts: Starts, count: int, minutes: int) -> np.ndarray:
    if isinstance(starts, (datetime, int, np.integer)):
        return interval_starts(starts, count, minutes)
    out = np.asarray(starts, dtype=np.int64)
    if out.shape != (count,):
        raise ValueError(f"{out.size} interval starts for {count} values")
    return out


def _per_row(value: str | None | Sequence[str | None], count: int) -> pa.Array:
    if value is None or isinstance(value, str):
        return pa.array([value] * count, pa.string())
    values = list(value)
    if len(values) != count:
        raise ValueError(f"{len(values)} codes for {count} rows")
    return pa.array(values, pa.string())


def source_sha256(source_file: str) -> str:
    """The default ``source_sha256`` of rows from ``source_file`` (a stand-in for the
    hash of the file's bytes: distinct files, distinct hashes)."""
    return hashlib.sha256(source_file.encode()).hexdigest()


def meter_table(site_id: str, channel: str, starts: Starts, energy_wh: Sequence[int] | np.ndarray, *,
                minutes: int = 60, tz: str = TZ,
                quality: str | Sequence[str] = "A", method: str | None | Sequence[str | None] = None,
                ingested_at: datetime = INGESTED_AT, source_file: str = SOURCE_FILE,
                sha256: str | None = None) -> pa.Table:
    """One channel of one site as rows of the stored ``meter`` table.

    ``quality`` and ``method`` are one code for every row or one per row. ``month`` is
    the local month in ``tz``: pass another zone to label rows as they are stored for a
    site in that zone. ``sha256`` (the ``source_sha256`` column) defaults to
    ``source_sha256(source_file)``; the latest ``ingested_at`` wins on read, ties broken
    by ``sha256``.
    """
    energy = np.asarray(energy_wh, dtype=np.int64)
    n = energy.size
    t = _starts(starts, n, minutes)
    months = local_month_labels(t, tz).tolist() if n else []
    return pa.table({
        "site_id": pa.array([site_id] * n, pa.string()),
        "channel": pa.array([channel] * n, pa.string()),
        "interval_start_utc": pa.array(t, pa.timestamp("us", tz="UTC")),
        "interval_minutes": pa.array(np.full(n, minutes, np.int16)),
        "energy_wh": pa.array(energy),
        "quality": _per_row(quality, n),
        "method": _per_row(method, n),
        "source_file": pa.array([source_file] * n, pa.string()),
        "source_sha256": pa.array([sha256 or source_sha256(source_file)] * n, pa.string()),
        "ingested_at_utc": pa.array(np.full(n, to_us(ingested_at), np.int64), pa.timestamp("us", tz="UTC")),
        "month": pa.array(months, pa.string()),
    }, schema=METER_SCHEMA)


def kwh_text(energy_wh: int) -> str:
    """Exact kWh with three decimals, as canonical CSV carries it (1 Wh resolution)."""
    whole, frac = divmod(abs(int(energy_wh)), 1000)
    return f"{'-' if energy_wh < 0 else ''}{whole}.{frac:03d}"


def meter_csv_lines(site_id: str, channel: str, starts: Starts, energy_wh: Sequence[int] | np.ndarray, *,
                    minutes: int = 60, quality: str | Sequence[str] = "A") -> list[str]:
    """Canonical meter CSV rows (no header) for one channel, instants written in UTC."""
    energy = [int(v) for v in energy_wh]
    t = _starts(starts, len(energy), minutes)
    stamps = np.char.add(np.datetime_as_string(t.astype("datetime64[us]").astype("datetime64[s]"),
                                               unit="s"), "Z")
    codes = [quality] * len(energy) if isinstance(quality, str) else list(quality)
    return [f"{site_id},{channel},{s},{minutes},{kwh_text(v)},{q}"
            for s, v, q in zip(stamps.tolist(), energy, codes, strict=True)]


def write_meter_csv(path: Path, lines: Iterable[str]) -> Path:
    """A canonical meter CSV file: the header, then ``lines``."""
    path.write_text("\n".join([METER_CSV_HEADER, *lines]) + "\n")
    return path


__all__ = ["TZ", "INGESTED_AT", "SOURCE_FILE", "METER_CSV_HEADER", "site_registry", "interval_starts",
           "source_sha256", "meter_table", "kwh_text", "meter_csv_lines", "write_meter_csv"]
