"""Supersession inside the table: any Delta reader sees the corrected values, older versions
keep the old ones, only the files holding superseded rows are rewritten, and tables
written the old way are still read right.

"Any reader" is tested with the ``deltalake`` package (as a new user reads a table) and,
on the local backend, DuckDB over the files the current version lists (DuckDB's own
Delta extension cannot be installed offline).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.schema import INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA
from engine.timebase import local_month_bounds_us, to_us
from storage.ingest import ingest_meter
from storage.objectstore import ObjectStore
from storage.tables import Tables
from storage.tables.append import append_on_read
from tests.support.meter_data import meter_csv_lines, meter_table, site_registry, write_meter_csv
from tests.support.race import race

TZ = "America/Chicago"
T0 = datetime(2026, 10, 1, 5, 0, tzinfo=timezone.utc)        # 2026-10-01 00:00 CDT
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
OCT = local_month_bounds_us("2026-10", TZ)
KEY = [("channel", "ascending"), ("interval_start_utc", "ascending")]


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def delta_read(tables: Tables, name: str, version: int | None = None) -> pa.Table:
    """The table as a plain ``deltalake`` reader sees it (current version, or ``version``)."""
    from deltalake import DeltaTable
    dt = DeltaTable(tables.uri(name), version=version,
                    storage_options=tables.store.delta_storage_options())
    return pa.table(dt.to_pyarrow_dataset().to_table())


def site_month(t: pa.Table, site: str, month: str) -> pa.Table:
    t = t.filter(pc.and_(pc.equal(t.column("site_id"), site), pc.equal(t.column("month"), month)))
    return t.select(METER_SCHEMA.names).cast(METER_SCHEMA).sort_by(KEY)


def test_a_correction_is_what_every_reader_reads_and_old_versions_keep_the_old(store, tmp_path):
    """The TX-DC1 October story: a month of 5-minute data on two channels, then a
    correction of part of it; a plain Delta reader used to count both rows."""
    sites = site_registry("TX-DC1", channels={"gt1": "generation", "dc": "load"})
    n = 8928                                            # 31 days x 288
    month = write_meter_csv(tmp_path / "oct.csv", [
        *meter_csv_lines("TX-DC1", "gt1", T0, np.full(n // 2, 20_833), minutes=5),
        *meter_csv_lines("TX-DC1", "dc", T0, np.full(n // 2, 15_000), minutes=5)])
    fixed = np.arange(0, n // 2, 16)                    # every 16th gt1 interval
    fix = write_meter_csv(tmp_path / "fix.csv", meter_csv_lines(
        "TX-DC1", "gt1", to_us(T0) + fixed * 300_000_000, np.full(fixed.size, 19_000),
        minutes=5, quality="S"))
    v0 = ingest_meter(store, [month], "csv", sites=sites, now_utc=NOW).version
    rep = ingest_meter(store, [fix], "csv", sites=sites, now_utc=NOW + timedelta(days=1))
    assert rep.rows_superseded == fixed.size and rep.version == v0 + 1

    tables = Tables(store)
    ours = tables.read_meter("TX-DC1", TZ, *OCT)
    outside = site_month(delta_read(tables, "meter"), "TX-DC1", "2026-10")
    assert outside.num_rows == ours.num_rows == n
    assert outside.equals(ours)
    total_wh = pc.sum(outside.column("energy_wh")).as_py()
    assert total_wh == (n // 2 - fixed.size) * 20_833 + fixed.size * 19_000 + n // 2 * 15_000

    old = site_month(delta_read(tables, "meter", v0), "TX-DC1", "2026-10")
    assert old.equals(tables.read_meter("TX-DC1", TZ, *OCT, as_of=v0))
    assert pc.sum(old.column("energy_wh")).as_py() == n // 2 * (20_833 + 15_000)
    assert tables._snapshot("meter", rep.version).keys_unique

    if not store.is_s3:                       # DuckDB over the files the version lists
        duckdb = pytest.importorskip("duckdb")
        from deltalake import DeltaTable
        files = DeltaTable(tables.uri("meter")).file_uris()
        count, wh = duckdb.sql(f"SELECT count(*), sum(energy_wh) FROM read_parquet({files!r})").fetchall()[0]
        assert (count, wh) == (n, total_wh)


def price_rows(node: str, lmps: list[int], at: datetime, sha: str) -> pa.Table:
    n = len(lmps)
    ts = [to_us(T0 + timedelta(hours=i)) for i in range(n)]
    return pa.table({
        "iso": ["ERCOT"] * n, "node": [node] * n, "market_run": ["DA"] * n,
        "interval_start_utc": pa.array(ts, pa.timestamp("us", tz="UTC")),
        "interval_minutes": pa.array([60] * n, pa.int16()),
        "lmp_microusd_per_mwh": pa.array(lmps, pa.int64()),
        "energy_microusd_per_mwh": pa.nulls(n, pa.int64()),
        "congestion_microusd_per_mwh": pa.nulls(n, pa.int64()),
        "loss_microusd_per_mwh": pa.nulls(n, pa.int64()),
        "source_file": ["p.csv"] * n, "source_sha256": [sha * 64] * n,
        "ingested_at_utc": pa.array([to_us(at)] * n, pa.timestamp("us", tz="UTC")),
        "month": ["2026-10"] * n}, schema=PRICE_SCHEMA)


def index_rows(index: str, values: list[int], at: datetime, sha: str) -> pa.Table:
    n = len(values)
    return pa.table({
        "index": [index] * n, "period_start": [date(2026, 10, 1) + timedelta(days=i) for i in range(n)],
        "value_micro": pa.array(values, pa.int64()), "unit": ["usd_per_mmbtu"] * n,
        "source_file": ["i.csv"] * n, "source_sha256": [sha * 64] * n,
        "ingested_at_utc": pa.array([to_us(at)] * n, pa.timestamp("us", tz="UTC"))},
        schema=INDEX_SCHEMA)


def test_price_and_index_corrections_are_in_the_table(store):
    tables = Tables(store)
    v0 = tables.append("prices", pa.concat_tables([price_rows("HB_NORTH", [10, 20, 30], T0, "a"),
                                                   price_rows("HB_WEST", [1, 2, 3], T0, "a")]))
    tables.append("prices", price_rows("HB_NORTH", [10, 25], T0 + timedelta(days=1), "b"))
    got = tables.read_prices("ERCOT", "HB_NORTH", "DA", to_us(T0), to_us(T0) + 10**11)
    assert got.column("lmp_microusd_per_mwh").to_pylist() == [10, 25, 30]
    outside = delta_read(tables, "prices").sort_by([("node", "ascending"),
                                                   ("interval_start_utc", "ascending")])
    assert outside.num_rows == 6
    assert outside.column("lmp_microusd_per_mwh").to_pylist() == [10, 25, 30, 1, 2, 3]
    assert sorted(delta_read(tables, "prices", v0).column("lmp_microusd_per_mwh").to_pylist()) == \
        [1, 2, 3, 10, 20, 30]

    # an index whose name needs percent-encoding in the file's path
    name = "HENRY HUB/spot%"
    i0 = tables.append("index", index_rows(name, [3_120_000, 3_200_000], T0, "a"))
    tables.append("index", index_rows(name, [3_150_000], T0 + timedelta(days=1), "b"))
    assert tables.read_index(name, date(2026, 10, 1), date(2026, 11, 1)).column(
        "value_micro").to_pylist() == [3_150_000, 3_200_000]
    assert sorted(delta_read(tables, "index").column("value_micro").to_pylist()) == \
        [3_150_000, 3_200_000]
    assert sorted(delta_read(tables, "index", i0).column("value_micro").to_pylist()) == \
        [3_120_000, 3_200_000]
    assert tables.partitions("index") == [(name,)]


def test_grid_factor_corrections_are_in_the_table(store, tmp_path):
    """The carbon table follows the same rule: a corrected factor file read with the
    ``deltalake`` package gives one row per hour, the corrected value."""
    from storage.ingest import ingest_grid_factors
    head = "balancing_authority,interval_start,co2e_kg_per_mwh,cfe_share\n"
    hours = [f"2026-10-01T{5 + h:02d}:00:00Z" for h in range(4)]
    first = tmp_path / "erco.csv"
    first.write_text(head + "".join(f"ERCO,{t},400.0,0.3\n" for t in hours))
    fix = tmp_path / "erco-fix.csv"
    fix.write_text(head + f"ERCO,{hours[1]},350.5,0.4\n")
    v0 = ingest_grid_factors(store, [first], now_utc=NOW).version
    rep = ingest_grid_factors(store, [fix], now_utc=NOW + timedelta(days=1))
    assert rep.rows_superseded == 1
    tables = Tables(store)
    outside = delta_read(tables, "grid_factors").sort_by("interval_start_utc")
    assert outside.num_rows == 4
    assert outside.column("co2e_mg_per_mwh").to_pylist() == [400_000_000, 350_500_000,
                                                             400_000_000, 400_000_000]
    assert delta_read(tables, "grid_factors", v0).column("co2e_mg_per_mwh").to_pylist() == \
        [400_000_000] * 4
    assert tables.read_partition("grid_factors", {"balancing_authority": "ERCO", "month": "2026-10"}
                                 ).sort_by("interval_start_utc").column("co2e_mg_per_mwh").equals(
        outside.column("co2e_mg_per_mwh"))


def commit_actions(tables: Tables, name: str, version: int):
    entry = tables.delta_log.log_entry(name, version)
    return {a.rel_path for a in entry.adds}, {r.rel_path for r in entry.removes}


def test_only_files_holding_superseded_rows_are_rewritten(store):
    tables = Tables(store)
    late_oct = T0 + timedelta(days=30)
    tables.append("meter", pa.concat_tables([
        meter_table("S1", "gt1", late_oct, list(range(48)), tz=TZ),       # Oct 31 and Nov 1
        meter_table("S2", "gt1", late_oct, list(range(48)), tz=TZ)]))
    files0 = set(tables._snapshot("meter", 0).files.column("rel_path").to_pylist())
    assert len(files0) == 4                             # two sites x two months

    # new intervals: appended, nothing retired
    v1 = tables.append("meter", meter_table("S1", "gt1", late_oct + timedelta(hours=48), [7] * 24,
                                            tz=TZ, ingested_at=NOW))
    added, removed = commit_actions(tables, "meter", v1)
    assert len(added) == 1 and not removed

    # a correction of two S1 intervals in October: only S1's October file is rewritten
    v2 = tables.append("meter", meter_table("S1", "gt1", late_oct, [100, 101], tz=TZ,
                                            ingested_at=NOW + timedelta(hours=1)))
    added, removed = commit_actions(tables, "meter", v2)
    assert len(added) == len(removed) == 1
    [gone] = removed
    assert gone.startswith("site_id=S1/month=2026-10/") and gone in files0
    now_files = set(tables._snapshot("meter", v2).files.column("rel_path").to_pylist())
    assert files0 - {gone} <= now_files
    rows = tables.read_meter("S1", TZ, to_us(late_oct), to_us(late_oct) + 3 * 86_400_000_000)
    assert rows.column("energy_wh").to_pylist()[:3] == [100, 101, 2]
    assert rows.num_rows == 72


def test_several_files_in_a_partition_are_read_in_key_order_without_dedupe(store):
    tables = Tables(store)
    for day in (2, 0, 1):                               # daily files, out of order
        for ch in ("gt1", "dc"):
            tables.append("meter", meter_table("S1", ch, T0 + timedelta(days=day), [day] * 24, tz=TZ))
    snap = tables._snapshot("meter", tables.version("meter"))
    assert snap.keys_unique and snap.files.num_rows == 6
    rows = tables.read_meter("S1", TZ, *OCT)
    assert rows.num_rows == 144
    assert rows.equals(rows.sort_by(KEY))
    assert rows.column("energy_wh").to_pylist() == ([0] * 24 + [1] * 24 + [2] * 24) * 2
    both = tables.read_meter("S1", TZ, *OCT, columns=["channel", "energy_wh"], dictionary=("channel",))
    assert both.column("energy_wh").to_pylist() == rows.column("energy_wh").to_pylist()


def test_a_key_stored_under_another_month_is_superseded_there(store):
    """A site whose zone changed between ingests: the same interval labels another
    local month; the correction must not leave the old row in the old partition."""
    tables = Tables(store)
    boundary = datetime(2026, 11, 1, 4, 0, tzinfo=timezone.utc)    # 23:00 CDT Oct 31
    tables.append("meter", meter_table("S1", "gt1", boundary, [1, 2, 3], tz=TZ))
    assert tables.meter_partitions() == [("S1", "2026-10"), ("S1", "2026-11")]
    tables.append("meter", meter_table("S1", "gt1", boundary, [9], tz="UTC", ingested_at=NOW))
    outside = delta_read(tables, "meter").sort_by([("interval_start_utc", "ascending")])
    assert outside.column("energy_wh").to_pylist() == [9, 2, 3]
    assert outside.column("month").to_pylist() == ["2026-11", "2026-11", "2026-11"]
    assert tables.read_meter("S1", TZ, to_us(boundary), to_us(boundary) + 10**10).column(
        "energy_wh").to_pylist() == [9, 2, 3]


def test_tables_written_the_old_way_are_still_superseded_on_read(store):
    tables = Tables(store)
    append_on_read(tables.delta_log, "meter", meter_table("S1", "gt1", T0, [1, 2, 3], tz=TZ))
    v1 = tables.append("meter", meter_table("S1", "gt1", T0 + timedelta(hours=1), [20], tz=TZ,
                                            ingested_at=NOW))
    added, removed = commit_actions(tables, "meter", v1)
    assert len(added) == 1 and not removed              # appended, the old way
    snap = tables._snapshot("meter", v1)
    assert snap.append_only and not snap.keys_unique
    assert tables.read_meter("S1", TZ, *OCT).column("energy_wh").to_pylist() == [1, 20, 3]
    assert delta_read(tables, "meter").num_rows == 4     # why `m2c tables optimize` upgrades


def test_concurrent_writers_never_leave_two_rows_for_one_key(store):
    tables = Tables(store)
    tables.append("meter", meter_table("S1", "gt1", T0, [0] * 6, tz=TZ))

    def writer(i: int) -> int:
        t = Tables(ObjectStore.from_config(store.config))
        return t.append("meter", meter_table("S1", "gt1", T0, [i + 1] * 6, tz=TZ,
                                             ingested_at=NOW + timedelta(minutes=i)))
    versions = race(writer, 3)
    assert sorted(versions) == [1, 2, 3]
    outside = delta_read(tables, "meter")
    assert outside.num_rows == 6                          # one row per key
    assert set(outside.column("energy_wh").to_pylist()) == {3}     # the latest ingest
    assert tables.read_meter("S1", TZ, *OCT).column("energy_wh").to_pylist() == [3] * 6
    assert all(tables._snapshot("meter", v).keys_unique for v in range(4))
