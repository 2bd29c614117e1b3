"""``m2c settle --from YYYY-MM --to YYYY-MM``: a backfill of consecutive months in one
job, each month its own invoices (issue 12, section 6). The CLI end to end on the
session's Ray and a real local store."""
from __future__ import annotations

import pytest

from storage.invoices import InvoiceStore

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

CONTRACTS = ["GAS-TX-DC2", "PPA-TX-DC1", "PPA-TX-DC2", "VPPA-TX-DC1-SOLAR"]


@pytest.fixture
def store(local_cli_env, local_storage, demo_stores, ray_cluster):
    """Two months of the demo portfolio where the CLI looks (the session's Ray)."""
    return demo_stores.copy(local_storage.uri.removeprefix("file://"), months=2, minutes=15)[1]


def test_a_backfill_settles_each_month_into_its_own_invoices_in_one_job(store, m2c):
    argv = ["settle", "--from", "2026-09", "--to", "2026-10", "--format", "json"]
    job = m2c.json(*argv)
    assert job["state"] == "succeeded"
    assert job["spec"]["from_period"] == "2026-09" and job["spec"]["to_period"] == "2026-10"
    result = job["result"]
    assert result["periods"] == ["2026-09", "2026-10"] and result["period"] is None
    assert [(i["period"], i["contract_id"], i["version"], i["outcome"]) for i in result["invoices"]] \
        == [(p, c, 1, "published") for p in ("2026-09", "2026-10") for c in CONTRACTS]
    inv = InvoiceStore(store)
    for p in ("2026-09", "2026-10"):
        for cid in CONTRACTS:
            doc, _ = inv.get(cid, p)
            assert doc["period"] == p and doc["lineage"]["run_id"] == job["id"]
            assert doc["lineage"]["data_versions"] == result["data_versions"]
    # the same backfill again is the same job (natural key); a month of it is another one
    assert m2c.json(*argv)["id"] == job["id"]
    single = m2c.json("settle", "--period", "2026-10", "--format", "json")
    assert single["id"] != job["id"]
    assert {i["outcome"] for i in single["result"]["invoices"]} == {"unchanged"}


def test_a_backfill_needs_both_ends(store, m2c):
    assert "--from YYYY-MM and --to YYYY-MM" in m2c("settle", "--from", "2026-09", code=2).err
    m2c("settle", "--period", "2026-10", "--to", "2026-11", code=2)
    assert "before from_period" in m2c("settle", "--from", "2026-10", "--to", "2026-09", code=2).err
