"""VEE's fast paths give exactly what its general paths give.

From an Arrow table, channel and quality become dictionary codes, a channel's rows
are a slice of the rows (sorted by channel and time, as ``Tables.read_meter``
returns them), and sorted rows skip the duplicate sort and the per-slot winner sort.
The result must equal VEE from plain arrays in any row order, on channels that are
complete and clean, clean with gaps, or messy (duplicates, a longer interval to
split, long gaps, negative values, null qualities), plus one not in the registry.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.delivered import ChannelSeries, SiteIntervals
from engine.sites import parse_sites
from engine.timebase import US_PER_MINUTE, local_month_bounds_us
from engine.vee import MeterRows, run_vee
from engine.vee.grid import target_interval_minutes

SITE = parse_sites({"sites": [{"site_id": "S", "timezone": "America/Chicago", "channels": {
    "gt1": {"kind": "generation", "nameplate_kw": 1200},
    "pv1": {"kind": "generation"},
    "dc": {"kind": "load"},
    "exp": {"kind": "grid_export"}}}]})["S"]


def messy_rows(seed: int) -> pa.Table:
    """Two weeks of history plus a month of 5-minute rows over 5 channels (one not in
    the registry), sorted by channel and time like ``Tables.read_meter`` returns them:
    ``pv1`` complete and clean, ``exp`` clean with gaps, the others messy."""
    rng = np.random.default_rng(seed)
    start, end = local_month_bounds_us("2026-03", SITE.timezone)        # a DST month
    grid = np.arange(start - 14 * 1440 * US_PER_MINUTE, end, 5 * US_PER_MINUTE, dtype=np.int64)
    parts = []
    for ch in ("dc", "exp", "gt1", "pv1", "zz_unknown"):
        if ch in ("exp", "pv1"):
            keep = np.ones(grid.size, bool) if ch == "pv1" else rng.random(grid.size) > 0.05
            g = grid[keep]
            parts.append(pa.table({
                "site_id": ["S"] * g.size, "channel": [ch] * g.size,
                "interval_start_utc": pa.array(g, pa.timestamp("us", tz="UTC")),
                "interval_minutes": pa.array(np.full(g.size, 5), pa.int16()),
                "energy_wh": pa.array(rng.integers(0, 100_000, g.size), pa.int64()),
                "quality": ["A"] * g.size,
                "ingested_at_utc": pa.array(np.zeros(g.size, np.int64),
                                            pa.timestamp("us", tz="UTC"))}))
            continue
        keep = rng.random(grid.size) > 0.02
        a = int(rng.integers(0, grid.size - 300))
        keep[a:a + int(rng.integers(1, 300))] = False                   # a long gap
        g = grid[keep]
        v = rng.integers(0, 100_000, g.size)
        v[rng.random(g.size) < 0.01] *= -1                                # negatives
        m = np.full(g.size, 5)
        q = rng.choice(np.array(["A", "A", "A", "E", "S"]), g.size).astype(object)
        q[rng.random(g.size) < 0.01] = None                               # null quality
        dup = rng.random(g.size) < 0.01                                   # exact duplicates
        g = np.concatenate([g, g[dup]])
        v = np.concatenate([v, v[dup] + 1])
        m = np.concatenate([m, m[dup]])
        q = np.concatenate([q, np.array(["E"] * int(dup.sum()), dtype=object)])
        h = int(grid[len(grid) // 2] // (60 * US_PER_MINUTE) * (60 * US_PER_MINUTE))
        g, v, m = np.append(g, h), np.append(v, 12_000), np.append(m, 60)  # a 60-min row
        q = np.append(q, "A")
        order = np.lexsort((g,))
        n = g.size
        parts.append(pa.table({
            "site_id": ["S"] * n, "channel": [ch] * n,
            "interval_start_utc": pa.array(g[order], pa.timestamp("us", tz="UTC")),
            "interval_minutes": pa.array(m[order], pa.int16()),
            "energy_wh": pa.array(v[order], pa.int64()),
            "quality": pa.array(q[order].tolist(), pa.string()),
            "ingested_at_utc": pa.array(rng.integers(0, 10, n)[order] * 10**6,
                                        pa.timestamp("us", tz="UTC"))}))
    return pa.concat_tables(parts)


def _same(a, b) -> None:
    assert a.to_arrow().equals(b.to_arrow())
    assert a.findings == b.findings
    assert a.counts == b.counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vee_from_a_table_equals_vee_from_arrays_in_any_order(seed):
    table = messy_rows(seed)
    start, end = local_month_bounds_us("2026-03", SITE.timezone)
    fast = run_vee(table, SITE, start, end)
    assert fast.channels["gt1"].counts.estimated > 0 and "unknown_channel" in fast.findings_by_check()
    plain = MeterRows.from_arrays(
        table.column("channel").to_numpy(zero_copy_only=False),
        table.column("interval_start_utc").cast(pa.int64()).to_numpy(),
        table.column("interval_minutes").to_numpy(), table.column("energy_wh").to_numpy(),
        table.column("quality").fill_null("A").to_numpy(zero_copy_only=False),
        table.column("ingested_at_utc").cast(pa.int64()).to_numpy())
    _same(fast, run_vee(plain, SITE, start, end))
    perm = np.random.default_rng(seed).permutation(table.num_rows)
    _same(fast, run_vee(table.take(perm), SITE, start, end))
    # channel and quality dictionary-encoded (as the settlement reads them), in chunks
    # with different dictionaries: the same answer
    dictionary = pa.concat_tables([
        t.set_column(1, "channel", pc.dictionary_encode(t.column("channel")))
         .set_column(5, "quality", pc.dictionary_encode(t.column("quality")))
        for t in (table.slice(0, table.num_rows // 3), table.slice(table.num_rows // 3))])
    assert pa.types.is_dictionary(dictionary.schema.field("quality").type)
    _same(fast, run_vee(dictionary, SITE, start, end))
    pv1 = table.filter(pc.equal(table.column("channel"), "pv1"))    # a dictionary of just "A"
    clean = pv1.set_column(5, "quality", pc.dictionary_encode(pv1.column("quality")))
    assert clean.column("quality").chunk(0).dictionary.to_pylist() == ["A"]
    assert run_vee(clean, SITE, start, end).to_arrow().equals(
        run_vee(pv1, SITE, start, end).to_arrow())
    # without findings (the settlement's way): the same channels and counts
    quiet = run_vee(table, SITE, start, end, findings=False)
    assert quiet.to_arrow().equals(fast.to_arrow()) and quiet.counts == fast.counts
    assert quiet.findings == () and fast.findings
    assert [c.filled for c in quiet.channels.values()] == [c.filled for c in fast.channels.values()]
    # a null channel cannot be dictionary-coded: the plain path gives the same answer
    with_null = pa.concat_tables([table, table.slice(0, 1).set_column(
        1, "channel", pa.array([None], pa.string()))])
    rows = MeterRows.from_table(with_null)
    assert rows.channel_codes is None and rows.channel.size == table.num_rows + 1


def test_vee_codes_reach_settlement_as_their_letters_would():
    """``SiteIntervals`` takes a ChannelVee's quality codes; the same channels given as
    plain letter series give the same site quality and energy."""
    start, end = local_month_bounds_us("2026-03", SITE.timezone)
    vee = run_vee(messy_rows(4), SITE, start, end)
    gt1 = vee.channels["gt1"]
    assert gt1.quality_code.dtype == np.uint8 and gt1.quality.dtype.kind == "U"
    assert {"A", "E", "S", "N"} <= set(gt1.quality.tolist())
    assert {"ACT", "SRC", "MISSING"} <= set(gt1.method.tolist())
    names = sorted(vee.channels)
    letters = {n: ChannelSeries(c.grid_us, c.energy_wh, c.quality, c.method, c.interval_minutes)
               for n, c in vee.channels.items()}
    a = SiteIntervals.build(SITE, vee.channels, names, start, end)
    b = SiteIntervals.build(SITE, letters, names, start, end)
    for n in names:
        assert np.array_equal(a.quality[n], b.quality[n]) and np.array_equal(a.energy[n], b.energy[n])
    assert 2 in a.quality["gt1"].tolist() and 1 in a.quality["gt1"].tolist()


def test_interval_length_by_counting_equals_by_sorting():
    assert target_interval_minutes(np.array([5, 15, 15, 5, 60]), 60) == 5      # tie: shorter
    assert target_interval_minutes(np.array([15, 15, 5]), 60) == 15
    assert target_interval_minutes(np.array([], dtype=np.int64), 30) == 30
    assert target_interval_minutes(np.array([2000, 2000, 5]), 60) == 2000       # out of range


@pytest.mark.parametrize("case", ["sorted", "shuffled", "gaps", "outside", "before", "after",
                                  "over_nameplate"])
def test_one_pass_placement_equals_the_general_placement(case, monkeypatch):
    import engine.vee.grid as vg
    rng = np.random.default_rng(7)
    step = 5 * US_PER_MINUTE
    start = 1_780_000_000 * 10**6 // step * step
    starts = start + np.arange(2000, dtype=np.int64) * step
    energy = rng.integers(-5, 1_000, starts.size)
    if case == "shuffled":
        order = rng.permutation(starts.size)
        starts, energy = starts[order], energy[order]
    if case == "gaps":
        keep = rng.random(starts.size) > 0.1
        starts, energy = starts[keep], energy[keep]
    n_slots = 1800 if case == "outside" else 2000
    shift = {"outside": 100, "before": 5000, "after": -3000}.get(case, 0)   # grid vs rows
    origin = start + shift * step
    limit = 150.0 if case == "over_nameplate" else None
    rows = vg.ChannelRows(starts, np.full(starts.size, 5), energy,
                          np.full(starts.size, "A", "<U1"), np.zeros(starts.size, np.int64))
    assert vg._place_native_actual(rows, origin, n_slots, 5, limit, []) is not None
    fast = vg.place_on_grid(rows, origin, n_slots, 5, limit)
    monkeypatch.setattr(vg, "_place_native_actual", lambda *a: None)
    general = vg.place_on_grid(rows, origin, n_slots, 5, limit)
    for name in ("value_wh", "present", "quality", "method", "negative", "impossible"):
        assert np.array_equal(getattr(fast, name), getattr(general, name)), name
    assert fast.issues == general.issues
