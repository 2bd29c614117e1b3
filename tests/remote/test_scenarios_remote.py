"""`m2c --api URL scenarios ...`: the schema, a run (its curve uploaded as prices, the
job checked and recorded on the server), refusals, and results listed and shown, all
from the server's store; nothing read or written on this machine."""
from __future__ import annotations

import csv
import io

import pytest
import yaml

from engine.scenario import scenario_schema
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.jobs.scenario_fixtures import run_in_process

from .conftest import PERIOD, loads, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]

DOC = {"scenario": "remote", "base": {"from_period": PERIOD, "to_period": PERIOD, "contracts": ["PPA-TX-DC1"]},
       "variants": [{"name": "flat 30", "transforms": [
           {"op": "price_curve", "series": {"node": "LZ_NORTH"}, "curve": "flat30", "file": "flat30.csv"}]},
           {"name": "node +5", "transforms": [{"op": "price_shift", "usd_per_mwh": "5"}]}]}


def _store(server) -> ObjectStore:
    return ObjectStore.from_config(StorageConfig(uri=f"file://{server.settings.home / 'store'}"))


def test_scenarios_through_the_api(server, remote, cli_home, tmp_path, capsys):
    code, out, err = run_cli([*remote("analyst"), "scenarios", "schema"], capsys)
    assert code == 0 and loads(out) == scenario_schema(), err

    (tmp_path / "flat30.csv").write_text("interval_start,interval_minutes,lmp_usd_per_mwh\n" + "".join(
        f"2026-10-{d:02d}T{h:02d}:00:00Z,60,30.00\n" for d in range(1, 32) for h in range(24))
        + "".join(f"2026-11-01T{h:02d}:00:00Z,60,30.00\n" for h in range(8)))
    doc_path = tmp_path / "s.yaml"
    doc_path.write_text(yaml.safe_dump(DOC, sort_keys=False))
    code, out, err = run_cli([*remote("analyst"), "scenarios", "run", str(doc_path), "--format", "json"], capsys)
    assert code == 0, err
    job = loads(out)
    from jobs.catalog import JobCatalog
    record = JobCatalog(server.settings.db_url).get(job["id"])
    assert record.kind == "scenario" and record.state == "queued"
    assert "file" not in str(record.spec)                          # local paths stay local
    curve = Tables(_store(server)).read_prices("CURVE", "flat30", "RT", 0, 2_000_000_000_000_000)
    assert curve.num_rows == 31 * 24 + 8 and "curve flat30" in err

    bad = {**DOC, "base": {**DOC["base"], "contracts": ["NOPE"]}, "variants": DOC["variants"][1:]}
    doc_path.write_text(yaml.safe_dump(bad))
    code, _, err = run_cli([*remote("analyst"), "scenarios", "run", str(doc_path)], capsys)
    assert code == 2 and "422" in err and "base.contracts[0]" in err and "NOPE" in err
    code, _, err = run_cli([*remote("investor"), "scenarios", "run", str(doc_path)], capsys)
    assert code == 1 and "403" in err and "scenario" in err            # the role, before the store

    run_in_process(_store(server), {**DOC, "variants": DOC["variants"][1:]}, "job-remote-1")
    code, out, err = run_cli([*remote("analyst"), "scenarios", "list", "--format", "json"], capsys)
    assert code == 0 and [r["result_id"] for r in loads(out)] == ["job-remote-1"], err
    code, out, err = run_cli([*remote("analyst"), "scenarios", "show", "job-remote-1", "--format", "csv"], capsys)
    assert code == 0 and {r["variant"] for r in csv.DictReader(io.StringIO(out))} == {"base", "node +5"}
    code, out, _ = run_cli([*remote("analyst"), "scenarios", "show", "job-remote-1", "--format", "html"], capsys)
    assert code == 0 and out.startswith("<!DOCTYPE html>")
    code, out, _ = run_cli([*remote("admin"), "scenarios", "show", "job-remote-1"], capsys)
    assert code == 0 and "node +5" in out
    code, _, err = run_cli([*remote("investor"), "scenarios", "show", "job-remote-1"], capsys)
    assert code == 1 and "403" in err
    assert not (cli_home / "store").exists() and not (cli_home / "m2c.db").exists()
