"""The compiled passes (``engine.kernels``) give exactly what the NumPy code they stand
in for gives: the NumPy path is the reference, reached by raising ``MIN_SIZE`` above
every input (``numpy_path``), and every pass is compared element for element on
generated inputs (clean and messy channels, nameplate limits, sums near int64,
instants across DST, centuries of days).

Also here: the NumPy rewrites of the same round (contract-year rates by table, TOU by
lookup, the detail table built column by column), each against the code it replaced.
"""
from __future__ import annotations


import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.kernels as kernels
from engine.calendar import holiday_days, tou_buckets
from engine.delivered import ChannelSeries, SiteIntervals, delivered_and_quality, delivered_wh
from engine.errors import ValueRangeError
from engine.money import sum_exact
from engine.schema import DETAIL_SCHEMA, UTC_TS
from engine.settlement import _QUALITY_ARROW, _detail_table
from engine.sites import parse_sites
from engine.terms.base import line, rates_by_distinct
from engine.timebase import US_PER_DAY, US_PER_MINUTE, local_fields, to_local_us
from engine.vee import MeterRows, run_vee
from storage.invoices import detail_to_parquet

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SITE = parse_sites({"sites": [{"site_id": "S", "timezone": "America/New_York", "channels": {
    "gt1": {"kind": "generation", "nameplate_kw": 3},
    "pv1": {"kind": "generation"},
    "chg": {"kind": "storage_charge"},
    "dc": {"kind": "load"}}}]})["S"]


@pytest.fixture
def numpy_path(monkeypatch):
    """Run the code under test on its NumPy path (the reference)."""
    def use(on: bool) -> None:
        monkeypatch.setattr(kernels, "MIN_SIZE", 10**18 if on else 1)
    return use


def _same_vee(a, b) -> None:
    assert a.counts == b.counts and sorted(a.channels) == sorted(b.channels)
    for name in a.channels:
        x, y = a.channels[name], b.channels[name]
        assert (x.interval_minutes, x.counts, x.filled) == (y.interval_minutes, y.counts, y.filled)
        for f in ("grid_us", "energy_wh", "quality_code", "method_code"):
            u, v = getattr(x, f), getattr(y, f)
            assert u.dtype == v.dtype and np.array_equal(u, v), (name, f)


@st.composite
def channel_rows(draw):
    """A day of 1-minute rows per channel (with a history day sometimes), clean or
    spoiled in one of the ways the compiled pass must refuse."""
    start = 1_700_000_000 // 60 * 60 * 1_000_000 // (24 * 3600 * 10**6) * (24 * 3600 * 10**6)
    history = draw(st.booleans())
    first = start - (US_PER_DAY if history else 0)
    n = (US_PER_DAY if not history else 2 * US_PER_DAY) // US_PER_MINUTE
    chans, starts, minutes, energy, quality = [], [], [], [], []
    for name in sorted(SITE.channels):
        g = first + np.arange(n, dtype=np.int64) * US_PER_MINUTE
        e = np.asarray((0 if name == "gt1" else draw(st.integers(0, 2**20)))   # gt1: under its limit
                       + np.arange(n) % 47, dtype=np.int64)
        m = np.ones(n, dtype=np.int64)
        q = np.full(n, "A", dtype="<U1")
        spoil = draw(st.sampled_from(["clean", "clean", "gap", "negative", "limit", "quality",
                                      "length", "duplicate", "misaligned", "huge", "short"]))
        i = draw(st.integers(0, n - 1))
        if spoil == "gap":
            g, e, m, q = (np.delete(a, i) for a in (g, e, m, q))
        elif spoil == "negative":
            e[i] = -1
        elif spoil == "limit":
            e[i] = 53 if draw(st.booleans()) else 52          # gt1: 3 kW x 1.05 x 1 min = 52.5 Wh
        elif spoil == "quality":
            q[i] = draw(st.sampled_from(["E", "S", "F", "N"]))
        elif spoil == "length":
            m[i] = 5
        elif spoil == "duplicate":
            g, e, m, q = (np.insert(a, i, a[i]) for a in (g, e, m, q))
        elif spoil == "misaligned":
            g[i] += 1
        elif spoil == "huge":
            e[i] = 2**53 + 1
        elif spoil == "short":
            keep = n - draw(st.integers(1, 30))
            g, e, m, q = g[:keep], e[:keep], m[:keep], q[:keep]
        chans += [name] * g.size
        starts.append(g)
        minutes.append(m)
        energy.append(e)
        quality.append(q)
    rows = MeterRows.from_arrays(np.array(chans), np.concatenate(starts), np.concatenate(minutes),
                                 np.concatenate(energy), np.concatenate(quality))
    return rows, start, start + US_PER_DAY


@SETTINGS
@given(channel_rows())
def test_clean_channel_pass_equals_the_general_placement(numpy_path, case):
    rows, b0, b1 = case
    numpy_path(True)
    ref = run_vee(rows, SITE, b0, b1, findings=False)
    numpy_path(False)
    _same_vee(run_vee(rows, SITE, b0, b1, findings=False), ref)


def test_a_clean_channel_takes_the_compiled_pass(numpy_path, monkeypatch):
    import engine.vee.run as vee_run
    taken = []
    real = vee_run._clean_channel
    monkeypatch.setattr(vee_run, "_clean_channel", lambda *a: taken.append(real(*a)) or taken[-1])
    b0 = 1_700_000_000 * 10**6 // US_PER_DAY * US_PER_DAY
    g = b0 + np.arange(1440, dtype=np.int64) * US_PER_MINUTE
    rows = MeterRows.from_arrays(np.repeat(sorted(SITE.channels), 1440), np.tile(g, 4),
                                 np.ones(4 * 1440), np.tile(np.arange(1440) % 50, 4))
    numpy_path(False)
    vee = run_vee(rows, SITE, b0, b0 + US_PER_DAY, findings=False)
    assert len(taken) == 4 and all(c is not None for c in taken)
    numpy_path(True)
    _same_vee(vee, run_vee(rows, SITE, b0, b0 + US_PER_DAY, findings=False))


def _series(rng, n, grid, kind):
    e = rng.integers(0, 10**6, n)
    code = rng.choice(np.array([1, 1, 1, 2, 3, 4, 5], dtype=np.uint8), n)   # A A A E S F N
    if kind == "big":
        e = rng.integers(2**61, 2**62, n)
    from engine.vee.result import ChannelVee, VeeCounts
    return ChannelVee("x", "generation", 1, grid, np.asarray(e, np.int64), code,
                      np.ones(n, np.uint8), VeeCounts())


@SETTINGS
@given(st.integers(0, 2**32), st.sampled_from(["small", "big"]), st.booleans(), st.booleans(),
       st.sampled_from([(), ("dc",), ("kind:load",), ("kind:storage_discharge",)]))
def test_delivered_pass_equals_the_checked_numpy_sums(numpy_path, seed, size, floor_zero,
                                                      cap_zero, cap):
    rng = np.random.default_rng(seed)
    b0 = 1_700_000_000 * 10**6 // US_PER_DAY * US_PER_DAY
    n = 1440
    grid = b0 + np.arange(n, dtype=np.int64) * US_PER_MINUTE
    series = {c: _series(rng, n, grid, size) for c in sorted(SITE.channels)}
    add, sub = ("kind:generation",), ("chg",)
    needed = ["chg", "dc", "gt1", "pv1"]

    def both():
        si = SiteIntervals.build(SITE, series, needed, b0, b0 + n * US_PER_MINUTE)
        try:
            return (delivered_wh(si, add, sub, cap, floor_zero), si.quality_of(needed),
                    {c: (si.energy[c].copy(), si.quality[c].copy()) for c in needed}), si
        except ValueRangeError as exc:
            return str(exc), si
    numpy_path(True)
    ref, _ = both()
    numpy_path(False)
    si = SiteIntervals.build(SITE, series, needed, b0, b0 + n * US_PER_MINUTE)
    assert si._matrix is not None
    if isinstance(ref, str):
        with pytest.raises(ValueRangeError) as err:
            delivered_and_quality(si, add, sub, cap, floor_zero, needed)
        assert str(err.value) == ref
        return
    d, q = delivered_and_quality(si, add, sub, cap, floor_zero, needed)
    assert d.dtype == ref[0].dtype and np.array_equal(d, ref[0])
    assert q.dtype == ref[1].dtype and np.array_equal(q, ref[1])
    for c in needed:
        assert np.array_equal(si.energy[c], ref[2][c][0]) and np.array_equal(si.quality[c], ref[2][c][1])


@SETTINGS
@given(st.lists(st.integers(-200 * 365 * US_PER_DAY, 300 * 365 * US_PER_DAY), min_size=1,
                max_size=50),
       st.sampled_from(["America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC",
                        "Asia/Kolkata", "America/Sao_Paulo"]),
       st.booleans())
def test_local_fields_pass_equals_the_numpy_calendar(numpy_path, instants, tz, grid):
    u = np.asarray(instants, dtype=np.int64)
    if grid:          # a 5-minute grid over ~a month from the first instant (DST on the way)
        u = int(u[0]) // 300_000_000 * 300_000_000 + np.arange(9000, dtype=np.int64) * 300_000_000
    numpy_path(True)
    ref = local_fields(u, tz)
    numpy_path(False)
    got = local_fields(u, tz)
    for f in ("local_us", "day", "hour", "weekday", "month"):
        assert np.array_equal(getattr(got, f), getattr(ref, f)), f
    assert np.array_equal(got.local_us, to_local_us(u, tz))


@SETTINGS
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=0, max_size=2000))
def test_exact_sum_pass(numpy_path, values):
    v = np.asarray(values, dtype=np.int64)
    assert kernels.exact_sum(v) == sum(values)
    numpy_path(False)
    assert sum_exact(v) == sum(values)


@given(st.lists(st.integers(-5, 60), min_size=1, max_size=300), st.booleans())
def test_rates_by_table_equal_rates_by_sort(keys, wide):
    k = np.asarray(keys, dtype=np.int64) * (10**6 if wide else 1)     # wide: the sorting path
    fn = lambda y: y * 7 + 3                                          # noqa: E731
    uniq, inv = np.unique(k, return_inverse=True)
    assert np.array_equal(rates_by_distinct(k, fn), np.array([fn(int(x)) for x in uniq])[inv])


@SETTINGS
@given(st.integers(0, 2**32), st.sampled_from([(0, 1, 2, 3, 4, 5), (0, 6), ()]),
       st.sampled_from(["nerc", "none"]))
def test_tou_lookups_equal_the_searches_they_replace(seed, days, holidays):
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, 60 * 365)) * US_PER_DAY
    u = start + np.arange(0, 40 * 96, dtype=np.int64) * 15 * US_PER_MINUTE
    lf = local_fields(u, "America/Chicago")
    on = (lf.hour + 1 >= 7) & (lf.hour + 1 <= 22)
    on &= np.isin(lf.weekday, np.asarray(days, dtype=np.int64))
    if holidays == "nerc":
        on &= ~np.isin(lf.day, holiday_days(int(lf.day.min()), int(lf.day.max())))
    got = tou_buckets(u, "America/Chicago", on_peak_days=days, holidays=holidays)
    assert np.array_equal(got, on.astype(np.int8))


def _detail_table_reference(site_id, starts, version, quality, lines) -> pa.Table:
    """The detail table as built before (a column per line, concatenated)."""
    cols: dict[str, list] = {k: [] for k in DETAIL_SCHEMA.names}
    for ln in lines:
        n = ln.sel.size
        cols["line_id"].append(pa.repeat(pa.scalar(ln.line_id, pa.string()), n))
        cols["site_id"].append(pa.repeat(pa.scalar(site_id, pa.string()), n))
        cols["interval_start_utc"].append(pa.array(starts[ln.sel], UTC_TS))
        cols["quantity_wh"].append(pa.array(ln.quantity_wh, pa.int64()))
        cols["rate_microusd_per_mwh"].append(pa.array(ln.rate_microusd_per_mwh, pa.int64()))
        cols["amount_picousd"].append(pa.array(ln.amount_picousd, pa.int64()))
        cols["tou_bucket"].append(pa.repeat(pa.scalar(ln.tou_bucket, pa.string()), n))
        cols["quality"].append(_QUALITY_ARROW.take(pa.array(quality[ln.sel])))
        cols["contract_version"].append(pa.array(np.full(n, version, dtype=np.int32), pa.int32()))
    return pa.Table.from_arrays([pa.concat_arrays(cols[k]) for k in DETAIL_SCHEMA.names],
                                schema=DETAIL_SCHEMA)


@SETTINGS
@given(st.integers(0, 2**32), st.integers(1, 3), st.booleans())
def test_detail_table_has_the_bytes_of_the_one_it_replaced(seed, n_lines, buckets):
    rng = np.random.default_rng(seed)
    n = 3000
    starts = np.arange(n, dtype=np.int64) * US_PER_MINUTE
    quality = rng.integers(0, 3, n).astype(np.int8)
    owner = rng.integers(0, n_lines, n)
    lines = [line(f"t{k}:{'on' if k else 'off'}", "energy_fixed", "d", np.flatnonzero(owner == k),
                  rng.integers(0, 10**6, int((owner == k).sum())), np.full(int((owner == k).sum()), 7),
                  ("on_peak" if k else "off_peak") if buckets else None)
             for k in range(n_lines) if (owner == k).any()]
    got = _detail_table("S", starts, 3, quality, lines)
    ref = _detail_table_reference("S", starts, 3, quality, lines)
    assert got.equals(ref)
    assert detail_to_parquet(got) == detail_to_parquet(ref)


def test_warm_up_compiles_every_pass():
    kernels.warm_up()                        # numba imported, every pass compiled or loaded
    assert kernels._module is not None


def test_small_inputs_stay_on_numpy(monkeypatch):
    """Below ``MIN_SIZE`` nothing calls a compiled pass (the command line's small
    computations never import numba)."""
    def refuse():
        raise AssertionError("compiled pass called")
    monkeypatch.setattr(kernels, "_jit", refuse)
    u = np.arange(kernels.MIN_SIZE - 1, dtype=np.int64) * US_PER_MINUTE
    local_fields(u, "America/Chicago")
    sum_exact(u)
    grid = np.arange(10, dtype=np.int64) * US_PER_MINUTE
    si = SiteIntervals.build(SITE, {c: ChannelSeries(grid, np.ones(10, np.int64), np.array(["A"] * 10),
                                                     np.array([""] * 10), 1)
                                    for c in SITE.channels}, sorted(SITE.channels), 0, 10 * US_PER_MINUTE)
    delivered_and_quality(si, ("gt1",), (), (), True, ("gt1",))
