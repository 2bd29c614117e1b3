"""engine.timebase: UTC microsecond instants, billing periods, local month and day bounds
across DST (23/25-hour days, 743/721-hour months, the southern hemisphere, half-hour
shifts), and the vectorised local fields checked against ``zoneinfo`` one instant at a time.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.timebase import (ALLOWED_INTERVAL_MINUTES, US_PER_DAY, US_PER_HOUR, US_PER_MINUTE,
                             US_PER_SECOND, from_us, interval_grid_us, local_day_bounds_us,
                             local_fields, local_midnight_us, local_month_bounds_us,
                             local_month_labels, month_label, next_period, offset_transitions,
                             parse_period, period_of, periods_between, to_local_us, to_us)

CHI = "America/Chicago"
UTC = timezone.utc
#: zones with DST both ways, none, a half-hour DST shift and non-hour offsets
ZONES = [CHI, "America/Los_Angeles", "America/New_York", "America/St_Johns", "Europe/London",
         "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Kathmandu", "UTC"]
Y1971, Y2100 = to_us(datetime(1971, 1, 1, tzinfo=UTC)), to_us(datetime(2100, 1, 1, tzinfo=UTC))


def utc(*args) -> int:
    return to_us(datetime(*args, tzinfo=UTC))


def hours(bounds: tuple[int, int]) -> float:
    return (bounds[1] - bounds[0]) / US_PER_HOUR


# -- instants ----------------------------------------------------------------------------------

def test_units_of_time():
    assert (US_PER_SECOND, US_PER_MINUTE, US_PER_HOUR, US_PER_DAY) == (10**6, 6 * 10**7, 36 * 10**8,
                                                                     864 * 10**8)
    assert ALLOWED_INTERVAL_MINUTES == (1, 5, 15, 30, 60)


def test_to_us_and_from_us():
    assert to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert utc(2026, 10, 1, 5, 0, 0, 1) == 1_790_830_800_000_001
    # the same instant written in another offset
    assert to_us(datetime(2026, 10, 1, 0, 0, tzinfo=ZoneInfo(CHI))) == utc(2026, 10, 1, 5)
    assert to_us(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)) == -1
    assert from_us(1_790_830_800_000_001) == datetime(2026, 10, 1, 5, 0, 0, 1, tzinfo=UTC)
    assert from_us(np.int64(-1)).tzinfo == UTC
    with pytest.raises(ValueError, match="naive datetime"):
        to_us(datetime(2026, 10, 1))


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.sampled_from([UTC, ZoneInfo(CHI), ZoneInfo("Asia/Kathmandu")])))
def test_to_us_round_trips_every_microsecond(dt):
    us = to_us(dt)
    # as an instant (a wall time in a DST gap compares unequal to every other zone's, PEP 495)
    assert from_us(us) == dt.astimezone(UTC)
    assert to_us(from_us(us)) == us
    assert us == round((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


# -- periods -----------------------------------------------------------------------------------

def test_parse_and_format_periods():
    assert parse_period("2026-03") == (2026, 3)
    assert parse_period("0001-12") == (1, 12)
    assert period_of(2026, 3) == "2026-03" and period_of(987, 1) == "0987-01"
    assert month_label(0) == "1970-01" and month_label(-1) == "1969-12"
    assert month_label(12 * 56 + 9) == "2026-10"


@pytest.mark.parametrize("bad", ["2026-3", "2026-003", "26-03", "2026-00", "2026-13", "2026/03", "202603",
                                 "2026-03-01", "", "-", "2026-", "-03", "YYYY-MM", " 2026-03", "2026-3a"])
def test_parse_period_rejects_bad_periods(bad):
    with pytest.raises(ValueError, match="period must be YYYY-MM"):
        parse_period(bad)


@pytest.mark.parametrize("bad", ["2026- 3", "2026-+3", "+026-03", "2026-3 ", "２０２６-03"])
def test_parse_period_rejects_signs_blanks_and_non_ascii_digits(bad):
    with pytest.raises(ValueError, match="period must be YYYY-MM"):
        parse_period(bad)


def test_next_period_and_periods_between():
    assert next_period("2026-12") == "2027-01"
    assert next_period("2026-01", -1) == "2025-12"
    assert next_period("2026-03", 0) == "2026-03"
    assert next_period("2026-03", 24) == "2028-03" and next_period("2026-03", -27) == "2023-12"
    assert periods_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert periods_between("2026-02", "2026-02") == ["2026-02"]
    assert periods_between("2026-03", "2026-02") == []
    with pytest.raises(ValueError):
        periods_between("2026-03", "2026-13")


@given(st.integers(min_value=21, max_value=9978), st.integers(min_value=1, max_value=12),
       st.integers(min_value=-240, max_value=240))
def test_next_period_steps_months(year, month, n):
    p = period_of(year, month)
    q = next_period(p, n)
    assert next_period(q, -n) == p
    y, m = parse_period(q)
    assert (y * 12 + m) - (year * 12 + month) == n
    if n >= 0:
        between = periods_between(p, q)
        assert len(between) == n + 1 and between[0] == p and between[-1] == q


# -- local month and day bounds across DST -----------------------------------------------------

@pytest.mark.parametrize("period, start, end, length", [
    ("2026-03", utc(2026, 3, 1, 6), utc(2026, 4, 1, 5), 743),       # spring forward on the 8th
    ("2026-10", utc(2026, 10, 1, 5), utc(2026, 11, 1, 5), 744),      # CDT all month
    ("2026-11", utc(2026, 11, 1, 5), utc(2026, 12, 1, 6), 721),      # fall back on the 1st
    ("2026-01", utc(2026, 1, 1, 6), utc(2026, 2, 1, 6), 744),
    ("2026-02", utc(2026, 2, 1, 6), utc(2026, 3, 1, 6), 672),
    ("2028-02", utc(2028, 2, 1, 6), utc(2028, 3, 1, 6), 696),        # leap year
])
def test_chicago_month_bounds(period, start, end, length):
    assert local_month_bounds_us(period, CHI) == (start, end)
    assert hours((start, end)) == length


@pytest.mark.parametrize("tz, period, length", [
    ("Australia/Sydney", "2026-04", 721),           # DST ends 5 April (southern hemisphere)
    ("Australia/Sydney", "2026-10", 743),           # DST starts 4 October
    ("Australia/Lord_Howe", "2026-04", 720.5),      # a half-hour shift
    ("Australia/Lord_Howe", "2026-10", 743.5),
    ("Europe/London", "2026-03", 743),              # EU rules: last Sunday of March
    ("Europe/London", "2026-10", 745),
    ("Asia/Kolkata", "2026-03", 744),               # no DST
    ("UTC", "2026-02", 672),
])
def test_month_lengths_elsewhere(tz, period, length):
    assert hours(local_month_bounds_us(period, tz)) == length


@pytest.mark.parametrize("day, start, length", [
    (date(2026, 3, 8), utc(2026, 3, 8, 6), 23),     # 02:00 CST -> 03:00 CDT
    (date(2026, 11, 1), utc(2026, 11, 1, 5), 25),   # 02:00 CDT -> 01:00 CST: 01:xx twice
    (date(2026, 3, 7), utc(2026, 3, 7, 6), 24),
    (date(2026, 11, 2), utc(2026, 11, 2, 6), 24),
])
def test_chicago_day_bounds_on_23_and_25_hour_days(day, start, length):
    bounds = local_day_bounds_us(day, CHI)
    assert bounds[0] == start == local_midnight_us(day, CHI)
    assert hours(bounds) == length
    assert bounds[1] == local_midnight_us(day + timedelta(days=1), CHI)


def test_local_hours_of_the_dst_days():
    spring = interval_grid_us(*local_day_bounds_us(date(2026, 3, 8), CHI), 60)
    assert local_fields(spring, CHI).hour.tolist() == [0, 1, *range(3, 24)]           # no 02:00
    fall = interval_grid_us(*local_day_bounds_us(date(2026, 11, 1), CHI), 60)
    assert local_fields(fall, CHI).hour.tolist() == [0, 1, 1, *range(2, 24)]          # 01:00 twice
    assert set(local_fields(fall, CHI).day.tolist()) == {(date(2026, 11, 1) - date(1970, 1, 1)).days}


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1971, max_value=2099), st.integers(min_value=1, max_value=12),
       st.sampled_from(ZONES))
def test_local_months_tile_time_and_differ_from_calendar_days_by_dst_only(year, month, tz):
    p = period_of(year, month)
    start, end = local_month_bounds_us(p, tz)
    assert end == local_month_bounds_us(next_period(p), tz)[0]                 # no gap, no overlap
    days = calendar.monthrange(year, month)[1]
    assert abs((end - start) - days * US_PER_DAY) <= US_PER_HOUR               # at most one DST shift
    labels = local_month_labels(np.array([start, end - 1, end], dtype=np.int64), tz)
    assert labels.tolist() == [p, p, next_period(p)]


# -- the interval grid ---------------------------------------------------------------------------

def test_interval_grid():
    b0, b1 = local_month_bounds_us("2026-03", CHI)
    grid = interval_grid_us(b0, b1, 15)
    assert grid.dtype == np.int64 and grid.size == 743 * 4
    assert grid[0] == b0 and grid[-1] == b1 - 15 * US_PER_MINUTE
    assert set(np.diff(grid).tolist()) == {15 * US_PER_MINUTE}
    assert interval_grid_us(b0, b0, 5).size == 0
    assert interval_grid_us(0, 7 * US_PER_MINUTE, 5).tolist() == [0, 5 * US_PER_MINUTE]   # [start, end)


# -- offsets and local fields ---------------------------------------------------------------------

def test_offset_transitions_of_chicago_2026():
    instants, offsets = offset_transitions(CHI, utc(2026, 1, 1), utc(2027, 1, 1))
    assert instants.tolist() == [utc(2026, 1, 1), utc(2026, 3, 8, 8), utc(2026, 11, 1, 7)]
    assert (offsets // US_PER_HOUR).tolist() == [-6, -5, -6]
    lh, lh_off = offset_transitions("Australia/Lord_Howe", utc(2026, 1, 1), utc(2027, 1, 1))
    assert (np.diff(lh_off) // US_PER_MINUTE).tolist() == [-30, 30]
    fixed, fixed_off = offset_transitions("Asia/Kolkata", utc(2026, 1, 1), utc(2027, 1, 1))
    assert fixed.tolist() == [utc(2026, 1, 1)] and fixed_off.tolist() == [330 * US_PER_MINUTE]


def test_local_fields_worked_example():
    # 2026-10-01T05:00Z = Thursday 1 October 2026, 00:00 CDT; 2026-11-01T06:30Z = 01:30 CST (second)
    f = local_fields(np.array([utc(2026, 10, 1, 5), utc(2026, 11, 1, 6, 30)], dtype=np.int64), CHI)
    assert f.hour.tolist() == [0, 1] and f.weekday.tolist() == [3, 6]
    assert f.dates().tolist() == [date(2026, 10, 1), date(2026, 11, 1)]
    assert [month_label(m) for m in f.month.tolist()] == ["2026-10", "2026-11"]
    assert to_local_us(np.array([], dtype=np.int64), CHI).size == 0
    assert local_month_labels(np.array([], dtype=np.int64), CHI).size == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=Y1971, max_value=Y2100),
       st.lists(st.integers(min_value=0, max_value=400 * US_PER_DAY), min_size=1, max_size=30),
       st.sampled_from(ZONES))
def test_vectorised_local_time_equals_zoneinfo(base_us, after_us, tz):
    """Instants within about a year of each other (a DST cycle), as one read holds them."""
    instants_us = [base_us + d for d in after_us]
    utc_us = np.array(instants_us, dtype=np.int64)
    fields = local_fields(utc_us, tz)
    for i, u in enumerate(instants_us):
        local = from_us(u).astimezone(ZoneInfo(tz))
        wall = local.replace(tzinfo=None) - datetime(1970, 1, 1)
        assert fields.local_us[i] == wall // timedelta(microseconds=1)
        assert fields.dates()[i] == np.datetime64(local.date())
        assert fields.hour[i] == local.hour and fields.weekday[i] == local.weekday()
        assert month_label(int(fields.month[i])) == period_of(local.year, local.month)
