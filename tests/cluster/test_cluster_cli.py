"""`m2c jobs meter-totals` end to end on the session Ray, then `jobs show/wait` on it."""
from __future__ import annotations

import json

import pytest

from api.cli.main import main
from tests.support.meter_totals_data import write_meter_data

pytestmark = pytest.mark.ray


@pytest.mark.timeout(90)
def test_meter_totals_command(ray_cluster, local_storage, tmp_path, monkeypatch, capsys):
    data = write_meter_data(local_storage)
    monkeypatch.setenv("M2C_HOME", str(tmp_path))
    monkeypatch.setenv("M2C_STORAGE", local_storage.uri)
    monkeypatch.setenv("M2C_DB", f"sqlite:///{tmp_path / 'cli.db'}")
    for var in ("M2C_API_URL", "RAY_ADDRESS", "M2C_WORKERS"):
        monkeypatch.delenv(var, raising=False)

    assert main(["jobs", "meter-totals", "--from", "2026-03", "--to", "2026-03",
                 "--site", "TX-DC1", "--format", "json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["state"] == "succeeded" and job["progress"] == {"done": 1, "total": 1, "fraction": 1.0}
    expected = sum(v["energy_wh"] for (s, m, _), v in data["expected"].items()
                   if (s, m) == ("TX-DC1", "2026-03"))
    assert job["result"]["energy_wh"] == expected

    assert main(["jobs", "meter-totals", "--from", "2026-02", "--to", "2026-04"]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "9 site-months" in out and "AU-DC3" in out

    assert main(["jobs", "wait", job["id"]]) == 0
    assert main(["jobs", "meter-totals", "--from", "2026-02", "--to", "2026-04",
                 "--site", "NOPE"]) == 2                      # input error: exit 2
    assert "NOPE" in capsys.readouterr().out
