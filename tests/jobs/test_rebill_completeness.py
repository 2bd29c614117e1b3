"""A rebill applies the settlement's completeness gate to the periods it adjusts (issue
12, section 1): real storage, the rebill kind's plan, map and reduce in this process.

A period still beyond its limits is not adjusted silently: the job fails listing it,
or, with ``allow_incomplete``, the adjustment is published ``estimated``.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine.errors import DataMissingError
from jobs import rebill
from jobs.contract_period import settle_contract_period
from jobs.invoicing import publish_invoice
from jobs.settle_inputs import DataVersions
from jobs.specs import parse_spec
from jobs.tasks import JobContext, WorkerContext
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_meter
from storage.invoices import InvoiceStore
from storage.sites import load_sites
from storage.tables import Tables
from tests.support.portfolio import NOW
from tests.support.short_demo import PERIOD, load_short_demo, tx_dc2_short

CID = "PPA-TX-DC2"


def _run(store, spec, job_id: str) -> dict:
    ctx = JobContext(store=store, job_id=job_id, now_utc=NOW)
    wctx = WorkerContext(store=store, job_id=job_id, attempt=1)
    results = {p.key: rebill.run_partition(p, wctx) for p in rebill.plan(spec, ctx)}
    store.put_many(wctx.staged)
    return rebill.reduce(spec, results, ctx)


def test_a_rebill_of_a_period_still_short_fails_or_publishes_an_estimated_adjustment(tmp_path):
    cfg = StorageConfig(uri=f"file://{tmp_path / 'store'}")
    files = tmp_path / "files"
    store = load_short_demo(cfg, files, tx_dc2_short)
    # billed before the gate existed: a draft, approved
    stored = ContractStore(store).versions(CID)
    tables = Tables(store)
    data = DataVersions.resolve(tables, store)
    publish_invoice(store, settle_contract_period(store, tables, stored, PERIOD, data, cache={}),
                    stored, run_id="billed", data=data)
    InvoiceStore(store).approve(CID, PERIOD, now_utc=NOW)
    # a re-read of the 20th (higher load) changes the bill; the 10th..13th are still missing
    head, *lines = (files / "meter" / f"TX-DC2_{PERIOD}.csv").read_text().splitlines()
    fixed = [",".join([*f[:4], f"{float(f[4]) * 1.2:.3f}", f[5]]) for f in (ln.split(",") for ln in lines)
             if f[1] == "dc" and f[2].startswith("2026-10-20")]
    (files / "fix.csv").write_text("\n".join([head, *fixed]) + "\n")
    ingest_meter(store, [files / "fix.csv"], "csv", sites=load_sites(store),
                 now_utc=NOW + timedelta(days=1))

    body = {"kind": "rebill", "contract": CID, "from_period": PERIOD, "to_period": PERIOD}
    with pytest.raises(DataMissingError, match=f"{CID} {PERIOD} site TX-DC2 .*384 missing"):
        _run(store, parse_spec(body), "rb-strict")
    assert InvoiceStore(store).versions(CID, PERIOD) == [1]

    result = _run(store, parse_spec({**body, "allow_incomplete": True}), "rb-allowed")
    assert [p["outcome"] for p in result["periods"]] == ["adjusted"]
    inv = InvoiceStore(store)
    doc, html = inv.get(CID, PERIOD, 2)
    assert doc["status"] == "estimated" and doc["adjusts"] == 1
    assert doc["completeness"]["shortfalls"][0]["missing"] == 384
    assert "ESTIMATED" in html
    assert rebill.reproduce_invoice(store, tables, CID, PERIOD, 2) == inv.raw_json(CID, PERIOD, 2)
    assert json.loads(inv.raw_json(CID, PERIOD, 1))["status"] == "draft"
