"""`m2c sites` and `m2c ingest` through api.cli.main.main, on both backends."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli.main import main
from storage.objectstore import ObjectStore
from storage.tables import Tables

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


@pytest.fixture
def env(cli_env, storage_config):
    return storage_config


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sites_load_and_list(env, capsys, tmp_path):
    code, out, _ = run(capsys, "sites", "load", str(DATA / "sites.yaml"))
    assert code == 0 and "version 1" in out and "added (7)" in out
    code, out, _ = run(capsys, "sites", "load", str(DATA / "sites.yaml"))
    assert code == 0 and "unchanged" in out
    code, out, _ = run(capsys, "sites", "list", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["version"] == 1 and len(doc["sites"]) == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - site_id: X\n    timezone: Mars/Olympus\n    channels: {a: {kind: load}}\n")
    code, _, err = run(capsys, "sites", "load", str(bad))
    assert code == 2 and "sites[0].timezone" in err
    bad.write_text("sites: [\n")
    code, _, err = run(capsys, "sites", "load", str(bad))
    assert code == 2 and "bad.yaml" in err


def test_ingest_meter_text_json_and_exit_codes(env, capsys, nem12_dir):
    assert run(capsys, "sites", "load", str(DATA / "sites.yaml"))[0] == 0
    code, out, _ = run(capsys, "ingest", "meter", str(DATA / "meter_tx_dc1.csv"),
                       str(nem12_dir / "Example_NEM12_multiple_quality.csv"))
    assert code == 0 and "53 new, 0 superseded, 0 unchanged, 0 rejected" in out
    assert "new data version: meter v0" in out
    code, out, _ = run(capsys, "ingest", "meter", str(DATA / "meter_tx_dc1.csv"), "--output", "json")
    doc = json.loads(out)
    assert code == 0 and doc["written"] is False and doc["version"] == 0
    assert doc["files"][0]["message"] == "already ingested at version 0"
    code, out, _ = run(capsys, "ingest", "meter", str(DATA / "meter_tx_dc1_correction.csv"),
                       "--format", "csv", "--json")
    doc = json.loads(out)
    assert (doc["rows_new"], doc["rows_superseded"], doc["rows_unchanged"], doc["version"]) == (1, 1, 1, 1)
    for name, where in (("meter_no_offset.csv", ":3: field 'interval_start'"),
                        ("meter_unknown_channel.csv", ":4: field 'channel'")):
        code, out, err = run(capsys, "ingest", "meter", str(DATA / name))
        assert code == 2 and name in err and where in err and out == ""
    code, _, err = run(capsys, "ingest", "meter", str(nem12_dir / "Example_NEM12_empty.csv"))
    assert code == 2 and "no 300 records" in err
    assert Tables(ObjectStore.from_config(env)).version("meter") == 1     # nothing more written


def test_ingest_prices_and_index(env, capsys):
    code, out, _ = run(capsys, "ingest", "prices", str(DATA / "prices_ercot.csv"), "--format", "json")
    assert code == 0 and json.loads(out)["rows_new"] == 3
    code, out, _ = run(capsys, "ingest", "index", str(DATA / "index_gas.csv"))
    assert code == 0 and "index: 3 new" in out and "index v0" in out
    code, _, err = run(capsys, "ingest", "index", str(DATA / "prices_ercot.csv"))
    assert code == 2 and "missing column" in err
