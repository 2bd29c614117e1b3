"""The demo portfolio generator: determinism, physics, market shape, files, and the
problems it injects being found by VEE."""
from __future__ import annotations

import csv
from decimal import Decimal

import numpy as np
import pyarrow.compute as pc
import pytest

from engine.sites import parse_sites
from engine.timebase import local_fields, local_month_bounds_us
from engine.vee import run_vee
from jobs.demo import METER_COLUMNS, PRICE_COLUMNS, build_portfolio, write_demo_files


@pytest.fixture(scope="module")
def demo():
    return build_portfolio(sites=3, months=2, minutes=5, seed=7, end_period="2026-10")


def site_rows(p, site_id):
    t = p.meter_wh.filter(pc.equal(p.meter_wh.column("site_id"), site_id))
    ch = np.asarray(t.column("channel").to_pylist())
    return (ch, t.column("interval_start_utc").cast("int64").to_numpy(),
            t.column("energy_wh").to_numpy())


def test_same_arguments_same_numbers_other_seed_other_numbers(demo):
    again = build_portfolio(sites=3, months=2, minutes=5, seed=7, end_period="2026-10")
    assert again.meter_wh.equals(demo.meter_wh)
    assert all(np.array_equal(a.lmp_cents, b.lmp_cents)
               for a, b in zip(again.price_series, demo.price_series))
    other = build_portfolio(sites=1, months=1, minutes=5, seed=8, end_period="2026-10")
    mine = demo.meter_table("TX-DC1", "2026-10")
    assert other.meter_table("TX-DC1", "2026-10").column("kwh") != mine.column("kwh")


def test_adding_sites_does_not_change_existing_ones(demo):
    one = build_portfolio(sites=1, months=2, minutes=5, seed=7, end_period="2026-10")
    assert one.meter_table("TX-DC1").equals(demo.meter_table("TX-DC1"))
    ercot = [s for s in demo.price_series if s.node == "HB_NORTH"]
    assert all(np.array_equal(a.lmp_cents, b.lmp_cents) for a, b in
               zip([s for s in one.price_series if s.node == "HB_NORTH"], ercot))


def test_registry_document_is_valid_and_spans_two_zones(demo):
    sites = parse_sites(demo.sites_doc, "demo")
    assert list(sites) == ["TX-DC1", "TX-DC2", "VA-DC1"]
    assert {s.timezone for s in sites.values()} == {"America/Chicago", "America/New_York"}
    kinds = {c.kind for c in sites["TX-DC1"].channels.values()}
    assert kinds == {"load", "generation", "storage_discharge", "storage_charge", "grid_import",
                     "grid_export"}
    assert sites["TX-DC1"].channels["gt1"].heat_rate_mmbtu_per_mwh == 6.8
    assert demo.contracts == []


def test_full_local_months_and_exact_energy_balance(demo):
    for site_id, site in demo.sites.items():
        ch, start, wh = site_rows(demo, site_id)
        s, _ = local_month_bounds_us("2026-09", site.timezone)
        _, e = local_month_bounds_us("2026-10", site.timezone)
        assert start.min() == s and start.max() == e - 5 * 60_000_000
        assert (wh >= 0).all()
        if site_id == "TX-DC1":
            continue                                 # carries the injected problems
        by = {c: wh[ch == c] for c in site.channels}
        sign = {"load": -1, "storage_charge": -1, "grid_export": -1, "generation": 1,
                "storage_discharge": 1, "grid_import": 1}
        total = sum(sign[site.channels[c].kind] * v for c, v in by.items())
        assert (total == 0).all()
        assert not ((by["imp"] > 0) & (by["exp"] > 0)).any()


def test_channel_shapes(demo):
    site = demo.sites["TX-DC2"]
    ch, start, wh = site_rows(demo, "TX-DC2")
    hour = local_fields(start, site.timezone).hour
    pv = wh[ch == "pv1"]
    pv_hour = hour[ch == "pv1"]
    assert pv[(pv_hour < 5) | (pv_hour >= 21)].max() == 0            # no sun at night
    assert pv.max() <= 200_000 * 1000 * 5 / 60                      # under nameplate
    noon = pv[(pv_hour >= 11) & (pv_hour < 14)]
    assert np.median(noon) > 0.3 * 200_000 * 1000 * 5 / 60
    chg_hours = set(hour[(ch == "bess_chg")][wh[ch == "bess_chg"] > 0].tolist())
    dis_hours = set(hour[(ch == "bess_dis")][wh[ch == "bess_dis"] > 0].tolist())
    assert chg_hours == {10, 11, 12, 13} and dis_hours == {17, 18, 19, 20}
    gt = wh[ch == "gt1"]
    assert (gt == 0).sum() >= 2 * 12                                # forced outages of >= 2 h
    dc = wh[ch == "dc"]
    assert dc.std() / dc.mean() < 0.05                              # data centre: ~flat


def test_prices_are_ercot_like(demo):
    rt = {s.node: s for s in demo.price_series if s.market_run == "RT"}
    da = {s.node: s for s in demo.price_series if s.market_run == "DA"}
    assert set(rt) == {"HB_NORTH", "LZ_NORTH", "LZ_WEST", "WESTERN_HUB", "DOM"}
    hub = rt["HB_NORTH"]
    assert hub.interval_minutes == 5 and da["HB_NORTH"].interval_minutes == 60
    assert (hub.lmp_cents < 0).any()                                # negative midday prices
    assert hub.lmp_cents.max() >= 300_000                           # scarcity >= $3,000
    assert hub.lmp_cents.max() <= 500_000                           # ERCOT cap
    assert 1_500 < np.median(hub.lmp_cents) < 5_000
    node = rt["LZ_NORTH"]
    assert np.array_equal(node.lmp_cents,
                          node.energy_cents + node.congestion_cents + node.loss_cents)
    table = demo.prices_table("ERCOT", "RT")
    assert tuple(table.column_names) == PRICE_COLUMNS
    for row in table.slice(0, 500).to_pylist():
        parts = (Decimal(row[c]) for c in ("energy_usd_per_mwh", "congestion_usd_per_mwh",
                                           "loss_usd_per_mwh"))
        assert sum(parts) == Decimal(row["lmp_usd_per_mwh"])


def test_indices(demo):
    days, hh = demo.henry_hub
    assert all((b - a).days == 1 for a, b in zip(days, days[1:]))
    assert 25_000 <= hh.min() and hh.max() <= 40_000
    for d, v, prev in zip(days[1:], hh[1:], hh[:-1]):
        if d.weekday() >= 5:
            assert v == prev                                        # weekends carry Friday
    months, cpi = demo.cpi_u
    assert len(months) == 24 and months[-1].isoformat() == "2026-10-01"
    assert (np.diff(cpi) != 0).all()
    t = demo.index_table()
    assert t.column("unit").unique().to_pylist() == ["usd_per_mmbtu", "index"]


def test_injected_problems_are_found_by_vee(demo):
    site = demo.sites["TX-DC1"]
    start, end = local_month_bounds_us("2026-10", site.timezone)
    r = run_vee(demo.raw_meter_wh("TX-DC1"), site, start, end)
    found = {(f.check, f.channel, int(f.start_utc.timestamp() * 1e6)) for f in r.findings}
    for p in demo.injected:
        assert (p.check, p.channel, p.start_us) in found, p
    gaps = {f.channel: f for f in r.findings if f.check == "gap"}
    assert "LIN" in gaps["dc"].detail and gaps["dc"].intervals == 6
    assert "LIKEDAY" in gaps["pv1"].detail and gaps["pv1"].intervals == 36
    assert r.counts.missing == 0 and r.counts.estimated == 42
    assert not [f for f in r.findings if f.check == "spike" and f.channel != "dc"]
    assert not [f for f in r.findings if f.check == "impossible"]


def test_other_sites_are_clean_for_vee(demo):
    for site_id in ("TX-DC2", "VA-DC1"):
        site = demo.sites[site_id]
        start, end = local_month_bounds_us("2026-10", site.timezone)
        r = run_vee(demo.meter_wh.filter(pc.equal(demo.meter_wh.column("site_id"), site_id)),
                    site, start, end)
        assert r.counts.estimated == 0 and r.counts.missing == 0
        assert {f.check for f in r.findings} <= {"dst_day"}


def test_files_are_canonical_and_byte_identical_on_rerun(demo, tmp_path):
    files = write_demo_files(demo, tmp_path / "a")
    again = write_demo_files(build_portfolio(sites=3, months=2, minutes=5, seed=7,
                                             end_period="2026-10"), tmp_path / "b")
    for kind in files:
        for a, b in zip(files[kind], again[kind]):
            assert a.read_bytes() == b.read_bytes(), a
    assert len(files["meter"]) == 3 * 2 and len(files["prices"]) == 4
    assert [p.name for p in files["meter_resend"]] == ["TX-DC1_2026-10.csv"]
    assert len(files["meter_resend"][0].read_text().splitlines()) == 2
    path = tmp_path / "a" / "meter" / "TX-DC2_2026-10.csv"
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == METER_COLUMNS
    ch, start, wh = site_rows(demo, "TX-DC2")
    first = rows[1]
    assert first[2].endswith("Z") and first[3] == "5" and first[5] == "A"
    assert len(first[4].split(".")[1]) == 3
    total_wh = sum(int(Decimal(r[4]) * 1000) for r in rows[1:])
    s, e = local_month_bounds_us("2026-10", "America/Chicago")
    assert total_wh == int(wh[(start >= s) & (start < e)].sum())


def test_other_resolutions_and_arguments():
    p = build_portfolio(sites=5, months=1, minutes=15, seed=3, end_period="2026-03")
    assert sorted(p.sites) == ["TX-DC1", "TX-DC2", "TX-DC3", "TX-DC5", "VA-DC1"]
    assert set(p.meter_wh.column("interval_minutes").unique().to_pylist()) == {15}
    site = p.sites["TX-DC1"]
    s, e = local_month_bounds_us("2026-03", site.timezone)
    r = run_vee(p.meter_wh.filter(pc.equal(p.meter_wh.column("site_id"), "TX-DC1")), site, s, e)
    assert r.channels["dc"].counts.intervals_expected == 743 * 4
    with pytest.raises(ValueError):
        build_portfolio(minutes=7)
    with pytest.raises(ValueError):
        build_portfolio(end_period="2026-13")
