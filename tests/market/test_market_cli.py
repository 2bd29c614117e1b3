"""ISO markets end to end through ``m2c``: sites with market resources, ingest of meter,
prices, awards and statements (canonical and ERCOT's extract layout), shadow settlement,
reconciliation with two planted mismatches, a re-settled version shown as deltas, and
bad input rejected with exit 2, nothing written."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from api.cli.main import main
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.support.market import statement_csv_from, write_ercot_files

DATA = Path(__file__).resolve().parents[1] / "data" / "market"
D = date(2026, 1, 15)


@pytest.fixture
def home(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("M2C_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("M2C_STORAGE", f"file://{store}")
    monkeypatch.delenv("M2C_DB", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return StorageConfig(uri=f"file://{store}")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def loaded(home, capsys, tmp_path):
    assert run(capsys, "sites", "load", DATA / "sites.yaml")[0] == 0
    files = write_ercot_files(tmp_path, D, 1)
    assert run(capsys, "ingest", "meter", files["meter"])[0] == 0
    assert run(capsys, "ingest", "prices", files["prices"])[0] == 0
    code, out, err = run(capsys, "ingest", "awards", files["awards"])
    assert code == 0, err
    return home


def test_shadow_reconcile_and_version_deltas(loaded, capsys, tmp_path):
    code, out, err = run(capsys, "market", "shadow", "--iso", "ERCOT", "--resource", "TXDC1_CC1",
                         "--from", D, "--to", D, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc["totals_usd"]) == {"DAESAMT", "RTEIAMT"} and doc["lines"] > 96
    # a statement that agrees with the shadow except for two planted mismatches
    from jobs.market import shadow_in_process
    store = ObjectStore.from_config(loaded)
    lines, _ = shadow_in_process(store, "ERCOT", "TXDC1_CC1", D, D)
    text = statement_csv_from(lines, "ERCOT-RTM-QTEXAS-20260115").splitlines()
    rows = [r.split(",") for r in text]

    def shift(r, usd):
        from decimal import Decimal
        r[-1] = str(Decimal(r[-1]) + Decimal(usd))
    shift(rows[3], "-12.50")                                       # a DAESAMT hour
    shift(rows[60], "0.02")                                        # an RTEIAMT interval
    shift(rows[61], "0.01")                                        # within the tolerance
    st = tmp_path / "statement_initial.csv"
    st.write_text("\n".join(",".join(r) for r in rows) + "\n")
    code, out, err = run(capsys, "ingest", "statements", st)
    assert code == 0, err
    sid = "ERCOT-RTM-QTEXAS-20260115"
    code, out, err = run(capsys, "market", "reconcile", "--statement", sid, "--format", "json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["mismatches"] == 2 and len(rep["lines"]) == 2
    got = {(r["charge_type"], r["difference_usd"]) for r in rep["lines"]}
    assert got == {("DAESAMT", "-12.50"), ("RTEIAMT", "0.02")}
    assert all(r["statement_price_usd_per_mwh"] and r["shadow_price_usd_per_mwh"] for r in rep["lines"])
    assert rep["totals"][-1]["charge_type"] == "total"
    code, out, _ = run(capsys, "market", "reconcile", "--statement", sid, "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("charge_type,resource_id")
    assert len(out.splitlines()) == 3
    code, out, _ = run(capsys, "market", "reconcile", "--statement", sid, "--format", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and "mismatch" in out
    code, out, _ = run(capsys, "market", "reconcile", "--statement", sid)
    assert code == 0 and "2 mismatch(es) beyond 0.01 USD" in out
    # the final version corrects the DA line: shown as a delta against the initial one
    for r in rows[1:]:
        r[2] = "final"
    shift(rows[3], "12.50")
    fin = tmp_path / "statement_final.csv"
    fin.write_text("\n".join(",".join(r) for r in rows) + "\n")
    assert run(capsys, "ingest", "statements", fin)[0] == 0
    code, out, err = run(capsys, "market", "reconcile", "--statement", sid, "--format", "json")
    rep = json.loads(out)
    assert rep["version"] == "final" and rep["previous_version"] == "initial"
    assert rep["mismatches"] == 1
    assert [(d["charge_type"], d["delta_usd"]) for d in rep["version_deltas"]] == [("DAESAMT", "12.50")]
    code, out, _ = run(capsys, "market", "statements")
    assert code == 0 and "final,initial" in out


def test_the_ercot_extract_layout(loaded, capsys):
    code, out, err = run(capsys, "ingest", "statements", DATA / "ercot_extract_20260115_initial.csv",
                         "--output", "json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["files"][0]["format"] == "ercot-extract" and rep["rows_new"] == 2 + 96
    from storage.market import read_statement
    tables = Tables(ObjectStore.from_config(loaded))
    first = read_statement(tables, "ERCOT-DAM-QTEXAS-20260115").to_pylist()[0]
    assert (first["charge_type"], first["amount_microusd"], first["energy_wh"],
            first["price_microusd_per_mwh"]) == ("DAESAMT", -1_500_000_000, 50_000_000, 30_000_000)
    rt = read_statement(tables, "ERCOT-RTM-QTEXAS-20260115")
    assert rt.num_rows == 96 and rt.column("energy_wh")[4].as_py() == 2_500_000


BAD = {
    "unknown charge type": ("charge_type", "unknown charge type 'DAXAMT'"),
    "interval outside the day": ("interval_start", "outside operating day 2026-01-15"),
    "unknown resource": ("resource_id", "unknown resource 'NOPE_1' of ERCOT"),
}
GOOD = "ERCOT,S1,initial,2026-01-15,DAESAMT,TXDC1_CC1,2026-01-15T06:00:00Z,60,50,30,-1500"
BROKEN = {"unknown charge type": GOOD.replace(",DAESAMT,", ",DAXAMT,"),
          "interval outside the day": GOOD.replace("2026-01-15T06", "2026-01-16T06"),
          "unknown resource": GOOD.replace("TXDC1_CC1", "NOPE_1")}
HEADER = ("iso,statement_id,version,operating_date,charge_type,resource_id,interval_start,"
          "interval_minutes,quantity_mwh,price_usd_per_mwh,amount_usd")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_statements_exit_2_naming_file_line_field_and_write_nothing(loaded, capsys, tmp_path, case):
    fld, msg = BAD[case]
    f = tmp_path / "bad.csv"
    f.write_text("\n".join([HEADER, GOOD.replace("T06", "T07"), BROKEN[case]]) + "\n")
    before = Tables(ObjectStore.from_config(loaded)).version("statements")
    code, _, err = run(capsys, "ingest", "statements", f)
    assert code == 2
    assert f"bad.csv:3: field '{fld}'" in err and msg in err, err
    assert Tables(ObjectStore.from_config(loaded)).version("statements") == before


def test_duplicate_statement_line_and_unknown_award_resource(loaded, capsys, tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("\n".join([HEADER, GOOD, GOOD]) + "\n")
    code, _, err = run(capsys, "ingest", "statements", f)
    assert code == 2 and "dup.csv:3" in err and "duplicate statement line" in err
    a = tmp_path / "awards.csv"
    a.write_text("iso,resource_id,product,interval_start,interval_minutes,mw\n"
                 "ERCOT,TXDC1_CC1,da_sale,2026-01-15T06:00:00Z,60,10\n"
                 "ERCOT,GHOST_1,da_sale,2026-01-15T06:00:00Z,60,10\n")
    before = Tables(ObjectStore.from_config(loaded)).version("awards")
    code, _, err = run(capsys, "ingest", "awards", a)
    assert code == 2 and "awards.csv:3: field 'resource_id': unknown resource 'GHOST_1'" in err
    assert Tables(ObjectStore.from_config(loaded)).version("awards") == before
    code, _, err = run(capsys, "market", "shadow", "--iso", "ERCOT", "--resource", "GHOST_1",
                       "--from", D, "--to", D)
    assert code == 2 and "unknown resource 'GHOST_1'" in err
    text = (DATA / "ercot_extract_20260115_initial.csv").read_text().splitlines()
    cells = text[4].split(",")
    cells[6 + 96] = "12.5"                                            # INT097 on a 96-interval day
    text[4] = ",".join(cells)
    x = tmp_path / "extract.csv"
    x.write_text("\n".join(text) + "\n")
    code, _, err = run(capsys, "ingest", "statements", x)
    assert code == 2 and "extract.csv:5: field 'INT097'" in err and "outside operating day" in err
