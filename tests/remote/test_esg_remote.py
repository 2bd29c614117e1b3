"""`m2c --api URL esg ...` and `ingest grid-factors`: reports and certificates come from the
server's store (the CLI's own home stays empty); the certificate list needs a data role."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.tables import Tables
from tests.support.carbon import factor_rows, trace_sites, write_factors

from .conftest import PERIOD, loads, run_cli

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


def test_esg_through_the_api(server, remote, cli_home, tmp_path, capsys):
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{server.settings.home / 'store'}"))
    trace_sites(store)
    rows = [r for ba in ("ERCO", "PJM") for r in factor_rows(ba, datetime(2026, 9, 20, tzinfo=timezone.utc), 50 * 24)]
    f = write_factors(tmp_path / "factors.csv", rows)
    code, out, err = run_cli([*remote("scheduler"), "ingest", "grid-factors", str(f), "--output", "json"], capsys)
    assert code == 0, err
    assert loads(out)["rows_new"] == len(rows) and Tables(store).version("grid_factors") == 0

    code, out, err = run_cli([*remote("investor"), "esg", "report", "--site", "TX-DC1", "--period", PERIOD,
                              "--format", "json"], capsys)
    assert code == 0, err
    doc = loads(out)
    assert doc["statement"]["coverage"]["hours_without_grid_factor"] == 0
    code, out, err = run_cli([*remote("investor"), "esg", "report", "--contract", "PPA-TX-DC1", "--period",
                              PERIOD], capsys)
    assert code == 0 and "ESG report PPA-TX-DC1 2026-10" in out, err
    code, out, err = run_cli([*remote("scheduler"), "esg", "factors"], capsys)
    assert code == 0 and "us-epa-40cfr98@2024.1" in out

    from jobs.carbon import issue_certificates
    issued = issue_certificates(store, Tables(store), "TX-DC1", PERIOD, now_utc=datetime.now(timezone.utc))
    code, out, err = run_cli([*remote("analyst"), "esg", "certificates", "export", "--site", "TX-DC1"], capsys)
    assert code == 0, err
    assert loads(out)["total_certificate_volume"] == issued["energy_wh"]
    code, out, err = run_cli([*remote("analyst"), "esg", "certificates", "list", "--site", "TX-DC1"], capsys)
    assert code == 0 and f"{issued['certificates']} certificate(s)" in out
    code, _, err = run_cli([*remote("investor"), "esg", "certificates", "list", "--site", "TX-DC1"], capsys)
    assert code == 1 and "403" in err
    assert not (cli_home / "store").exists()          # nothing was read or written locally
