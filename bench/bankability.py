"""Benchmark: a bankability run of a portfolio over thousands of paths, against NREL
SAM's single-owner model (PySAM) on the same inputs, in one process (a script, not a
test: it prints figures and asserts only that the runs produced what they claim).

    .venv/bin/python bench/bankability.py [--sites 10] [--paths 10000] [--years 25]
        [--workers 2] [--data DIR] [--sam-runs 20] [--gap-samples 24] [--before REV]
        [--skip-memory]

CPU-seconds come first: the development machine is shared (load 5-25 on 2 cores), so
wall times there are upper bounds; CPU-seconds move much less with the load.

Sections:

1. **Data.** The demo portfolio (``jobs.demo``): ``--sites`` behind-the-meter sites
   with a year of hourly metered history (the typical year), market prices, the
   Henry Hub and CPI indices, and their contracts (one PPA per site with fixed TOU
   energy, capacity with availability, minimum delivery and an export share, plus a
   gas tolling agreement with an indexed price and take-or-pay, and a solar VPPA),
   ingested through the real path. ``--data DIR`` keeps the store for the next run.
2. **meter2cash end to end.** One ``bankability`` job through
   ``cluster.executor.run_job`` on a local Ray with ``--workers`` warm workers: plan
   (calibration, partitions) -> every contract-month priced by the contract engine on
   its lattice and every path's revenue (monthly, ``--paths`` paths, ``--years``
   years, a merchant tail after the terms) -> reduce (loan sized on P50/P99, annual
   waterfall, IRRs and metrics, report) -> published. Wall time, and the CPU-seconds
   of the workers (``/proc``) and of this process (plan, reduce, the driver). Target:
   under 60 s for 10 sites x 10,000 paths x 25 years on 2 cores.
3. **Where the time goes** (one core, in this process): the contract engine (the
   lattices of one operating year of every contract, times the years: site-months
   prepared, lattice points settled), the path revenue (interpolation of every path
   on those lattices, times the years), the waterfall, the IRRs and the reporting, each
   on the full path count; and the engine's calls one by one on a PPA month
   (``prepare_site``, ``price_site``, ``finalize_amounts``, the billing path), with
   what settling every path directly instead of interpolating would cost; and the
   revenue stage before this one (``--before``: a commit, read with git, default
   :data:`BEFORE`, the billing path at its lattice points) against the current one on
   the same contract-months in this process: CPU, settlements, the exact figures
   compared to the cent and every path's revenue compared.
4. **Interpolation against the engine.** ``--gap-samples`` (contract, operating year,
   path) draws: the year's 12 months of that path's revenue from the lattices against
   the same months settled directly by the billing path (``settle_site``, ``combine``,
   ``finalize``) at that path's factors: the gap per month and per year.
5. **Against SAM.** ``Singleowner.execute()`` on SSC's Generic System regression case
   (``tests/data/sam``), ``--sam-runs`` times; meter2cash's cash-flow model on the same
   inputs over ``--paths`` paths; and the end-to-end cost per path of section 2 (its
   CPU-seconds over the paths, against ``execute()``'s CPU time). Target: a path at
   least 100x cheaper than one ``execute()``.
6. **Memory per worker against paths**: one revenue partition (a PPA, five years) in a
   fresh process at 1,000 / 5,000 / 10,000 paths: the peak of what the partition itself
   allocates (``tracemalloc``, numpy arrays included) and the process's peak RSS (which
   the store reads of the plan dominate).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)
PROFILE = ["2025-11", "2025-12"] + [f"2026-{m:02d}" for m in range(1, 11)]


def load() -> str:
    return "load %.1f" % os.getloadavg()[0]


def cpu() -> float:
    """CPU-seconds of this process so far (every thread)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU-seconds used so far by processes ``pids`` (``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


# --------------------------------------------------------------------------- 1. data
def build_store(root: Path, sites: int):
    from jobs.demo import build_portfolio, write_demo_files
    from jobs.demo_contracts import demo_contracts
    from storage.config import StorageConfig
    from storage.contracts import ContractStore
    from storage.ingest import ingest_index, ingest_meter, ingest_prices
    from storage.objectstore import ObjectStore
    from storage.sites import merge_sites
    store_dir = root / f"store-{sites}"
    cfg = StorageConfig(uri=f"file://{store_dir}")
    if (store_dir / "_ready").exists():
        shutil.rmtree(store_dir / "results", ignore_errors=True)
        shutil.rmtree(store_dir / "runs", ignore_errors=True)
        return cfg, ObjectStore.from_config(cfg), False
    shutil.rmtree(store_dir, ignore_errors=True)
    store = ObjectStore.from_config(cfg)
    portfolio = build_portfolio(sites, 12, 60, 7, "2026-10")
    files = write_demo_files(portfolio, root / f"files-{sites}")
    merge_sites(store, portfolio.sites)
    ingest_meter(store, files["meter"], "csv", sites=portfolio.sites, now_utc=NOW)
    ingest_prices(store, files["prices"], now_utc=NOW)
    ingest_index(store, files["index"], now_utc=NOW)
    contracts = ContractStore(store)
    for doc in demo_contracts(sites):
        contracts.add(doc, sites=portfolio.sites)
    (store_dir / "_ready").write_text("ok")
    return cfg, store, True


def model_doc(sites: int, paths: int, years: int) -> dict:
    from jobs.demo_contracts import demo_contracts
    return {
        "name": f"bench {sites} sites",
        "project": {"contracts": sorted(d["contract_id"] for d in demo_contracts(sites)), "cod": "2027-01",
                    "horizon_years": years, "merchant_tail": {"share": 0.9}},
        "operations": {"profile": {"periods": PROFILE}, "degradation_pct_per_year": 0.5,
                       "availability_pct": 98, "load_growth_pct_per_year": 1},
        "uncertainty": {"paths": paths, "seed": 42,
                        "generation": {"iav_pct": 5, "model_pct": 4, "resources": ["solar"]},
                        "prices": {"escalation_pct_per_year": 2, "long_term_sigma_pct": 8},
                        "fuel": {"escalation_pct_per_year": 2}},
        "costs": {"capital_usd": 400e6 * sites, "fixed_om_usd_per_kw_year": 20, "variable_om_usd_per_mwh": 2,
                  "fuel": {"index": "HENRY_HUB"}, "insurance_pct": 0.5, "working_capital_months": 3,
                  "major_maintenance": [{"usd_per_kw": 30, "every_years": 8}]},
        "tax": {"federal_pct": 21, "state_pct": 7, "depreciation": {"macrs_5": 0.9, "sl_20": 0.1}},
        "debt": {"cases": [{"case": "P50", "dscr": 1.3}, {"case": "P99", "dscr": 1.0}],
                 "tenor_years": min(18, years), "rate_pct": 7, "fee_pct": 2, "dsra_months": 6,
                 "max_debt_fraction_pct": 80},
        "equity": {"discount_rate_real_pct": 6.4, "inflation_pct": 2.5, "target_irr_pct": 10},
    }


# --------------------------------------------------------------------------- 2. end to end
def end_to_end(cfg, doc: dict, workers: int, db: Path) -> dict:
    """One job on a warm pool: wall time, and the CPU-seconds of the workers and of
    this process (plan, reduce and the driver's share of Ray)."""
    from cluster.executor import RunOptions, Runtime, run_job
    from cluster.pool import WorkerPool
    from cluster.runtime import ClusterConfig, ensure_ray
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec
    cluster = ClusterConfig(workers=workers, num_cpus=max(workers, 2))
    ensure_ray(cluster)
    t = time.perf_counter()
    pool = WorkerPool(workers, cfg)
    pool.wait_ready()
    pool_s = time.perf_counter() - t
    try:
        pids = pool.pids()
        catalog = JobCatalog(f"sqlite:///{db}")
        catalog.init_schema()
        record, _ = catalog.submit(parse_spec({"kind": "bankability", "model": doc}), now_utc=NOW,
                                   idempotency_key=None)
        w0, d0, t = cpu_seconds(pids), cpu(), time.perf_counter()
        result = run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW,
                         options=RunOptions(), pool=pool)
        wall = time.perf_counter() - t
        workers_cpu, driver_cpu = cpu_seconds(pids) - w0, cpu() - d0
    finally:
        pool.kill()
    return {"wall_s": wall, "pool_start_s": pool_s, "workers_cpu_s": workers_cpu, "driver_cpu_s": driver_cpu,
            "cpu_s": workers_cpu + driver_cpu, "result": result}


# --------------------------------------------------------------------------- 3. breakdown
class Setup:
    """The plan of a run in this process, and each revenue partition's forecast."""

    def __init__(self, store, doc: dict):
        from jobs import bankability as bk
        from jobs.specs import parse_spec
        from jobs.tasks import JobContext, WorkerContext
        self.bk = bk
        spec = parse_spec({"kind": "bankability", "model": doc})
        self.parts = [p for p in bk.plan(spec, JobContext(store=store, job_id="bench-breakdown", now_utc=NOW))
                      if p.key.startswith("revenue")]
        self.model = bk.parse_model(doc, "model", max_paths=bk.HARD_MAX_PATHS)
        self.wctx = WorkerContext(store=store, job_id="bench-breakdown", attempt=1)
        self.gen_nodes = bk._gen_nodes(self.model)

    def forecast(self, part):
        p = dict(part.params)
        return self.bk._contract_forecast(self.wctx, p, self.model, self.bk.DataVersions.from_dict(p["data"]))[0]

    def nodes(self, part, month_index: int) -> dict:
        from engine.finance.revenue import GEN
        dims = part.params["dims"]
        nodes = {d: self.bk._market_nodes(dims, d, month_index) for d in dims}
        if self.gen_nodes:
            nodes[GEN] = self.gen_nodes
        return nodes


def breakdown(setup: Setup) -> dict:
    """One core: the engine lattices and path revenue of operating year 1 of every
    contract (times the years), then the waterfall, IRRs and reporting on all paths."""
    from engine.finance import report
    from engine.finance.cashflow import run_cash_flows
    from engine.finance.irr import irr
    from engine.finance.revenue import GEN, month_lattice, path_revenue
    from engine.finance.uncertainty import p_table
    from engine.finance.waterfall import OperatingInputs, run_waterfall
    bk, model = setup.bk, setup.model
    first = [p for p in setup.parts if p.key.endswith("|00")]
    lattice_s = interp_s = 0.0
    settlements = prepared = months = 0
    gen = bk.generation_factors(model.seed, model.paths, model.horizon_years, model.gen_iav, model.gen_model)
    for part in first:
        fc = setup.forecast(part)
        dims = part.params["dims"]
        factors = {d: bk.market_factors(dims, d, model.seed, model.paths, 12) for d in dims}
        factors[GEN] = np.repeat(gen[:, :1], 12, axis=1)
        lattices = []
        for j, period in enumerate(model.months[:12]):
            if not bk.active_in_period(fc.versions, period):
                lattices.append(None)
                continue
            nodes = setup.nodes(part, j)
            t = time.process_time()
            lat = month_lattice(fc, period, nodes)
            lattice_s += time.process_time() - t
            settlements += lat.settlements
            prepared += lat.preparations
            months += 1
            lattices.append(lat)
        t = time.process_time()                   # as the job does: a block of months at once
        path_revenue(lattices, factors, model.paths)
        interp_s += time.process_time() - t
    years = model.horizon_years
    # the back end on every path: synthetic operating inputs of the right shape
    P = model.paths
    rng = np.random.default_rng(0)
    rev = 400e6 * (1 + 0.05 * rng.standard_normal((P, years)))
    ops = OperatingInputs(rev, np.full((P, years), 3.3e6), np.full((P, years), 150e6))
    base = OperatingInputs(rev[:1] * 0 + 400e6, ops.energy_mwh[:1], ops.fuel_usd[:1])
    params = model.finance_params(2.0e6)
    t = time.process_time()
    run = run_cash_flows(params, ops, {"P50": base, "P99": base})
    total_back = time.process_time() - t
    t = time.process_time()
    run_waterfall(params, ops, run.debt, 1.5e8)
    waterfall_s = time.process_time() - t
    t = time.process_time()
    for flows in (run.paths.equity_aftertax_usd, run.paths.equity_pretax_usd, run.paths.project_pretax_usd,
                  run.paths.project_aftertax_usd):
        irr(flows)
    irr_s = time.process_time() - t
    t = time.process_time()
    summary = report.summary_document(model, params, run, p50_cents=[0] * years, p50_by_contract={},
                                      energy_table=p_table(3.3e6, 0.05, 0.04), settlements=0, processes={},
                                      lineage={})
    report.result_parts(summary, run)
    report_s = time.process_time() - t
    return {"contracts": len(first), "months_sampled": months, "settlements_sampled": settlements,
            "prepared_sampled": prepared, "engine_s_per_year": lattice_s, "engine_s": lattice_s * years,
            "path_revenue_s_per_year": interp_s, "path_revenue_s": interp_s * years,
            "waterfall_s": waterfall_s, "irr_s": irr_s, "metrics_total_s": total_back, "reporting_s": report_s}


#: main before the revenue stage moved onto prepared site-months (``--before``)
BEFORE = "e62865e"


def previous_revenue(rev: str):
    """``engine/finance/revenue.py`` as of commit ``rev`` (read with git), loaded beside
    the current one: the same process, the same data, the same load."""
    import types
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:engine/finance/revenue.py"],
                         capture_output=True, text=True, check=True).stdout
    mod = types.ModuleType("engine.finance._revenue_before")
    mod.__package__ = "engine.finance"
    sys.modules[mod.__name__] = mod                  # dataclasses resolve their module
    exec(compile(src, f"{rev}:engine/finance/revenue.py", "exec"), mod.__dict__)
    return mod


def before_after(setup: Setup, rev: str) -> dict:
    """Operating year 1 of every contract, priced by the revenue stage of ``rev`` (the
    billing path at the lattice's 1 + 2 D points, cross terms from the interval
    detail) and by the current one (prepared site-months): CPU seconds, settlements,
    the exact figures compared (the P50 lines and the low generation point, to the
    cent) and every path's revenue compared (the same factors)."""
    from engine.finance.revenue import GEN, month_lattice
    old = previous_revenue(rev)
    bk, model = setup.bk, setup.model
    gen = bk.generation_factors(model.seed, model.paths, model.horizon_years, model.gen_iav, model.gen_model)
    out = {"before_s": 0.0, "after_s": 0.0, "before_settlements": 0, "after_settlements": 0, "months": 0,
           "exact_equal": 0, "month_max": 0.0, "year_max": 0.0, "year_sum_gap": 0.0, "year_sum": 0.0}
    for part in (p for p in setup.parts if p.key.endswith("|00")):
        fc = setup.forecast(part)
        dims = part.params["dims"]
        factors = {d: bk.market_factors(dims, d, model.seed, model.paths, 12) for d in dims}
        fc_old = old.ContractForecast(fc.versions, fc.sites, fc.prices, fc.indices, fc.ops, fc.cod,
                                      fc.actual_indices)
        year_old, year_new = np.zeros(model.paths), np.zeros(model.paths)
        for j, period in enumerate(model.months[:12]):
            if not bk.active_in_period(fc.versions, period):
                continue
            nodes = setup.nodes(part, j)
            t = time.process_time()
            a = old.month_lattice(fc_old, period, nodes)
            out["before_s"] += time.process_time() - t
            t = time.process_time()
            b = month_lattice(fc, period, nodes)
            out["after_s"] += time.process_time() - t
            out["before_settlements"] += a.settlements
            out["after_settlements"] += b.settlements
            out["months"] += 1
            out["exact_equal"] += int(
                [(ln.line_id, ln.amount_cents) for ln in a.center.lines] ==
                [(ln.line_id, ln.amount_cents) for ln in b.center.lines]
                and a.gen_low_total_cents == b.gen_low_total_cents)
            f = {d: factors[d][:, j] for d in b.dims if d != GEN}
            if GEN in b.dims:
                f[GEN] = gen[:, 0]
            ra, rb = a.revenue(f, model.paths), b.revenue(f, model.paths)
            scale = max(float(np.max(np.abs(ra))), 1.0)
            out["month_max"] = max(out["month_max"], float(np.max(np.abs(rb - ra))) / scale)
            year_old += ra
            year_new += rb
        if np.any(year_old):
            out["year_max"] = max(out["year_max"],
                                  float(np.max(np.abs(year_new - year_old) / np.maximum(np.abs(year_old), 1.0))))
            out["year_sum_gap"] += float(np.sum(year_new - year_old))
            out["year_sum"] += float(np.sum(np.abs(year_old)))
    return out


def engine_calls(setup: Setup, repeat: int = 60) -> dict:
    """CPU per engine call on one PPA month (the 11th), each call repeated:
    what a lattice point costs, and what settling each path directly would."""
    from engine.finance.revenue import GEN
    from engine.settlement import finalize_amounts, prepare_site, price_site, settle_period
    part = next(p for p in setup.parts if p.key == "revenue|PPA-TX-DC1|00")
    fc = setup.forecast(part)
    period = setup.model.months[10]
    price = next(d for d in part.params["dims"] if d.startswith("price:"))
    pt = {GEN: 0.93, price: 1.21}
    sites, market = fc.inputs(period, pt)
    (site, series), = sites.values()

    def each(fn) -> float:
        fn()
        t = time.process_time()
        for _ in range(repeat):
            fn()
        return (time.process_time() - t) / repeat

    prepared = prepare_site(fc.versions, period, site, series, market, keep_lines=False)
    partial = price_site(prepared, market)
    memo: dict = {}
    out = {"prepare_s": each(lambda: prepare_site(fc.versions, period, site, series, market, keep_lines=False)),
           "price_s": each(lambda: price_site(prepared, market)),
           "finalize_s": each(lambda: finalize_amounts(fc.versions, period, partial, memo={})),
           "finalize_memo_s": each(lambda: finalize_amounts(fc.versions, period, partial, memo=memo)),
           "billing_s": each(lambda: settle_period(fc.versions, period, sites, market))}
    # every path settled directly: a path moves generation (a prepare per path-month)
    # and prices (a re-price), and its determinants (a finalize without memo)
    out["direct_path_month_s"] = out["prepare_s"] + out["price_s"] + out["finalize_s"]
    return out


def interpolation_gap(setup: Setup, samples: int) -> dict:
    """``samples`` draws of (contract, operating year, path): the year's months from the
    lattices against the billing path's settlements at that path's factors."""
    from engine.finance.revenue import GEN, month_lattice
    from engine.settlement import lookback_periods, settle_period
    bk, model = setup.bk, setup.model
    rng = np.random.default_rng(7)
    gen = bk.generation_factors(model.seed, model.paths, model.horizon_years, model.gen_iav, model.gen_model)
    dims = setup.parts[0].params["dims"]
    market = {d: bk.market_factors(dims, d, model.seed, model.paths, 12 * model.horizon_years) for d in dims}
    monthly, annual, err_sum, rev_sum, direct_n, direct_s = [], [], 0.0, 0.0, 0, 0.0
    for _ in range(samples):
        part = setup.parts[int(rng.integers(len(setup.parts)))]
        fc = setup.forecast(part)
        y = int(part.params["block"]) * bk.YEARS_PER_BLOCK + int(rng.integers(bk.YEARS_PER_BLOCK))
        path = int(rng.integers(model.paths))
        if y >= model.horizon_years:
            continue
        got_y = direct_y = 0.0
        for j in range(12 * y, 12 * y + 12):
            period = model.months[j]
            if not bk.active_in_period(fc.versions, period):
                continue
            lat = month_lattice(fc, period, setup.nodes(part, j))
            pt = {d: float(market[d][path, j]) for d in lat.dims if d != GEN}
            if GEN in lat.dims:
                pt[GEN] = float(gen[path, y])
            got = float(lat.revenue({d: np.array([v]) for d, v in pt.items()}, 1)[0])
            t = time.process_time()
            g = {GEN: pt[GEN]} if GEN in pt else {}
            lookback = {m: settle_period(fc.versions, m, *fc.inputs(m, g)).delivered_wh
                        for m in lookback_periods(fc.versions, period)}
            sites, mk = fc.inputs(period, pt)
            direct = settle_period(fc.versions, period, sites, mk, lookback or None).total_cents / 100
            direct_s += time.process_time() - t
            direct_n += 1
            monthly.append(abs(got - direct) / max(abs(direct), 1.0))
            got_y += got
            direct_y += direct
        if direct_y:
            annual.append(abs(got_y - direct_y) / abs(direct_y))
            err_sum += got_y - direct_y
            rev_sum += abs(direct_y)
    m, a = np.array(monthly), np.array(annual)
    return {"months": m.size, "years": a.size, "month_median": float(np.median(m)),
            "month_p95": float(np.quantile(m, 0.95)), "month_max": float(m.max()),
            "year_median": float(np.median(a)), "year_max": float(a.max()),
            "bias": err_sum / rev_sum if rev_sum else 0.0, "direct_s": direct_s / max(direct_n, 1)}


# --------------------------------------------------------------------------- 5. SAM
def against_sam(paths: int, runs: int) -> dict:
    from engine.finance.cashflow import run_cash_flows
    from engine.finance.waterfall import OperatingInputs
    from tests.support.sam import finance_params, load_case, operating_inputs, pysam_model
    inputs, _ = load_case("Generic_System")
    model = pysam_model(inputs)
    model.execute()
    times, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        model.execute()
        times.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    npv_sam = model.Outputs.project_return_aftertax_npv
    p = finance_params(inputs)
    one = operating_inputs(inputs, p)
    rng = np.random.default_rng(1)
    scale = 1 + 0.05 * rng.standard_normal((paths, p.years))
    ops = OperatingInputs(one.revenue_usd * scale, one.energy_mwh * scale, np.repeat(one.fuel_usd, paths, 0))
    t = time.process_time()
    run = run_cash_flows(p, ops, {"P50": one})
    ours = time.process_time() - t
    assert run.metrics.values["npv_aftertax_usd"].shape == (paths,)
    check = run_cash_flows(p, one, {"P50": one}).metrics.values["npv_aftertax_usd"][0]
    assert abs(check - npv_sam) < 1e-6 * abs(npv_sam), (check, npv_sam)
    return {"sam_execute_s": float(np.median(times)), "sam_execute_cpu_s": float(np.median(cpus)), "ours_s": ours,
            "ours_per_path_s": ours / paths}


# --------------------------------------------------------------------------- 6. memory
_CHILD = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from jobs import bankability as bk
from jobs.specs import parse_spec
from jobs.tasks import JobContext, WorkerContext
from datetime import datetime, timezone
store = ObjectStore.from_config(StorageConfig(uri={uri!r}))
doc = json.loads({doc!r})
spec = parse_spec({{"kind": "bankability", "model": doc}})
now = datetime(2026, 11, 5, tzinfo=timezone.utc)
parts = [p for p in bk.plan(spec, JobContext(store=store, job_id="mem", now_utc=now))
         if p.key == "revenue|PPA-TX-DC1|00"]
import tracemalloc
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
bk.run_partition(parts[0], WorkerContext(store=store, job_id="mem", attempt=1))
_, traced = tracemalloc.get_traced_memory()
print(json.dumps({{"before_mib": before / 1024, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "partition_peak_mib": traced / 2**20}}))
"""


def memory(cfg, sites: int, years: int, counts: list[int]) -> list[dict]:
    out = []
    for n in counts:
        doc = model_doc(sites, n, years)
        code = _CHILD.format(root=str(ROOT), uri=cfg.uri, doc=json.dumps(doc))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out.append({"paths": n, **json.loads(r.stdout.strip().splitlines()[-1])})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--paths", type=int, default=10_000)
    ap.add_argument("--years", type=int, default=25)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, default=None, help="keep the store here (reused)")
    ap.add_argument("--sam-runs", type=int, default=20)
    ap.add_argument("--gap-samples", type=int, default=24)
    ap.add_argument("--before", default=BEFORE, help="the commit whose revenue stage is 'before' (git)")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    root = args.data or Path(tempfile.mkdtemp(prefix="m2c-bank-"))
    root.mkdir(parents=True, exist_ok=True)

    print(f"[1] data: {args.sites} sites, a year of hourly history ({load()})")
    t = time.perf_counter()
    cfg, store, built = build_store(root, args.sites)
    print(f"    {'built' if built else 'reused'} in {time.perf_counter() - t:.1f} s at {root}")
    doc = model_doc(args.sites, args.paths, args.years)

    print(f"[2] meter2cash end to end: {args.paths} paths x {args.years} years, "
          f"{len(doc['project']['contracts'])} contracts, {args.workers} warm workers ({load()})")
    e = end_to_end(cfg, doc, args.workers, root / f"catalog-{time.time_ns()}.db")
    result = e["result"]
    assert result["paths"] == args.paths and result["debt_usd"] > 0
    irr = result["equity_irr_aftertax"]
    print(f"    CPU {e['cpu_s']:.1f} s: workers {e['workers_cpu_s']:.1f} s, this process (plan, reduce, driver) "
          f"{e['driver_cpu_s']:.1f} s ({load()})")
    print(f"    wall {e['wall_s']:.1f} s (target < 60 s for 10 sites x 10,000 paths x 25 years; the pool's "
          f"start {e['pool_start_s']:.1f} s before it)")
    print(f"    debt {result['debt_usd'] / 1e6:,.1f} M USD ({result['binding_case']} binds); equity IRR "
          f"P50 {irr['P50']:.4f} P90 {irr['P90']:.4f}; P(DSCR < 1) {result['probabilities']['dscr_below_1']:.3f}")

    print(f"[3] where the time goes (one core, CPU seconds) ({load()})")
    setup = Setup(store, doc)
    b = breakdown(setup)
    print(f"    contract engine, year 1 of {b['contracts']} contracts: {b['months_sampled']} contract-months, "
          f"{b['prepared_sampled']} site-months prepared, {b['settlements_sampled']} lattice points settled in "
          f"{b['engine_s_per_year']:.2f} s -> ~{b['engine_s']:.0f} s for {args.years} years")
    print(f"    path revenue (interpolation, {args.paths} paths): {b['path_revenue_s_per_year']:.2f} s a year "
          f"-> ~{b['path_revenue_s']:.1f} s")
    print(f"    waterfall {b['waterfall_s']:.2f} s; IRR x4 {b['irr_s']:.2f} s; metrics in all "
          f"{b['metrics_total_s']:.2f} s; reporting {b['reporting_s']:.2f} s")
    c = engine_calls(setup)
    months = b["months_sampled"] * args.years
    print(f"    per call, a PPA month: prepare_site {c['prepare_s'] * 1e6:.0f} us; "
          f"price_site {c['price_s'] * 1e6:.0f} us; finalize_amounts {c['finalize_s'] * 1e6:.0f} us "
          f"({c['finalize_memo_s'] * 1e6:.0f} us with its period lines memoised); the billing path "
          f"(settle_site, combine, finalize) {c['billing_s'] * 1e6:.0f} us")
    print(f"    every path settled directly instead: ~{c['direct_path_month_s'] * 1e6:.0f} us a path-month x "
          f"{args.paths} paths x ~{months} contract-months = ~{c['direct_path_month_s'] * args.paths * months:,.0f} "
          f"CPU s (the lattice: ~{b['engine_s'] + b['path_revenue_s']:.0f} s)")

    try:
        ba = before_after(setup, args.before)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"    before/after: no revenue stage of {args.before} to compare with ({exc})")
    else:
        print(f"    before/after ({args.before}'s revenue stage in this process), year 1 of every contract: "
              f"{ba['before_s']:.2f} -> {ba['after_s']:.2f} CPU s ({ba['before_s'] / ba['after_s']:.1f}x); "
              f"{ba['before_settlements']} billing-path settlements -> {ba['after_settlements']} lattice points "
              f"for {ba['months']} contract-months")
        print(f"    exact figures (P50 lines, low generation point) equal to the cent in {ba['exact_equal']} of "
              f"{ba['months']} contract-months; every path's revenue, after against before: month max "
              f"{ba['month_max']:.1e} of the month's largest, year max {ba['year_max']:.1e}, sum "
              f"{ba['year_sum_gap'] / max(ba['year_sum'], 1.0):+.1e}")

    print(f"[4] interpolation against the engine: {args.gap_samples} (contract, year, path) draws ({load()})")
    g = interpolation_gap(setup, args.gap_samples)
    print(f"    {g['months']} path-months: |lattice - billing path| / month's revenue: median {g['month_median']:.2e}, "
          f"p95 {g['month_p95']:.2e}, max {g['month_max']:.2e}")
    print(f"    {g['years']} path-years: median {g['year_median']:.2e}, max {g['year_max']:.2e}; bias (sum of gaps / "
          f"sum of revenue) {g['bias']:+.2e}; a direct settlement cost {g['direct_s'] * 1e3:.2f} CPU ms")

    print(f"[5] against SAM's Singleowner ({load()})")
    s = against_sam(args.paths, args.sam_runs)
    sam = s["sam_execute_cpu_s"]
    print(f"    Singleowner.execute(): {sam * 1e3:.1f} CPU ms ({s['sam_execute_s'] * 1e3:.1f} ms wall; median of "
          f"{args.sam_runs})")
    print(f"    meter2cash cash-flow model, same inputs, {args.paths} paths: {s['ours_s']:.2f} CPU s "
          f"= {s['ours_per_path_s'] * 1e6:.0f} us per path: {sam / s['ours_per_path_s']:,.0f}x cheaper")
    e2e = e["cpu_s"] / args.paths
    marginal = (b["path_revenue_s"] + b["metrics_total_s"] + b["reporting_s"]) / args.paths
    print(f"    end to end (section 2, every CPU-second of the job over its paths): {e2e * 1e3:.2f} CPU ms per path: "
          f"{sam / e2e:,.1f}x cheaper than one execute() (target >= 100x); the contract engine's "
          f"~{b['engine_s']:.0f} CPU s do not grow with paths, each further path costs ~{marginal * 1e6:.0f} us "
          f"({sam / marginal:,.0f}x cheaper)")

    if not args.skip_memory:
        print(f"[6] memory per worker against paths: one revenue partition (PPA-TX-DC1, 5 years) ({load()})")
        for m in memory(cfg, args.sites, args.years, sorted({1000, 5000, args.paths})):
            print(f"    {m['paths']:>6} paths: the partition's own peak allocations {m['partition_peak_mib']:.1f} MiB; "
                  f"process peak RSS {m['peak_mib']:.0f} MiB (after imports and plan {m['before_mib']:.0f} MiB)")
    if args.data is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
