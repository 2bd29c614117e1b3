"""Carbon in the settlement job: beside the money (never changing it), from the same pinned
versions, the same bytes whatever the partitioning, reproducible; re-issued by a rebill when
the grid factors change; certificates cancelled for a site lower its market-based Scope 2."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from engine.canonical import canonical_json
from jobs.carbon import issue_certificates
from jobs.rebill import reproduce_invoice
from storage.certificates import CertificateRegistry
from storage.invoices import InvoiceStore
from storage.tables import Tables
from tests.support.carbon import NOW, ingest_factors, run_in_process, trace_sites

PERIOD = "2026-10"


@pytest.fixture
def traced(tmp_path, demo_stores):
    cfg, store = demo_stores.copy(tmp_path / "store")
    trace_sites(store)
    ingest_factors(store, tmp_path)
    return store


def _docs(store, period=PERIOD) -> dict[str, dict]:
    inv = InvoiceStore(store)
    out = {}
    for cid, p, v in inv.list(period=period):
        doc = json.loads(inv.raw_json(cid, p, v))
        out[(cid, v)] = doc
    return out


def _without_run(doc: dict) -> bytes:
    return canonical_json({**doc, "lineage": {**doc["lineage"], "run_id": None}})


def test_carbon_is_traced_beside_the_money_and_never_changes_it(traced, tmp_path, demo_stores):
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-carbon")
    on = _docs(traced)
    _, plain = demo_stores.copy(tmp_path / "plain")
    trace_sites(plain)
    ingest_factors(plain, tmp_path)
    run_in_process(plain, {"kind": "settlement", "period": PERIOD, "carbon": False}, "job-money")
    off = _docs(plain)
    assert sorted(on) == sorted(off) and len(on) == 4
    for key, doc in on.items():
        money = {k: v for k, v in doc.items() if k not in ("esg", "lineage")}
        assert money == {k: v for k, v in off[key].items() if k != "lineage"}        # same amounts
        assert "esg" not in off[key] and set(off[key]["lineage"]["data_versions"]) == {
            "meter", "prices", "index", "sites"}
        dv = doc["lineage"]["data_versions"]
        assert dv["grid_factors"] == 0 and dv["certificates"] is None
        esg = doc["esg"]
        assert esg["sites"] == doc["sites"] and esg["coverage"]["hours_without_grid_factor"] == 0
        assert Decimal(esg["scope1_t"]["co2e"]) > 0 and Decimal(esg["scope2_t"]["location_based_co2e"]) >= 0
        assert esg["energy_mwh"]["delivered"] == doc["delivered_mwh"]
        html = InvoiceStore(traced).get(key[0], PERIOD)[1]
        assert "ESG annex" in html and esg["scope1_t"]["co2e"] in html
    # the annex is the exact sum of its sites: a two-site contract's figures add up
    gas = on[("GAS-TX-DC2", 1)]["esg"]
    assert gas["method"]["gwp"] == "AR5" and gas["method"]["factor_set"] == "us-epa-40cfr98@2024.1"


def test_the_same_bytes_whatever_the_partitioning_and_order(traced, tmp_path, demo_stores):
    _, other = demo_stores.copy(tmp_path / "other")
    trace_sites(other)
    ingest_factors(other, tmp_path)
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-a", partition_size=1)
    run_in_process(other, {"kind": "settlement", "period": PERIOD}, "job-b", partition_size=3, reverse=True)
    a, b = _docs(traced), _docs(other)
    assert {k: _without_run(v) for k, v in a.items()} == {k: _without_run(v) for k, v in b.items()}


def test_invoices_with_and_without_carbon_reproduce_to_their_exact_bytes(traced, tmp_path):
    run_in_process(traced, {"kind": "settlement", "period": PERIOD, "carbon": False}, "job-old")
    inv = InvoiceStore(traced)
    old = {cid: inv.raw_json(cid, PERIOD, 1) for cid, _, _ in inv.list(period=PERIOD)}
    # the shape an invoice published before carbon tracing has: no annex, no carbon pins
    assert all(b'"esg"' not in raw and b'grid_factors' not in raw for raw in old.values())
    tables = Tables(traced)
    more = tmp_path / "more"
    more.mkdir()
    ingest_factors(traced, more, first="2026-08-01", days=10)     # more data landed since: ignored
    for cid, raw in old.items():
        assert reproduce_invoice(traced, tables, cid, PERIOD, 1) == raw
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-new")
    for cid in old:
        versions = inv.versions(cid, PERIOD)
        assert versions == [1, 2]
        raw = inv.raw_json(cid, PERIOD, 2)
        assert b'"esg"' in raw
        assert reproduce_invoice(traced, tables, cid, PERIOD, 2) == raw


def test_a_rebill_reissues_the_carbon_statement_when_the_grid_factors_change(traced, tmp_path):
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-1")
    inv = InvoiceStore(traced)
    inv.approve("PPA-TX-DC1", PERIOD, now_utc=NOW)
    billed = inv.get("PPA-TX-DC1", PERIOD)[0]
    from storage.ingest import ingest_grid_factors
    from tests.support.carbon import factor_rows, write_factors
    from datetime import datetime, timezone
    start = datetime(2026, 9, 20, tzinfo=timezone.utc)
    ingest_grid_factors(traced, [write_factors(tmp_path / "fix.csv", factor_rows("ERCO", start, 50 * 24,
                                                                                 base=300.0, seed=4))],
                        now_utc=NOW)
    result = run_in_process(traced, {"kind": "rebill", "contract": "PPA-TX-DC1", "from_period": PERIOD,
                                     "to_period": PERIOD, "reason": "OGE revised ERCO factors"}, "rebill-1")
    (period,) = result["periods"]
    assert period["outcome"] == "adjusted" and period["delta_usd"] == "0.00"
    doc = inv.get("PPA-TX-DC1", PERIOD, 2)[0]
    assert doc["adjusts"] == 1 and doc["total_usd"] == billed["total_usd"]
    delta = doc["adjustment"]["esg_delta"]
    assert "scope2_t.location_based_co2e" in delta and "scope1_t.co2e" not in delta
    now_t, then_t = (Decimal(d["esg"]["scope2_t"]["location_based_co2e"]) for d in (doc, billed))
    assert Decimal(delta["scope2_t.location_based_co2e"]) == now_t - then_t
    assert doc["lineage"]["data_versions"]["grid_factors"] == 1
    assert reproduce_invoice(traced, Tables(traced), "PPA-TX-DC1", PERIOD, 2) == inv.raw_json(
        "PPA-TX-DC1", PERIOD, 2)


def test_certificates_cancelled_for_a_site_lower_its_market_based_scope2(traced):
    tables = Tables(traced)
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-before")
    before = _docs(traced)[("PPA-TX-DC2", 1)]["esg"]
    issued = issue_certificates(traced, tables, "TX-DC1", PERIOD, now_utc=NOW)
    assert issued["created"] and issued["certificates"] > 100 and issued["energy_wh"] > 0
    again = issue_certificates(traced, tables, "TX-DC1", PERIOD, now_utc=NOW)
    assert not again["created"] and again["registry_version"] == issued["registry_version"]
    reg = CertificateRegistry(traced)
    st = reg.state()
    ids = sorted(st.certificates)
    reg.cancel(ids, account="TX-DC1", beneficiary="TX-DC2", at_utc=NOW, beneficiary_ba="ERCO")
    run_in_process(traced, {"kind": "settlement", "period": PERIOD}, "job-after")
    docs = _docs(traced)
    esg = docs[("PPA-TX-DC2", 2)]["esg"]
    assert docs[("PPA-TX-DC2", 2)]["lineage"]["data_versions"]["certificates"] == 2
    assert Decimal(esg["certificates_mwh"]["cancelled_for_sites"]) == Decimal(issued["energy_wh"]) / 10**6
    matched = Decimal(esg["certificates_mwh"]["matched_to_grid_import"])
    assert matched > 0
    assert esg["scope2_t"]["location_based_co2e"] == before["scope2_t"]["location_based_co2e"]
    assert Decimal(esg["scope2_t"]["market_based_co2e"]) < Decimal(before["scope2_t"]["market_based_co2e"])
    assert Decimal(esg["cfe_pct"]["hourly"]) > Decimal(before["cfe_pct"]["hourly"])
    own = docs[("PPA-TX-DC1", 2)]["esg"]
    assert own["certificates_mwh"]["own_sold"] == esg["certificates_mwh"]["cancelled_for_sites"]
    export = CertificateRegistry.export(reg.state(), site_id="TX-DC1")
    assert {b["certificate_bundle_status"] for b in export["granular_certificate_bundles"]} == {"Cancelled"}
