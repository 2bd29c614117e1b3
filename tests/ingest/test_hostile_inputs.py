"""Hostile inputs found by trying them (issue 12, section 4): each is refused with exit 2
(or a ValidationError) naming file, line and field; nothing is written; no traceback.

YAML documents (contracts, site registry), contract and site ids, meter CSV/Parquet,
NEM12 and prices files, through the readers, ``storage.ingest`` and the real CLI.
"""
from __future__ import annotations

import io
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.cli.main import main
from engine.errors import InputError, ValidationError
from engine.sites import parse_sites
from storage.ingest import ingest_meter, ingest_prices
from storage.objectstore import ObjectStore
from storage.readers.canonical import read_meter_csv, read_meter_parquet, read_prices_csv
from storage.readers.nem12 import read_nem12
from storage.readers.yaml_doc import MAX_YAML_BYTES, load_yaml_document, read_yaml_file
from storage.tables import Tables

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
HEADER = "site_id,channel,interval_start,interval_minutes,kwh,quality\n"
PRICE_HEADER = ("iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh,"
                "energy_usd_per_mwh,congestion_usd_per_mwh,loss_usd_per_mwh\n")

#: the 455-byte-class "billion laughs": nine levels of nine aliases
ALIAS_BOMB = ("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))).encode()


@pytest.fixture(scope="module")
def sites():
    return parse_sites(load_yaml_document((DATA / "ingest" / "sites.yaml").read_bytes(),
                                          "sites.yaml"), "sites.yaml")


@pytest.fixture
def store(local_storage) -> ObjectStore:
    return ObjectStore.from_config(local_storage)


@pytest.fixture
def home(local_cli_env):
    """The CLI on a fresh local home with the ingest tests' site registry loaded."""
    assert main(["sites", "load", str(DATA / "ingest" / "sites.yaml")]) == 0
    return local_cli_env


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def refuse(capsys, argv: list[str], *words: str) -> str:
    """Run the CLI: exit 2, no traceback, every word in the message; returns it."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in err
    for w in words:
        assert w in err, err
    return err


# --------------------------------------------------------------------------- YAML

def test_alias_bomb_is_refused_at_once_naming_the_line():
    assert len(ALIAS_BOMB) < 600
    t0 = time.monotonic()
    with pytest.raises(ValidationError) as err:
        load_yaml_document(ALIAS_BOMB, "bomb.yaml")
    assert time.monotonic() - t0 < 30              # not a timing assertion: a hang guard
    assert err.value.file == "bomb.yaml" and err.value.line == 1 and err.value.field == "a"
    assert "aliases" in str(err.value)


@pytest.mark.parametrize("text, line, field, words", [
    (b"contract_id: A\nterms:\n  - id: x\n    kind: capacity\n    kind: vppa\n", 5,
     "terms[0].kind", ("duplicate key 'kind'", "first at line 4")),
    (b"sites: []\nsites: []\n", 2, "sites", ("duplicate key 'sites'",)),
    (b"a: 1\nb: \xff\xfe oops\n", 2, None, ("not UTF-8", "byte offset 8")),
    (b"- 1\n- 2\n", 1, None, ("mapping", "found a list")),
    (b"a: !!python/object:os.system echo\n", 1, "a", ("explicit YAML tags",)),
    (b"a: 2026-02-30\n", 1, "a", ("not a valid date",)),
    (b"a: " + b"[" * 200 + b"]" * 200 + b"\n", 1, None, ("nested more than",)),
    (b"a: 1\n---\nb: 2\n", 2, None, ("single document",)),
])
def test_yaml_refusals_name_file_line_and_field(text, line, field, words):
    with pytest.raises(ValidationError) as err:
        load_yaml_document(text, "doc.yaml")
    e = err.value
    assert e.file == "doc.yaml" and e.line == line
    if field is not None:
        assert e.field == field
    for w in words:
        assert w in str(e)


def test_yaml_scalars_follow_the_core_schema():
    doc = load_yaml_document(b"a: 1_000\nb: 0x1F\nc: yes\nd: 1:30\ne: .inf\nf: 12\ng: 2026-10-01\n"
                             b"h: true\ni: 2.5\n", "doc.yaml")
    assert doc["a"] == "1_000" and doc["b"] == "0x1F" and doc["c"] == "yes" and doc["d"] == "1:30"
    assert doc["e"] == ".inf" and doc["f"] == 12 and str(doc["g"]) == "2026-10-01"
    assert doc["h"] is True and doc["i"] == 2.5
    assert doc.line_of("g") == 7 and doc.line_of("g.nothing") == 7


def test_over_large_yaml_is_refused_without_reading_it_all(tmp_path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.write(b"a: '")
        f.truncate(MAX_YAML_BYTES + 10)
    with pytest.raises(ValidationError, match="byte limit"):
        read_yaml_file(big)
    with pytest.raises(ValidationError, match="byte limit"):
        load_yaml_document(b"a: 1\n" * 100, "small.yaml", max_bytes=100)


def test_contract_yaml_bombs_duplicates_and_bytes_exit_2_and_write_nothing(home, tmp_path, capsys):
    before = files_under(home / "store")
    f = tmp_path / "c.yaml"
    f.write_bytes(ALIAS_BOMB)
    refuse(capsys, ["contracts", "add", str(f)], f"{f}:1:", "aliases")
    good = (DATA / "contracts" / "ppa_tx_dc1_v1.yaml").read_text()
    f.write_text(good.replace("currency: USD\n", "currency: USD\ncurrency: EUR\n"))
    refuse(capsys, ["contracts", "add", str(f)], "duplicate key 'currency'", "field 'currency'")
    f.write_bytes(good.encode().replace(b"Prairie", b"Pr\xe9airie"))      # Latin-1, not UTF-8
    refuse(capsys, ["contracts", "add", str(f)], "not UTF-8", "byte offset")
    assert files_under(home / "store") == before


@pytest.mark.parametrize("cid", ["../..", "a/b", "x" * 100_000, "", " lead"])
def test_contract_ids_are_checked_before_any_store_key(home, tmp_path, capsys, cid):
    before = files_under(home / "store")
    good = (DATA / "contracts" / "ppa_tx_dc1_v1.yaml").read_text()
    f = tmp_path / "c.yaml"
    f.write_text(good.replace("contract_id: PPA-TX-DC1", f"contract_id: '{cid}'"))
    err = refuse(capsys, ["contracts", "add", str(f)], "contract_id")
    assert str(home) not in err and len(err) < 1000          # no server path, no 100 kB echo
    assert files_under(home / "store") == before
    err = refuse(capsys, ["contracts", "show", cid or "''"])
    assert str(home) not in err and len(err) < 1000


def test_the_id_pattern_is_the_contract_schemas():
    from engine.contract import contract_schema
    from engine.ids import ID_PATTERN
    assert contract_schema()["properties"]["contract_id"]["pattern"] == ID_PATTERN


def test_contract_schema_errors_name_the_line(home, tmp_path, capsys):
    good = (DATA / "contracts" / "ppa_tx_dc1_v1.yaml").read_text()
    f = tmp_path / "c.yaml"
    f.write_text(good.replace('ld_usd_per_mwh: "12.00"', "ld_usd_per_mwh: 1_200"))
    line = next(i for i, t in enumerate(f.read_text().splitlines(), 1) if "1_200" in t)
    refuse(capsys, ["contracts", "add", str(f)], f"{f}:{line}:", "terms[2].ld_usd_per_mwh")


def test_site_registry_refusals(home, tmp_path, capsys):
    before = files_under(home / "store")
    f = tmp_path / "sites.yaml"
    f.write_text("sites:\n  - site_id: ../../etc\n    timezone: UTC\n    channels: {a: {kind: load}}\n")
    refuse(capsys, ["sites", "load", str(f)], f"{f}:2:", "sites[0].site_id")
    f.write_text("sites:\n  - site_id: S1\n    timezone: UTC\n    timezone: Europe/Paris\n"
                 "    channels: {a: {kind: load}}\n")
    refuse(capsys, ["sites", "load", str(f)], f"{f}:4:", "duplicate key 'timezone'")
    f.write_text("base: &c {a: {kind: load}}\nsites:\n  - site_id: S1\n    timezone: UTC\n"
                 "    channels: *c\n")
    refuse(capsys, ["sites", "load", str(f)], "aliases")
    f.write_text("sites:\n  - site_id: S1\n    timezone: UTC\n    channels: {a: {kind: lod}}\n")
    refuse(capsys, ["sites", "load", str(f)], f"{f}:4:", "sites[0].channels.a.kind")
    assert files_under(home / "store") == before


# --------------------------------------------------------------------------- meter files

def bad_meter_csv(body: str) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        read_meter_csv((HEADER + body).encode(), "m.csv")
    return err.value


@pytest.mark.parametrize("row, field, words", [
    ("S,c,2026-10-01T05:00:00Z,99999999999999999999,1,A", "interval_minutes", "must be one of"),
    ("S,c,2026-10-01T05:00:00Z,1_5,1,A", "interval_minutes", "not an integer"),
    ("S,c,2026-10-01T05:00:00Z,１５,1,A", "interval_minutes", "not an integer"),
    ("S,c,2026-10-01T05:00:00Z,5,1_000,A", "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,１２,A", "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,1e3,A", "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,1.5.5,A", "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,Infinity,A", "kwh", "not a number"),
    ("S,c,2026-10-01T05:00:00Z,5,9200000000000000,A", "kwh", "10 GW"),
    ("S,c,9999-12-31T23:00:00Z,5,1,A", "interval_start", "outside the accepted range"),
    ("S,c,0001-01-01T00:00:00Z,5,1,A", "interval_start", "outside the accepted range"),
    ("S,c,9999-12-31T23:00:00-05:00,5,1,A", "interval_start", "outside the accepted range"),
    ("S,c,2026-10-01T05:00:00.0000001Z,5,1,A", "interval_start", "below the microsecond"),
])
def test_meter_csv_values_are_strict_and_bounded(row, field, words):
    err = bad_meter_csv(row + "\n")
    assert (err.file, err.line, err.field) == ("m.csv", 2, field)
    assert words in str(err)


def test_meter_csv_accepts_the_plain_forms():
    t = read_meter_csv((HEADER + "S,c,2026-10-01T05:00:00Z,5,+1.5,A\n"
                                  "S,c,2026-10-01T05:05:00Z,5,.25,A\n"
                                  "S,c,2026-10-01T05:10:00.000000Z,5,7.,A\n").encode(), "m.csv").table
    assert t.column("energy_wh").to_pylist() == [1500, 250, 7000]


def _parquet(**columns) -> bytes:
    base = {"site_id": pa.array(["S"]), "channel": pa.array(["c"]),
            "interval_start": pa.array([datetime(2026, 10, 1, 5, tzinfo=timezone.utc)],
                                       pa.timestamp("us", "UTC")),
            "interval_minutes": pa.array([5]), "kwh": pa.array(["1.5"])}
    buf = io.BytesIO()
    pq.write_table(pa.table({**base, **columns}), buf)
    return buf.getvalue()


@pytest.mark.parametrize("column, value, field, words", [
    ("kwh", pa.array([b"1.5"], pa.binary()), "kwh", "type binary"),
    ("kwh", pa.array([[1, 2]], pa.list_(pa.int64())), "kwh", "type list"),
    ("kwh", pa.array([{"x": 1}], pa.struct([("x", pa.int64())])), "kwh", "type struct"),
    ("kwh", pa.array([float("nan")]), "kwh", "not a number"),
    ("kwh", pa.array([9.2e15]), "kwh", "10 GW"),
    ("kwh", pa.array([2**63 - 1], pa.uint64()), "kwh", "out of range"),
    ("interval_minutes", pa.array([True]), "interval_minutes", "type bool"),
    ("interval_minutes", pa.array([2**64 - 1], pa.uint64()), "interval_minutes", "must be one of"),
    ("interval_minutes", pa.array([5.5]), "interval_minutes", "not an integer"),
    ("site_id", pa.array([[1]], pa.list_(pa.int64())), "site_id", "expected text"),
    ("interval_start", pa.array([1_790_000_000_000_000_123], pa.timestamp("ns", "UTC")),
     "interval_start", "below the microsecond"),
    ("interval_start", pa.array([datetime(9999, 1, 1)], pa.timestamp("us", "UTC")),
     "interval_start", "outside the accepted range"),
])
def test_meter_parquet_types_and_values_are_refused_naming_the_column(column, value, field, words):
    with pytest.raises(ValidationError) as err:
        read_meter_parquet(_parquet(**{column: value}), "m.parquet")
    assert err.value.file == "m.parquet" and err.value.field == field
    assert words in str(err.value)


def test_meter_parquet_numeric_kwh_is_exact():
    t = read_meter_parquet(_parquet(kwh=pa.array([20833.3])), "m.parquet").table
    assert t.column("energy_wh").to_pylist() == [20833300]
    t = read_meter_parquet(_parquet(interval_start=pa.array([1_790_000_000_000_000_000],
                                                             pa.timestamp("ns", "UTC"))),
                           "m.parquet").table
    assert t.column("interval_start_utc").cast(pa.int64()).to_pylist() == [1_790_000_000_000_000]


def test_ingest_bounds_energy_by_nameplate_and_writes_nothing(store, sites, tmp_path):
    # gt1: nameplate 250,000 kW -> 2 x 250 MW x 5 min = 41,666.666 kWh at most
    f = tmp_path / "m.csv"
    f.write_text(HEADER + "TX-DC1,gt1,2026-10-01T05:00:00Z,5,41666.666,A\n"
                          "TX-DC1,gt1,2026-10-01T05:05:00Z,5,41666.667,A\n")
    with pytest.raises(ValidationError) as err:
        ingest_meter(store, [f], None, sites=sites, now_utc=NOW)
    assert (err.value.line, err.value.field) == (3, "kwh")
    assert "nameplate" in str(err.value) and "gt1" in str(err.value)
    assert Tables(store).version("meter") is None
    # dc has no nameplate: only the absolute bound (10 GW) applies
    f.write_text(HEADER + "TX-DC1,dc,2026-10-01T05:00:00Z,5,500000,A\n")
    assert ingest_meter(store, [f], None, sites=sites, now_utc=NOW).written


def test_nem12_values_are_bounded_by_nameplate_naming_the_interval(store, tmp_path):
    registry = parse_sites({"sites": [{"site_id": "NMI0000001", "timezone": "Australia/Brisbane",
                                       "channels": {"E1": {"kind": "generation",
                                                           "nameplate_kw": 10}}}]}, "s")
    values = ["1"] * 48
    values[6] = "12"                      # 12 kWh in 30 min > 2 x 10 kW x 0.5 h
    f = tmp_path / "n.csv"
    f.write_text(_nem12("300,20261001," + ",".join(values) + ",A,,,,", nmi="NMI0000001"))
    with pytest.raises(ValidationError) as err:
        ingest_meter(store, [f], None, sites=registry, now_utc=NOW)
    assert (err.value.line, err.value.field) == (3, "IntervalValue7")


# --------------------------------------------------------------------------- NEM12

def _nem12(*records: str, nmi: str = "NEM1201009", minutes: int = 30) -> str:
    return "\n".join(["100,NEM12,200402070911,MDA1,Ret1",
                      f"200,{nmi},E1E2,1,E1,N1,01009,kWh,{minutes},20050610", *records,
                      "900"]) + "\n"


def test_nem12_300_record_cut_after_the_quality_flag_is_refused():
    day = ",".join(["1.5"] * 48)
    for tail, missing in ((",A", "ReasonCode"), (",A,,", "UpdateDateTime"),
                          (",A,,,", "MSATSLoadDateTime")):
        with pytest.raises(ValidationError) as err:
            read_nem12(_nem12("300,20261001," + day + tail).encode(), "n.csv")
        assert (err.value.line, err.value.field) == (3, missing), str(err.value)
        assert "incomplete 300 record" in str(err.value)
    with pytest.raises(ValidationError, match="too many"):
        read_nem12(_nem12("300,20261001," + day + ",A,,,,,extra").encode(), "n.csv")
    ok = read_nem12(_nem12("300,20261001," + day + ",A,,,,").encode(), "n.csv")
    assert ok.table.num_rows == 48


@pytest.mark.parametrize("record, field", [
    ("300,20261001," + ",".join(["1_0"] + ["1"] * 47) + ",A,,,,", "IntervalValue1"),
    ("300,20261001," + ",".join(["1"] * 47 + ["1e2"]) + ",A,,,,", "IntervalValue48"),
    ("300,99991001," + ",".join(["1"] * 48) + ",A,,,,", "IntervalDate"),
    ("300,20261001," + ",".join(["1"] * 47 + ["9200000000000000"]) + ",A,,,,", "IntervalValue48"),
])
def test_nem12_values_are_strict(record, field):
    with pytest.raises(ValidationError) as err:
        read_nem12(_nem12(record).encode(), "n.csv")
    assert (err.value.line, err.value.field) == (3, field)


def test_nem12_interval_length_is_strict():
    with pytest.raises(ValidationError) as err:
        read_nem12(_nem12(minutes="3_0").encode(), "n.csv")        # type: ignore[arg-type]
    assert (err.value.line, err.value.field) == (2, "IntervalLength")


# --------------------------------------------------------------------------- prices

@pytest.mark.parametrize("row, field, words", [
    ("ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,32.15,31.00,1.10,0.06", "lmp_usd_per_mwh",
     "differs from energy + congestion + loss = 32.16 by 0.01"),
    ("ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,45.10,31.00,1.10,0.05", "lmp_usd_per_mwh",
     "by 12.95"),
    ("ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,32.15,31.00,,0.05", "congestion_usd_per_mwh",
     "all of"),
    ("ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,2000000,,,", "lmp_usd_per_mwh", "beyond"),
    ("ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,1_000,,,", "lmp_usd_per_mwh", "not a number"),
])
def test_prices_components_and_bounds(row, field, words):
    if "0.06" in row:          # 32.15 vs 32.16: within 0.01 is accepted
        assert read_prices_csv((PRICE_HEADER + row + "\n").encode(), "p.csv").table.num_rows == 1
        return
    with pytest.raises(ValidationError) as err:
        read_prices_csv((PRICE_HEADER + row + "\n").encode(), "p.csv")
    assert (err.value.file, err.value.line, err.value.field) == ("p.csv", 2, field)
    assert words in str(err.value)


def test_prices_that_disagree_exit_2_through_the_cli_and_write_nothing(home, tmp_path, capsys):
    f = tmp_path / "p.csv"
    f.write_text(PRICE_HEADER + "ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,32.15,31.00,1.10,0.05\n"
                                "ERCOT,HB_NORTH,DA,2026-10-01T06:00:00Z,60,40.00,31.00,1.10,0.05\n")
    before = files_under(home / "store")
    refuse(capsys, ["ingest", "prices", str(f)], f"{f}:3:", "lmp_usd_per_mwh")
    assert files_under(home / "store") == before


def test_meter_cli_refusals_exit_2_and_write_nothing(home, tmp_path, capsys):
    before = files_under(home / "store")
    f = tmp_path / "m.csv"
    f.write_text(HEADER + "TX-DC1,gt1,2026-10-01T05:00:00Z,99999999999999999999,1,A\n")
    refuse(capsys, ["ingest", "meter", str(f)], f"{f}:2:", "interval_minutes")
    f.write_text(HEADER + "TX-DC1,dc,2026-10-01T05:00:00Z,5,9200000000000000,A\n")
    refuse(capsys, ["ingest", "meter", str(f)], f"{f}:2:", "kwh")
    p = tmp_path / "m.parquet"
    p.write_bytes(_parquet(site_id=pa.array(["TX-DC1"]), channel=pa.array(["dc"]),
                           kwh=pa.array([[1]], pa.list_(pa.int64()))))
    refuse(capsys, ["ingest", "meter", str(p)], "field 'kwh'", "list")
    assert files_under(home / "store") == before
    assert not os.path.exists(home / "store" / "tables" / "meter")


def test_ingest_refuses_before_any_write(store, sites, tmp_path):
    good = DATA / "ingest" / "meter_tx_dc1.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "TX-DC1,gt1,2026-10-02T05:00:00Z,5,1_000,A\n")
    with pytest.raises(InputError):
        ingest_meter(store, [good, bad], None, sites=sites, now_utc=NOW)
    assert Tables(store).version("meter") is None
    prices = tmp_path / "p.csv"
    prices.write_text(PRICE_HEADER + "ERCOT,HB_NORTH,DA,2026-10-01T05:00:00Z,60,1,1,1,1\n")
    with pytest.raises(ValidationError):
        ingest_prices(store, [prices], now_utc=NOW)
    assert Tables(store).version("prices") is None
