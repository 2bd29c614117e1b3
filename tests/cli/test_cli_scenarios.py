"""``m2c scenarios`` through the real CLI entry point (embedded path: real storage, the
session Ray, a real SQLite catalog): schema, refusals with exit 2 naming the variant
and field, a run with an uploaded curve, and every way to show the result."""
from __future__ import annotations

import csv
import io
import json

import jsonschema
import pyarrow.parquet as pq
import pytest
import yaml

from api.cli.main import main
from engine.money import picousd_to_cents
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.results import ResultStore
from engine.timebase import from_us, local_month_bounds_us
from tests.jobs.scenario_fixtures import FIRST, LAST, demo_store


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-scenarios")
    demo_store(StorageConfig(uri=f"file://{root / 'store'}"), root / "files")
    return root


@pytest.fixture
def home(demo_dir, monkeypatch):
    monkeypatch.setenv("M2C_HOME", str(demo_dir / "home"))
    monkeypatch.setenv("M2C_STORAGE", f"file://{demo_dir / 'store'}")
    monkeypatch.delenv("M2C_DB", raising=False)
    monkeypatch.delenv("M2C_API_URL", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return demo_dir


def write(path, doc) -> str:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_schema_is_published(capsys):
    assert main(["scenarios", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("scenario.json")


@pytest.mark.parametrize("doc, words", [
    ({"scenario": "x", "base": {"from_period": FIRST, "to_period": LAST, "contracts": ["NOPE"]}},
     ["base.contracts[0]", "unknown contract 'NOPE'"]),
    ({"scenario": "x", "base": {"from_period": FIRST, "to_period": LAST},
      "variants": [{"name": "big pv", "transforms": [{"op": "add_capacity", "channel": "pv9", "added_kw": "1"}]}]},
     ["variants[0].transforms[0].channel", "variant 'big pv'", "pv9"]),
    ({"scenario": "x", "base": {"from_period": FIRST, "to_period": LAST},
      "variants": [{"name": "gas", "transforms": [{"op": "index_scale", "index": "HENRY_HUB", "factor": "2"}]}]},
     ["variant 'gas'", "no base contract reads index 'HENRY_HUB'"]),
    ({"scenario": "x", "base": {"from_period": FIRST, "to_period": LAST},
      "variants": [{"name": "b", "transforms": [{"op": "battery_dispatch", "site": "TX-DC1", "power_mw": "-1",
                                                 "energy_mwh": "10"}]}]},
     ["variants[0].transforms[0].power_mw", "variant 'b'", "must be > 0"]),
    ({"scenario": "x", "base": {"from_period": FIRST, "to_period": LAST},
      "sweep": {"parameters": [{"name": "a", "values": list(range(400))}, {"name": "b", "values": list(range(400))}],
                "transforms": [{"op": "price_shift", "usd_per_mwh": "{a}"}]}},
     ["sweep.parameters", "160,000 variants is over the limit of 100,000"]),
])
def test_bad_documents_exit_2_before_any_work(home, tmp_path, capsys, doc, words):
    assert main(["scenarios", "run", write(tmp_path / "bad.yaml", doc)]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err
    assert ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}")).list("results/scenario/") == []


def test_hostile_yaml_is_refused(home, tmp_path, capsys):
    f = tmp_path / "alias.yaml"
    f.write_text("scenario: x\nbase: &b {from_period: 2026-09, to_period: 2026-10}\nother: *b\n")
    assert main(["scenarios", "run", str(f)]) == 2
    assert "alias" in capsys.readouterr().err
    f.write_text("scenario: x\nscenario: y\n")
    assert main(["scenarios", "run", str(f)]) == 2
    assert "twice" in capsys.readouterr().err
    f.write_bytes(b"scenario: \xff\n")
    assert main(["scenarios", "run", str(f)]) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_run_with_a_curve_then_show_every_way(ray_cluster, home, tmp_path, capsys):
    curve = tmp_path / "fwd.csv"
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}"))
    b0 = local_month_bounds_us(FIRST, "America/Chicago")[0] - 3_600_000_000
    b1 = local_month_bounds_us(LAST, "America/Chicago")[1]
    with curve.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["interval_start", "interval_minutes", "lmp_usd_per_mwh"])
        for h in range(b0, b1, 3_600_000_000):
            w.writerow([f"{from_us(h):%Y-%m-%dT%H:%M:%SZ}", 60, "25.00"])
    doc = {"scenario": "cli-curve", "base": {"from_period": FIRST, "to_period": LAST,
                                             "contracts": ["PPA-TX-DC1"]},
           "outputs": {"site_energy": True},
           "variants": [{"name": "flat 25", "transforms": [
               {"op": "price_curve", "series": {"node": "LZ_NORTH"}, "curve": "flat25", "file": "fwd.csv"}]}]}
    assert main(["scenarios", "run", write(tmp_path / "s.yaml", doc), "--wait", "--format", "json"]) == 0
    captured = capsys.readouterr()
    job = json.loads(captured.out)
    assert "curve flat25" in captured.err
    assert job["state"] == "succeeded", job
    rid = job["result"]["result_id"]
    assert job["result"]["failed"] == 0

    assert main(["scenarios", "show", rid, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    flat = [r for r in rows if r["variant"] == "flat 25" and r["line_id"] == "export_share"]
    assert len(flat) == 2

    assert main(["scenarios", "show", rid, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["result_id"] == rid and summary["lineage"]["curves"] == ["flat25"]

    # export_share at a flat 25 USD/MWh: -0.5 x 25 x exported MWh, rounded once
    energy = pq.read_table(io.BytesIO(ResultStore(store, "scenario").part(rid, "site_energy.parquet")))
    for r in flat:
        exp = [e["energy_wh"] for e in energy.to_pylist()
               if e["variant"] == "flat 25" and e["period"] == r["period"] and e["channel"] == "exp"][0]
        assert int(r["amount_cents"]) == picousd_to_cents(exp * -12_500_000)

    assert main(["scenarios", "show", rid, "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "flat 25" in html
    assert main(["scenarios", "show", rid]) == 0
    table = capsys.readouterr().out
    assert "flat 25" in table and "VARIANT" in table
    assert main(["scenarios", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["data"]
    assert [r["result_id"] for r in listed] == [rid] and listed[0]["scenario"] == "cli-curve"
