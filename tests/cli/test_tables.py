"""`m2c tables list|optimize|vacuum` through the real entry point (local-only commands: refused
under --api, tests/remote/test_api_everywhere.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.support.meter_data import meter_csv_lines, write_meter_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "ingest"
T0 = datetime(2026, 10, 1, 5, 0, tzinfo=timezone.utc)


def test_list_optimize_and_a_refused_vacuum(local_cli_env, local_storage, m2c, tmp_path):
    m2c("sites", "load", str(DATA / "sites.yaml"))
    for day in range(3):
        f = write_meter_csv(tmp_path / f"d{day}.csv",
                            meter_csv_lines("TX-DC1", "gt1", T0 + timedelta(days=day), [1000] * 24))
        m2c("ingest", "meter", str(f))
    fix = write_meter_csv(tmp_path / "fix.csv", meter_csv_lines("TX-DC1", "gt1", T0, [2000]))
    m2c("ingest", "meter", str(fix))
    store = ObjectStore.from_config(local_storage)
    store.put("invoices/PPA-1/2026-10/v1/invoice.json",
              json.dumps({"lineage": {"data_versions": {"meter": 1}}}).encode())

    [meter] = m2c.json("tables", "list", "meter", "--format", "json")
    assert meter["version"] == 3 and meter["supersession"] == "in place"
    assert meter["files"] == 3 and meter["partitions_with_several_files"] == 1
    assert "meter" in m2c("tables", "list").out

    refused = m2c("tables", "vacuum", "meter", "--retain", "0h", code=1)
    assert "version 1: invoice PPA-1/2026-10/v1" in refused.err and "--keep-named" in refused.err
    out = m2c("tables", "vacuum", "--retain", "0h", "--keep-named", "--dry-run").out
    assert "meter: would delete 0 file(s); kept readable: version(s) 1" in out
    assert "--release" in m2c("tables", "vacuum", "--retain", "0h", "--release", "1", code=2).err
    assert "unknown table 'meters'" in m2c("tables", "optimize", "meters", code=2).err
    with pytest.raises(SystemExit) as bad:                    # argparse: usage, exit 2
        m2c("tables", "vacuum", "--retain", "3x")
    assert bad.value.code == 2

    out = m2c("tables", "optimize", "meter").out
    assert "meter: 3 -> 1 file(s), 1 partition(s) compacted, version 3 -> 4" in out
    [after] = m2c.json("tables", "list", "meter", "--format", "json")
    assert after["files"] == 1 and after["checkpoint"] == 4
    assert Tables(store).read_partition("meter", {"site_id": "TX-DC1", "month": "2026-10"}) \
        .column("energy_wh").to_pylist() == [2000] + [1000] * 71

