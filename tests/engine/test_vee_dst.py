"""VEE across DST: interval counts of 23/25-hour local days and the dst_day findings."""
from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pytest

from engine.sites import parse_sites
from engine.timebase import (US_PER_DAY, interval_grid_us, local_day_bounds_us, local_fields,
                             local_month_bounds_us)
from engine.vee import MeterRows, VeeConfig, run_vee


def site(tz: str):
    return parse_sites({"sites": [{"site_id": "S", "timezone": tz, "channels": {
        "dc": {"kind": "load"}, "pv1": {"kind": "generation", "nameplate_kw": 5000}}}]})["S"]


def clean_rows(start_us: int, end_us: int, minutes: int, tz: str) -> MeterRows:
    grid = interval_grid_us(start_us, end_us, minutes)
    hour = local_fields(grid, tz).hour
    dc = 40_000 + 500 * hour                            # gentle diurnal load
    pv = np.where((hour >= 7) & (hour < 19), 300 * (hour - 6) * (19 - hour), 0)
    n = grid.size
    return MeterRows.from_arrays(["dc"] * n + ["pv1"] * n, np.r_[grid, grid],
                                 np.full(2 * n, minutes), np.r_[dc, pv])


@pytest.mark.parametrize("period, hours, day, day_hours", [
    ("2026-03", 743, "2026-03-08", 23),
    ("2026-11", 721, "2026-11-01", 25),
])
def test_full_clean_month_in_chicago_has_no_estimates(period, hours, day, day_hours):
    tz = "America/Chicago"
    start, end = local_month_bounds_us(period, tz)
    r = run_vee(clean_rows(start, end, 5, tz), site(tz), start, end)
    for c in r.channels.values():
        assert c.counts.to_dict() == {"intervals_expected": hours * 12, "actual": hours * 12,
                                      "estimated": 0, "missing": 0}
        assert set(c.method.tolist()) == {"ACT"}
    assert [f.check for f in r.findings] == ["dst_day"]
    (f,) = r.findings
    assert f.severity == "info" and f.channel is None
    assert f"local day {day} in {tz} has {day_hours} hours ({day_hours * 12} intervals of 5 min)" \
        in f.detail


@pytest.mark.parametrize("day, expected", [(date(2024, 3, 10), 276), (date(2024, 11, 3), 300),
                                           (date(2024, 3, 11), 288)])
def test_new_york_dst_days_five_minute_counts(day, expected):
    tz = "America/New_York"
    start, end = local_day_bounds_us(day, tz)
    r = run_vee(clean_rows(start, end, 5, tz), site(tz), start, end)
    assert r.channels["dc"].counts.intervals_expected == expected
    assert r.counts.intervals_expected == 2 * expected and r.counts.actual == 2 * expected
    dst = [f for f in r.findings if f.check == "dst_day"]
    if expected == 288:
        assert dst == []
    else:
        (f,) = dst
        assert f.start_utc == datetime.fromtimestamp(start / 1e6, timezone.utc)
        assert f"{expected} intervals of 5 min" in f.detail


def test_like_day_across_the_repeated_hour_uses_wall_clock_time():
    tz = "America/New_York"
    start, end = local_day_bounds_us(date(2024, 11, 3), tz)     # 25 h, Sunday
    hist_start = start - 21 * US_PER_DAY - 3_600_000_000          # 3 earlier Sundays, EDT
    rows = clean_rows(hist_start, end, 5, tz)
    hour = local_fields(rows.start_us, tz).hour
    gap = (rows.start_us >= start) & (hour < 3)        # local 00:00-03:00 = 4 real hours
    keep = ~gap
    rows = MeterRows(*(a[keep] for a in (rows.channel, rows.start_us, rows.minutes,
                                         rows.energy_wh, rows.quality, rows.ingested_us)))
    # a one-day range: 4 of 25 hours is beyond the default like-day share (10 %)
    r = run_vee(rows, site(tz), start, end, config=VeeConfig(max_likeday_share=1))
    dc = r.channels["dc"]
    est = dc.method == "LIKEDAY"
    assert est.sum() == 4 * 12                                     # 48 five-minute intervals
    h = local_fields(dc.grid_us[est], tz).hour
    assert dc.energy_wh[est].tolist() == (40_000 + 500 * h).tolist()
    assert dc.counts.to_dict() == {"intervals_expected": 300, "actual": 252, "estimated": 48,
                                   "missing": 0}
