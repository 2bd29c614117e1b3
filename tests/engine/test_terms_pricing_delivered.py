"""Price/index alignment to meter intervals and the contract's delivered-energy definition."""
from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pytest

from engine.delivered import ChannelSeries, SiteIntervals, delivered_wh, vee_counts
from engine.errors import DataMissingError, InputError
from engine.pricing import IndexSeries, PriceSeries, align_index, align_prices
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, to_us
from tests.engine.settlement_fixtures import SITES

T0 = to_us(datetime(2026, 10, 5, 5, tzinfo=timezone.utc))
D0 = (date(2026, 10, 5) - date(1970, 1, 1)).days


def test_hourly_da_price_applies_to_each_5_minute_interval_of_its_hour():
    ps = PriceSeries(np.array([T0 + US_PER_HOUR, T0]), np.array([60, 60]), np.array([20_000_000, 10_000_000]))
    starts = T0 + np.arange(24) * 5 * US_PER_MINUTE
    p = align_prices(ps, starts, 5, "ERCOT/HB_NORTH/DA")
    assert p.tolist() == [10_000_000] * 12 + [20_000_000] * 12


def test_equal_resolution_and_missing_prices_are_named():
    ps = PriceSeries(T0 + np.arange(10) * 5 * US_PER_MINUTE, np.full(10, 5), np.arange(10) * 1_000_000)
    starts = T0 + np.arange(14) * 5 * US_PER_MINUTE
    with pytest.raises(DataMissingError, match=r"prices ERCOT/HB_NORTH/RT: missing for 4 interval\(s\): "
                                               r"2026-10-05T05:50Z, 2026-10-05T05:55Z, 2026-10-05T06:00Z"):
        align_prices(ps, starts, 5, "ERCOT/HB_NORTH/RT")
    assert align_prices(ps, starts[:10], 5, "x").tolist() == list(range(0, 10_000_000, 1_000_000))


def test_prices_finer_than_meter_are_averaged_over_the_hour():
    ps = PriceSeries(T0 + np.arange(12) * 5 * US_PER_MINUTE, np.full(12, 5),
                     np.arange(12, dtype=np.int64) * 1_000_000)
    # (0 + 1 + ... + 11) / 12 = 5.5 USD/MWh
    assert align_prices(ps, np.array([T0]), 60, "x").tolist() == [5_500_000]
    with pytest.raises(InputError, match="do not divide the 12-min meter intervals"):
        align_prices(ps, np.array([T0]), 12, "x")


def test_daily_index_with_carry_forward_and_monthly_index():
    ix = IndexSeries(np.array([D0, D0 + 1, D0 + 4]), np.array([3_120_000, 3_200_000, 2_900_000]))
    days = np.array([D0, D0 + 1, D0 + 2, D0 + 3, D0 + 4])
    with pytest.raises(DataMissingError,
                       match=r"index HENRY_HUB: no value for 2 local date\(s\): 2026-10-07, 2026-10-08"):
        align_index(ix, days, "HENRY_HUB")
    assert align_index(ix, days, "HENRY_HUB", carry_forward_days=2).tolist() == \
        [3_120_000, 3_200_000, 3_200_000, 3_200_000, 2_900_000]
    cpi = IndexSeries(np.array([(date(2026, 9, 1) - date(1970, 1, 1)).days,
                                (date(2026, 10, 1) - date(1970, 1, 1)).days]), np.array([315_200_000, 316_000_000]))
    assert align_index(cpi, days, "CPI_U", frequency="monthly").tolist() == [316_000_000] * 5
    with pytest.raises(DataMissingError, match="CPI_U: no value for 1 local date"):
        align_index(cpi, np.array([(date(2026, 11, 2) - date(1970, 1, 1)).days]), "CPI_U", frequency="monthly")


def _series(values, minutes=60, quality=None, start=T0):
    n = len(values)
    g = start + np.arange(n) * minutes * US_PER_MINUTE
    return ChannelSeries(g, np.array(values, dtype=np.int64), np.array(quality or ["A"] * n),
                         np.array(["ACT"] * n), minutes)


def test_delivered_definition_add_subtract_floor_cap():
    site = SITES["TX-DC1"]
    series = {"gt1": _series([100, 100, 100, 0]), "pv1": _series([50, 0, 0, 0]),
              "pv1_potential": _series([0, 0, 0, 0]),
              "bess_dis": _series([0, 0, 10, 0]), "bess_chg": _series([0, 30, 0, 40]),
              "exp": _series([20, 0, 0, 0]), "dc": _series([120, 200, 200, 200])}
    si = SiteIntervals.build(site, series, list(series), T0, T0 + 4 * US_PER_HOUR)
    # gen + dis - chg - exp: [150-20, 100-30, 110, -40] -> floor 0 -> cap at load [120, 200, ...]
    d = delivered_wh(si, ("kind:generation", "kind:storage_discharge"), ("kind:storage_charge", "kind:grid_export"),
                     ("kind:load",))
    assert d.tolist() == [120, 70, 110, 0]
    assert delivered_wh(si, ("gt1",), ("bess_chg",), floor_zero=False).tolist() == [100, 70, 100, -40]


def test_finer_channels_are_summed_onto_the_coarsest_grid_and_missing_is_worst():
    site = SITES["TX-DC1"]
    five = _series(list(range(24)), minutes=5, quality=["A"] * 12 + ["A"] * 5 + ["E"] + ["A"] * 6)
    series = {"pv1": five, "gt1": _series([7, 8], minutes=60, quality=["A", "N"])}
    si = SiteIntervals.build(site, series, ["pv1", "gt1"], T0, T0 + 2 * US_PER_HOUR)
    assert si.minutes == 60
    assert si.energy["pv1"].tolist() == [sum(range(12)), sum(range(12, 24))]
    assert si.quality_of(("pv1",)).tolist() == [0, 1]
    assert si.quality_of(("pv1", "gt1")).tolist() == [0, 2]          # gt1 'N' -> missing
    assert si.energy["gt1"].tolist() == [7, 0]
    assert vee_counts(si.quality_of(("pv1", "gt1"))) == {"intervals_expected": 2, "actual": 1,
                                                        "estimated": 0, "missing": 1}


def test_absent_channel_series_is_data_missing():
    with pytest.raises(DataMissingError, match="no VEE series for channel\\(s\\) gt1"):
        SiteIntervals.build(SITES["TX-DC1"], {}, ["gt1"], T0, T0 + US_PER_HOUR)


def test_finer_prices_are_time_weighted_over_the_meter_interval():
    """5-min prices under 15-min meter intervals: (10 + 20 + 31) / 3 = 20.333333... ->
    20.333333 USD/MWh (half-even at 1e-6); a negative mean rounds the same way."""
    from engine.pricing import PriceSeries, align_prices
    from engine.timebase import US_PER_MINUTE
    t0 = 1_790_000_000 * 1_000_000 // (15 * US_PER_MINUTE) * (15 * US_PER_MINUTE)
    starts = t0 + np.arange(6) * 5 * US_PER_MINUTE
    lmp = np.array([10, 20, 31, -10, -20, -31], dtype=np.int64) * 1_000_000
    series = PriceSeries(starts, np.full(6, 5), lmp)
    got = align_prices(series, np.array([t0, t0 + 15 * US_PER_MINUTE]), 15, "RT")
    assert got.tolist() == [20_333_333, -20_333_333]
    # exact halves go to even: (1 + 2) / 2 micro-USD with 10-min meters -> 2 (1.5 -> 2)
    series = PriceSeries(starts[:2], np.full(2, 5), np.array([1, 2], dtype=np.int64))
    assert align_prices(series, np.array([t0]), 10, "RT").tolist() == [2]


def test_a_meter_interval_not_fully_priced_is_missing():
    from engine.errors import DataMissingError
    from engine.pricing import PriceSeries, align_prices
    from engine.timebase import US_PER_MINUTE
    t0 = 1_790_000_000 * 1_000_000 // (15 * US_PER_MINUTE) * (15 * US_PER_MINUTE)
    series = PriceSeries(np.array([t0, t0 + 5 * US_PER_MINUTE]), np.full(2, 5),
                         np.array([1, 2], dtype=np.int64) * 1_000_000)
    with pytest.raises(DataMissingError, match="1 interval"):
        align_prices(series, np.array([t0]), 15, "RT")


def test_a_series_already_on_the_grid_is_taken_as_the_general_placement_would():
    site = SITES["TX-DC1"]
    rng = np.random.default_rng(3)
    values = rng.integers(0, 1000, 48).tolist()
    quality = rng.choice(["A", "E", "S", "F", "N", "X"], 48).tolist()
    on_grid = _series(values, minutes=15, quality=quality)
    # one interval before the range: the general path (scatter onto the grid) places it
    wider = _series([5] + values, minutes=15, quality=["A"] + quality, start=T0 - 15 * US_PER_MINUTE)
    a = SiteIntervals.build(site, {"gt1": on_grid}, ["gt1"], T0, T0 + 12 * US_PER_HOUR)
    b = SiteIntervals.build(site, {"gt1": wider}, ["gt1"], T0, T0 + 12 * US_PER_HOUR)
    assert a.energy["gt1"].tolist() == b.energy["gt1"].tolist()
    assert a.quality["gt1"].tolist() == b.quality["gt1"].tolist()
    assert 2 in a.quality["gt1"].tolist() and 0 in a.energy["gt1"].tolist()
