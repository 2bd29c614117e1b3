"""``validated_month``: a month is validated without its week of history unless VEE
needs it, and the answer is always the one validating with the history gives.

The reference is ``run_vee`` over the month plus ``VEE_HISTORY_DAYS`` of history,
which is what the settlement map did before the month-first read existed.
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from engine.schema import METER_SCHEMA
from engine.sites import Channel, Site
from engine.timebase import US_PER_DAY, US_PER_MINUTE, local_month_bounds_us, local_month_labels
from engine.vee import run_vee
from jobs.settle_inputs import VEE_COLUMNS_READ, VEE_HISTORY_DAYS, validated_month
from storage.objectstore import ObjectStore
from storage.tables import Tables

TZ = "America/Chicago"
PERIOD = "2026-10"
B0, B1 = local_month_bounds_us(PERIOD, TZ)
SITE = Site("S1", TZ, {"gt1": Channel("gt1", "generation"), "dc": Channel("dc", "load")})
T_INGEST = datetime(2026, 11, 2, tzinfo=timezone.utc)


def meter_rows(channel: str, starts_us: np.ndarray, minutes: int, values: np.ndarray) -> pa.Table:
    n = starts_us.size
    return pa.table({
        "site_id": ["S1"] * n, "channel": [channel] * n,
        "interval_start_utc": pa.array(starts_us, pa.timestamp("us", tz="UTC")),
        "interval_minutes": pa.array([minutes] * n, pa.int16()),
        "energy_wh": pa.array(values, pa.int64()), "quality": ["A"] * n,
        "method": pa.array([None] * n, pa.string()), "source_file": ["f.csv"] * n,
        "source_sha256": ["a" * 64] * n,
        "ingested_at_utc": pa.array([T_INGEST] * n, pa.timestamp("us", tz="UTC")),
        "month": list(local_month_labels(starts_us, TZ))}, schema=METER_SCHEMA)


def fifteen_minute(start_us: int, end_us: int, *, skip: slice | None = None) -> pa.Table:
    """Both channels at 15 minutes over [start, end), a diurnal shape, optional gap."""
    starts = np.arange(start_us, end_us, 15 * US_PER_MINUTE, dtype=np.int64)
    hour = (starts // (60 * US_PER_MINUTE)) % 24
    keep = np.ones(starts.size, bool)
    if skip is not None:
        keep[skip] = False
    return pa.concat_tables([
        meter_rows("gt1", starts[keep], 15, (1000 + 40 * hour)[keep]),
        meter_rows("dc", starts[keep], 15, (900 + 10 * (hour % 7))[keep])])


@pytest.fixture
def tables(storage_config) -> Tables:
    return Tables(ObjectStore.from_config(storage_config))


def with_history(tables: Tables):
    rows = tables.read_meter("S1", TZ, B0 - VEE_HISTORY_DAYS * US_PER_DAY, B1,
                             columns=VEE_COLUMNS_READ)
    return run_vee(rows, SITE, B0, B1)


def assert_same_channels(a, b) -> None:
    assert sorted(a.channels) == sorted(b.channels)
    for name in a.channels:
        x, y = a.channels[name], b.channels[name]
        assert x.interval_minutes == y.interval_minutes and x.counts == y.counts
        for field in ("grid_us", "energy_wh", "quality", "method"):
            assert np.array_equal(getattr(x, field), getattr(y, field)), (name, field)


def test_a_complete_month_needs_no_history_and_matches_it(tables):
    tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1))
    assert not tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    assert got.filled == 0
    assert_same_channels(got, with_history(tables))


def test_a_gap_at_the_month_start_is_filled_from_the_history(tables):
    # the first 45 minutes of October missing: LIN needs September's last interval
    first = int((B0 - (B0 - 20 * US_PER_DAY)) // (15 * US_PER_MINUTE))
    tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1, skip=slice(first, first + 3)))
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    want = with_history(tables)
    assert_same_channels(got, want)
    assert list(got.channels["gt1"].method[:3]) == ["LIN"] * 3
    month_only = run_vee(tables.read_meter("S1", TZ, B0, B1, columns=VEE_COLUMNS_READ),
                         SITE, B0, B1)
    assert list(month_only.channels["gt1"].method[:3]) == ["FLAT"] * 3   # what skipping it gives


def test_a_row_reaching_across_the_month_start_forces_the_history_read(tables):
    # September ends with an hourly row from 23:30 local: it reaches 30 minutes into
    # October, where only 5-minute rows (summed) cover the first half hour
    tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B0 - 30 * US_PER_MINUTE))
    month = fifteen_minute(B0 + 30 * US_PER_MINUTE, B1)
    fives = np.arange(B0, B0 + 30 * US_PER_MINUTE, 5 * US_PER_MINUTE, dtype=np.int64)
    crossing = np.array([B0 - 30 * US_PER_MINUTE], np.int64)
    tables.append("meter", pa.concat_tables([
        month,
        meter_rows("gt1", fives, 5, np.full(fives.size, 300)),
        meter_rows("dc", fives, 5, np.full(fives.size, 300)),
        meter_rows("gt1", crossing, 60, np.array([8000])),
        meter_rows("dc", crossing, 60, np.array([8000]))]))
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    assert_same_channels(got, with_history(tables))
    assert list(got.channels["gt1"].method[:2]) == ["SPLIT", "SPLIT"]


def test_the_crossing_check_reads_the_log_as_of_a_version(tables):
    v0 = tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1))
    late = np.array([B0 - 15 * US_PER_MINUTE], np.int64)
    tables.append("meter", meter_rows("gt1", late, 60, np.array([1])))       # a later correction
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    assert not tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1, as_of=v0)
    assert not tables.meter_rows_cross("S2", TZ, B0 - 8 * US_PER_DAY, B0, B1)  # nothing stored


def test_rows_stored_under_an_earlier_month_by_another_zone_are_not_missed(tables):
    # a complete October, then a correction of its first two hours ingested while the
    # site was on Los Angeles time: labelled 2026-09, so stored in September's partition
    tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1))
    early = fifteen_minute(B0, B0 + 2 * 3600 * 10**6)
    starts = early.column("interval_start_utc").cast(pa.int64()).to_numpy()
    la = pa.array(local_month_labels(starts, "America/Los_Angeles"), pa.string())
    assert set(la.to_pylist()) == {"2026-09"}
    fix = (early.set_column(early.schema.get_field_index("month"), "month", la)
           .set_column(early.schema.get_field_index("energy_wh"), "energy_wh",
                       pa.array(np.full(early.num_rows, 77), pa.int64()))
           .set_column(early.schema.get_field_index("ingested_at_utc"), "ingested_at_utc",
                       pa.array([datetime(2026, 11, 20, tzinfo=timezone.utc)] * early.num_rows,
                                pa.timestamp("us", tz="UTC"))))
    tables.append("meter", fix)
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    assert_same_channels(got, with_history(tables))
    assert got.channels["gt1"].energy_wh[:8].tolist() == [77] * 8     # the correction wins
