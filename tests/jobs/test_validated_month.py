"""``validated_month``: a month is validated without its week of history unless VEE
needs it, and the answer is always the one validating with the history gives.

The reference is ``run_vee`` over the month plus ``VEE_HISTORY_DAYS`` of history,
which is what the settlement map did before the month-first read existed.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import partial

import numpy as np
import pyarrow as pa
import pytest

from engine.timebase import US_PER_DAY, US_PER_MINUTE, local_month_bounds_us
from engine.vee import run_vee
from jobs.settle_inputs import VEE_COLUMNS_READ, VEE_HISTORY_DAYS, validated_month
from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.support.meter_data import meter_table, site_registry

TZ = "America/Chicago"
PERIOD = "2026-10"
B0, B1 = local_month_bounds_us(PERIOD, TZ)
SITE = site_registry("S1", tz=TZ, channels={"gt1": "generation", "dc": "load"})["S1"]
T_INGEST = datetime(2026, 11, 2, tzinfo=timezone.utc)

#: ``meter_rows(channel, starts_us, values, minutes=...)``: site S1, ingested at T_INGEST
meter_rows = partial(meter_table, "S1", tz=TZ, ingested_at=T_INGEST, sha256="a" * 64)


def fifteen_minute(start_us: int, end_us: int, *, skip: slice | None = None) -> pa.Table:
    """Both channels at 15 minutes over [start, end), a diurnal shape, optional gap."""
    starts = np.arange(start_us, end_us, 15 * US_PER_MINUTE, dtype=np.int64)
    hour = (starts // (60 * US_PER_MINUTE)) % 24
    keep = np.ones(starts.size, bool)
    if skip is not None:
        keep[skip] = False
    return pa.concat_tables([
        meter_rows("gt1", starts[keep], (1000 + 40 * hour)[keep], minutes=15),
        meter_rows("dc", starts[keep], (900 + 10 * (hour % 7))[keep], minutes=15)])


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
        meter_rows("gt1", fives, np.full(fives.size, 300), minutes=5),
        meter_rows("dc", fives, np.full(fives.size, 300), minutes=5),
        meter_rows("gt1", crossing, np.array([8000]), minutes=60),
        meter_rows("dc", crossing, np.array([8000]), minutes=60)]))
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    assert_same_channels(got, with_history(tables))
    assert list(got.channels["gt1"].method[:2]) == ["SPLIT", "SPLIT"]


def test_the_crossing_check_reads_the_log_as_of_a_version(tables):
    v0 = tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1))
    late = np.array([B0 - 15 * US_PER_MINUTE], np.int64)
    tables.append("meter", meter_rows("gt1", late, np.array([1]), minutes=60))   # a later correction
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    assert not tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1, as_of=v0)
    assert not tables.meter_rows_cross("S2", TZ, B0 - 8 * US_PER_DAY, B0, B1)  # nothing stored


def test_rows_stored_under_an_earlier_month_by_another_zone_are_not_missed(tables):
    # a complete October, then a correction of its first two hours ingested while the
    # site was on Los Angeles time: labelled 2026-09, so stored in September's partition
    tables.append("meter", fifteen_minute(B0 - 20 * US_PER_DAY, B1))
    starts = np.arange(B0, B0 + 2 * 3600 * 10**6, 15 * US_PER_MINUTE, dtype=np.int64)
    fix = pa.concat_tables([
        meter_rows(channel, starts, np.full(starts.size, 77), minutes=15, tz="America/Los_Angeles",
                   ingested_at=datetime(2026, 11, 20, tzinfo=timezone.utc))
        for channel in ("gt1", "dc")])
    assert set(fix.column("month").to_pylist()) == {"2026-09"}
    tables.append("meter", fix)
    assert tables.meter_rows_cross("S1", TZ, B0 - 8 * US_PER_DAY, B0, B1)
    got = validated_month(tables, SITE, B0, B1, PERIOD, as_of=None)
    assert_same_channels(got, with_history(tables))
    assert got.channels["gt1"].energy_wh[:8].tolist() == [77] * 8     # the correction wins
