"""Delta tables: append-only versions, as-of reads, dedupe-on-read, partition pruning."""
from __future__ import annotations

import time
from functools import partial
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import InputError
from engine.schema import INDEX_SCHEMA, METER_SCHEMA, PRICE_SCHEMA
from engine.timebase import local_month_bounds_us, to_us
from storage.objectstore import ObjectStore
from storage.tables import Tables, dedupe_latest
from tests.support.meter_data import meter_table
from tests.support.race import race

TZ = "America/Chicago"
T0 = datetime(2026, 10, 1, 5, 0, tzinfo=timezone.utc)       # 2026-10-01 00:00 CDT


#: ``meter_rows(site, channel, first_start, values)``: hourly rows ingested at T0 from one
#: file; a test passes ``ingested_at`` / ``sha256`` for a later ingest or another file
meter_rows = partial(meter_table, tz=TZ, ingested_at=T0, sha256="a" * 64)


@pytest.fixture
def tables(storage_config) -> Tables:
    return Tables(ObjectStore.from_config(storage_config))


def test_empty_table(tables):
    assert tables.version("meter") is None
    assert tables.resolve_as_of("meter", None) is None
    assert tables.read_meter("S", TZ, 0, 10**12).num_rows == 0
    assert tables.meter_partitions() == []
    with pytest.raises(InputError):
        tables.resolve_as_of("meter", 0)


def test_meter_files_delta_encode_times_and_energy(tables):
    tables.append("meter", meter_rows("S1", "gt1", T0, list(range(1000, 1500))))
    fs, _ = tables.store.arrow_filesystem()
    [path] = tables._snapshot("meter", 0).files.column("path").to_pylist()
    with fs.open_input_file(tables.store.arrow_path(path)) as f:
        meta = pq.ParquetFile(f).metadata
    enc = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i).encodings
           for i in range(meta.num_columns)}
    for col in ("interval_start_utc", "energy_wh"):
        assert "DELTA_BINARY_PACKED" in enc[col] and "RLE_DICTIONARY" not in enc[col], enc[col]
    assert "RLE_DICTIONARY" in enc["channel"]
    start, end = local_month_bounds_us("2026-10", TZ)
    got = tables.read_meter("S1", TZ, start, end)
    assert got.column("energy_wh").to_pylist() == list(range(1000, 1500))


def test_append_versions_and_as_of_by_version(tables):
    start, end = local_month_bounds_us("2026-10", TZ)
    v0 = tables.append("meter", meter_rows("S1", "gt1", T0, [10, 20, 30]))
    assert v0 == 0 and tables.version("meter") == 0
    later = T0 + timedelta(days=1)
    v1 = tables.append("meter", meter_rows("S1", "gt1", T0 + timedelta(hours=1), [99],
                                           ingested_at=later, sha256="b" * 64))
    assert v1 == 1
    now = tables.read_meter("S1", TZ, start, end)
    assert now.schema == METER_SCHEMA
    assert now.column("energy_wh").to_pylist() == [10, 99, 30]           # superseded
    old = tables.read_meter("S1", TZ, start, end, as_of=0)
    assert old.column("energy_wh").to_pylist() == [10, 20, 30]           # as of version 0
    assert now.column("month").to_pylist() == ["2026-10"] * 3
    with pytest.raises(InputError, match="version 5 does not exist"):
        tables.read_meter("S1", TZ, start, end, as_of=5)


def test_as_of_by_time(tables):
    tables.append("meter", meter_rows("S1", "gt1", T0, [1]))
    time.sleep(0.02)
    between = datetime.now(timezone.utc)
    time.sleep(0.02)
    tables.append("meter", meter_rows("S1", "gt1", T0, [2], ingested_at=T0 + timedelta(hours=1)))
    assert tables.resolve_as_of("meter", between) == 0
    assert tables.resolve_as_of("meter", datetime.now(timezone.utc)) == 1
    start, end = local_month_bounds_us("2026-10", TZ)
    assert tables.read_meter("S1", TZ, start, end, as_of=between).column("energy_wh").to_pylist() == [1]
    with pytest.raises(InputError, match="at or before"):
        tables.resolve_as_of("meter", datetime(2000, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(InputError, match="timezone-aware"):
        tables.resolve_as_of("meter", datetime(2030, 1, 1))


def test_tie_on_ingested_at_is_broken_by_sha(tables):
    tables.append("meter", meter_rows("S1", "gt1", T0, [5], sha256="b" * 64))
    tables.append("meter", meter_rows("S1", "gt1", T0, [7], sha256="a" * 64))
    start, end = local_month_bounds_us("2026-10", TZ)
    assert tables.read_meter("S1", TZ, start, end).column("energy_wh").to_pylist() == [5]


def test_read_meter_range_channels_and_local_month_partitions(tables):
    # 2026-10-31 23:00 CDT .. 2026-11-01 01:00 CDT spans two site-local months
    late_oct = datetime(2026, 11, 1, 4, 0, tzinfo=timezone.utc)
    tables.append("meter", pa.concat_tables([
        meter_rows("S1", "gt1", late_oct, [1, 2, 3]),
        meter_rows("S1", "dc", late_oct, [4, 5, 6]),
        meter_rows("S2", "gt1", late_oct, [7, 8, 9])]))
    assert tables.meter_partitions() == [("S1", "2026-10"), ("S1", "2026-11"),
                                         ("S2", "2026-10"), ("S2", "2026-11")]
    lo, hi = to_us(late_oct), to_us(late_oct + timedelta(hours=3))
    both = tables.read_meter("S1", TZ, lo, hi)
    assert both.column("channel").to_pylist() == ["dc"] * 3 + ["gt1"] * 3
    assert both.column("energy_wh").to_pylist() == [4, 5, 6, 1, 2, 3]
    assert both.column("month").to_pylist() == ["2026-10", "2026-11", "2026-11"] * 2
    only = tables.read_meter("S1", TZ, lo + 3_600_000_000, hi, channels=["gt1"])
    assert only.column("energy_wh").to_pylist() == [2, 3]
    nov_start, nov_end = local_month_bounds_us("2026-11", TZ)
    assert tables.read_meter("S2", TZ, nov_start, nov_end).column("energy_wh").to_pylist() == [8, 9]


def test_concurrent_appends_both_commit(tables):
    def writer(i: int) -> int:
        # separate Tables instances = separate writers sharing only the store
        t = Tables(ObjectStore.from_config(tables.store.config))
        return t.append("meter", meter_rows("S1", f"ch{i}", T0, [i]), metadata={"writer": i})
    versions = race(writer, 2)          # raises if a writer failed
    assert sorted(versions) == [0, 1]
    start, end = local_month_bounds_us("2026-10", TZ)
    rows = tables.read_meter("S1", TZ, start, end)
    assert rows.column("channel").to_pylist() == ["ch0", "ch1"]
    hist = tables.history("meter")
    assert [h["version"] for h in hist] == [0, 1]
    assert {h["metadata"]["writer"] for h in hist} == {0, 1}


def test_prices_and_index(tables):
    ts = pa.array([to_us(T0), to_us(T0 + timedelta(hours=1))], pa.timestamp("us", tz="UTC"))
    prov = {"source_file": ["p.csv"] * 2, "source_sha256": ["c" * 64] * 2,
            "ingested_at_utc": pa.array([to_us(T0)] * 2, pa.timestamp("us", tz="UTC"))}
    tables.append("prices", pa.table({
        "iso": ["ERCOT"] * 2, "node": ["HB_NORTH", "HB_WEST"], "market_run": ["DA"] * 2,
        "interval_start_utc": ts, "interval_minutes": pa.array([60] * 2, pa.int16()),
        "lmp_microusd_per_mwh": pa.array([-1_500_000, 30_000_000], pa.int64()),
        "energy_microusd_per_mwh": pa.array([None, None], pa.int64()),
        "congestion_microusd_per_mwh": pa.array([None, None], pa.int64()),
        "loss_microusd_per_mwh": pa.array([None, None], pa.int64()),
        **prov, "month": ["2026-10"] * 2}, schema=PRICE_SCHEMA))
    p = tables.read_prices("ERCOT", "HB_NORTH", "DA", to_us(T0), to_us(T0) + 86_400_000_000)
    assert p.column("lmp_microusd_per_mwh").to_pylist() == [-1_500_000]
    assert tables.read_prices("ERCOT", "HB_NORTH", "RT", to_us(T0), to_us(T0) + 10**9).num_rows == 0
    tables.append("index", pa.table({
        "index": ["HENRY_HUB"] * 2, "period_start": [date(2026, 10, 1), date(2026, 10, 2)],
        "value_micro": pa.array([3_120_000, 3_200_000], pa.int64()), "unit": ["usd_per_mmbtu"] * 2,
        **prov}, schema=INDEX_SCHEMA))
    idx = tables.read_index("HENRY_HUB", date(2026, 10, 2), date(2026, 11, 1))
    assert idx.column("value_micro").to_pylist() == [3_200_000]
    assert tables.partitions("index") == [("HENRY_HUB",)]


def test_dedupe_latest_unit():
    t = pa.table({"k": [2, 1, 2, 1],
                  "ingested_at_utc": pa.array([1, 1, 2, 1], pa.timestamp("us", tz="UTC")),
                  "source_sha256": ["a", "a", "a", "b"], "v": [10, 11, 12, 13]})
    out = dedupe_latest(t, ["k"])
    assert out.column("k").to_pylist() == [1, 2] and out.column("v").to_pylist() == [13, 12]
    sorted_unique = pa.table({"k": [1, 2, 3], "ingested_at_utc": pa.array([0, 0, 0], pa.timestamp("us", tz="UTC")),
                              "source_sha256": ["a"] * 3})
    assert dedupe_latest(sorted_unique, ["k"]) is sorted_unique          # fast path


def test_tables_pickle(tables):
    import pickle
    tables.append("meter", meter_rows("S1", "gt1", T0, [1]))
    clone = pickle.loads(pickle.dumps(tables))
    assert clone.version("meter") == 0


def test_append_refuses_a_key_twice_in_one_commit(tables):
    rows = pa.concat_tables([meter_rows("S1", "gt1", T0, [1]), meter_rows("S1", "gt1", T0, [2])])
    with pytest.raises(InputError, match="twice in one commit"):
        tables.append("meter", rows)
    assert tables.version("meter") is None


def test_many_files_in_a_partition_dedupe_to_the_latest(tables):
    for i in range(4):
        tables.append("meter", meter_rows("S1", "gt1", T0 + timedelta(hours=i), [i] * 3,
                                          ingested_at=T0 + timedelta(minutes=i)))
    start, end = local_month_bounds_us("2026-10", TZ)
    rows = tables.read_meter("S1", TZ, start, end)
    # hour k is written by files 0..k (ingested later each time): the latest wins
    assert rows.column("energy_wh").to_pylist() == [0, 1, 2, 3, 3, 3]
    assert tables.read_partition("meter", {"site_id": "S1", "month": "2026-10"}).num_rows == 6


def test_old_versions_stay_readable_across_checkpoints(local_storage):
    from deltalake import DeltaTable

    from storage.tables import TABLE_CONFIGURATION
    tables = Tables(ObjectStore.from_config(local_storage))
    for i in range(52):                                  # checkpointInterval is 50
        tables.append("meter", meter_rows("S1", "gt1", T0, [i], ingested_at=T0 + timedelta(seconds=i)))
    store = tables.store
    assert any(k.endswith(".checkpoint.parquet") for k in store.list("tables/meter/_delta_log/"))
    config = DeltaTable(tables.uri("meter")).metadata().configuration
    assert {k: config.get(k) for k in TABLE_CONFIGURATION} == TABLE_CONFIGURATION
    start, end = local_month_bounds_us("2026-10", TZ)
    fresh = Tables(ObjectStore.from_config(local_storage))
    assert fresh.read_meter("S1", TZ, start, end).column("energy_wh").to_pylist() == [51]
    assert fresh.read_meter("S1", TZ, start, end, as_of=3).column("energy_wh").to_pylist() == [3]
    assert len(fresh.history("meter")) == 52
