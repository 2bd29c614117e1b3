"""Properties of VEE (Hypothesis): identity on clean data, estimates >= 0, order independence."""
from __future__ import annotations

from datetime import date

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.sites import parse_sites
from engine.timebase import US_PER_MINUTE, local_day_bounds_us
from engine.vee import MeterRows, run_vee

SITE = parse_sites({"sites": [{"site_id": "S", "timezone": "America/Chicago", "channels": {
    "gt1": {"kind": "generation", "nameplate_kw": 1200}}}]})["S"]
LIMIT_WH_PER_MIN = 1.05 * 1200 * 1000 / 60

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 1))
minutes = st.sampled_from([5, 15, 60])


def _grid(day, n_days, m):
    start, _ = local_day_bounds_us(day, SITE.timezone)
    _, end = local_day_bounds_us(day.fromordinal(day.toordinal() + n_days - 1), SITE.timezone)
    return start, end, np.arange(start, end, m * US_PER_MINUTE, dtype=np.int64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=days, n_days=st.integers(1, 4), m=minutes, seed=st.integers(0, 2**32 - 1))
def test_clean_complete_input_is_returned_unchanged(day, n_days, m, seed):
    start, end, grid = _grid(day, n_days, m)
    values = np.random.default_rng(seed).integers(0, int(LIMIT_WH_PER_MIN * m), grid.size)
    r = run_vee(MeterRows.from_arrays(["gt1"] * grid.size, grid, [m] * grid.size, values),
                SITE, start, end)
    c = r.channels["gt1"]
    assert np.array_equal(c.grid_us, grid)
    assert np.array_equal(c.energy_wh, values)
    assert set(c.quality.tolist()) <= {"A"} and set(c.method.tolist()) <= {"ACT"}
    assert c.counts.estimated == 0 and c.counts.missing == 0 and c.counts.actual == grid.size
    assert {f.check for f in r.findings} <= {"dst_day", "spike"}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=days, n_days=st.integers(1, 10), m=minutes, seed=st.integers(0, 2**32 - 1),
       drop=st.floats(0, 0.9), bad=st.floats(0, 0.2))
def test_estimates_are_never_negative_and_counts_add_up(day, n_days, m, seed, drop, bad):
    start, end, grid = _grid(day, n_days, m)
    rng = np.random.default_rng(seed)
    cap = int(LIMIT_WH_PER_MIN * m)
    values = rng.integers(0, cap, grid.size)
    # corrupt some values: negative or above the nameplate limit
    corrupt = rng.random(grid.size) < bad
    values[corrupt] = np.where(rng.random(int(corrupt.sum())) < 0.5, -rng.integers(1, 10**6),
                               cap + rng.integers(1, 10**6))
    keep = rng.random(grid.size) >= drop
    # blank out a long run too, so LIKEDAY and MISSING are exercised
    if grid.size > 60:
        a = int(rng.integers(0, grid.size - 50))
        keep[a:a + int(rng.integers(1, 50))] = False
    g, v = grid[keep], values[keep]
    rows = MeterRows.from_arrays(["gt1"] * g.size, g, [m] * g.size, v)
    r = run_vee(rows, SITE, start, end)
    c = r.channels["gt1"]
    assert (c.energy_wh >= 0).all()
    assert (c.energy_wh <= cap).all()
    assert c.counts.actual + c.counts.estimated + c.counts.missing == grid.size
    ok = np.isin(grid, g[(v >= 0) & (v <= 1.05 * 1200 * 1000 / 60 * m)])
    assert np.array_equal(c.energy_wh[ok], values[ok])          # valid actuals untouched
    assert set(c.method[~ok].tolist()) <= {"LIN", "FLAT", "LIKEDAY", "MISSING"}

    # order independence: shuffled rows give identical output bytes
    perm = rng.permutation(g.size)
    r2 = run_vee(MeterRows.from_arrays(["gt1"] * g.size, g[perm], [m] * g.size, v[perm]),
                 SITE, start, end)
    assert r2.to_arrow().equals(r.to_arrow())
    assert r2.findings == r.findings


@settings(max_examples=60, deadline=None)
@given(n_hours=st.integers(1, 30), seed=st.integers(0, 2**32 - 1),
       coarse=st.sampled_from([15, 30, 60]))
def test_interval_length_change_preserves_energy_exactly(n_hours, seed, coarse):
    """5-min data with some hours delivered as longer intervals: each longer row is split
    exactly (parts differ by at most 1 Wh, earliest largest) and the total is unchanged."""
    rng = np.random.default_rng(seed)
    start, _ = local_day_bounds_us(date(2026, 10, 5), SITE.timezone)
    end = start + n_hours * 60 * US_PER_MINUTE
    fine = np.arange(start, end, 5 * US_PER_MINUTE, dtype=np.int64)
    values = rng.integers(0, 80_000, fine.size)
    k = coarse // 5
    as_coarse = rng.random(fine.size // k) < 0.3                  # which coarse blocks
    block = np.arange(fine.size) // k
    is_fine = ~as_coarse[block]
    c_start = fine[::k][as_coarse]
    c_vals = values.reshape(-1, k).sum(axis=1)[as_coarse]
    n_f, n_c = int(is_fine.sum()), c_start.size
    rows = MeterRows.from_arrays(["gt1"] * (n_f + n_c), np.r_[fine[is_fine], c_start],
                                 [5] * n_f + [coarse] * n_c, np.r_[values[is_fine], c_vals])
    c = run_vee(rows, SITE, start, end).channels["gt1"]
    if n_f >= n_c:
        assert c.interval_minutes == 5
        assert int(c.energy_wh.sum()) == int(values.sum())
        assert np.array_equal(c.energy_wh[is_fine], values[is_fine])
        parts = c.energy_wh[~is_fine].reshape(-1, k)
        assert (parts.max(axis=1) - parts.min(axis=1) <= 1).all()
        assert (np.diff(parts, axis=1) <= 0).all()                 # remainder to the earliest
        assert set(c.method[~is_fine].tolist()) <= {"SPLIT"}
    else:
        assert c.interval_minutes == coarse
        assert int(c.energy_wh.sum()) == int(values.sum())
        assert set(c.method.tolist()) <= {"ACT", "SUM"} and c.counts.actual == c.grid_us.size
