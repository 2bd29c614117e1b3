"""`m2c demo` and `m2c vee` end to end through real storage (local folder and S3 server)."""
from __future__ import annotations

from decimal import Decimal

import pytest


@pytest.fixture
def home(cli_env, ray_cluster):
    """The demo settles on Ray: use the session's cluster (started by its fixture, in its
    namespace) rather than letting the CLI start one first."""
    return cli_env


DEMO = ["demo", "--sites", "2", "--months", "1", "--minutes", "15", "--format", "json"]


@pytest.mark.timeout(240)
def test_demo_ingests_validates_and_is_safe_to_rerun(home, m2c):
    first = m2c.json(*DEMO)
    assert first["build"]["sites"] == ["TX-DC1", "TX-DC2"]
    assert (home / "demo" / "meter" / "TX-DC1_2026-10.csv").is_file()
    assert first["sites"]["status"] == "saved"
    bucket = first["bucket"]        # on S3: the bucket's lifecycle rules, set and read back
    assert bucket["bucket"] is None or [r["status"] for r in bucket["rules"]] == ["applied"] * 2
    ingest = first["ingest"]
    assert ingest["meter"]["rows_new"] == first["build"]["meter_rows"]
    assert ingest["meter_resend"]["rows_unchanged"] == 1          # the duplicate row
    assert ingest["prices"]["rows_new"] > 0 and ingest["index"]["rows_new"] > 0
    vee = first["vee"]
    # TX-DC1 carries the injected problems: 30 min (2 x 15 min) LIN, 3 h (12) LIKEDAY, a spike
    assert vee["TX-DC1"]["estimated"] == 2 + 12 and vee["TX-DC1"]["missing"] == 0
    assert vee["TX-DC1"]["findings_by_check"] == {"gap": 2, "spike": 1}
    assert vee["TX-DC2"]["estimated"] == 0 and vee["TX-DC2"]["findings_by_check"] == {}
    assert vee["TX-DC2"]["intervals_expected"] == 7 * 31 * 96

    again = m2c.json(*DEMO)
    assert again["sites"]["status"] == "unchanged"
    for table in ("meter", "meter_resend", "prices", "index"):
        assert again["ingest"][table]["rows_new"] == 0
        assert again["ingest"][table]["status"].startswith("already ingested")
        assert again["ingest"][table]["version"] == ingest[table]["version"]
    assert again["vee"] == vee

    # the demo ends with the settled invoices of its last full month; a rerun is the same job
    invoices = first["settle"]["invoices"]
    assert [d["contract_id"] for d in invoices] == ["GAS-TX-DC2", "PPA-TX-DC1", "PPA-TX-DC2",
                                                    "VPPA-TX-DC1-SOLAR"]
    for d in invoices:
        assert d["period"] == "2026-10" and d["status"] == "draft" and d["version"] == 1
        assert sum(Decimal(ln["amount_usd"]) for ln in d["lines"]) == Decimal(d["total_usd"])
    assert again["settle"]["job_id"] == first["settle"]["job_id"]
    assert again["settle"]["invoices"] == invoices

    doc = m2c.json("vee", "TX-DC1", "--period", "2026-10", "--format", "json")
    assert doc["vee"] == {k: vee["TX-DC1"][k] for k in
                          ("intervals_expected", "actual", "estimated", "missing")}
    assert doc["channels"]["pv1"]["methods"] == {"ACT": 2964, "LIKEDAY": 12}
    gaps = [f for f in doc["findings"] if f["check"] == "gap"]
    assert [(g["channel"], g["start_utc"]) for g in gaps] == [
        ("dc", "2026-10-10T19:00:00Z"), ("pv1", "2026-10-17T15:00:00Z")]

    text = m2c("vee", "TX-DC1", "--period", "2026-10").out
    assert "VEE TX-DC1 2026-10" in text and "LIKEDAY 12" in text


def test_vee_command_input_errors_exit_2(home, m2c):
    assert "unknown site 'NOPE'" in m2c("vee", "NOPE", "--period", "2026-10", code=2).err
    m2c("demo", "--sites", "0", code=2)
