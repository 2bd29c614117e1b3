"""NERC holidays and TOU buckets (local prevailing time, DST months, holiday observance)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings, strategies as st

from engine.calendar import BUCKET_NAMES, nerc_holidays, tou_buckets
from engine.timebase import interval_grid_us, local_fields, local_month_bounds_us, to_us

CHI = "America/Chicago"


def test_nerc_holidays_2022_sunday_christmas_moves_to_monday_saturday_new_year_stays():
    assert nerc_holidays(2022) == [
        date(2022, 1, 1),    # Saturday: stays on Saturday
        date(2022, 5, 30),   # last Monday of May
        date(2022, 7, 4),
        date(2022, 9, 5),    # first Monday of September
        date(2022, 11, 24),  # fourth Thursday of November
        date(2022, 12, 26),  # Dec 25 is a Sunday -> Monday Dec 26
    ]


def test_nerc_holidays_2027_saturday_christmas_stays_sunday_july_4_moves():
    assert nerc_holidays(2027) == [date(2027, 1, 1), date(2027, 5, 31), date(2027, 7, 5), date(2027, 9, 6),
                                   date(2027, 11, 25), date(2027, 12, 25)]
    assert date(2027, 12, 25).weekday() == 5 and date(2027, 7, 4).weekday() == 6


def test_nerc_holidays_2026():
    assert nerc_holidays(2026) == [date(2026, 1, 1), date(2026, 5, 25), date(2026, 7, 4), date(2026, 9, 7),
                                   date(2026, 11, 26), date(2026, 12, 25)]


def local(y, m, d, hh=0, mm=0, tz=CHI) -> int:
    return to_us(datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz)))


def buckets_at(*instants, **kw):
    return [BUCKET_NAMES[b] for b in tou_buckets(np.array(instants, dtype=np.int64), CHI, **kw)]


def test_he07_is_the_hour_beginning_0600_and_he22_ends_at_2200():
    # Monday 2026-10-05: 05:55 is HE06 (off), 06:00 HE07 (on), 21:55 HE22 (on), 22:00 HE23 (off)
    assert buckets_at(local(2026, 10, 5, 5, 55), local(2026, 10, 5, 6), local(2026, 10, 5, 21, 55),
                      local(2026, 10, 5, 22)) == ["off_peak", "on_peak", "on_peak", "off_peak"]


def test_saturday_on_peak_sunday_off_peak():
    assert buckets_at(local(2026, 10, 10, 12), local(2026, 10, 11, 12)) == ["on_peak", "off_peak"]


def test_saturday_holiday_stays_off_peak_and_sunday_holiday_moves_to_monday():
    # 2027-12-25 is a Saturday and a NERC holiday: off-peak all day; Friday 24th is on-peak.
    assert buckets_at(local(2027, 12, 24, 12), local(2027, 12, 25, 12)) == ["on_peak", "off_peak"]
    # 2022-12-25 is a Sunday -> Monday 2022-12-26 is the holiday (off-peak); Sat 24th on-peak.
    assert buckets_at(local(2022, 12, 24, 12), local(2022, 12, 26, 12), local(2022, 12, 27, 12)) == \
        ["on_peak", "off_peak", "on_peak"]
    # holidays='none' leaves them on-peak
    assert buckets_at(local(2027, 12, 25, 12), holidays="none") == ["on_peak"]


def month_counts(period: str, minutes: int = 60, **kw) -> tuple[int, int]:
    b0, b1 = local_month_bounds_us(period, CHI)
    b = tou_buckets(interval_grid_us(b0, b1, minutes), CHI, **kw)
    return int((b == 1).sum()), int((b == 0).sum())


def test_dst_months_have_743_and_721_hours_with_hand_counted_on_peak():
    # March 2026: Sundays 1, 8, 15, 22, 29 -> 26 Mon-Sat days x 16 on-peak hours = 416;
    # 743 hours in the month (spring forward on Sunday the 8th) -> 327 off-peak.
    assert month_counts("2026-03") == (416, 327)
    # November 2026: Sundays 1 (fall back, 25 h), 8, 15, 22, 29 -> 25 Mon-Sat days, minus
    # Thanksgiving (Thu 26th) = 24 x 16 = 384 on-peak; 721 hours -> 337 off-peak.
    assert month_counts("2026-11") == (384, 337)
    # 5-minute intervals: each hour is 12 intervals of the same bucket.
    assert month_counts("2026-03", 5) == (416 * 12, 327 * 12)


def test_pjm_variant_he08_he23_mon_fri():
    # March 2026 has 22 weekdays (31 - 5 Sundays - 4 Saturdays) x 16 hours = 352.
    on, off = month_counts("2026-03", on_peak_hours_ending=(8, 23), on_peak_days=(0, 1, 2, 3, 4))
    assert (on, off) == (352, 743 - 352)
    # Monday 2026-10-05 07:00 local is HE08 (on), 06:59 is HE07 (off), 22:30 HE23 (on), 23:00 off
    assert buckets_at(local(2026, 10, 5, 6, 59), local(2026, 10, 5, 7), local(2026, 10, 5, 22, 30),
                      local(2026, 10, 5, 23), on_peak_hours_ending=(8, 23), on_peak_days=(0, 1, 2, 3, 4)) \
        == ["off_peak", "on_peak", "on_peak", "off_peak"]


def scalar_bucket(us: int, tz: str, he=(7, 22), days=(0, 1, 2, 3, 4, 5)) -> int:
    """Plain-Python reference: one datetime at a time through zoneinfo."""
    lt = datetime.fromtimestamp(us / 1e6, tz=timezone.utc).astimezone(ZoneInfo(tz))
    d = lt.date()
    he_now = lt.hour + 1
    return int(he[0] <= he_now <= he[1] and d.weekday() in days and d not in nerc_holidays(d.year))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=to_us(datetime(2020, 1, 1, tzinfo=timezone.utc)) // 300_000_000,
                   max_value=to_us(datetime(2050, 1, 1, tzinfo=timezone.utc)) // 300_000_000),
       st.sampled_from([CHI, "America/New_York", "America/Los_Angeles", "UTC", "Asia/Kolkata"]))
def test_vectorised_equals_scalar_reference(k, tz):
    start = k * 300_000_000
    grid = start + np.arange(0, 3 * 24 * 12) * 300_000_000       # 3 days of 5-minute intervals
    got = tou_buckets(grid, tz)
    want = [scalar_bucket(int(u), tz) for u in grid]
    assert got.tolist() == want
    assert tou_buckets(grid, tz, local=local_fields(grid, tz)).tolist() == want   # fields given
