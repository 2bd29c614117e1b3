"""LIKEDAY is bounded by ``VeeConfig.max_likeday_share`` (issue 12, section 1).

Before the bound, three days of data in a month were enough for LIKEDAY to rebuild
the other 90 %; now a channel whose like-day gaps exceed the share keeps them all
MISSING, and a gap within it is still estimated.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.sites import parse_sites
from engine.timebase import US_PER_DAY, US_PER_HOUR, interval_grid_us, local_fields, local_month_bounds_us
from engine.vee import MeterRows, VeeConfig, run_vee
from engine.vee.estimate import likeday_budget

TZ = "America/Chicago"
PERIOD = "2026-10"                       # 31 days, no DST change: 744 hourly intervals


def _site():
    return parse_sites({"sites": [{"site_id": "S", "timezone": TZ,
                                   "channels": {"dc": {"kind": "load"}}}]})["S"]


def _rows(start_us: int, end_us: int, keep) -> MeterRows:
    grid = interval_grid_us(start_us, end_us, 60)
    grid = grid[keep(grid)]
    hour = local_fields(grid, TZ).hour
    return MeterRows.from_arrays(["dc"] * grid.size, grid, np.full(grid.size, 60),
                                 40_000 + 500 * hour)


def test_three_days_of_data_no_longer_become_a_month():
    b0, b1 = local_month_bounds_us(PERIOD, TZ)
    h0 = b0 - 8 * US_PER_DAY                          # the week of history a settlement reads
    rows = _rows(h0, b1, lambda g: g < b0 + 3 * US_PER_DAY)
    dc = run_vee(rows, _site(), b0, b1).channels["dc"]
    assert dc.counts.to_dict() == {"intervals_expected": 744, "actual": 72, "estimated": 0,
                                   "missing": 672}
    assert not (dc.method == "LIKEDAY").any()
    # the old behaviour, still available by configuration: 90 % rebuilt from like days
    unbounded = run_vee(rows, _site(), b0, b1, config=VeeConfig(max_likeday_share=1))
    assert unbounded.channels["dc"].counts.estimated == 672


@pytest.mark.parametrize("gap_hours, estimated", [(74, 74), (75, 0)])
def test_the_share_is_a_bound_on_the_whole_channel_range(gap_hours, estimated):
    """floor(10 % x 744) = 74 intervals may be like-day estimates; one more and none is."""
    b0, b1 = local_month_bounds_us(PERIOD, TZ)
    assert likeday_budget(0.10, 744) == 74
    g0 = b0 + 10 * US_PER_DAY
    # two gaps (so the bound is on their sum, not per gap), each longer than LIN's 2 h
    first, second = 40, gap_hours - 40
    rows = _rows(b0 - 8 * US_PER_DAY, b1, lambda g: ~(
        ((g >= g0) & (g < g0 + first * US_PER_HOUR))
        | ((g >= g0 + 5 * US_PER_DAY) & (g < g0 + 5 * US_PER_DAY + second * US_PER_HOUR))))
    dc = run_vee(rows, _site(), b0, b1).channels["dc"]
    assert int((dc.method == "LIKEDAY").sum()) == estimated
    assert dc.counts.estimated == estimated
    assert dc.counts.missing == gap_hours - estimated


def test_lin_is_not_bounded_by_the_like_day_share():
    b0, b1 = local_month_bounds_us("2026-10", TZ)
    rows = _rows(b0, b1, lambda g: (g - b0) // US_PER_HOUR % 3 != 1)    # every third hour missing
    dc = run_vee(rows, _site(), b0, b1, config=VeeConfig(max_likeday_share=0)).channels["dc"]
    assert dc.counts.estimated == 248 and dc.counts.missing == 0
    assert set(dc.method[dc.quality == "E"].tolist()) == {"LIN"}


def test_the_share_is_validated():
    with pytest.raises(ValueError, match="max_likeday_share"):
        VeeConfig(max_likeday_share=1.5)
