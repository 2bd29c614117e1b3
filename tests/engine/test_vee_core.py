"""VEE on hand-made series with known answers (engine.vee: grid, checks, estimate, findings)."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from engine.schema import METER_SCHEMA
from engine.sites import parse_sites
from engine.timebase import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, to_us
from engine.vee import VEE_SCHEMA, MeterRows, VeeConfig, format_report, report, run_vee
from engine.vee.estimate import linear_fill, round_half_even_div

T0 = to_us(datetime(2026, 10, 5, tzinfo=timezone.utc))          # a Monday, 00:00 UTC


def make_site(tz: str = "UTC", **channels):
    chans = channels or {"dc": {"kind": "load"}}
    return parse_sites({"sites": [{"site_id": "S1", "timezone": tz, "channels": chans}]})["S1"]


def series(values, minutes: int, start_us: int = T0, channel: str = "dc", quality="A"):
    """Rows for ``values`` on a regular grid; ``None`` leaves the interval out."""
    step = minutes * US_PER_MINUTE
    keep = [i for i, v in enumerate(values) if v is not None]
    return MeterRows.from_arrays([channel] * len(keep), [start_us + i * step for i in keep],
                                 [minutes] * len(keep), [values[i] for i in keep],
                                 [quality] * len(keep))


def cat(*rows: MeterRows) -> MeterRows:
    out = rows[0]
    for r in rows[1:]:
        out = out.concat(r)
    return out


def only(findings, check):
    return [f for f in findings if f.check == check]


# ------------------------------------------------------------------ rounding and LIN

def test_round_half_even_div_exact_halves_and_negatives():
    num = np.array([3, 1, 5, 7, -3, -5, 10, 11])
    assert round_half_even_div(num, 2).tolist() == [2, 0, 2, 4, -2, -2, 5, 6]
    assert round_half_even_div(np.array([5, 10, 15]), 4).tolist() == [1, 2, 4]


def test_linear_fill_itron_example_and_half_even():
    assert linear_fill(75, 100, 4).tolist() == [80, 85, 90, 95]
    assert linear_fill(0, 3, 1).tolist() == [2]          # 1.5 -> 2
    assert linear_fill(0, 1, 1).tolist() == [0]          # 0.5 -> 0
    assert linear_fill(0, 5, 3).tolist() == [1, 2, 4]    # 1.25, 2.5, 3.75
    assert linear_fill(100, 0, 3).tolist() == [75, 50, 25]


def test_gap_filled_by_linear_interpolation_itron():
    # 15-min: 00:00=75, 00:15=75, 00:30..01:15 missing, 01:30=100, then 100s
    vals = [75, 75, None, None, None, None, 100] + [100] * 89
    r = run_vee(series(vals, 15), make_site(), T0, T0 + US_PER_DAY)
    c = r.channels["dc"]
    assert c.interval_minutes == 15
    assert c.energy_wh[2:6].tolist() == [80, 85, 90, 95]
    assert c.quality[2:6].tolist() == ["E"] * 4
    assert c.method[2:6].tolist() == ["LIN"] * 4
    assert c.method[:2].tolist() == ["ACT", "ACT"]
    assert c.counts.to_dict() == {"intervals_expected": 96, "actual": 92, "estimated": 4,
                                  "missing": 0}
    (gap,) = only(r.findings, "gap")
    assert (gap.channel, gap.intervals, gap.severity) == ("dc", 4, "warning")
    assert gap.start_utc == datetime(2026, 10, 5, 0, 30, tzinfo=timezone.utc)
    assert gap.end_utc == datetime(2026, 10, 5, 1, 30, tzinfo=timezone.utc)
    assert "LIN" in gap.detail


def test_two_hour_gap_is_interpolated_but_longer_is_not():
    base = [1000] * 288                          # 5-min day
    two_h = list(base)
    two_h[100:124] = [None] * 24                 # exactly 120 min
    c = run_vee(series(two_h, 5), make_site(), T0, T0 + US_PER_DAY).channels["dc"]
    assert set(c.method[100:124].tolist()) == {"LIN"}
    longer = list(base)
    longer[100:125] = [None] * 25                # 125 min, no like days in range -> MISSING
    r = run_vee(series(longer, 5), make_site(), T0, T0 + US_PER_DAY)
    c = r.channels["dc"]
    assert set(c.method[100:125].tolist()) == {"MISSING"}
    assert set(c.quality[100:125].tolist()) == {"N"}
    assert c.energy_wh[100:125].sum() == 0
    assert c.counts.missing == 25
    assert only(r.findings, "gap")[0].severity == "error"


def test_one_valid_neighbour_gives_flat():
    vals = [500] * 20 + [None] * 4               # gap at the end of the range, 1 h of 15-min
    c = run_vee(series(vals, 15), make_site(), T0, T0 + 24 * 15 * US_PER_MINUTE).channels["dc"]
    assert c.energy_wh[20:].tolist() == [500] * 4
    assert c.method[20:].tolist() == ["FLAT"] * 4


def test_source_estimated_rows_are_kept_but_not_used_as_endpoints():
    rows = cat(series([100, None, 200, 300], 60),
               series([None, None, None, None, 999], 60, quality="E"))
    c = run_vee(rows, make_site(), T0, T0 + 5 * US_PER_HOUR).channels["dc"]
    assert c.energy_wh.tolist() == [100, 150, 200, 300, 999]
    assert c.quality.tolist() == ["A", "E", "A", "A", "E"]
    assert c.method.tolist() == ["ACT", "LIN", "ACT", "ACT", "SRC"]
    assert c.counts.estimated == 2 and c.counts.actual == 3


# ------------------------------------------------------------------ like-day

def _hourly_days(day_values: dict[int, int], n_days: int, default: int = 1000):
    """Hourly UTC series over ``n_days`` days: day d hour h = day_values.get(d, default) + h."""
    return [day_values.get(d, default) + h for d in range(n_days) for h in range(24)]


def test_long_gap_filled_by_like_day_average():
    # 28 days from Monday 2026-10-05; gap on day 14 (a Monday) 03:00-08:00 (5 h > 2 h).
    # Nearest Mondays: day 7 and day 21 (7 days away; the earlier first), then day 0.
    vals = _hourly_days({0: 100, 7: 200, 21: 301}, 28)
    gap = slice(14 * 24 + 3, 14 * 24 + 8)
    vals[gap] = [None] * 5
    r = run_vee(series(vals, 60), make_site(), T0, T0 + 28 * US_PER_DAY)
    c = r.channels["dc"]
    # (100 + 200 + 301) / 3 + h = 200.33 + h -> 200 + h
    assert c.energy_wh[gap].tolist() == [200 + h for h in range(3, 8)]
    assert set(c.method[gap].tolist()) == {"LIKEDAY"}
    assert "LIKEDAY" in only(r.findings, "gap")[0].detail


def test_like_day_skips_days_with_gaps_and_rounds_half_even():
    vals = _hourly_days({0: 100, 7: 200, 21: 301}, 28)
    vals[14 * 24 + 3:14 * 24 + 8] = [None] * 5
    vals[7 * 24 + 20] = None                     # day 7 has an outage: not a like day
    c = run_vee(series(vals, 60), make_site(), T0, T0 + 28 * US_PER_DAY).channels["dc"]
    # only days 21 and 0 remain: (301 + 100) / 2 + h = 200.5 + h -> half-even
    # 203.5, 204.5, 205.5, 206.5, 207.5 -> to the even neighbour
    assert c.energy_wh[14 * 24 + 3:14 * 24 + 8].tolist() == [204, 204, 206, 206, 208]


def test_like_day_uses_history_rows_before_the_range():
    vals = _hourly_days({0: 100, 7: 200}, 21)
    vals[14 * 24 + 3:14 * 24 + 8] = [None] * 5
    rows = series(vals, 60)
    start = T0 + 14 * US_PER_DAY
    hist_mask = rows.start_us < start
    history = MeterRows(*(a[hist_mask] for a in (rows.channel, rows.start_us, rows.minutes,
                                                 rows.energy_wh, rows.quality, rows.ingested_us)))
    current = MeterRows(*(a[~hist_mask] for a in (rows.channel, rows.start_us, rows.minutes,
                                                  rows.energy_wh, rows.quality, rows.ingested_us)))
    r = run_vee(current, make_site(), start, start + 7 * US_PER_DAY, history=history)
    c = r.channels["dc"]
    assert c.grid_us[0] == start and c.counts.intervals_expected == 7 * 24
    # days 7 and 0: (100 + 200) / 2 + h = 150 + h
    assert c.energy_wh[3:8].tolist() == [150 + h for h in range(3, 8)]


def test_holidays_are_like_sundays():
    # 2026-10-05 + 17 days = Thursday 2026-10-22 declared a holiday; gap on Sunday day 13.
    vals = _hourly_days({6: 100, 17: 400, 20: 250}, 21)
    vals[13 * 24 + 3:13 * 24 + 8] = [None] * 5
    site = make_site()
    r = run_vee(series(vals, 60), site, T0, T0 + 21 * US_PER_DAY, holidays=[date(2026, 10, 22)])
    # Sundays: day 6 (7 away), day 20 (7 away); holiday day 17 (4 away) -> days 17, 6, 20
    c = r.channels["dc"]
    assert c.energy_wh[13 * 24 + 3:13 * 24 + 8].tolist() == [250 + h for h in range(3, 8)]


# ------------------------------------------------------------------ validation checks

def test_duplicates_keep_the_higher_quality_whatever_the_order():
    base = series([100] * 12, 5)
    dup = series([None, None, None, 999], 5, quality="E")
    for rows in (cat(base, dup), cat(dup, base)):
        r = run_vee(rows, make_site(), T0, T0 + US_PER_HOUR)
        c = r.channels["dc"]
        assert c.energy_wh.tolist() == [100] * 12 and c.quality[3] == "A"
        (d,) = only(r.findings, "duplicate")
        assert d.start_utc == datetime(2026, 10, 5, 0, 15, tzinfo=timezone.utc)
        assert d.intervals == 1


def test_same_quality_duplicates_prefer_later_ingested_then_larger():
    a = MeterRows.from_arrays(["dc"] * 3, [T0] * 3, [60] * 3, [10, 30, 20], ["A"] * 3,
                              [5, 5, 7])
    c = run_vee(a, make_site(), T0, T0 + US_PER_HOUR).channels["dc"]
    assert c.energy_wh.tolist() == [20]
    b = MeterRows.from_arrays(["dc"] * 2, [T0] * 2, [60] * 2, [10, 30])
    assert run_vee(b, make_site(), T0, T0 + US_PER_HOUR).channels["dc"].energy_wh.tolist() == [30]


def test_negative_value_replaced_and_reported():
    r = run_vee(series([100, 100, -5, 200, 200], 60), make_site(), T0, T0 + 5 * US_PER_HOUR)
    c = r.channels["dc"]
    assert c.energy_wh.tolist() == [100, 100, 150, 200, 200]
    assert c.method[2] == "LIN" and c.quality[2] == "E"
    (n,) = only(r.findings, "negative")
    assert "-5 Wh" in n.detail and not only(r.findings, "gap")


def test_impossible_above_nameplate_replaced_limit_inclusive():
    site = make_site(gt1={"kind": "generation", "nameplate_kw": 1000})
    # limit per 5 min: 1.05 * 1000 kW * 5/60 h * 1000 = 87,500 Wh
    r = run_vee(series([80000, 87500, 87501, 80000], 5, channel="gt1"), site, T0,
                T0 + 20 * US_PER_MINUTE)
    c = r.channels["gt1"]
    assert c.energy_wh.tolist() == [80000, 87500, 83750, 80000]
    assert c.method.tolist() == ["ACT", "ACT", "LIN", "ACT"]
    (f,) = only(r.findings, "impossible")
    assert f.intervals == 1 and "87500 Wh per 5 min" in f.detail


def test_spike_flagged_not_changed():
    vals = [100, 100, 300, 100, 100, 301, 100]
    r = run_vee(series(vals, 60), make_site(), T0, T0 + 7 * US_PER_HOUR)
    assert r.channels["dc"].energy_wh.tolist() == vals
    spikes = only(r.findings, "spike")
    assert [s.start_utc.hour for s in spikes] == [5]       # 300 = 3x is not above 3x
    assert "100 Wh -> 301 Wh" in spikes[0].detail
    r2 = run_vee(series(vals, 60), make_site(), T0, T0 + 7 * US_PER_HOUR,
                 config=VeeConfig(spike_ratio=2.5))
    assert len(only(r2.findings, "spike")) == 2


def test_start_from_zero_is_not_a_spike():
    vals = [0, 0, 5000, 5000, 0, 5000]           # a peaker starting and stopping
    r = run_vee(series(vals, 60), make_site(), T0, T0 + 6 * US_PER_HOUR)
    assert not only(r.findings, "spike")


def test_interval_length_change_15_to_5_split_exactly():
    # 5-min data for two hours, but 01:00-01:30 arrives as two 15-min rows
    five = [30] * 24
    for i in range(12, 18):
        five[i] = None
    rows = cat(series(five, 5), series([100, 62], 15, start_us=T0 + US_PER_HOUR))
    r = run_vee(rows, make_site(), T0, T0 + 2 * US_PER_HOUR)
    c = r.channels["dc"]
    assert c.interval_minutes == 5
    assert c.energy_wh[12:18].tolist() == [34, 33, 33, 21, 21, 20]   # remainder to the earliest
    assert c.method[12:18].tolist() == ["SPLIT"] * 6
    assert c.quality[12:18].tolist() == ["A"] * 6
    assert c.energy_wh.sum() == 30 * 18 + 162
    assert c.counts.actual == 24
    (f,) = only(r.findings, "interval_length")
    assert f.severity == "info" and f.intervals == 2


def test_shorter_intervals_summed_into_the_grid():
    fifteen = [90] * 8
    fifteen[2] = None
    rows = cat(series(fifteen, 15), series([10, 20, 31], 5, start_us=T0 + 30 * US_PER_MINUTE))
    c = run_vee(rows, make_site(), T0, T0 + 2 * US_PER_HOUR).channels["dc"]
    assert c.interval_minutes == 15
    assert c.energy_wh[2] == 61 and c.method[2] == "SUM"


def test_unknown_channel_and_channel_without_data():
    site = make_site(dc={"kind": "load"}, pv1={"kind": "generation", "nameplate_kw": 10})
    rows = cat(series([1] * 4, 60), series([1] * 4, 60, channel="zz"))
    r = run_vee(rows, site, T0, T0 + 4 * US_PER_HOUR)
    assert [f.channel for f in only(r.findings, "unknown_channel")] == ["zz"]
    (nd,) = only(r.findings, "no_data")
    assert nd.channel == "pv1" and nd.severity == "error"
    assert r.channels["pv1"].counts.missing == 4 and r.channels["pv1"].interval_minutes == 60
    assert r.counts.to_dict() == {"intervals_expected": 8, "actual": 4, "estimated": 0,
                                  "missing": 4}


def test_accepts_an_arrow_table_with_meter_schema():
    n = 4
    ts = pa.array((T0 + np.arange(n) * US_PER_HOUR).view("datetime64[us]"),
                  METER_SCHEMA.field("interval_start_utc").type)
    table = pa.table({
        "site_id": ["S1"] * n, "channel": ["dc"] * n, "interval_start_utc": ts,
        "interval_minutes": pa.array([60] * n, pa.int16()),
        "energy_wh": pa.array([5, 0, 7, 8], pa.int64()),
        "quality": ["A", "A", None, "A"],
    })
    table = table.filter(pa.array([True, False, True, True]))
    c = run_vee(table, make_site(), T0, T0 + n * US_PER_HOUR).channels["dc"]
    assert c.energy_wh.tolist() == [5, 6, 7, 8] and c.quality[2] == "A"
    with pytest.raises(ValueError):
        run_vee(table.set_column(0, "site_id", pa.array(["X"] * 3)), make_site(), T0,
                T0 + n * US_PER_HOUR)


def test_report_document_and_table():
    vals = [75, 75, None, None, None, None, 100, 100]
    r = run_vee(series(vals, 15), make_site(), T0, T0 + 2 * US_PER_HOUR)
    doc = report(r, period="2026-10")
    assert json.loads(json.dumps(doc)) == doc
    assert doc["vee"] == {"intervals_expected": 8, "actual": 4, "estimated": 4, "missing": 0}
    assert doc["channels"]["dc"]["methods"] == {"ACT": 4, "LIN": 4}
    assert doc["channels"]["dc"]["energy_mwh"] == "0.000700"
    assert doc["findings"][0]["start_utc"] == "2026-10-05T00:30:00Z"
    text = format_report(doc)
    assert "VEE S1 2026-10" in text and "LIN 4" in text and "gap" in text


def test_to_arrow_matches_schema_and_grid():
    site = make_site(dc={"kind": "load"}, imp={"kind": "grid_import"})
    rows = cat(series([1, 2, 3, 4], 15), series([9], 60, channel="imp"))
    t = run_vee(rows, site, T0, T0 + US_PER_HOUR).to_arrow()
    assert t.schema.equals(VEE_SCHEMA)
    assert t.column("channel").to_pylist() == ["dc"] * 4 + ["imp"]
    assert t.column("energy_wh").to_pylist() == [1, 2, 3, 4, 9]
    assert t.column("interval_minutes").to_pylist() == [15] * 4 + [60]


def test_misaligned_rows_are_ignored_and_reported():
    rows = cat(series([10, 10, None, 10], 15),
               series([99], 15, start_us=T0 + 32 * US_PER_MINUTE))     # 00:32, off the grid
    r = run_vee(rows, make_site(), T0, T0 + US_PER_HOUR)
    assert r.channels["dc"].energy_wh.tolist() == [10, 10, 10, 10]
    assert r.channels["dc"].method[2] == "LIN"
    (m,) = only(r.findings, "misaligned")
    assert m.start_utc.minute == 32


def test_row_of_the_grid_length_wins_an_overlap():
    # 5-min grid; a 15-min row overlaps three 5-min rows that are also present
    rows = cat(series([7] * 12, 5), series([300], 15, start_us=T0 + 15 * US_PER_MINUTE))
    r = run_vee(rows, make_site(), T0, T0 + US_PER_HOUR)
    assert r.channels["dc"].energy_wh.tolist() == [7] * 12
    (o,) = only(r.findings, "overlap")
    assert o.intervals == 3


def test_config_is_validated():
    for bad in ({"like_days": 0}, {"spike_ratio": 1.0}, {"nameplate_tolerance": 0.9},
                {"default_interval_minutes": 7}, {"max_interp_minutes": -1}):
        with pytest.raises(ValueError):
            VeeConfig(**bad)


def test_grid_import_jumps_are_not_spikes_by_default():
    site = make_site(imp={"kind": "grid_import"})
    vals = [100, 100, 900, 100]
    r = run_vee(series(vals, 60, channel="imp"), site, T0, T0 + 4 * US_PER_HOUR)
    assert not only(r.findings, "spike")
    r = run_vee(series(vals, 60, channel="imp"), site, T0, T0 + 4 * US_PER_HOUR,
                config=VeeConfig(spike_kinds=("grid_import",)))
    assert len(only(r.findings, "spike")) == 1


def test_empty_table_gives_missing_channels_and_no_data_findings():
    site = make_site(dc={"kind": "load"}, gt1={"kind": "generation", "nameplate_kw": 100})
    r = run_vee(METER_SCHEMA.empty_table(), site, T0, T0 + US_PER_DAY)
    assert r.counts.to_dict() == {"intervals_expected": 48, "actual": 0, "estimated": 0,
                                  "missing": 48}
    assert sorted(f.channel for f in only(r.findings, "no_data")) == ["dc", "gt1"]
    assert not only(r.findings, "gap")
    with pytest.raises(ValueError):
        run_vee(METER_SCHEMA.empty_table(), site, T0, T0)
