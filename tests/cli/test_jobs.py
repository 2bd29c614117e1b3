"""`m2c jobs list|show|wait|cancel` against a real catalog file (no Ray needed), and
`m2c jobs meter-totals` end to end on the session Ray, then `jobs wait` on it."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from jobs.specs import parse_spec
from tests.support.meter_totals_data import write_meter_data

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)


def test_list_show_cancel(local_cli_env, catalog, m2c):
    assert "no jobs" in m2c("jobs", "list").out
    a, _ = catalog.submit(parse_spec({"kind": "settlement", "period": "2026-10"}), now_utc=T0)
    b, _ = catalog.submit(parse_spec({"kind": "rebill", "contract": "PPA-1", "from_period": "2026-01",
                                      "to_period": "2026-03"}), now_utc=T0)
    page = m2c.json("jobs", "list", "--format", "json")
    assert {j["id"] for j in page["data"]} == {a.id, b.id} and page["next_cursor"] is None
    cursor = m2c.json("jobs", "list", "--limit", "1", "--format", "json")["next_cursor"]
    assert len(m2c.json("jobs", "list", "--limit", "1", "--cursor", cursor, "--format", "json")["data"]) == 1
    out = m2c("jobs", "list", "--kind", "rebill").out
    assert b.id in out and a.id not in out and out.startswith("ID")
    shown = m2c.json("jobs", "show", a.id, "--format", "json")
    assert shown["state"] == "queued" and shown["spec"]["period"] == "2026-10"
    assert f"{a.id}: cancelled" in m2c("jobs", "cancel", a.id).out
    assert "already cancelled" in m2c("jobs", "cancel", a.id, code=1).err   # terminal: conflict
    m2c("jobs", "show", "job-000000000000", code=1)                          # not found
    m2c("jobs", "list", "--cursor", "???", code=2)                           # bad input


def test_wait_exit_codes(local_cli_env, catalog, m2c):
    ok, _ = catalog.submit(parse_spec({"kind": "meter_totals", "from_period": "2026-01",
                                       "to_period": "2026-01"}), now_utc=T0)
    bad, _ = catalog.submit(parse_spec({"kind": "meter_totals", "from_period": "2026-02",
                                        "to_period": "2026-02"}), now_utc=T0)
    catalog.mark_running(bad.id, attempt=1, runner="t", now_utc=T0)
    catalog.mark_failed(bad.id, "partition S|2026-02: no prices", "DataMissingError", T0)
    assert "DataMissingError: partition S|2026-02: no prices" in m2c("jobs", "wait", bad.id, code=1).out
    assert "still queued" in m2c("jobs", "wait", ok.id, "--timeout", "0.2", "--poll", "0.05", code=1).err

    def finish():
        time.sleep(0.3)
        catalog.mark_running(ok.id, attempt=1, runner="t", now_utc=T0)
        catalog.set_progress(ok.id, 1, 2, T0)
        time.sleep(0.2)
        catalog.mark_succeeded(ok.id, {"uri": "audits/x"}, T0)

    t = threading.Thread(target=finish)
    t.start()
    done = m2c.json("jobs", "wait", ok.id, "--poll", "0.05", "--format", "json")
    t.join()
    assert done["state"] == "succeeded" and done["result"] == {"uri": "audits/x"}


@pytest.mark.ray
@pytest.mark.timeout(90)
def test_meter_totals_command(ray_cluster, local_storage, local_cli_env, m2c):
    data = write_meter_data(local_storage)
    job = m2c.json("jobs", "meter-totals", "--from", "2026-03", "--to", "2026-03", "--site", "TX-DC1",
                   "--format", "json")
    assert job["state"] == "succeeded" and job["progress"] == {"done": 1, "total": 1, "fraction": 1.0}
    expected = sum(v["energy_wh"] for (s, m, _), v in data["expected"].items()
                   if (s, m) == ("TX-DC1", "2026-03"))
    assert job["result"]["energy_wh"] == expected

    out = m2c("jobs", "meter-totals", "--from", "2026-02", "--to", "2026-04").out
    assert "succeeded" in out and "9 site-months" in out and "AU-DC3" in out

    m2c("jobs", "wait", job["id"])
    out = m2c("jobs", "meter-totals", "--from", "2026-02", "--to", "2026-04", "--site", "NOPE", code=2).out
    assert "NOPE" in out                                             # input error: exit 2
