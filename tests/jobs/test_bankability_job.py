"""The ``bankability`` job: revenue from the contract engine, bad input refused before any
work, results published with lineage and the same bytes whatever the number of workers
(real storage, real Ray, real SQLite catalog)."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cluster.executor import RunOptions, Runtime, run_job
from cluster.runtime import ClusterConfig
from engine.errors import InputError, ValidationError
from engine.finance.revenue import settle_month
from jobs.bankability import billed_month_forecast, plan
from jobs.settle_inputs import DataVersions
from jobs.specs import BankabilitySpec, parse_spec
from jobs.tasks import JobContext
from storage.invoices import InvoiceStore
from storage.results import ResultStore
from storage.tables import Tables
from tests.support.portfolio import NOW

pytestmark = [pytest.mark.timeout(600)]

PROFILE = ["2025-11", "2025-12"] + [f"2026-{m:02d}" for m in range(1, 11)]
CONTRACTS = ["GAS-TX-DC2", "PPA-TX-DC1", "PPA-TX-DC2", "VPPA-TX-DC1-SOLAR"]


def model(**over) -> dict:
    doc = {
        "name": "test portfolio",
        "project": {"contracts": CONTRACTS, "cod": "2027-01", "horizon_years": 6},
        "operations": {"profile": {"periods": PROFILE}, "degradation_pct_per_year": 0.5,
                       "availability_pct": 98, "load_growth_pct_per_year": 1},
        "uncertainty": {"paths": 48, "seed": 11,
                        "generation": {"iav_pct": 5, "model_pct": 4, "resources": ["solar"]},
                        "prices": {"escalation_pct_per_year": 2, "long_term_sigma_pct": 8},
                        "fuel": {"escalation_pct_per_year": 2}},
        "costs": {"capital_usd": 6.0e8, "fixed_om_usd_per_kw_year": 20, "variable_om_usd_per_mwh": 2,
                  "fuel": {"index": "HENRY_HUB"}, "insurance_pct": 0.5, "working_capital_months": 3,
                  "major_maintenance": [{"usd_per_kw": 30, "every_years": 4}]},
        "tax": {"federal_pct": 21, "state_pct": 7, "depreciation": {"macrs_5": 0.9, "sl_20": 0.1}},
        "debt": {"cases": [{"case": "P50", "dscr": 1.3}, {"case": "P99", "dscr": 1.0}], "tenor_years": 5,
                 "rate_pct": 7, "fee_pct": 2, "dsra_months": 6, "max_debt_fraction_pct": 80},
        "equity": {"discount_rate_real_pct": 6.4, "inflation_pct": 2.5, "target_irr_pct": 10},
    }
    for path, value in over.items():
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return doc


@pytest.fixture(scope="module")
def year_store(demo_stores, tmp_path_factory):
    """Two demo sites with a year of hourly history (the typical year), loaded once."""
    root = tmp_path_factory.mktemp("bankability")
    cfg, store = demo_stores.copy(root / "store", sites=2, months=12, minutes=60)
    return cfg, store


def _ctx(store) -> JobContext:
    return JobContext(store=store, job_id="plan-only", now_utc=NOW)


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("change, field", [
    ({"project.contracts": ["PPA-TX-DC1", "NO-SUCH"]}, "project.contracts[1]"),
    ({"project.horizon_years": 30}, "project.horizon_years"),          # PPAs end 2048, no tail
    ({"costs.fuel": {"index": "HENRY_HUB", "channels": ["gt9"]}}, "costs.fuel.channels[0]"),
    ({"operations.profile": {"periods": [p.replace("2026-10", "2024-10") for p in PROFILE]}},
     "operations.profile.periods"),                                     # no meter data that month
])
def test_bad_references_are_refused_before_any_work(year_store, change, field):
    _, store = year_store
    spec = BankabilitySpec(model=model(**change))
    with pytest.raises(ValidationError) as err:
        plan(spec, _ctx(store))
    assert err.value.field == field
    assert not ResultStore(store, "bankability").ids()


@pytest.mark.parametrize("change, field", [
    ({"costs.capital_usd": -1}, "costs.capital_usd"),
    ({"debt.cases": [{"case": "P50", "dscr": 0}]}, "debt.cases[0].dscr"),
    ({"uncertainty.generation": {"iav_pct": -2}}, "uncertainty.generation.iav_pct"),
    ({"project.horizon_years": 41}, "project.horizon_years"),
])
def test_bad_model_fields_are_refused_by_the_spec(change, field):
    with pytest.raises(InputError) as err:
        parse_spec({"kind": "bankability", "model": model(**change)})
    assert err.value.field == "model" and field in str(err.value)


def test_a_merchant_tail_makes_a_long_horizon_valid(year_store):
    _, store = year_store
    spec = BankabilitySpec(model=model(**{"project.horizon_years": 30,
                                          "project.merchant_tail": {"share": 0.9}}))
    keys = [p.key for p in plan(spec, _ctx(store))]
    assert "revenue|TAIL-TX-DC1|05" in keys and "site|TX-DC2" in keys


# ------------------------------------------------------------------------------ revenue = billing
@pytest.mark.ray
def test_a_forecast_month_built_from_a_billed_month_is_that_invoice(year_store, ray_cluster, catalog):
    """Settle July 2026 with the settlement job (real Ray), then price a forecast month
    made of that month's own VEE'd intervals, stored prices and indices with the
    bankability revenue stage: every contract's P50 total equals its invoice's, to
    the cent, line by line."""
    cfg, store = year_store
    period = "2026-07"
    record, _ = catalog.submit(parse_spec({"kind": "settlement", "period": period}), now_utc=NOW,
                               idempotency_key=None)
    cluster = ClusterConfig(address=None, workers=2, namespace=ray_cluster.namespace)
    result = run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW, options=RunOptions())
    data = DataVersions.from_dict(result["data_versions"])
    tables = Tables(store)
    invoices = InvoiceStore(store)
    checked = 0
    for summary in result["invoices"]:
        cid = summary["contract_id"]
        doc, _ = invoices.get(cid, period)
        fc = billed_month_forecast(store, tables, cid, period, data, cache={})
        sites, market = fc.inputs(period, {})
        forecast = settle_month(fc.versions, period, sites, market)
        assert forecast.total_cents == int(Decimal(doc["total_usd"]) * 100), cid
        assert {ln.line_id: ln.amount_cents for ln in forecast.lines} == \
            {ln["line_id"]: int(Decimal(ln["amount_usd"]) * 100) for ln in doc["lines"]}, cid
        checked += 1
    assert checked == 4


# ------------------------------------------------------------------------------ the job on Ray
def _run_bankability(cfg, catalog, ray_cluster, doc: dict, workers: int) -> dict:
    record, _ = catalog.submit(parse_spec({"kind": "bankability", "model": doc}),
                               now_utc=datetime.now(timezone.utc), idempotency_key=None)
    cluster = ClusterConfig(address=None, workers=workers, namespace=ray_cluster.namespace)
    return run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW, options=RunOptions())


@pytest.mark.ray
def test_same_bytes_whatever_the_number_of_workers(year_store, ray_cluster, catalog):
    cfg, store = year_store
    doc = model()
    one = _run_bankability(cfg, catalog, ray_cluster, copy.deepcopy(doc), workers=1)
    two = _run_bankability(cfg, catalog, ray_cluster, copy.deepcopy(doc), workers=2)
    results = ResultStore(store, "bankability")
    m1, m2 = results.manifest(one["result_id"]), results.manifest(two["result_id"])
    assert m1["parts"] == m2["parts"]                  # every part's SHA-256 and size
    assert sorted(m1["parts"]) == ["p50_cashflow.csv", "paths.csv", "report.html", "summary.json"]
    for part in m1["parts"]:
        assert results.part(one["result_id"], part) == results.part(two["result_id"], part), part

    summary = json.loads(results.part(one["result_id"], "summary.json"))
    lin = m1["lineage"] if "lineage" in m1 else m1
    assert lin["seed"] == 11 and lin["paths"] == 48 and len(lin["model_sha256"]) == 64
    assert sorted(lin["contract_sha256"]) == CONTRACTS
    assert set(lin["data_versions"]) == {"meter", "prices", "index", "sites"}
    # the loan is sized on exact engine revenue: the binding case has its target DSCR
    debt = summary["debt"]
    binding = debt["binding_case"]
    target = {c["case"]: c["dscr"] for c in debt["cases"]}[binding]
    assert summary["cases"][binding]["min_dscr"] == pytest.approx(target, rel=1e-12)
    assert debt["size_usd"] == pytest.approx(min(debt["case_sizes_usd"].values()))
    # the P50 revenue is the sum of the contracts' monthly invoice totals (integers)
    rev = summary["p50_revenue_cents"]
    assert all(isinstance(x, int) for x in rev["total"])
    assert rev["total"] == [sum(v[y] for v in rev["by_contract"].values()) for y in range(6)]
    assert [r["revenue_cents"] for r in summary["p50_cashflow"][1:]] == rev["total"]
    # distributions of every metric the issue lists, over 48 paths
    for name in ("equity_irr_aftertax", "project_irr_pretax", "npv_aftertax_usd", "min_dscr", "avg_dscr",
                 "min_dscr_year", "llcr", "lcoe_nominal_usd_per_mwh", "lcoe_real_usd_per_mwh",
                 "lppa_nominal_usd_per_mwh", "energy_mwh_mean", "supportable_debt_usd"):
        d = summary["distributions"][name]
        assert d["paths"] == 48 and d["P90"] <= d["P50"] <= d["P10"], name
    assert set(summary["probabilities"]) >= {"dscr_below_1", "dscr_below_covenant", "payment_default"}
    html = results.part(one["result_id"], "report.html").decode()
    assert html.count("<svg") == 3 and "P50 cash flows" in html and "Debt sizing" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    rows = results.part(one["result_id"], "paths.csv").decode().splitlines()
    assert len(rows) == 49 and rows[0].startswith("path,equity_irr_aftertax")
