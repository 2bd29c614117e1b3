"""``m2c scenarios`` through the real CLI entry point (embedded path: real storage, the
session Ray, a real SQLite catalog): schema, refusals with exit 2 naming the variant
and field, a run with an uploaded curve, and every way to show the result."""
from __future__ import annotations

import csv
import io

import jsonschema
import pyarrow.parquet as pq
import pytest
import yaml

from engine.money import picousd_to_cents
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.results import ResultStore
from engine.timebase import from_us, local_month_bounds_us
from tests.jobs.scenario_fixtures import DEMO, FIRST, LAST
from tests.support.cli import point_cli_at


@pytest.fixture
def home(demo_stores, tmp_path, monkeypatch, catalog_url):
    cfg, _ = demo_stores.copy(tmp_path / "store", **DEMO)
    point_cli_at(monkeypatch, tmp_path / "home", cfg, catalog_url)
    return tmp_path


def write(path, doc) -> str:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def test_schema_is_published(m2c):
    schema = m2c.json("scenarios", "schema")
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
def test_bad_documents_exit_2_before_any_work(home, tmp_path, m2c, doc, words):
    err = m2c("scenarios", "run", write(tmp_path / "bad.yaml", doc), code=2).err
    for w in words:
        assert w in err
    assert ObjectStore.from_config(StorageConfig(uri=f"file://{home / 'store'}")).list("results/scenario/") == []


def test_hostile_yaml_is_refused(home, tmp_path, m2c):
    f = tmp_path / "alias.yaml"
    f.write_text("scenario: x\nbase: &b {from_period: 2026-09, to_period: 2026-10}\nother: *b\n")
    assert "alias" in m2c("scenarios", "run", str(f), code=2).err
    f.write_text("scenario: x\nscenario: y\n")
    assert "duplicate key" in m2c("scenarios", "run", str(f), code=2).err
    f.write_bytes(b"scenario: \xff\n")
    assert "not UTF-8" in m2c("scenarios", "run", str(f), code=2).err


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_run_with_a_curve_then_show_every_way(ray_cluster, home, tmp_path, m2c):
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
    run = m2c("scenarios", "run", write(tmp_path / "s.yaml", doc), "--wait", "--format", "json")
    job = run.json()
    assert "curve flat25" in run.err
    assert job["state"] == "succeeded", job
    rid = job["result"]["result_id"]
    assert job["result"]["failed"] == 0

    rows = list(csv.DictReader(io.StringIO(m2c("scenarios", "show", rid, "--format", "csv").out)))
    flat = [r for r in rows if r["variant"] == "flat 25" and r["line_id"] == "export_share"]
    assert len(flat) == 2

    summary = m2c.json("scenarios", "show", rid, "--format", "json")
    assert summary["result_id"] == rid and summary["lineage"]["curves"] == ["flat25"]

    # export_share at a flat 25 USD/MWh: -0.5 x 25 x exported MWh, rounded once
    energy = pq.read_table(io.BytesIO(ResultStore(store, "scenario").part(rid, "site_energy.parquet")))
    for r in flat:
        exp = [e["energy_wh"] for e in energy.to_pylist()
               if e["variant"] == "flat 25" and e["period"] == r["period"] and e["channel"] == "exp"][0]
        assert int(r["amount_cents"]) == picousd_to_cents(exp * -12_500_000)

    html = m2c("scenarios", "show", rid, "--format", "html").out
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "flat 25" in html
    table = m2c("scenarios", "show", rid).out
    assert "flat 25" in table and "VARIANT" in table
    listed = m2c.json("scenarios", "list", "--format", "json")
    assert [r["result_id"] for r in listed] == [rid] and listed[0]["scenario"] == "cli-curve"
