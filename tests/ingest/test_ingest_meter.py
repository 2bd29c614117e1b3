"""Ingest end to end on both backends: validation, all-or-nothing, idempotency,
supersession with as-of reads, NEM12 samples, prices and index."""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from engine.errors import InputError, UnknownReferenceError, ValidationError
from engine.sites import parse_sites
from engine.timebase import local_month_bounds_us, to_us
from storage.ingest import ingest_index, ingest_log_key, ingest_meter, ingest_prices
from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.support.meter_data import meter_csv_lines, site_registry, write_meter_csv
from tests.support.race import race

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
TZ = "America/Chicago"


@pytest.fixture(scope="module")
def sites():
    return parse_sites(yaml.safe_load((DATA / "sites.yaml").read_text()), "sites.yaml")


@pytest.fixture
def store(storage_config) -> ObjectStore:
    return ObjectStore.from_config(storage_config)


def oct_rows(store, **kw):
    start, end = local_month_bounds_us("2026-10", TZ)
    return Tables(store).read_meter("TX-DC1", TZ, start, end, **kw)


def test_ingest_supersession_idempotency_and_as_of(store, sites, tmp_path):
    first = ingest_meter(store, [DATA / "meter_tx_dc1.csv"], None, sites=sites, now_utc=NOW)
    assert (first.rows_new, first.rows_superseded, first.rows_unchanged) == (5, 0, 0)
    assert first.version == 0 and first.written
    assert first.files[0].status == "ingested" and first.files[0].format == "csv"

    again = ingest_meter(store, [DATA / "meter_tx_dc1.csv"], None, sites=sites,
                         now_utc=NOW + timedelta(hours=1))
    assert not again.written and again.version == 0
    assert again.files[0].message == "already ingested at version 0"
    assert Tables(store).version("meter") == 0

    fix = ingest_meter(store, [DATA / "meter_tx_dc1_correction.csv"], "csv", sites=sites,
                       now_utc=NOW + timedelta(days=1))
    assert (fix.rows_new, fix.rows_superseded, fix.rows_unchanged) == (1, 1, 1)
    assert fix.version == 1

    gt1 = oct_rows(store, channels=["gt1"])
    assert gt1.column("energy_wh").to_pylist() == [20833300, 19000000, 20800000, 20001000]
    assert gt1.column("quality").to_pylist() == ["A", "S", "E", "A"]
    old = oct_rows(store, channels=["gt1"], as_of=0)
    assert old.column("energy_wh").to_pylist() == [20833300, 20833333, 20800000]
    # the unchanged row was not re-appended: version 1 added exactly 2 rows
    assert Tables(store).history("meter")[1]["rows_added"] == 2
    assert Tables(store).history("meter")[1]["metadata"]["files"][0]["name"] == \
        "meter_tx_dc1_correction.csv"

    # same content under another name is still recognised by its hash
    copy = tmp_path / "renamed.csv"
    shutil.copy(DATA / "meter_tx_dc1.csv", copy)
    assert ingest_meter(store, [copy], None, sites=sites, now_utc=NOW).files[0].status == \
        "already ingested"
    log = json.loads(store.get(ingest_log_key("meter", first.files[0].sha256)))
    assert log["version"] == 0 and log["rows"] == 5


def test_identical_rows_from_a_new_file_are_unchanged(store, sites, tmp_path):
    ingest_meter(store, [DATA / "meter_tx_dc1.csv"], None, sites=sites, now_utc=NOW)
    same_rows = tmp_path / "same.csv"
    same_rows.write_bytes((DATA / "meter_tx_dc1.csv").read_bytes() + b"\n")   # other bytes
    rep = ingest_meter(store, [same_rows], None, sites=sites, now_utc=NOW)
    assert (rep.rows_new, rep.rows_superseded, rep.rows_unchanged) == (0, 0, 5)
    assert not rep.written and rep.version == 0 and rep.files[0].status == "unchanged"


@pytest.mark.parametrize("name, exc, line, fld", [
    ("meter_no_offset.csv", ValidationError, 3, "interval_start"),
    ("meter_negative.csv", ValidationError, 4, "kwh"),
    ("meter_unknown_site.csv", UnknownReferenceError, 3, "site_id"),
    ("meter_unknown_channel.csv", UnknownReferenceError, 4, "channel"),
])
def test_bad_file_rejects_the_whole_call(store, sites, name, exc, line, fld):
    with pytest.raises(exc) as ei:
        ingest_meter(store, [DATA / "meter_tx_dc1.csv", DATA / name], None, sites=sites, now_utc=NOW)
    msg = str(ei.value)
    assert name in msg and f":{line}:" in msg and f"field '{fld}'" in msg
    assert Tables(store).version("meter") is None           # nothing written
    assert store.list("ingest-log/") == []


@pytest.mark.parametrize("name", ["Example_NEM12_missing_header.csv", "Example_NEM12_empty.csv",
                                  "Example_NEM12_incomplete_interval.csv",
                                  "Example_NEM12_different_interval_length.csv"])
def test_invalid_nem12_samples_write_nothing(store, sites, nem12_dir, name):
    with pytest.raises(ValidationError, match=name):
        ingest_meter(store, [nem12_dir / "Example_NEM12_actual_interval.csv", nem12_dir / name],
                     None, sites=sites, now_utc=NOW)
    assert Tables(store).version("meter") is None


def test_nem12_samples_ingest_and_read_back(store, sites, nem12_dir):
    names = ["Example_NEM12_actual_interval.csv", "Example_NEM12_multiple_meters.csv",
             "Example_NEM12_multiple_quality.csv", "Example_NEM12_substituted_interval.csv",
             "Example_NEM12_month_solar.csv"]
    rep = ingest_meter(store, [nem12_dir / n for n in names], None, sites=sites, now_utc=NOW)
    assert rep.version == 0 and rep.rows_new == 48 + 768 + 48 + 48 + 17856
    assert all(f.format == "nem12" for f in rep.files)
    assert any("kVArh" in n for n in rep.files[0].notes)
    tables = Tables(store)
    assert ("NMI1234567", "2023-03") in tables.meter_partitions()
    # Sydney local month of March 2023 (AEDT, UTC+11): NEM day 2023-03-01 00:00 (UTC+10)
    # is 01:00 local, so the first NEM hour of March 1 lands in Sydney's March.
    start, end = local_month_bounds_us("2023-03", "Australia/Sydney")
    solar = tables.read_meter("NMI1234567", "Australia/Sydney", start, end, channels=["B1"])
    assert solar.num_rows == 31 * 288 - 12         # last 12 five-minute intervals are in April
    q = tables.read_meter("CCCC123456", "Australia/Brisbane", to_us(datetime(2004, 4, 16, 14, tzinfo=timezone.utc)),
                          to_us(datetime(2004, 4, 17, 14, tzinfo=timezone.utc)))
    assert q.column("quality").to_pylist()[:21] == ["F"] * 20 + ["A"]
    assert q.column("method").to_pylist()[0] == "14"


def test_nem12_unknown_nmi_names_nem12_fields(store, nem12_dir):
    sites = site_registry("VABD000163", tz="Australia/Brisbane", channels={"B1": "grid_export"})
    with pytest.raises(UnknownReferenceError, match=":2: field .NMISuffix."):
        ingest_meter(store, [nem12_dir / "Example_NEM12_actual_interval.csv"], None, sites=sites,
                     now_utc=NOW)
    with pytest.raises(UnknownReferenceError, match="field 'NMI'"):
        ingest_meter(store, [nem12_dir / "Example_NEM12_month_solar.csv"], "nem12", sites=sites,
                     now_utc=NOW)


def test_same_key_in_two_files_of_one_call_is_refused(store, sites, tmp_path):
    other = write_meter_csv(tmp_path / "other.csv", meter_csv_lines(   # a row also in meter_tx_dc1.csv
        "TX-DC1", "gt1", datetime(2026, 10, 1, 5, tzinfo=timezone.utc), [1000], minutes=5))
    with pytest.raises(ValidationError, match="separate calls"):
        ingest_meter(store, [DATA / "meter_tx_dc1.csv", other], None, sites=sites, now_utc=NOW)
    assert Tables(store).version("meter") is None


def test_format_errors(store, sites, tmp_path):
    with pytest.raises(InputError, match="unknown meter format"):
        ingest_meter(store, [DATA / "meter_tx_dc1.csv"], "xml", sites=sites, now_utc=NOW)
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"hello")
    with pytest.raises(InputError, match="--format"):
        ingest_meter(store, [odd], None, sites=sites, now_utc=NOW)
    with pytest.raises(InputError, match="cannot read"):
        ingest_meter(store, [tmp_path / "missing.csv"], None, sites=sites, now_utc=NOW)


def test_prices_and_index_ingest(store):
    rep = ingest_prices(store, [DATA / "prices_ercot.csv"], now_utc=NOW)
    assert rep.rows_new == 3 and rep.version == 0
    t = Tables(store)
    start = to_us(datetime(2026, 10, 1, tzinfo=timezone.utc))
    da = t.read_prices("ERCOT", "HB_NORTH", "DA", start, start + 86_400_000_000)
    assert da.column("lmp_microusd_per_mwh").to_pylist() == [32_150_000, -4_500_000]
    rep = ingest_index(store, [DATA / "index_gas.csv"], now_utc=NOW)
    assert rep.rows_new == 3 and rep.version == 0
    hh = t.read_index("HENRY_HUB", date(2026, 10, 1), date(2026, 11, 1))
    assert hh.column("value_micro").to_pylist() == [3_120_000, 3_205_000]
    assert ingest_index(store, [DATA / "index_gas.csv"], now_utc=NOW).files[0].status == \
        "already ingested"


def test_parquet_file_is_detected_by_extension(store, sites, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.table({"site_id": ["TX-DC1"] * 2, "channel": ["pv1"] * 2,
                             "interval_start": ["2026-10-01T05:00:00Z", "2026-10-01T05:15:00Z"],
                             "interval_minutes": [15, 15], "kwh": ["1.25", "0"],
                             "quality": ["A", "E"]}), path)
    rep = ingest_meter(store, [path], None, sites=sites, now_utc=NOW)
    assert rep.files[0].format == "parquet" and rep.rows_new == 2
    assert oct_rows(store, channels=["pv1"]).column("energy_wh").to_pylist() == [1250, 0]


def test_concurrent_ingests_of_different_files_both_commit(store, sites, tmp_path):
    paths = []
    for i, ch in enumerate(("dc", "imp")):
        paths.append(write_meter_csv(tmp_path / f"{ch}.csv", meter_csv_lines(
            "TX-DC1", ch, datetime(2026, 10, 2, 5, tzinfo=timezone.utc), [(i + 1) * 1000])))
    reports = race(lambda i: ingest_meter(ObjectStore.from_config(store.config), [paths[i]], None,
                                          sites=sites, now_utc=NOW), len(paths))
    assert sorted(r.version for r in reports) == [0, 1]
    assert sorted(oct_rows(store, channels=["dc", "imp"]).column("energy_wh").to_pylist()) == [1000, 2000]
