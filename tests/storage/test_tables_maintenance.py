"""Table maintenance: compaction keeps what every reader reads and the file layout, upgrades
tables written the old way, checkpoints; vacuum never removes a version a lineage names
unless told so, by number."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import ConflictError, M2CError
from engine.timebase import local_month_bounds_us
from storage.maintenance import lineage_versions, optimize, table_status, vacuum
from storage.objectstore import ObjectStore
from storage.tables import Tables
from storage.tables.append import append_on_read
from tests.support.meter_data import meter_table

TZ = "America/Chicago"
T0 = datetime(2026, 10, 1, 5, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
OCT = local_month_bounds_us("2026-10", TZ)
NOV = local_month_bounds_us("2026-11", TZ)


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def everything(tables: Tables, version: int | None = None) -> dict:
    """What meter2cash reads: every partition, and the months of each site."""
    out = {p: tables.read_partition("meter", {"site_id": p[0], "month": p[1]}, as_of=version)
           for p in tables.meter_partitions(as_of=version)}
    for site in ("S1", "S2"):
        for bounds in (OCT, NOV):
            out[(site, bounds)] = tables.read_meter(site, TZ, *bounds, as_of=version)
    return out


def small_ingests(tables: Tables, write=None) -> None:
    """Twelve small commits over two sites and two months, with corrections among them."""
    write = write or tables.append
    for i in range(6):
        for site in ("S1", "S2"):
            write("meter", meter_table(site, "gt1", T0 + timedelta(days=27 + i), [i] * 24, tz=TZ,
                                       ingested_at=T0 + timedelta(days=40, hours=i)))
    write("meter", meter_table("S1", "gt1", T0 + timedelta(days=28), [99] * 30, tz=TZ,
                               ingested_at=NOW))


def encodings(tables: Tables, path: str) -> dict:
    fs, _ = tables.store.arrow_filesystem()
    with fs.open_input_file(path) as f:
        meta = pq.ParquetFile(f).metadata
    rg = meta.row_group(0)
    return {rg.column(i).path_in_schema: rg.column(i).encodings for i in range(meta.num_columns)}


def test_optimize_compacts_each_partition_and_reads_stay_the_same(store):
    tables = Tables(store)
    small_ingests(tables)
    head = tables.version("meter")
    before = everything(tables)
    assert tables._snapshot("meter", head).files.num_rows > 4

    report = optimize(store, "meter")
    assert not report.upgraded and report.rows_dropped == 0
    assert report.version == head + 1 and report.files_after == 4 == report.partitions_compacted
    fresh = Tables(store)
    after = everything(fresh)
    assert after.keys() == before.keys()
    assert all(after[k].equals(before[k]) for k in before)
    assert everything(fresh, head).keys() == before.keys()          # old versions still read
    entry = fresh.delta_log.log_entry("meter", report.version)
    assert entry.info["m2c.operation"] == "optimize" and entry.info["m2c.keys_unique"] is True
    raw = store.get(f"tables/meter/_delta_log/{report.version:020d}.json").decode()
    assert '"dataChange":false' in raw and '"dataChange":true' not in raw
    # the layout the readers rely on: delta-encoded integers, dictionary strings
    for path in fresh._snapshot("meter", report.version).files.column("path").to_pylist():
        enc = encodings(fresh, fresh.store.arrow_path(path))
        assert "DELTA_BINARY_PACKED" in enc["interval_start_utc"]
        assert "DELTA_BINARY_PACKED" in enc["energy_wh"] and "RLE_DICTIONARY" in enc["channel"]
    # a checkpoint of the new version: a fresh open replays no JSON commit
    assert json.loads(store.get("tables/meter/_delta_log/_last_checkpoint"))["version"] == report.version
    assert report.checkpoint == report.version
    again = optimize(store, "meter")
    assert again.version == report.version and again.files_removed == 0   # nothing to do


def test_optimize_upgrades_a_table_written_the_old_way(store):
    tables = Tables(store)
    small_ingests(tables, write=lambda name, rows: append_on_read(tables.delta_log, name, rows))
    head = tables.version("meter")
    before = everything(tables)
    from deltalake import DeltaTable
    raw_rows = DeltaTable(tables.uri("meter"), storage_options=store.delta_storage_options()).count()
    assert raw_rows > sum(t.num_rows for k, t in before.items() if len(k[1]) == 7)

    report = optimize(store, "meter")
    assert report.upgraded and report.rows_dropped > 0 and report.files_after == 4
    fresh = Tables(store)
    assert all(everything(fresh)[k].equals(before[k]) for k in before)
    dt = DeltaTable(fresh.uri("meter"), storage_options=store.delta_storage_options())
    assert dt.metadata().configuration["delta.appendOnly"] == "false"
    outside = pa.table(dt.to_pyarrow_dataset().to_table())
    assert outside.num_rows == sum(t.num_rows for k, t in before.items() if len(k[1]) == 7)
    assert fresh._snapshot("meter", report.version).keys_unique
    assert everything(fresh, head).keys() == before.keys()
    # from now on a correction supersedes in place
    v = fresh.append("meter", meter_table("S1", "gt1", T0 + timedelta(days=28), [5], tz=TZ,
                                          ingested_at=NOW + timedelta(days=1)))
    assert fresh.delta_log.log_entry("meter", v).removes
    assert fresh._snapshot("meter", v).keys_unique


def write_json(store: ObjectStore, key: str, doc: dict) -> None:
    store.put(key, json.dumps(doc).encode())


def test_vacuum_refuses_to_remove_a_version_a_lineage_names(store):
    tables = Tables(store)
    v0 = tables.append("meter", meter_table("S1", "gt1", T0, [1, 2, 3], tz=TZ))
    v1 = tables.append("meter", meter_table("S1", "gt1", T0, [4], tz=TZ, ingested_at=NOW))
    v2 = tables.append("meter", meter_table("S1", "gt1", T0, [5], tz=TZ, ingested_at=NOW + timedelta(1)))
    write_json(store, "invoices/C1/2026-10/v1/invoice.json",
               {"lineage": {"data_versions": {"meter": v0, "prices": None, "sites": 1}}})
    write_json(store, f"runs/job-7/pins-{'0' * 16}.json", {"data": {"meter": v0, "index": None}})
    write_json(store, "results/scenario/r1/manifest.json", {"lineage": {"data_versions": {"meter": v1}}})
    write_json(store, "certificates/log/000000000003.json",   # as storage.certificates writes
               {"seq": 3, "action": "issue", "data_versions": {"meter": v0, "sites": 1}})
    assert lineage_versions(store)["meter"] == {
        v0: ["invoice C1/2026-10/v1", "job job-7", "certificate issuance 000000000003"],
        v1: ["result scenario/r1"]}
    files_before = store.list("tables/meter/site_id=S1/")

    with pytest.raises(ConflictError) as err:
        vacuum(store, "meter", timedelta(0))
    msg = str(err.value)
    assert f"version {v0}: invoice C1/2026-10/v1, job job-7, certificate issuance 000000000003" in msg
    assert f"version {v1}: result scenario/r1" in msg and "--keep-named" in msg
    assert store.list("tables/meter/site_id=S1/") == files_before           # nothing deleted

    # a retention longer than the rewrites' age deletes nothing and is not refused
    assert vacuum(store, "meter", timedelta(days=1)).files == []

    # keeping the named versions: only what no named version needs goes (nothing here)
    kept = vacuum(store, "meter", timedelta(0), keep_named=True)
    assert kept.kept_versions == [v0, v1] and kept.files == []
    assert Tables(store).read_meter("S1", TZ, *OCT, as_of=v0).column("energy_wh").to_pylist() == [1, 2, 3]

    # releasing version 1 explicitly (version 0 kept): v1's file goes, v0 still reads
    released = vacuum(store, "meter", timedelta(0), keep_named=True, release=[v1])
    assert released.released_versions == [v1] and len(released.files) == 1
    fresh = Tables(store)
    assert fresh.read_meter("S1", TZ, *OCT, as_of=v0).column("energy_wh").to_pylist() == [1, 2, 3]
    assert fresh.read_meter("S1", TZ, *OCT).column("energy_wh").to_pylist() == [5, 2, 3]
    with pytest.raises(M2CError):
        fresh.read_meter("S1", TZ, *OCT, as_of=v1)
    meta = [json.loads(e.info["m2c.metadata"]) for v in range(v2 + 1, fresh.version("meter") + 1)
            if (e := fresh.delta_log.log_entry("meter", v)) and e.info.get("m2c.operation") == "vacuum"]
    assert {"retain_hours": 0.0, "kept_versions": [v0],
            "released_versions": {str(v1): ["result scenario/r1"]}} in meta
    assert fresh._snapshot("meter", fresh.version("meter")).keys_unique   # VACUUM commits are neutral


def test_table_status(store):
    tables = Tables(store)
    assert table_status(store, "meter") == {"table": "meter", "version": None}
    small_ingests(tables)
    st = table_status(store, "meter")
    assert st["supersession"] == "in place" and st["keys_unique"] is True
    assert st["partitions"] == 4 and st["partitions_with_several_files"] == 4
    assert st["rows"] == 2 * 6 * 24
    optimize(store, "meter")
    st = table_status(store, "meter")
    assert st["files"] == 4 and st["partitions_with_several_files"] == 0
    assert st["commits_since_checkpoint"] == 0
