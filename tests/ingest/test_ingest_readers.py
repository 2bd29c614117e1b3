"""File readers: canonical CSV/Parquet, prices, index and the real AEMO NEM12 samples."""
from __future__ import annotations

import io
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.errors import ValidationError
from engine.timebase import to_us
from storage.readers.canonical import (read_index_csv, read_meter_csv, read_meter_parquet,
                                       read_prices_csv)
from storage.readers.nem12 import looks_like_nem12, read_nem12
from tests.support.meter_data import METER_CSV_HEADER

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
HEADER = METER_CSV_HEADER + "\n"


def us(*args) -> int:
    return to_us(datetime(*args, tzinfo=timezone.utc))


def bad_meter(body: str) -> ValidationError:
    with pytest.raises(ValidationError) as ei:
        read_meter_csv((HEADER + body).encode(), "m.csv")
    return ei.value


# -- canonical meter CSV -----------------------------------------------------------------

def test_meter_csv_exact_units_offsets_and_quality():
    t = read_meter_csv((DATA / "meter_tx_dc1.csv").read_bytes(), "meter_tx_dc1.csv").table
    assert t.column("energy_wh").to_pylist() == [20833300, 20833333, 20800000, 15000500, 0]
    starts = t.column("interval_start_utc").cast(pa.int64()).to_pylist()
    assert starts[:3] == [us(2026, 10, 1, 5, 0), us(2026, 10, 1, 5, 5), us(2026, 10, 1, 5, 10)]
    assert t.column("quality").to_pylist() == ["A", "A", "E", "A", "S"]     # empty -> A
    assert t.column("line").to_pylist() == [2, 3, 4, 5, 6]
    assert t.column("interval_minutes").type == pa.int16()


def test_more_than_three_decimals_round_half_even_once():
    t = read_meter_csv((HEADER + "S,c,2026-10-01T05:00:00Z,5,0.0005,A\n"
                        "S,c,2026-10-01T05:05:00Z,5,0.0015,A\n").encode(), "m.csv").table
    assert t.column("energy_wh").to_pylist() == [0, 2]


@pytest.mark.parametrize("body, line, fld, words", [
    ("S,c,2026-10-01T05:00:00Z,5,1,A\nS,c,2026-10-01T05:05:00,5,1,A\n", 3, "interval_start", "no offset"),
    ("S,c,2026-10-01T05:00:00Z,5,-1.5,A\n", 2, "kwh", ">= 0"),
    ("S,c,2026-10-01T05:00:00Z,5,abc,A\n", 2, "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,nan,A\n", 2, "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,10,1,A\n", 2, "interval_minutes", "1, 5, 15, 30, 60"),
    ("S,c,2026-10-01T05:00:00Z,5,1,X\n", 2, "quality", "one of A, E, S, F"),
    ("S,,2026-10-01T05:00:00Z,5,1,A\n", 2, "channel", "required"),
    ("S,c,yesterday,5,1,A\n", 2, "interval_start", "ISO 8601"),
    ("S,c,2026-10-01T05:00:00Z,5,1,A\nS,c,2026-10-01T00:00:00-05:00,5,2,A\n", 3,
     "interval_start_utc", "duplicate"),
    ("S,c,2026-10-01T05:00:00Z,5,1\n", 2, None, "expected 6 fields"),
])
def test_meter_csv_rejections_name_line_and_field(body, line, fld, words):
    err = bad_meter(body)
    assert err.file == "m.csv" and err.line == line and err.field == fld
    assert words in str(err) and str(err).startswith(f"m.csv:{line}:")


def test_meter_csv_reports_the_earliest_of_several_problems():
    err = bad_meter("S,c,2026-10-01T05:00:00Z,5,1,A\nS,c,2026-10-01T05:05:00Z,5,-1,A\n"
                    "S,c,2026-10-01T05:10:00,5,1,A\n")
    assert err.line == 3 and err.field == "kwh" and len(err.problems) == 2


def test_meter_csv_header_and_empty_file():
    with pytest.raises(ValidationError, match="missing column.*kwh"):
        read_meter_csv(b"site_id,channel,interval_start,interval_minutes\n", "m.csv")
    with pytest.raises(ValidationError, match="empty"):
        read_meter_csv(b"", "m.csv")
    with pytest.raises(ValidationError, match="no data rows"):
        read_meter_csv(HEADER.encode(), "m.csv")


def test_meter_csv_quoted_and_blank_lines_take_the_exact_line_path():
    ok = read_meter_csv((HEADER + '"S","c","2026-10-01T05:00:00Z",5,"1.5","A"\n').encode(), "q.csv")
    assert ok.table.column("energy_wh").to_pylist() == [1500]
    err = bad_meter("S,c,2026-10-01T05:00:00Z,5,1,A\n\nS,c,2026-10-01T05:05:00Z,5,1,A\n")
    assert err.line == 3 and "empty line" in str(err)


# -- canonical meter Parquet -------------------------------------------------------------

def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_meter_parquet_aware_timestamps_and_float_kwh():
    t = pa.table({"site_id": ["S", "S"], "channel": ["c", "c"],
                  "interval_start": pa.array([us(2026, 10, 1, 5), us(2026, 10, 1, 6)],
                                             pa.timestamp("us", tz="America/Chicago")),
                  "interval_minutes": pa.array([60, 60], pa.int32()),
                  "kwh": pa.array([20833.3, 0.1]), "quality": ["A", None]})
    out = read_meter_parquet(_parquet(t), "m.parquet").table
    assert out.column("energy_wh").to_pylist() == [20833300, 100]
    assert out.column("quality").to_pylist() == ["A", "A"]
    assert out.column("interval_start_utc").cast(pa.int64()).to_pylist()[0] == us(2026, 10, 1, 5)


def test_meter_parquet_rejects_naive_timestamps_and_negative_rows():
    naive = pa.table({"site_id": ["S"], "channel": ["c"],
                      "interval_start": pa.array([us(2026, 10, 1, 5)], pa.timestamp("us")),
                      "interval_minutes": [5], "kwh": ["1"]})
    with pytest.raises(ValidationError, match="without a time zone"):
        read_meter_parquet(_parquet(naive), "m.parquet")
    neg = pa.table({"site_id": ["S", "S"], "channel": ["c", "c"],
                    "interval_start": ["2026-10-01T05:00:00Z", "2026-10-01T05:05:00Z"],
                    "interval_minutes": [5, 5], "kwh": ["1", "-2"]})
    with pytest.raises(ValidationError) as ei:
        read_meter_parquet(_parquet(neg), "m.parquet")
    assert ei.value.line == 2 and ei.value.field == "kwh"


# -- prices and index ------------------------------------------------------------------

def test_prices_csv():
    t = read_prices_csv((DATA / "prices_ercot.csv").read_bytes(), "prices_ercot.csv").table
    assert t.column("lmp_microusd_per_mwh").to_pylist() == [32_150_000, -4_500_000, 35_123_456]
    assert t.column("congestion_microusd_per_mwh").to_pylist() == [1_100_000, None, None]
    assert t.column("market_run").to_pylist() == ["DA", "DA", "RT"]


def test_prices_csv_rejects_bad_market_run():
    body = ("iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh\n"
            "ERCOT,HB,DA,2026-10-01T05:00:00Z,60,1\nERCOT,HB,XX,2026-10-01T05:00:00Z,60,1\n")
    with pytest.raises(ValidationError) as ei:
        read_prices_csv(body.encode(), "p.csv")
    assert (ei.value.line, ei.value.field) == (3, "market_run")


def test_index_csv():
    t = read_index_csv((DATA / "index_gas.csv").read_bytes(), "index_gas.csv").table
    assert t.column("value_micro").to_pylist() == [3_120_000, 3_205_000, 315_200_000]
    assert t.column("period_start").to_pylist()[0] == date(2026, 10, 1)
    with pytest.raises(ValidationError) as ei:
        read_index_csv(b"index,period_start,value,unit\nHH,2026-13-01,1,u\n", "i.csv")
    assert (ei.value.line, ei.value.field) == (2, "period_start")


# -- NEM12 ------------------------------------------------------------------------------

def nem(nem12_dir: Path, name: str):
    return read_nem12((nem12_dir / name).read_bytes(), name)


def test_nem12_actual_interval_time_units_and_skipped_reactive_stream(nem12_dir):
    r = nem(nem12_dir, "Example_NEM12_actual_interval.csv")
    t = r.table
    assert t.num_rows == 48 and set(t.column("channel").to_pylist()) == {"E1"}
    assert set(t.column("site_id").to_pylist()) == {"VABD000163"}
    # 2004-02-01 00:00 NEM time (UTC+10) = 2004-01-31 14:00 UTC, interval-beginning
    starts = t.column("interval_start_utc").cast(pa.int64()).to_pylist()
    assert starts[0] == us(2004, 1, 31, 14, 0) and starts[-1] == us(2004, 2, 1, 13, 30)
    assert set(t.column("energy_wh").to_pylist()) == {1111}                 # 1.111 kWh
    assert any("Q1" in n and "kVArh" in n for n in r.notes)


def test_nem12_multiple_meters_wh_and_15_minutes(nem12_dir):
    t = nem(nem12_dir, "Example_NEM12_multiple_meters.csv").table
    pairs = sorted(set(zip(t.column("site_id").to_pylist(), t.column("channel").to_pylist())))
    assert pairs == [("NCDE001111", "B1"), ("NCDE001111", "E1"), ("NCDE001111", "E2"),
                     ("NDDD001888", "B1")]
    assert t.num_rows == 4 * 2 * 96
    assert set(t.column("interval_minutes").to_pylist()) == {15}
    e2 = t.filter(pa.compute.equal(t.column("channel"), "E2"))
    assert set(e2.column("energy_wh").to_pylist()) == {100}                 # Wh stay Wh


def test_nem12_multiple_quality_400_overrides(nem12_dir):
    t = nem(nem12_dir, "Example_NEM12_multiple_quality.csv").table
    q, m = t.column("quality").to_pylist(), t.column("method").to_pylist()
    assert q == ["F"] * 20 + ["A"] * 4 + ["S"] * 24
    assert m == ["14"] * 20 + [None] * 4 + ["14"] * 24
    assert t.column("energy_wh").to_pylist()[0] == 18023


def test_nem12_substituted_interval(nem12_dir):
    t = nem(nem12_dir, "Example_NEM12_substituted_interval.csv").table
    assert set(t.column("quality").to_pylist()) == {"F"}
    assert set(t.column("method").to_pylist()) == {"14"}


def test_nem12_month_solar_5_minutes(nem12_dir):
    t = nem(nem12_dir, "Example_NEM12_month_solar.csv").table
    assert t.num_rows == 2 * 31 * 288
    assert set(t.column("interval_minutes").to_pylist()) == {5}


@pytest.mark.parametrize("name, line, fld, words", [
    ("Example_NEM12_missing_header.csv", 1, "RecordIndicator", "100 header"),
    ("Example_NEM12_empty.csv", 2, "RecordIndicator", "no 300 records"),
    ("Example_NEM12_incomplete_interval.csv", 3, "IntervalValue", "incomplete 300 record"),
    ("Example_NEM12_different_interval_length.csv", 6, "IntervalLength", "got 10"),
])
def test_nem12_invalid_samples(nem12_dir, name, line, fld, words):
    with pytest.raises(ValidationError) as ei:
        nem(nem12_dir, name)
    err = ei.value
    assert (err.file, err.line, err.field) == (name, line, fld) and words in str(err)


def _nem12(*records: str) -> bytes:
    return ("\n".join(["100,NEM12,200405011135,MDA1,Ret1", *records, "900"]) + "\n").encode()


def test_nem12_structure_rejections():
    day = ",".join(["1.0"] * 48)
    cases = [
        (_nem12("300,20040201," + day + ",A,,,,"), "before any 200"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + day + ",A,,,,",
                "400,1,48,A,,"), "must follow a 300 record whose QualityMethod is V"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + day + ",V,,,,",
                "400,1,40,A,,"), r"interval\(s\) 41-48 have none"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + ",".join(["1"] * 47 + ["-1"])
                + ",A,,,,"), ">= 0"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + day + ",Z9,,,,"), "QualityMethod"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + day + ",A,,,,")[:-4],
         "900 end record"),
        (_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + ",".join(["1"] * 96) + ",A,,,,"),
         "more than 48 interval values"),
    ]
    for data, words in cases:
        with pytest.raises(ValidationError, match=words):
            read_nem12(data, "x.csv")


def test_nem12_null_intervals_are_not_stored():
    day = ",".join(["0"] * 48)
    r = read_nem12(_nem12("200,N1,E1,1,E1,N1,M,kWh,30,", "300,20040201," + day + ",V,,,,",
                          "400,1,10,N,,", "400,11,48,E52,,"), "n.csv")
    assert r.table.num_rows == 38 and set(r.table.column("quality").to_pylist()) == {"E"}
    assert any("flagged N" in n for n in r.notes)


def test_nem12_detection(nem12_dir):
    assert looks_like_nem12((nem12_dir / "Example_NEM12_actual_interval.csv").read_bytes())
    assert not looks_like_nem12((DATA / "meter_tx_dc1.csv").read_bytes())
