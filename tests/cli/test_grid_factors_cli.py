"""`m2c ingest grid-factors` and `m2c sites load` for carbon: bad input exits 2 naming file,
line and field (or site and channel), and writes nothing."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from storage.objectstore import ObjectStore
from storage.sites import registry_versions
from storage.tables import Tables
from tests.support.carbon import factor_rows, write_factors

HEADER = "balancing_authority,interval_start,co2e_kg_per_mwh,cfe_share,residual_co2e_kg_per_mwh,source"
START = datetime(2026, 10, 1, 5, tzinfo=timezone.utc)


@pytest.fixture
def env(cli_env, storage_config):
    return storage_config


def test_ingest_grid_factors_then_again_then_a_correction(env, m2c, tmp_path):
    f = write_factors(tmp_path / "erco.csv", factor_rows("ERCO", START, 48))
    doc = m2c.json("ingest", "grid-factors", str(f), "--output", "json")
    assert doc["table"] == "grid_factors" and doc["rows_new"] == 48 and doc["version"] == 0
    assert m2c.json("ingest", "grid-factors", str(f), "--output", "json")["written"] is False
    lines = f.read_text().splitlines()
    lines[3] = lines[3].replace(",test factors", ",corrected")
    g = tmp_path / "erco-fix.csv"
    g.write_text("\n".join(lines[:4]) + "\n")
    out = m2c("ingest", "grid-factors", str(g)).out
    assert "0 new, 1 superseded, 2 unchanged" in out and "grid_factors v1" in out
    t = Tables(ObjectStore.from_config(env)).read_partition(
        "grid_factors", {"balancing_authority": "ERCO", "month": "2026-10"})
    assert t.num_rows == 48 and t.column("source").to_pylist().count("corrected") == 1


@pytest.mark.parametrize("rows, line, field, message", [
    (["ERCO,2026-10-01T05:00:00Z,400,0.3,,", "ERCO,2026-10-01T07:00:00Z,400,0.3,,"], 3, "interval_start",
     "missing hour 2026-10-01T06:00Z"),
    (["ERCO,2026-10-01T05:00:00Z,-0.5,0.3,,"], 2, "co2e_kg_per_mwh", "negative emission factor"),
    (["ERCO,2026-10-01T05:00:00Z,400,0.3,,", "ERCOT,2026-10-01T06:00:00Z,400,0.3,,"], 3,
     "balancing_authority", "unknown balancing authority 'ERCOT'"),
    (["ERCO,2026-10-01T05:30:00Z,400,0.3,,"], 2, "interval_start", "not on the hour"),
    (["ERCO,2026-10-01T05:00:00Z,400,1.2,,"], 2, "cfe_share", "0..1"),
])
def test_bad_grid_factor_files_exit_2_naming_the_line_and_field_and_write_nothing(env, m2c, tmp_path, rows,
                                                                                  line, field, message):
    good = write_factors(tmp_path / "good.csv", factor_rows("PJM", START, 3))
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    run = m2c("ingest", "grid-factors", str(good), str(bad), "--output", "json", code=2)
    err = json.loads(run.out)["error"]
    assert (err["file"].endswith("bad.csv"), err["line"], err["field"]) == (True, line, field)
    assert message in err["message"]
    assert Tables(ObjectStore.from_config(env)).version("grid_factors") is None     # nothing written


def test_sites_load_refuses_a_combustion_channel_without_a_heat_rate(env, m2c, tmp_path):
    f = tmp_path / "sites.yaml"
    f.write_text("sites:\n  - site_id: TX-DC9\n    timezone: America/Chicago\n    balancing_authority: ERCO\n"
                 "    channels:\n      dc: {kind: load}\n      gt1: {kind: generation, resource: gas_cc}\n")
    err = m2c("sites", "load", str(f), code=2).err
    assert "sites[0].channels.gt1.heat_rate_mmbtu_per_mwh" in err and "TX-DC9 channel gt1" in err
    assert registry_versions(ObjectStore.from_config(env)) == []                     # nothing written
    f.write_text(f.read_text().replace("resource: gas_cc}", "resource: gas_cc, heat_rate_mmbtu_per_mwh: 6.8}"))
    assert "version 1" in m2c("sites", "load", str(f)).out
