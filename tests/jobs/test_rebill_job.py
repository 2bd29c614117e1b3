"""The ``rebill`` job on real Ray (plan refusals need no Ray): adjustments against
approved invoices, exact deltas, attribution, as-of pinning and reproducibility."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from engine.errors import InputError
from engine.money import picousd_to_cents
from engine.rebill import usd_to_cents
from engine.timebase import periods_between
from jobs.catalog import JobCatalog
from jobs.rebill import plan, reproduce_invoice
from jobs.contract_period import settle_contract_period
from jobs.settle_inputs import DataVersions
from jobs.specs import RebillSpec, parse_spec
from jobs.tasks import JobContext
from storage.contracts import ContractStore
from storage.invoices import InvoiceStore
from tests.jobs.rebill_fixtures import (CID, CONTRACT_V1, NOW, build_store, hours, later, meter_rows,
                                        price_rows)


def run(spec: dict, rs, catalog: JobCatalog, cluster):
    from cluster.job_runner import run_inline
    record, _ = catalog.submit(parse_spec(spec), now_utc=datetime.now(timezone.utc))
    return run_inline(record.id, storage_config=rs.config, db_url=catalog.db_url, cluster_config=cluster)


def rebill_spec(first: str, last: str, **kw) -> dict:
    return {"kind": "rebill", "contract": CID, "from_period": first, "to_period": last, **kw}


def resettle_cents(rs, period: str) -> int:
    stored = ContractStore(rs.store).versions(CID)
    data = DataVersions.resolve(rs.tables, rs.store)
    return settle_contract_period(rs.store, rs.tables, stored, period, data, cache={}).total_cents


def invoice(rs, period: str, version: int | None = None) -> dict:
    return InvoiceStore(rs.store).get(CID, period, version)[0]


def line_cents(doc: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for ln in doc["lines"]:
        key = ln["line_id"].partition("@v")[0]
        out[key] = out.get(key, 0) + usd_to_cents(ln["amount_usd"])
    return out


# ---------------------------------------------------------------------- refusals (no Ray)
def test_plan_refuses_bad_as_of_out_of_term_and_never_billed_periods(tmp_path, local_storage):
    rs = build_store(local_storage, tmp_path / "files")
    rs.settle_and_approve(["2024-01", "2024-02"])
    ctx = JobContext(store=rs.store, job_id="job-plan", now_utc=NOW)

    parts = plan(RebillSpec(contract=CID, from_period="2024-01", to_period="2024-02"), ctx)
    assert [p.key for p in parts] == [f"{CID}|2024-01", f"{CID}|2024-02"]
    assert {json.dumps(p.params["data"], sort_keys=True) for p in parts} == {
        json.dumps({"meter": 0, "prices": 0, "index": None, "sites": 1,       # + the carbon pins
                    "grid_factors": None, "certificates": None}, sort_keys=True)}

    with pytest.raises(InputError, match="meter data version 7 does not exist"):
        plan(RebillSpec(contract=CID, from_period="2024-01", to_period="2024-02", as_of=7), ctx)
    with pytest.raises(InputError, match="no meter data was stored at or before"):
        plan(RebillSpec(contract=CID, from_period="2024-01", to_period="2024-02",
                        as_of="2020-01-01T00:00:00Z"), ctx)
    with pytest.raises(InputError, match=r"2023-11\.\.2023-12 outside the contract term "
                                         r"\(2024-01-01 to 2043-12-31\)"):
        plan(RebillSpec(contract=CID, from_period="2023-11", to_period="2024-02"), ctx)
    with pytest.raises(InputError, match=r"no approved invoice for 2024-03; a period never billed"):
        plan(RebillSpec(contract=CID, from_period="2024-01", to_period="2024-03"), ctx)
    with pytest.raises(InputError, match="unknown contract 'NOPE'"):
        plan(RebillSpec(contract="NOPE", from_period="2024-01", to_period="2024-01"), ctx)
    # a draft is not a bill: settled but not approved is still "never billed"
    from jobs.invoicing import publish_invoice
    stored = ContractStore(rs.store).versions(CID)
    data = DataVersions.resolve(rs.tables, rs.store)
    result = settle_contract_period(rs.store, rs.tables, stored, "2024-03", data, cache={})
    publish_invoice(rs.store, result, stored, run_id="draft", data=data)
    with pytest.raises(InputError, match="no approved invoice for 2024-03"):
        plan(RebillSpec(contract=CID, from_period="2024-01", to_period="2024-03"), ctx)


# ------------------------------------------------------------------------- job on Ray
@pytest.mark.timeout(240)
def test_no_change_then_a_corrected_month(tmp_path, local_storage, catalog, ray_cluster, local_cli_env,
                                          m2c):
    rs = build_store(local_storage, tmp_path / "files")
    periods = ["2024-01", "2024-02", "2024-03"]
    rs.settle_and_approve(periods)
    billed = {p: invoice(rs, p) for p in periods}

    # 1. nothing changed: zero adjustments and no new versions (through the CLI, on the
    #    same store and catalog: ``local_cli_env``)
    job = m2c.json("rebill", "--contract", CID, "--from", "2024-01", "--to", "2024-03",
                   "--format", "json")
    assert job["state"] == "succeeded"
    res = job["result"]
    assert res["summary"]["changed_periods"] == 0
    assert res["summary"]["net_adjustment_usd"] == "0.00"
    assert res["invoices"] == [] and [p["outcome"] for p in res["periods"]] == ["unchanged"] * 3
    assert res["data_versions"] == {"meter": 0, "prices": 0, "index": None, "sites": 1,
                                    "grid_factors": None, "certificates": None}
    assert all(InvoiceStore(rs.store).versions(CID, p) == [1] for p in periods)

    # 2. actuals supersede 12 hours of February (pv1 +20 %, exports follow)
    version = rs.ingest_meter_csv("feb-fix.csv",
                                  meter_rows(hours("2024-02-10T00", "2024-02-10T12"), pv_scale=1.2),
                                  later(10))
    assert version == 1
    expected_total = resettle_cents(rs, "2024-02")
    record = run(rebill_spec("2024-01", "2024-03", reason="meter M-17 actuals replace estimates"),
                 rs, catalog, ray_cluster)
    assert record.state == "succeeded", record.error
    res = record.result
    assert res["data_versions"]["meter"] == 1
    feb = next(p for p in res["periods"] if p["period"] == "2024-02")
    assert [p["outcome"] for p in res["periods"]] == ["unchanged", "adjusted", "unchanged"]
    billed_cents = usd_to_cents(billed["2024-02"]["total_usd"])
    delta = expected_total - billed_cents
    assert delta != 0
    assert usd_to_cents(feb["delta_usd"]) == delta
    assert res["summary"]["net_adjustment_usd"] == feb["delta_usd"]
    assert feb["attribution_usd"] == {"method": "0.00", "meter": feb["delta_usd"], "market": "0.00",
                                      "contract": "0.00"}

    new = invoice(rs, "2024-02")
    assert (new["version"], new["adjusts"], new["status"]) == (2, 1, "draft")
    assert usd_to_cents(new["total_usd"]) == expected_total
    adj = new["adjustment"]
    assert adj["reason"] == "meter M-17 actuals replace estimates" and adj["replaces_version"] == 1
    # delta lines per charge: re-settled line minus billed line, to the cent; they sum to the delta
    new_lines, old_lines = line_cents(new), line_cents(billed["2024-02"])
    for dl in adj["delta_lines"]:
        assert usd_to_cents(dl["amount_delta_usd"]) == (new_lines.get(dl["line_id"], 0)
                                                         - old_lines.get(dl["line_id"], 0))
    assert sum(usd_to_cents(dl["amount_delta_usd"]) for dl in adj["delta_lines"]) == delta
    assert adj["billed_inputs"]["data_versions"]["meter"] == 0
    # both renderings show the delta lines and the attribution of the new version
    from api.cli.invoices import render_invoice
    html = InvoiceStore(rs.store).get(CID, "2024-02")[1]
    assert "Adjustment of version 1" in html and "Why it changed" in html and adj["delta_usd"] in html
    assert "NET ADJUSTMENT" in render_invoice(new) and "cause: meter" in render_invoice(new)
    # the billed version stays readable, unchanged
    assert invoice(rs, "2024-02", version=1)["total_usd"] == billed["2024-02"]["total_usd"]
    assert invoice(rs, "2024-02", version=1)["status"] == "approved"

    # 3. the same rebill again: the adjustment exists already; nothing new is written
    out = m2c("rebill", "--contract", CID, "--from", "2024-01", "--to", "2024-03",
              "--reason", "meter M-17 actuals replace estimates").out
    assert "adjustment exists" in out and "METER" in out and feb["delta_usd"] in out
    assert InvoiceStore(rs.store).versions(CID, "2024-02") == [1, 2]

    # 4. as of the meter version before the correction: nothing changed
    record = run(rebill_spec("2024-02", "2024-02", as_of=0), rs, catalog, ray_cluster)
    assert record.state == "succeeded", record.error
    assert record.result["data_versions"]["meter"] == 0
    assert record.result["summary"]["changed_periods"] == 0

    # 5. a refused rebill fails as bad input (exit 2), before any work
    record = run(rebill_spec("2024-03", "2024-04"), rs, catalog, ray_cluster)
    assert record.state == "failed" and record.error_type == "InputError"
    assert "no approved invoice for 2024-04" in record.error
    assert "meter data version 42 does not exist" in m2c(
        "rebill", "--contract", CID, "--from", "2024-01", "--to", "2024-02", "--as-of", "42", code=2).out
    m2c("rebill", "--contract", CID, "--from", "2024-02", "--to", "2024-01", code=2)
    m2c("rebill", "--contract", CID, "--from", "2024-01", "--to", "2024-02", "--as-of", "last tuesday",
        code=2)


@pytest.mark.timeout(300)
def test_retroactive_price_amendment_over_24_months(tmp_path, local_storage, catalog, ray_cluster):
    rs = build_store(local_storage, tmp_path / "files", start="2024-01-01T00", end="2026-02-01T06")
    periods = periods_between("2024-02", "2026-01")
    assert len(periods) == 24
    rs.settle_and_approve(periods)
    billed = {p: invoice(rs, p) for p in periods}

    # amendment: v2 from 2024-02-01 raises the energy price 50.00 -> 55.00 $/MWh; plus
    # a republished June 2025 price day and a corrected September 2024 meter day
    v2 = json.loads(json.dumps(CONTRACT_V1))
    v2["effective_from"] = "2024-02-01"
    v2["terms"][0]["price_usd_per_mwh"] = "55.00"
    assert rs.add_contract(v2).version.version == 2
    rs.ingest_prices_csv("jun-republish.csv",
                         price_rows(hours("2025-06-12T00", "2025-06-13T00"), shift_usd=9.5), later(20))
    rs.ingest_meter_csv("sep-fix.csv",
                        meter_rows(hours("2024-09-03T12", "2024-09-03T23"), pv_scale=0.8), later(30))

    record = run(rebill_spec("2024-02", "2026-01", reason="amendment 1: energy price 55.00"),
                 rs, catalog, ray_cluster)
    assert record.state == "succeeded", record.error
    res = record.result
    assert res["contract_version_cap"] == 2
    rows = {p["period"]: p for p in res["periods"]}
    assert sorted(rows) == periods and all(p["outcome"] == "adjusted" for p in rows.values())

    net = 0
    for p in periods:
        row, new, old = rows[p], invoice(rs, p), billed[p]
        assert (new["version"], new["adjusts"], new["contract_versions"]) == (2, 1, [2])
        delta = usd_to_cents(new["total_usd"]) - usd_to_cents(old["total_usd"])
        assert usd_to_cents(row["delta_usd"]) == delta
        att = {c: usd_to_cents(v) for c, v in row["attribution_usd"].items()}
        assert sum(att.values()) == delta                       # attribution sums exactly
        assert att["method"] == 0
        assert (att["meter"] != 0) == (p == "2024-09")
        assert (att["market"] != 0) == (p == "2025-06")
        # the amendment's effect, by hand: every energy line's quantity Q (Wh) at the
        # TOU rate, 50.00 -> 55.00 $/MWh (on-peak x1.10, off-peak x0.90), rounded once
        expect = 0
        for ln in new["lines"]:
            if ln["charge"] == "energy_fixed":
                q_wh = int(ln["quantity"].replace(".", ""))
                f = 110 if ln["tou_bucket"] == "on_peak" else 90
                expect += (picousd_to_cents(q_wh * 55_000_000 * f // 100)
                           - picousd_to_cents(q_wh * 50_000_000 * f // 100))
        assert att["contract"] == expect > 0
        net += delta
        # the approved version is still there, byte for byte what was billed
        assert invoice(rs, p, version=1)["total_usd"] == old["total_usd"]
    assert usd_to_cents(res["summary"]["net_adjustment_usd"]) == net
    by_cause = {c: usd_to_cents(v) for c, v in res["summary"]["by_cause_usd"].items()}
    assert sum(by_cause.values()) == net and by_cause["contract"] > 0


@pytest.mark.timeout(240)
def test_an_approved_invoice_reproduces_byte_for_byte_after_corrections_and_amendments(
        tmp_path, storage_config, catalog, ray_cluster):
    """On both backends: a local folder and the real S3 server."""
    rs = build_store(storage_config, tmp_path / "files")
    # bill February with the real settlement job, and approve it
    record = run({"kind": "settlement", "period": "2024-02"}, rs, catalog, ray_cluster)
    assert record.state == "succeeded", record.error
    InvoiceStore(rs.store).approve(CID, "2024-02", version=1, now_utc=NOW)
    original = InvoiceStore(rs.store).raw_json(CID, "2024-02", 1)

    # later: a meter re-ingest superseding February hours, republished prices, and a
    # mid-February amendment
    rs.ingest_meter_csv("feb-fix.csv",
                        meter_rows(hours("2024-02-20T00", "2024-02-21T00"), pv_scale=1.3), later(5))
    rs.ingest_prices_csv("feb-prices.csv",
                         price_rows(hours("2024-02-05T00", "2024-02-06T00"), shift_usd=-4), later(6))
    v2 = json.loads(json.dumps(CONTRACT_V1))
    v2["effective_from"] = "2024-02-15"
    v2["terms"][0]["price_usd_per_mwh"] = "47.25"
    rs.add_contract(v2)

    assert reproduce_invoice(rs.store, rs.tables, CID, "2024-02", 1) == original
    assert resettle_cents(rs, "2024-02") != usd_to_cents(json.loads(original)["total_usd"])

    # the rebill sees all three causes, and its own version reproduces too
    record = run(rebill_spec("2024-02", "2024-02", reason="dispute 2024-117"), rs, catalog, ray_cluster)
    assert record.state == "succeeded", record.error
    att = {c: usd_to_cents(v) for c, v in record.result["periods"][0]["attribution_usd"].items()}
    assert att["method"] == 0 and att["meter"] and att["market"] and att["contract"]
    assert sum(att.values()) == usd_to_cents(record.result["summary"]["net_adjustment_usd"])
    new = invoice(rs, "2024-02")
    assert new["version"] == 2 and new["adjusts"] == 1
    assert {ln["line_id"] for ln in new["lines"]} >= {"energy:on_peak@v1", "energy:on_peak@v2"}
    assert reproduce_invoice(rs.store, rs.tables, CID, "2024-02", 2) == \
        InvoiceStore(rs.store).raw_json(CID, "2024-02", 2)
    assert reproduce_invoice(rs.store, rs.tables, CID, "2024-02", 1) == original


def test_reduce_refuses_to_adjust_a_bill_approved_after_planning(tmp_path, local_storage):
    """Map and reduce in this process (no Ray): a newer approval between plan and
    reduce fails the job before anything is published."""
    from engine.errors import ConflictError
    from jobs.rebill import reduce, run_partition
    from jobs.invoicing import publish_invoice
    from jobs.tasks import WorkerContext
    rs = build_store(local_storage, tmp_path / "files")
    rs.settle_and_approve(["2024-01", "2024-02"])
    rs.ingest_meter_csv("fix.csv", meter_rows(hours("2024-01-10T00", "2024-01-10T12"), pv_scale=1.5),
                        later(5))
    rs.ingest_meter_csv("fix2.csv", meter_rows(hours("2024-02-10T00", "2024-02-10T12"), pv_scale=1.5),
                        later(6))
    spec = RebillSpec(contract=CID, from_period="2024-01", to_period="2024-02", reason="r")
    ctx = JobContext(store=rs.store, job_id="job-conflict", now_utc=NOW)
    wctx = WorkerContext(store=rs.store, job_id="job-conflict", attempt=1)
    results = {p.key: run_partition(p, wctx) for p in plan(spec, ctx)}
    assert all(r["changed"] for r in results.values())
    # meanwhile February is re-settled and approved as v2 by someone else
    stored = ContractStore(rs.store).versions(CID)
    data = DataVersions.resolve(rs.tables, rs.store)
    result = settle_contract_period(rs.store, rs.tables, stored, "2024-02", data, cache={})
    v, _ = publish_invoice(rs.store, result, stored, run_id="other", data=data)
    InvoiceStore(rs.store).approve(CID, "2024-02", version=v, now_utc=NOW)
    with pytest.raises(ConflictError, match="2024-02: v2 was approved while this rebill compared "
                                            "against v1"):
        reduce(spec, results, ctx)
    assert InvoiceStore(rs.store).versions(CID, "2024-01") == [1]      # nothing published


def test_data_landing_after_planning_is_not_seen_and_partitions_are_deterministic(
        tmp_path, local_storage):
    """The plan pins one data snapshot; a correction that lands while the job runs is
    not read by any partition (and the partition results are the same bytes on a re-run)."""
    from jobs.rebill import reduce, run_partition
    from jobs.tasks import WorkerContext
    rs = build_store(local_storage, tmp_path / "files")
    rs.settle_and_approve(["2024-01", "2024-02"])
    rs.ingest_meter_csv("fix.csv", meter_rows(hours("2024-02-10T00", "2024-02-10T12"), pv_scale=1.5),
                        later(5))                                   # meter version 1
    spec = RebillSpec(contract=CID, from_period="2024-01", to_period="2024-02")
    ctx = JobContext(store=rs.store, job_id="job-pinned", now_utc=NOW)
    parts = plan(spec, ctx)
    # lands after planning: a correction of January (meter version 2)
    rs.ingest_meter_csv("late.csv", meter_rows(hours("2024-01-10T00", "2024-01-10T12"), pv_scale=1.5),
                        later(6))
    w1, w2 = (WorkerContext(store=rs.store, job_id="job-pinned", attempt=a) for a in (1, 2))
    first = {p.key: run_partition(p, w1) for p in parts}
    again = {p.key: run_partition(p, w2) for p in reversed(parts)}
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert w1.staged == w2.staged and w1.staged                  # the detail: same bytes
    rs.store.put_many(w1.staged)                                 # as the commit writes them
    res = reduce(spec, first, ctx)
    assert res["data_versions"]["meter"] == 1
    assert [p["outcome"] for p in res["periods"]] == ["unchanged", "adjusted"]
    assert invoice(rs, "2024-02")["lineage"]["data_versions"]["meter"] == 1
