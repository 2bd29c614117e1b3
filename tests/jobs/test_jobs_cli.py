"""`m2c jobs list|show|wait|cancel` against a real catalog file (no Ray needed)."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import pytest

from api.cli.main import main
from jobs.catalog import JobCatalog
from jobs.specs import parse_spec

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def catalog(catalog, tmp_path, monkeypatch) -> JobCatalog:
    """The suite's catalog, and the CLI pointed at it."""
    monkeypatch.setenv("M2C_HOME", str(tmp_path))
    monkeypatch.setenv("M2C_DB", catalog.db_url)
    monkeypatch.delenv("M2C_API_URL", raising=False)
    return catalog


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_list_show_cancel(catalog, capsys):
    assert main(["jobs", "list"]) == 0
    assert "no jobs" in capsys.readouterr().out
    a, _ = catalog.submit(parse_spec({"kind": "settlement", "period": "2026-10"}), now_utc=T0)
    b, _ = catalog.submit(parse_spec({"kind": "rebill", "contract": "PPA-1", "from_period": "2026-01",
                                      "to_period": "2026-03"}), now_utc=T0)
    assert main(["jobs", "list", "--format", "json"]) == 0
    page = _json(capsys)
    assert {j["id"] for j in page["data"]} == {a.id, b.id} and page["next_cursor"] is None
    assert main(["jobs", "list", "--limit", "1", "--format", "json"]) == 0
    cursor = _json(capsys)["next_cursor"]
    assert main(["jobs", "list", "--limit", "1", "--cursor", cursor, "--format", "json"]) == 0
    assert len(_json(capsys)["data"]) == 1
    assert main(["jobs", "list", "--kind", "rebill"]) == 0
    out = capsys.readouterr().out
    assert b.id in out and a.id not in out and out.startswith("ID")
    assert main(["jobs", "show", a.id, "--format", "json"]) == 0
    shown = _json(capsys)
    assert shown["state"] == "queued" and shown["spec"]["period"] == "2026-10"
    assert main(["jobs", "cancel", a.id]) == 0
    assert f"{a.id}: cancelled" in capsys.readouterr().out
    assert main(["jobs", "cancel", a.id]) == 1               # terminal: conflict
    assert "already cancelled" in capsys.readouterr().err
    assert main(["jobs", "show", "job-000000000000"]) == 1   # not found
    assert main(["jobs", "list", "--cursor", "???"]) == 2    # bad input


def test_wait_exit_codes(catalog, capsys):
    ok, _ = catalog.submit(parse_spec({"kind": "meter_totals", "from_period": "2026-01",
                                       "to_period": "2026-01"}), now_utc=T0)
    bad, _ = catalog.submit(parse_spec({"kind": "meter_totals", "from_period": "2026-02",
                                        "to_period": "2026-02"}), now_utc=T0)
    catalog.mark_running(bad.id, attempt=1, runner="t", now_utc=T0)
    catalog.mark_failed(bad.id, "partition S|2026-02: no prices", "DataMissingError", T0)
    assert main(["jobs", "wait", bad.id]) == 1
    assert "DataMissingError: partition S|2026-02: no prices" in capsys.readouterr().out
    assert main(["jobs", "wait", ok.id, "--timeout", "0.2", "--poll", "0.05"]) == 1
    assert "still queued" in capsys.readouterr().err

    def finish():
        time.sleep(0.3)
        catalog.mark_running(ok.id, attempt=1, runner="t", now_utc=T0)
        catalog.set_progress(ok.id, 1, 2, T0)
        time.sleep(0.2)
        catalog.mark_succeeded(ok.id, {"uri": "audits/x"}, T0)

    t = threading.Thread(target=finish)
    t.start()
    assert main(["jobs", "wait", ok.id, "--poll", "0.05", "--format", "json"]) == 0
    t.join()
    done = _json(capsys)
    assert done["state"] == "succeeded" and done["result"] == {"uri": "audits/x"}
