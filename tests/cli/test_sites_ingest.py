"""`m2c sites` and `m2c ingest` through the real entry point, on both backends."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage.objectstore import ObjectStore
from storage.tables import Tables

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"


@pytest.fixture
def env(cli_env, storage_config):
    return storage_config


def test_sites_load_and_list(env, m2c, tmp_path):
    out = m2c("sites", "load", str(DATA / "sites.yaml")).out
    assert "version 1" in out and "added (7)" in out
    assert "unchanged" in m2c("sites", "load", str(DATA / "sites.yaml")).out
    doc = m2c.json("sites", "list", "--format", "json")
    assert doc["version"] == 1 and len(doc["sites"]) == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - site_id: X\n    timezone: Mars/Olympus\n    channels: {a: {kind: load}}\n")
    assert "sites[0].timezone" in m2c("sites", "load", str(bad), code=2).err
    bad.write_text("sites: [\n")
    assert "bad.yaml" in m2c("sites", "load", str(bad), code=2).err


def test_ingest_meter_text_json_and_exit_codes(env, m2c, nem12_dir):
    m2c("sites", "load", str(DATA / "sites.yaml"))
    out = m2c("ingest", "meter", str(DATA / "meter_tx_dc1.csv"),
              str(nem12_dir / "Example_NEM12_multiple_quality.csv")).out
    assert "53 new, 0 superseded, 0 unchanged, 0 rejected" in out
    assert "new data version: meter v0" in out
    doc = m2c.json("ingest", "meter", str(DATA / "meter_tx_dc1.csv"), "--output", "json")
    assert doc["written"] is False and doc["version"] == 0
    assert doc["files"][0]["message"] == "already ingested at version 0"
    doc = m2c.json("ingest", "meter", str(DATA / "meter_tx_dc1_correction.csv"), "--format", "csv", "--json")
    assert (doc["rows_new"], doc["rows_superseded"], doc["rows_unchanged"], doc["version"]) == (1, 1, 1, 1)
    for name, where in (("meter_no_offset.csv", ":3: field 'interval_start'"),
                        ("meter_unknown_channel.csv", ":4: field 'channel'")):
        run = m2c("ingest", "meter", str(DATA / name), code=2)
        assert name in run.err and where in run.err and run.out == ""
    assert "no 300 records" in m2c("ingest", "meter", str(nem12_dir / "Example_NEM12_empty.csv"), code=2).err
    assert Tables(ObjectStore.from_config(env)).version("meter") == 1     # nothing more written


def test_ingest_prices_and_index(env, m2c):
    assert m2c.json("ingest", "prices", str(DATA / "prices_ercot.csv"), "--format", "json")["rows_new"] == 3
    out = m2c("ingest", "index", str(DATA / "index_gas.csv")).out
    assert "index: 3 new" in out and "index v0" in out
    assert "missing column" in m2c("ingest", "index", str(DATA / "prices_ercot.csv"), code=2).err
