"""``m2c bankability schema | run | show`` through the real CLI entry point (embedded path:
real storage, the session Ray, a real SQLite catalog)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.jobs.test_bankability_job import model

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]


@pytest.fixture
def home(local_cli_env, local_storage, demo_stores, ray_cluster):
    """The CLI on a local store holding two demo sites with a year of hourly history."""
    demo_stores.copy(Path(local_storage.uri.removeprefix("file://")), sites=2, months=12, minutes=60)
    return local_cli_env


def test_schema_and_bad_documents_exit_2_naming_the_field(tmp_path, m2c, monkeypatch):
    schema = m2c.json("bankability", "schema")
    assert schema["$schema"].endswith("2020-12/schema") and "uncertainty" in schema["properties"]
    f = tmp_path / "model.yaml"
    for change, field in (({"debt.cases": [{"case": "P50", "dscr": -1}]}, "debt.cases[0].dscr"),
                          ({"costs.fixed_om_usd_per_kw_year": -3}, "costs.fixed_om_usd_per_kw_year"),
                          ({"uncertainty.generation": {"model_pct": -1}}, "uncertainty.generation.model_pct")):
        f.write_text(yaml.safe_dump(model(**change)))
        err = m2c("bankability", "run", str(f), code=2).err
        assert str(f) in err and field in err
    f.write_text(yaml.safe_dump(model()))
    monkeypatch.setenv("M2C_BANKABILITY_MAX_PATHS", "10")
    assert "uncertainty.paths" in m2c("bankability", "run", str(f), code=2).err
    assert "uncertainty.paths" in m2c("bankability", "run", str(f), "--paths", "11", code=2).err
    f.write_text("project: [\n")
    assert f"{f}:2" in m2c("bankability", "run", str(f), code=2).err


def test_run_then_show_in_every_format(home, tmp_path, m2c):
    f = tmp_path / "model.yaml"
    f.write_text(yaml.safe_dump(model(**{"project.horizon_years": 3, "debt.tenor_years": 3})))
    job = m2c.json("bankability", "run", str(f), "--paths", "16", "--seed", "5", "--format", "json")
    assert job["state"] == "succeeded", job.get("error")
    rid = job["result"]["result_id"]
    assert job["result"]["paths"] == 16 and job["result"]["seed"] == 5
    summary = m2c.json("bankability", "show", rid, "--format", "json")
    assert summary["project"]["paths"] == 16 and len(summary["p50_cashflow"]) == 4
    text = m2c("bankability", "show", rid).out
    assert "equity IRR after tax" in text and "P50 cash flows" in text and "binds" in text
    csv = m2c("bankability", "show", rid, "--format", "csv").out.splitlines()
    assert csv[0].startswith("year,") and len(csv) == 5
    assert len(m2c("bankability", "show", rid, "--format", "csv", "--part", "paths").out.splitlines()) == 17
    assert "<svg" in m2c("bankability", "show", rid, "--format", "html").out
    assert "no bankability result" in m2c("bankability", "show", "job-nope", code=1).err
