"""`m2c esg`: reports in every format, the factor document, certificates issued -> transferred
-> cancelled once (a second claim refused), and the EnergyTag export."""
from __future__ import annotations

import pytest

from tests.support.carbon import ingest_factors, trace_sites


@pytest.fixture
def traced_cli(local_cli_env, local_storage, demo_stores, tmp_path):
    from pathlib import Path
    _, store = demo_stores.copy(Path(local_storage.uri.removeprefix("file://")))
    trace_sites(store)
    ingest_factors(store, tmp_path)
    return store


def test_esg_report_formats(traced_cli, m2c, tmp_path):
    out = m2c("esg", "report", "--site", "TX-DC1", "--period", "2026-10").out
    assert "ESG report TX-DC1 2026-10" in out and "scope 2: market-based CO2e" in out
    doc = m2c.json("esg", "report", "--site", "TX-DC1", "--period", "2026-10", "--format", "json")
    st = doc["statement"]
    assert doc["site"] == "TX-DC1" and doc["data_versions"]["grid_factors"] == 0
    assert st["coverage"]["hours"] == 744 and len(doc["heatmap"]["values"]) == 24
    assert len(doc["heatmap"]["cols"]) == 31
    ar4 = m2c.json("esg", "report", "--site", "TX-DC1", "--period", "2026-10", "--gwp", "AR4", "--format", "json")
    assert ar4["statement"]["scope1_t"]["co2"] == st["scope1_t"]["co2"]
    assert ar4["statement"]["scope1_t"]["co2e"] != st["scope1_t"]["co2e"]
    csv = m2c("esg", "report", "--contract", "PPA-TX-DC1", "--period", "2026-10", "--format", "csv").out
    assert csv.splitlines()[0] == "scope,period,section,name,value,unit" and "site TX-DC1" in csv
    page = tmp_path / "esg.html"
    m2c("esg", "report", "--contract", "PPA-TX-DC1", "--period", "2026-10", "--format", "html", "--out", str(page))
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "src=" not in html and "href=" not in html and "<script" not in html      # offline
    year = m2c.json("esg", "report", "--site", "TX-DC1", "--year", "2026", "--format", "json")
    assert "2026-10" in year["months"] and year["heatmap"]["buckets"].endswith("x month")
    assert year["months"]["2026-10"]["scope1_t"] == st["scope1_t"]
    err = m2c("esg", "report", "--site", "NOPE", "--period", "2026-10", code=2).err
    assert "unknown site 'NOPE'" in err


def test_esg_factors(traced_cli, m2c):
    out = m2c("esg", "factors").out
    assert "us-epa-40cfr98@2024.1" in out and "53.06" in out and "default GWP: AR5" in out
    doc = m2c.json("esg", "factors", "--format", "json")
    assert doc["gwp_sets"]["AR5"]["CH4"] == 28


def test_certificates_issue_transfer_cancel_once_and_export(traced_cli, m2c):
    issued = m2c.json("esg", "certificates", "issue", "--site", "TX-DC1", "--period", "2026-10", "--format", "json")
    assert issued["created"] and issued["certificates"] > 0
    assert "already issued" in m2c("esg", "certificates", "issue", "--site", "TX-DC1", "--period", "2026-10").out
    m2c("esg", "certificates", "transfer", "--site", "TX-DC1", "--period", "2026-10", "--from", "TX-DC1",
        "--to", "BUYER-1")
    listed = m2c.json("esg", "certificates", "list", "--account", "BUYER-1", "--format", "json")
    ids = [b["meter2cash_certificate_id"] for b in listed["granular_certificate_bundles"]]
    assert len(ids) == issued["certificates"]
    m2c("esg", "certificates", "cancel", ids[0], "--account", "BUYER-1", "--beneficiary", "TX-DC2")
    again = m2c("esg", "certificates", "cancel", ids[0], "--account", "BUYER-1", "--beneficiary", "TX-DC2", code=1)
    assert "already cancelled" in again.err
    err = m2c("esg", "certificates", "cancel", ids[1], "--account", "BUYER-1", "--beneficiary", "VA-DC1",
              code=None)
    assert err.code in (0, 2)          # VA-DC1 is not in this two-site demo: a free-text beneficiary
    export = m2c.json("esg", "certificates", "export", "--site", "TX-DC1")
    statuses = {b["meter2cash_certificate_id"]: b["certificate_bundle_status"]
                for b in export["granular_certificate_bundles"]}
    assert statuses[ids[0]] == "Cancelled" and export["total_certificate_volume"] == issued["energy_wh"]
    assert m2c("esg", "certificates", "list", "--site", "TX-DC1").out.count("cancelled") >= 1
