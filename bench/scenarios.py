"""Benchmark: what-if scenarios (a script, not a test: it prints figures and asserts only
that the money agrees).

    .venv/bin/python bench/scenarios.py [--sites 10] [--months 12] [--minutes 5]
        [--variants 1000] [--sample 3] [--workers 2] [--data DIR] [--memory 100,300,1000]
        [--skip-job] [--skip-battery] [--profile]

Sections, all in this one process (so ratios are fair):

1. **Data.** The demo portfolio (``jobs.demo``: behind-the-meter PPAs with a TOU energy
   price, capacity, minimum delivery and an export share at the site's node; a solar
   VPPA at the hub; a gas tolling agreement on a Henry Hub heat rate) over ``--sites``
   x ``--months`` of ``--minutes`` data: the meter table appended per site, prices and
   indices through the CSV ingest. ``--data DIR`` keeps it for the next run.
2. **Scenario job.** ``--variants`` price/index variants (a sweep: every price series
   shifted x scaled x the gas index scaled) as one ``scenario`` job on a local Ray with
   ``--workers`` warm workers: submit -> plan -> map -> reduce -> result published.
   Target: 1,000 variants over 10 sites x 12 months under 60 s.
3. **Per variant, both ways.** ``--sample`` of those variants settled as an ordinary
   settlement would, in this process: every contract-period with
   ``jobs.contract_period.settle_contract_period`` and the variant as its ``transform``
   (each site-month read and validated, the full map with interval detail, finalize):
   seconds per variant against the job's (wall x workers / variants: the CPU-seconds a
   variant costs); every line's cents compared. Target: at least 20x faster.
4. **Battery.** One site-year of ``--minutes`` data (105,120 intervals at 5 minutes),
   arbitrage at the site's RT node: weekly rolling windows (target under 10 s) and
   perfect foresight, with the revenue gap.
5. **Memory.** Peak RSS of the workers (``VmHWM``, reset before each run) against the
   number of variants (``--memory``).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402

from engine.schema import METER_SCHEMA  # noqa: E402
from engine.timebase import local_month_bounds_us, local_month_labels, next_period  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
END_PERIOD = "2026-10"
MANIFEST = "bench/scenarios-portfolio.json"


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def peak_rss(pids: list[int]) -> list[int]:
    """VmHWM (MiB) of each process."""
    out = []
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    out.append(int(line.split()[1]) // 1024)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by processes ``pids``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def reset_peak_rss(pids: list[int]) -> None:
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")


# ------------------------------------------------------------------ 1. data
def build_data(cfg: StorageConfig, sites: int, months: int, minutes: int) -> dict:
    """The demo portfolio in the store (reused when already there)."""
    from jobs.demo import build_portfolio
    from jobs.demo_contracts import demo_contracts
    from storage.contracts import ContractStore
    from storage.ingest import ingest_index, ingest_prices
    from storage.sites import merge_sites
    from storage.tables import Tables
    store = ObjectStore.from_config(cfg)
    want = {"sites": sites, "months": months, "minutes": minutes, "end": END_PERIOD}
    raw = store.get_or_none(MANIFEST)
    if raw is not None:
        have = json.loads(raw)
        if {k: have[k] for k in want} != want:
            raise SystemExit(f"{cfg.uri} holds another portfolio ({have}); use another --data directory")
        return have
    t0 = time.perf_counter()
    p = build_portfolio(sites, months + 1, minutes, 7, END_PERIOD)     # + one month of VEE history
    merge_sites(store, p.sites)
    tables = Tables(store)
    meter = p.meter_wh
    for sid in sorted(p.sites):
        t = meter.filter(pa.compute.equal(meter.column("site_id"), sid))
        us = t.column("interval_start_utc").cast(pa.int64()).to_numpy()
        n = t.num_rows
        tables.append("meter", pa.table({
            "site_id": t.column("site_id"), "channel": t.column("channel"),
            "interval_start_utc": t.column("interval_start_utc"),
            "interval_minutes": t.column("interval_minutes"), "energy_wh": t.column("energy_wh"),
            "quality": t.column("quality"), "method": pa.nulls(n, pa.string()),
            "source_file": pa.repeat(pa.scalar(f"bench-{sid}", pa.string()), n),
            "source_sha256": pa.repeat(pa.scalar("0" * 64, pa.string()), n),
            "ingested_at_utc": pa.repeat(pa.scalar(NOW, METER_SCHEMA.field("ingested_at_utc").type), n),
            "month": pa.array(local_month_labels(us, p.sites[sid].timezone).astype(str)),
        }, schema=METER_SCHEMA))
    with tempfile.TemporaryDirectory() as tmp:
        prices, index = Path(tmp) / "prices.csv", Path(tmp) / "index.csv"
        pa_csv.write_csv(p.prices_table(), prices)
        pa_csv.write_csv(p.index_table(), index)
        ingest_prices(store, [prices], now_utc=NOW)
        ingest_index(store, [index], now_utc=NOW)
    contracts = ContractStore(store)
    for doc in demo_contracts(sites):
        contracts.add(doc, sites=p.sites)
    have = {**want, "rows": meter.num_rows, "contracts": [d["contract_id"] for d in demo_contracts(sites)],
            "built_s": round(time.perf_counter() - t0, 1)}
    store.put(MANIFEST, json.dumps(have).encode())
    return have


def clear_outputs(cfg: StorageConfig) -> None:
    store = ObjectStore.from_config(cfg)
    for key in store.list("results/") + store.list("runs/"):
        store.delete(key)


def sweep_document(first: str, last: str, variants: int) -> dict:
    """``variants`` price/index variants: shift x scale x gas (as cubic as they come)."""
    k = max(1, round(variants ** (1 / 3)))
    shifts = [str(x) for x in range(-k // 2 * 4, -k // 2 * 4 + 4 * k, 4)][:k]
    scales = [f"{0.6 + 0.1 * i:.1f}" for i in range(k)]
    gas = [f"{0.5 + 0.25 * i:.2f}" for i in range(max(1, variants // (k * k)))]
    return {"scenario": f"bench-{variants}", "description": "hub/node shifts x price scale x gas",
            "base": {"from_period": first, "to_period": last}, "max_variants": 1_000_000,
            "sweep": {"name": "shift {s}, x{f}, gas x{g}",
                      "parameters": [{"name": "s", "values": shifts}, {"name": "f", "values": scales},
                                     {"name": "g", "values": gas}],
                      "transforms": [{"op": "price_scale", "factor": "{f}"},
                                     {"op": "price_shift", "usd_per_mwh": "{s}"},
                                     {"op": "index_scale", "index": "HENRY_HUB", "factor": "{g}"}]}}


# ------------------------------------------------------------------ 2. the job
class Runner:
    """Scenario jobs through ``cluster.executor.run_job`` on one warm pool."""

    def __init__(self, cfg: StorageConfig, workers: int, work: Path):
        from cluster.pool import WorkerPool
        from cluster.runtime import ClusterConfig, ensure_ray
        self.cfg, self.work = cfg, work
        self.cluster = ClusterConfig(num_cpus=max(2, workers), workers=workers, namespace="m2c-bench")
        ensure_ray(self.cluster)
        t0 = time.perf_counter()
        self.pool = WorkerPool(workers, cfg)
        self.pool.wait_ready()
        self.pool_start_s = time.perf_counter() - t0
        self.pids = self.pool.pids()
        self.n = 0

    def run(self, doc: dict) -> tuple[float, dict, str]:
        from cluster.executor import Runtime, run_job
        from jobs.catalog import JobCatalog
        from jobs.specs import parse_spec
        self.n += 1
        catalog = JobCatalog(f"sqlite:///{self.work / f'catalog-{self.n}.db'}")
        catalog.init_schema()
        t0 = time.perf_counter()
        spec = parse_spec({"kind": "scenario", "document": doc})
        record, _ = catalog.submit(spec, now_utc=NOW)
        result = run_job(record.id, record.spec, Runtime(self.cfg, catalog, self.cluster), now_utc=NOW,
                         pool=self.pool)
        return time.perf_counter() - t0, result, record.id

    def kill(self) -> None:
        self.pool.kill()


# ------------------------------------------------------------------ 3. both ways
def ordinary(cfg: StorageConfig, doc: dict, sample: list[int]) -> tuple[float, float, dict]:
    """The sampled variants settled contract-period by contract-period through
    ``settle_contract_period`` with the variant as its transform; (seconds and
    CPU-seconds per variant, {(variant, contract, period, line): cents})."""
    from engine.scenario import MarketContext, parse_scenario, variant_market
    from jobs.contract_period import settle_contract_period
    from jobs.settle_inputs import DataVersions, SiteMonthInputs
    from storage.contracts import ContractStore
    from storage.tables import Tables
    from engine.contract import active_in_period
    store = ObjectStore.from_config(cfg)
    tables = Tables(store)
    scenario = parse_scenario(doc)
    data = DataVersions.resolve(tables, store)
    contracts = ContractStore(store)
    ids = contracts.contract_ids()
    out: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for idx in sample:
        v = scenario.variants[idx]

        def transform(inputs: SiteMonthInputs, versions, period, v=v) -> SiteMonthInputs:
            b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
            market = variant_market(v, inputs.market, MarketContext(period, inputs.site.site_id,
                                                                    inputs.site.timezone, b0, b1,
                                                                    inputs.market.prices))
            return SiteMonthInputs(inputs.site, inputs.channels, market)
        for cid in ids:
            stored = contracts.versions(cid)
            for period in scenario.base.periods:
                if not active_in_period([s.version for s in stored], period):
                    continue
                result = settle_contract_period(store, tables, stored, period, data, cache={},
                                                transform=transform)
                for ln in result.lines:
                    out[(idx, cid, period, ln.line_id)] = ln.amount_cents
    k = max(1, len(sample))
    return (time.perf_counter() - t0) / k, (time.process_time() - c0) / k, out


def time_reduce(cfg: StorageConfig, doc: dict, job_id: str) -> float:
    """The job's reduce again, in this process, over its committed partitions (the
    result is already published, identical: nothing is written)."""
    from jobs import scenario as sj
    from jobs.parts import load_committed
    from jobs.specs import parse_spec
    from jobs.tasks import JobContext
    store = ObjectStore.from_config(cfg)
    results = load_committed(store, job_id)
    spec = parse_spec({"kind": "scenario", "document": doc})
    t0 = time.perf_counter()
    sj.reduce(spec, results, JobContext(store=store, job_id=job_id, now_utc=NOW))
    return time.perf_counter() - t0


def job_cents(cfg: StorageConfig, result_id: str, sample: list[int]) -> dict:
    import pyarrow.parquet as pq
    from storage.results import ResultStore
    rs = ResultStore(ObjectStore.from_config(cfg), "scenario")
    t = pq.read_table(io.BytesIO(rs.part(result_id, "lines.parquet")))
    t = t.filter(pa.compute.is_in(t.column("variant_index"), pa.array(sample, pa.int32())))
    return {(r["variant_index"], r["contract_id"], r["period"], r["line_id"]): r["amount_cents"]
            for r in t.to_pylist()}


# ------------------------------------------------------------------ 4. battery
def battery(cfg: StorageConfig, months: int) -> None:
    from engine.dispatch import Battery, Objective, solve, window_labels
    from engine.dispatch.windows import local_days
    from engine.pricing import align_prices
    from jobs.settle_inputs import DataVersions, _us
    from storage.tables import Tables
    store = ObjectStore.from_config(cfg)
    tables = Tables(store)
    data = DataVersions.resolve(tables, store)
    first = next_period(END_PERIOD, -(months - 1))
    tz = "America/Chicago"
    b0, _ = local_month_bounds_us(first, tz)
    _, b1 = local_month_bounds_us(END_PERIOD, tz)
    t = tables.read_prices("ERCOT", "LZ_NORTH", "RT", b0 - 3_600_000_000, b1, as_of=data.prices)
    from engine.pricing import PriceSeries
    s = PriceSeries(_us(t.column("interval_start_utc")), t.column("interval_minutes").to_numpy().astype(np.int64),
                    t.column("lmp_microusd_per_mwh").to_numpy())
    grid = np.arange(b0, b1, 5 * 60_000_000, dtype=np.int64)
    price = align_prices(s, grid, 5, "ERCOT/LZ_NORTH/RT") / 1e6
    days = local_days(grid, tz)
    b = Battery(50, 50, 200, round_trip_efficiency=0.88, soc_min_mwh=20, soc_max_mwh=190,
                soc_initial_mwh=100, cycles_per_day=1.5)
    print(f"\n4. battery re-dispatch: TX-DC1's 50 MW / 200 MWh at ERCOT LZ_NORTH RT, {grid.size:,} "
          f"5-minute intervals ({first}..{END_PERIOD}), 88 % round trip, 1.5 cycles/day")
    res = {}
    for window in ("week", "day", "perfect"):
        t0 = time.perf_counter()
        r = solve(b, Objective("arbitrage", price=price), 5 / 60, day=days,
                  windows=window_labels(days, window))
        res[window] = (time.perf_counter() - t0, r)
        print(f"   {window:8s} {r.windows:4d} LP(s)  {res[window][0]:6.2f} s   revenue {r.value_usd:14,.2f} USD"
              + ("   <- target < 10 s" if window == "week" else ""))
    p = res["perfect"][1].value_usd
    for w in ("week", "day"):
        print(f"   gap to perfect foresight, {w:4s} windows: {100 * (p - res[w][1].value_usd) / p:.2f} %")


# ------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--minutes", type=int, default=5)
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=3, help="variants also settled the ordinary way")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, help="keep the generated store here (reused next time)")
    ap.add_argument("--memory", default="", help="variant counts for the memory section, e.g. 100,300,1000")
    ap.add_argument("--skip-job", action="store_true")
    ap.add_argument("--skip-battery", action="store_true")
    ap.add_argument("--profile", action="store_true", help="cProfile one partition in this process")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="m2c-bench-scen-"))
    root = args.data or work / "data"
    cfg = StorageConfig(uri=f"file://{root.resolve()}/store")
    print(f"meter2cash scenario benchmark, {os.cpu_count()} CPUs, {load_average()}")
    t0 = time.perf_counter()
    info = build_data(cfg, args.sites, args.months, args.minutes)
    clear_outputs(cfg)
    first = next_period(END_PERIOD, -(args.months - 1))
    print(f"1. data: {args.sites} sites x {args.months} months x {args.minutes}-min, {info['rows']:,} meter rows, "
          f"{len(info['contracts'])} contracts ({time.perf_counter() - t0:.1f} s)")
    doc = sweep_document(first, END_PERIOD, args.variants)
    n = 1
    for p in doc["sweep"]["parameters"]:
        n *= len(p["values"])
    site_months = args.sites * args.months
    try:
        if args.profile:
            profile_partition(cfg, doc)
        if not args.skip_job:
            runner = Runner(cfg, args.workers, work)
            print(f"2. scenario job: {n:,} variants (+ the base) x {site_months} site-months, "
                  f"{args.workers} workers (pool started in {runner.pool_start_s:.1f} s)")
            reset_peak_rss(runner.pids)
            cpu0 = cpu_seconds(runner.pids)
            secs, result, job_id = runner.run(doc)
            cpu = cpu_seconds(runner.pids) - cpu0
            vsm = (n + 1) * site_months
            print(f"   {secs:6.1f} s end to end   {secs / (n + 1) * 1000:7.1f} ms per variant   "
                  f"{secs / vsm * 1000:6.3f} ms per variant-site-month   <- target < 60 s")
            print(f"   workers' CPU {cpu:.1f} s ({cpu / vsm * 1000:.3f} ms per variant-site-month): on a quiet "
                  f"machine about {cpu / args.workers:.1f} s of wall time")
            print(f"   workers' peak RSS {peak_rss(runner.pids)} MiB; base total {result['base_total_usd']} USD, "
                  f"{result['failed']} failed; {load_average()}")
            print(f"   reduce (in the job runner, timed again here): {time_reduce(cfg, doc, job_id):.1f} s "
                  f"for {(n + 1) * len(info['contracts']) * args.months:,} variant-contract-periods")
            sample = sorted({1 + (i * n) // max(1, args.sample) for i in range(args.sample)})
            per_ordinary, cpu_ordinary, ordinary_cents = ordinary(cfg, doc, sample)
            fast_cents = job_cents(cfg, job_id, sample)
            per_fast = secs * args.workers / (n + 1)
            cpu_fast = cpu / (n + 1)
            agree = all(fast_cents.get(k) == v for k, v in ordinary_cents.items())
            print(f"3. per variant: settled the ordinary way (in process: read + VEE + map with detail + "
                  f"finalize, per contract-period) {per_ordinary:.2f} s, {cpu_ordinary:.2f} CPU-s")
            print(f"   in the scenario job {per_fast:.3f} s (wall x workers / variants), {cpu_fast:.4f} CPU-s   "
                  f"{per_ordinary / per_fast:.1f}x by wall, {cpu_ordinary / cpu_fast:.1f}x by CPU   "
                  f"<- target >= 20x")
            print(f"   {len(sample)} variants x {len(ordinary_cents):,} lines compared: "
                  f"{'every cent agrees' if agree else 'MISMATCH'}")
            if not agree:
                bad = [(k, v, fast_cents.get(k)) for k, v in ordinary_cents.items() if fast_cents.get(k) != v]
                print("   first mismatches:", bad[:5])
            if args.memory:
                print("5. peak worker memory against variants:")
                for m in [int(x) for x in args.memory.split(",")]:
                    clear_outputs(cfg)
                    reset_peak_rss(runner.pids)
                    secs, _, _ = runner.run(sweep_document(first, END_PERIOD, m))
                    print(f"   {m:6,} variants  {secs:6.1f} s  peak RSS {peak_rss(runner.pids)} MiB")
            runner.kill()
        if not args.skip_battery:
            battery(cfg, args.months)
    finally:
        if args.data is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def profile_partition(cfg: StorageConfig, doc: dict) -> None:
    """One partition's map in this process, warm, profiled."""
    from jobs import scenario as sj
    from jobs.specs import parse_spec
    from jobs.tasks import JobContext, WorkerContext
    store = ObjectStore.from_config(cfg)
    spec = parse_spec({"kind": "scenario", "document": doc})
    jctx = JobContext(store=store, job_id="bench-profile", now_utc=NOW)
    parts = sj.plan(spec, jctx)
    wctx = WorkerContext(store=store, job_id="bench-profile", attempt=1)
    part = parts[int(os.environ.get("BENCH_PART", "0"))]
    sj.run_partition(part, wctx)                 # warm: inputs read and prepared
    prof = cProfile.Profile()
    c0 = time.process_time()
    prof.enable()
    sj.run_partition(part, wctx)
    prof.disable()
    a, b = part.params["variants"]
    print(f"   profile: partition {part.key}, {b - a} variants, {time.process_time() - c0:.2f} CPU-s warm")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    print(buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())
