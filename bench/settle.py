"""Benchmark: month-end settlement through the real path vs one DuckDB query (a script,
not a test: it prints figures and asserts only that the money agrees).

    .venv/bin/python bench/settle.py [--sites 10] [--years 1] [--minutes 1]
        [--data DIR] [--store local|s3] [--workers N] [--partition-size 1] [--profile]

Sections, all in this one process (so ratios are fair):

1. **Data.** ``--sites`` behind-the-meter sites x ``--years`` (rounded to months) of
   ``--minutes`` meter data (6 channels: gas, solar, battery charge/discharge, load,
   export) and one energy_fixed PPA per site (escalator, TOU, NERC holidays),
   written through ``Tables.append`` / ``ContractStore.add`` into a local store (or
   SeaweedFS with ``--store s3``). ``--data DIR`` keeps it for the next run.
2. **meter2cash.** One ``settlement`` job per month (submit -> plan -> warm
   ``WorkerPool`` actors read their site-months from the store, VEE, settle, write
   detail -> reduce -> invoices published), the pool reused across months. *Cold* =
   pool start + the first month; *warm* = every month again on the warm pool
   (fresh catalog: new jobs, every partition recomputed, every invoice published:
   the warm-up's invoices are cleared first).
3. **DuckDB.** The same settlement as one SQL query over the same Parquet files
   (``bench/settle_duckdb.py`` says what it does and does not do); its totals are
   checked against the published invoice lines to the cent. Plus the raw pyarrow
   read rate of the same files: the physical limit.
4. **Scaling.** The same on a store with ~1/10 of the months: time ratio, and the
   workers' peak RSS (``VmHWM`` of the actor processes, reset before each timed
   run) next to the rows per partition.
5. **Small and warm.** 10 sites of 5-minute data: a warm month-end settlement end to
   end (submit -> published invoices); target < 2 s.
6. **Carbon.** The same months with carbon tracing off and on (same money).
7. **Summary.** Wall and CPU seconds, rows/s and rows per CPU-second of meter2cash,
   DuckDB and the read limit (pyarrow decoding the columns the settlement reads),
   against issue 18's targets (>= 1.5x DuckDB by wall time, >= 2x per CPU-second).

The settlement's hot path runs on compiled passes (``engine.kernels``, numba); the
header prints numba's cache folder and the passes' first-call cost (compiling, and
loading from the cache), and ``--profile`` the map's CPU per site-month on the
compiled passes and on the NumPy path they replace.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.timebase import next_period  # noqa: E402
from jobs.settle_inputs import VEE_COLUMNS_READ  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.invoices import InvoiceStore  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402

from settle_data import Portfolio, load_or_build  # noqa: E402
from settle_duckdb import partition_files, raw_read, run_duckdb  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- helpers
def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds / 1e6:7.2f} M rows/s" if seconds > 0 else "-"


def peak_rss(pids: list[int]) -> dict[int, tuple[int, int]]:
    """pid -> (VmHWM, VmRSS) in MiB, from /proc (the workers run on this machine)."""
    out = {}
    for pid in pids:
        fields = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    fields[key] = int(value.split()[0]) // 1024
        out[pid] = (fields["VmHWM"], fields["VmRSS"])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by processes ``pids`` (/proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])        # utime, stime (fields 14, 15)
    return total / tick


def reset_peak_rss(pids: list[int]) -> None:
    """Reset each process's VmHWM to its current RSS (Linux >= 4.0: clear_refs 5)."""
    for pid in pids:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")


@dataclass
class Stores:
    """Storage configs of the benchmark's stores (local directories or S3 prefixes)."""
    root: str
    s3: dict | None

    def config(self, name: str) -> StorageConfig:
        if self.s3 is None:
            return StorageConfig(uri=f"file://{self.root}/{name}")
        return StorageConfig(uri=f"{self.s3['uri'].rstrip('/')}/{name}", endpoint=self.s3["endpoint"],
                             access_key=self.s3["access_key"], secret_key=self.s3["secret_key"],
                             region="us-east-1")


class Runner:
    """Month-end settlement jobs through ``cluster.executor.run_job`` on one warm pool."""

    def __init__(self, cfg: StorageConfig, workers: int | None, partition_size: int, work: Path):
        from cluster.pool import WorkerPool
        from cluster.runtime import ClusterConfig, pool_size
        self.cfg, self.work, self.partition_size = cfg, work, partition_size
        self.cluster = ClusterConfig(workers=workers, namespace="m2c-bench")
        t0 = time.perf_counter()
        self.pool = WorkerPool(pool_size(self.cluster), cfg)
        self.pool.wait_ready()
        self.pool_start_s = time.perf_counter() - t0
        self.pids = self.pool.pids()
        self._catalogs = 0

    def catalog(self):
        from jobs.catalog import JobCatalog
        self._catalogs += 1
        path = self.work / f"catalog-{id(self)}-{self._catalogs}.db"
        c = JobCatalog(f"sqlite:///{path}")
        c.init_schema()
        return c

    def settle(self, periods: list[str], carbon: bool = True) -> list[tuple[str, float, dict]]:
        """One job per period, in order, in a fresh catalog; (period, seconds, result)."""
        from cluster.executor import RunOptions, Runtime, run_job
        from jobs.specs import parse_spec
        catalog = self.catalog()
        out = []
        for period in periods:
            t0 = time.perf_counter()
            record, _ = catalog.submit(parse_spec({"kind": "settlement", "period": period,
                                                   "carbon": carbon}), now_utc=NOW)
            result = run_job(record.id, record.spec, Runtime(self.cfg, catalog, self.cluster),
                             now_utc=NOW, pool=self.pool,
                             options=RunOptions(partition_size=self.partition_size))
            out.append((period, time.perf_counter() - t0, result))
        return out

    def kill(self) -> None:
        self.pool.kill()


def invoice_energy(cfg: StorageConfig, portfolio: Portfolio, periods: list[str]
                   ) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(site, period, bucket) -> (quantity Wh, amount cents) from the published invoices."""
    inv = InvoiceStore(ObjectStore.from_config(cfg))
    out = {}
    for sid in sorted(portfolio.sites):
        for period in periods:
            doc, _ = inv.get(f"PPA-{sid}", period)
            for ln in doc["lines"]:
                wh = int(Decimal(ln["quantity"]) * 10**6)
                out[(sid, period, ln["tou_bucket"])] = (wh, int(Decimal(ln["amount_usd"]) * 100))
    return out


def cents(picousd: int) -> int:
    """Half away from zero, once (engine.money's rule)."""
    q, r = divmod(abs(picousd), 10**10)
    c = q + (1 if 2 * r >= 10**10 else 0)
    return c if picousd >= 0 else -c


def build(stores: Stores, name: str, *, sites: int, first: str, months: int, minutes: int
          ) -> tuple[StorageConfig, Portfolio, list[str]]:
    """A store with ``months`` billing months from ``first`` plus the month before (the
    week of history VEE reads for the first month); returns the months to settle."""
    cfg = stores.config(name)
    t0 = time.perf_counter()
    portfolio, built = load_or_build(cfg, sites=sites, first_period=next_period(first, -1),
                                     months=months + 1, minutes=minutes)
    settled = portfolio.periods[1:]
    ensure_carbon_inputs(cfg, portfolio)
    rows = sum(portfolio.rows[p] for p in settled)
    what = "generated and stored" if built else f"reused ({clear_outputs(cfg)} outputs cleared)"
    print(f"  {name:6s} {sites} sites x {months} months x {minutes}-min x 6 channels = "
          f"{rows:,} rows to settle (+ {portfolio.periods[0]} as history), {what} in "
          f"{time.perf_counter() - t0:.1f} s")
    return cfg, portfolio, settled


def ensure_carbon_inputs(cfg: StorageConfig, portfolio: Portfolio) -> None:
    """Carbon inputs of the portfolio: a traced site registry and the hourly grid factors
    of its months (a store kept by an older run gets them now; nothing if present)."""
    from settle_data import grid_factor_rows, make_sites_with_zones
    from storage.ingest import ingest_grid_factors
    from storage.sites import load_sites, merge_sites
    from storage.tables import Tables
    store = ObjectStore.from_config(cfg)
    if any(s.balancing_authority is None for s in load_sites(store).values()):
        merge_sites(store, make_sites_with_zones({s: v.timezone for s, v in portfolio.sites.items()}))
    if Tables(store).version("grid_factors") is None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "grid_factors.csv"
            path.write_text("balancing_authority,interval_start,co2e_kg_per_mwh,cfe_share,"
                            "residual_co2e_kg_per_mwh\n"
                            + "\n".join(grid_factor_rows(portfolio.periods[0], len(portfolio.periods))) + "\n")
            ingest_grid_factors(store, [path], now_utc=NOW)


def clear_outputs(cfg: StorageConfig) -> int:
    """Delete the invoices, their issuers' number claims and the job runs a previous
    benchmark run left in a reused store, so every run publishes (rather than finding
    identical invoices) under the same invoice numbers. Returns the count."""
    store = ObjectStore.from_config(cfg)
    keys = store.list("invoices/") + store.list("issuers/") + store.list("runs/")
    for key in keys:
        store.delete(key)
    return len(keys)


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def profile_job(cfg: StorageConfig, portfolio: Portfolio, periods: list[str], top: int) -> None:
    """One month-end job in THIS process, without Ray (plan -> every partition ->
    reduce), after a warm-up month: CPU seconds per stage (insensitive to other load
    on the machine) and the cProfile hotspots of the timed month."""
    from jobs.parts import commit_part
    from jobs.specs import parse_spec
    from jobs.kinds import get_kind
    from jobs.tasks import JobContext, WorkerContext
    from storage.tables import Tables
    store = ObjectStore.from_config(cfg)
    kind = get_kind("settlement")
    worker_tables, cache = Tables(store), {}

    def job(period: str, job_id: str, prof: cProfile.Profile | None = None) -> dict[str, float]:
        spec = parse_spec({"kind": "settlement", "period": period})
        if prof:
            prof.enable()
        c0 = time.process_time()
        jctx = JobContext(store=store, job_id=job_id, now_utc=NOW)
        parts = kind.plan(spec, jctx)
        c1 = time.process_time()
        results = {}
        for part in parts:
            wctx = WorkerContext(store=store, job_id=job_id, attempt=1, tables=worker_tables,
                                 cache=cache)
            results[part.key] = kind.run_partition(part, wctx)
            commit_part(store, job_id, part.key, results[part.key], attempt=1,
                        objects=wctx.staged)
        c2 = time.process_time()
        kind.reduce(spec, results, jctx)
        c3 = time.process_time()
        if prof:
            prof.disable()
        return {"plan": c1 - c0, "map": c2 - c1, "reduce": c3 - c2}

    stamp = datetime.now(timezone.utc).strftime("%H%M%S")
    job(periods[0], f"profile-warmup-{stamp}")
    prof = cProfile.Profile()
    period = periods[-1]
    cpu = job(period, f"profile-{stamp}", prof)
    rows = portfolio.rows[period]
    total = sum(cpu.values())
    print(f"\n  in-process job {period} (no Ray), CPU seconds: plan {cpu['plan']:.3f}, map "
          f"{cpu['map']:.3f} ({cpu['map'] / len(portfolio.sites) * 1e3:.0f} ms per site-month), "
          f"reduce {cpu['reduce']:.3f}; {rows / total / 1e6:.2f} M rows per CPU-second")
    from engine import kernels
    per_site: dict[bool, float] = {}
    # the same month, no profiler, the two paths alternating 3 times, best of each (a
    # single pair is not enough: the first of two runs pays more, whichever it is)
    for i, compiled in enumerate((False, True) * 3):
        saved = kernels.MIN_SIZE
        kernels.MIN_SIZE = saved if compiled else 10**18
        try:
            cpu_map = job(period, f"profile-{'on' if compiled else 'off'}-{i}-{stamp}")["map"]
        finally:
            kernels.MIN_SIZE = saved
        per_site[compiled] = min(per_site.get(compiled, cpu_map), cpu_map)
    n = len(portfolio.sites)
    print(f"  map CPU per site-month, no profiler, best of 3 alternating: compiled passes "
          f"{per_site[True] / n * 1e3:.1f} ms, NumPy path {per_site[False] / n * 1e3:.1f} ms "
          f"(x{per_site[False] / per_site[True]:.2f})")
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("ncalls"))
    print("\n".join("    " + ln.replace(str(Path(__file__).resolve().parents[1]) + "/", "")
                     for ln in lines[start:] if ln.strip()))


def compiled_passes() -> str:
    """numba's version, where its machine code is cached, and the first-call CPU cost
    of the passes: compiled from nothing (a child process with an empty cache) and loaded
    from the cache (the cost a fresh worker pays, on its first partition)."""
    import subprocess

    import numba
    from engine.kernels import passes
    code = ("import time; c = time.process_time(); from engine import kernels; "
            "kernels.warm_up(); print(time.process_time() - c)")
    root = str(Path(__file__).resolve().parents[1])

    def first_call(env: dict) -> float:
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=root,
                             check=True, capture_output=True, text=True)
        return float(out.stdout.strip())
    with tempfile.TemporaryDirectory() as empty:
        cold = first_call({"NUMBA_CACHE_DIR": empty})
    first_call({})                                         # fills the cache if it was empty
    cached = first_call({})
    where = os.environ.get("NUMBA_CACHE_DIR") or str(Path(passes.__file__).parent / "__pycache__")
    return (f"numba {numba.__version__}, cache {where}; first call (numba's import included) "
            f"{cold:.2f} CPU-s compiling, {cached:.2f} CPU-s from the cache")


def start_seaweed() -> tuple[object, dict]:
    from tests.support.seaweed import start_seaweed as start
    server = start(bucket="m2c-bench")
    return server, {"uri": "s3://m2c-bench/settle", "endpoint": server.endpoint,
                    "access_key": server.access_key, "secret_key": server.secret_key}


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--years", type=float, default=1.0, help="rounded to whole months (>= 1)")
    ap.add_argument("--minutes", type=int, default=1, choices=(1, 5, 15, 30, 60))
    ap.add_argument("--first-period", default="2025-01", help="first billing month, YYYY-MM")
    ap.add_argument("--data", default=None, metavar="DIR",
                    help="keep the generated stores here and reuse them (default: a temp dir)")
    ap.add_argument("--store", choices=("local", "s3"), default="local",
                    help="s3: a SeaweedFS server started for the run (like the tests)")
    ap.add_argument("--workers", type=int, default=None, help="pool size (default: Ray's CPUs)")
    ap.add_argument("--partition-size", type=int, default=1, help="site-months per partition")
    ap.add_argument("--duckdb-threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=3, help="DuckDB / pyarrow: best of N")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--skip-small", action="store_true")
    ap.add_argument("--skip-carbon", action="store_true", help="skip [6], carbon on vs off")
    ap.add_argument("--carbon-repeat", type=int, default=2,
                    help="[6]: runs of each mode (alternating which goes first); the best counts")
    ap.add_argument("--profile", action="store_true", help="cProfile one site-month in-process")
    args = ap.parse_args()
    months = max(1, round(args.years * 12))
    periods = [next_period(args.first_period, k) for k in range(months)]

    tmp = None
    root = args.data
    if root is None:
        tmp = tempfile.mkdtemp(prefix="m2c-bench-settle-")
        root = tmp
    root_path = Path(root).resolve()
    root_path.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="m2c-bench-work-"))
    server, s3 = (start_seaweed() if args.store == "s3" else (None, None))
    stores = Stores(str(root_path), s3)
    try:
        return _run(args, stores, periods, work)
    finally:
        from cluster.runtime import shutdown
        shutdown()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def carbon_on_off(runner: Runner, cfg: StorageConfig, portfolio: Portfolio, months: list[str],
                  repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """[6]: every month settled with carbon off and on, alternating which goes first, on
    the warm pool; (best wall s, best CPU s) of each mode. The money of the two modes is
    checked equal, invoice by invoice (carbon never changes an amount)."""
    print(f"\n[6] carbon tracing on vs off: {len(months)} monthly jobs each, same warm pool, "
          f"{repeat} run(s) of each mode, alternating")
    best: dict[bool, tuple[float, float]] = {}
    money: dict[bool, dict] = {}
    for r in range(repeat):
        for carbon in ((False, True) if r % 2 == 0 else (True, False)):
            clear_outputs(cfg)
            cpu0, drv0 = cpu_seconds(runner.pids), time.process_time()
            t0 = time.perf_counter()
            runner.settle(months, carbon=carbon)
            wall = time.perf_counter() - t0
            cpu = cpu_seconds(runner.pids) - cpu0 + time.process_time() - drv0
            print(f"  carbon {'on ' if carbon else 'off'}: {wall:7.2f} s wall, {cpu:7.2f} CPU-s; {load_average()}")
            w, c = best.get(carbon, (float("inf"), float("inf")))
            best[carbon] = (min(w, wall), min(c, cpu))
            inv = InvoiceStore(ObjectStore.from_config(cfg))
            docs = {(cid, p): inv.get(cid, p)[0] for cid, p, _ in inv.list()}
            money[carbon] = {k: (d["total_usd"], d["lines"]) for k, d in docs.items()}
            if carbon:
                first = min(docs)
                e = docs[first]["esg"]
                print(f"    e.g. {first[0]} {first[1]}: scope 1 {e['scope1_t']['co2e']} t, scope 2 "
                      f"{e['scope2_t']['location_based_co2e']} t, "
                      f"{e['intensity_kg_co2e_per_mwh']['delivered']} kg/MWh delivered, CFE "
                      f"{e['cfe_pct']['hourly']} % (volumetric {e['cfe_pct']['volumetric']} %)")
    same = money[False] == money[True]
    print(f"  money with and without carbon: {'identical' if same else 'DIFFERENT'} "
          f"({len(money[True])} invoices)")
    return best[False], best[True]


def _rows(p: Portfolio, periods: list[str]) -> int:
    return sum(p.rows[m] for m in periods)


def _run(args, stores: Stores, periods: list[str], work: Path) -> int:
    import duckdb
    import numpy
    import pyarrow
    import ray
    print(f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"Python {platform.python_version()}, numpy {numpy.__version__}, pyarrow "
          f"{pyarrow.__version__}, duckdb {duckdb.__version__}, ray {ray.__version__}; "
          f"store: {args.store}; {load_average()}")

    kernel_info = compiled_passes()
    print(f"  compiled passes (engine.kernels): {kernel_info}")

    print("\n[1] data")
    main_cfg, main, months = build(stores, "main", sites=args.sites, first=periods[0],
                                   months=len(periods), minutes=args.minutes)
    n_main = _rows(main, months)
    tenth = max(1, len(months) // 10)
    if not args.skip_scaling:
        small_cfg, small, small_months = build(stores, "tenth", sites=args.sites, first=periods[0],
                                               months=tenth, minutes=args.minutes)
    if not args.skip_small:
        m5_cfg, m5, m5_months = build(stores, "m5", sites=10, first=periods[0], months=3, minutes=5)

    from cluster.runtime import ClusterConfig, ensure_ray
    t0 = time.perf_counter()
    ensure_ray(ClusterConfig(namespace="m2c-bench"))
    print(f"  ray start (embedded): {time.perf_counter() - t0:.1f} s, "
          f"{int(ray.cluster_resources().get('CPU', 0))} CPUs")

    # ---------------------------------------------------------------- [2] meter2cash
    print(f"\n[2] meter2cash month-end settlement: {len(months)} monthly jobs "
          f"({months[0]}..{months[-1]}), {args.sites} site-months each, "
          f"partition size {args.partition_size}")
    runner = Runner(main_cfg, args.workers, args.partition_size, work)
    (p0, cold_s, _), = runner.settle(months[:1])
    print(f"  cold: pool start ({len(runner.pids)} workers) {runner.pool_start_s:.2f} s + first "
          f"month {cold_s:.2f} s = {rate(main.rows[p0], runner.pool_start_s + cold_s)}")
    clear_outputs(main_cfg)              # every timed month publishes, the first one too
    reset_peak_rss(runner.pids)
    rss0 = peak_rss(runner.pids)
    cpu0, drv0 = cpu_seconds(runner.pids), time.process_time()
    t0 = time.perf_counter()
    warm = runner.settle(months)
    warm_s = time.perf_counter() - t0
    m2c_cpu = (cpu_seconds(runner.pids) - cpu0, time.process_time() - drv0)
    rss_main = peak_rss(runner.pids)
    for period, secs, result in warm:
        outcomes = sorted({i["outcome"] for i in result["invoices"]})
        print(f"  warm {period}: {secs:6.2f} s  {rate(main.rows[period], secs)}  "
              f"{len(result['invoices'])} invoices {'/'.join(outcomes)}")
    m2c_rate = n_main / warm_s
    print(f"  warm, all months: {n_main:,} meter rows in {warm_s:.2f} s = "
          f"{rate(n_main, warm_s)} (end to end: submit -> invoices published); {load_average()}")
    print(f"  CPU: workers {m2c_cpu[0]:.2f} s + driver {m2c_cpu[1]:.2f} s = "
          f"{n_main / sum(m2c_cpu) / 1e6:.2f} M rows per CPU-second (Ray's raylet/GCS not counted)")
    carbon = None if args.skip_carbon else carbon_on_off(runner, main_cfg, main, months, args.carbon_repeat)
    runner.kill()

    # ---------------------------------------------------------------- [3] DuckDB
    print(f"\n[3] the same settlement as one DuckDB query ({args.duckdb_threads} threads), "
          f"same Parquet files")
    files = partition_files(main_cfg, months)
    assert files.rows == n_main, (files.rows, n_main)
    best, best_cpu, totals = float("inf"), float("inf"), {}
    for _ in range(args.repeat):
        c0 = time.process_time()
        secs, totals = run_duckdb(files, main, months, threads=args.duckdb_threads,
                                  is_s3=args.store == "s3")
        best, best_cpu = min(best, secs), min(best_cpu, time.process_time() - c0)
    duck_rate = files.rows / best
    print(f"  DuckDB: {files.rows:,} rows ({len(files.paths)} files) in {best:.2f} s = "
          f"{rate(files.rows, best)} (best of {args.repeat}); {load_average()}")
    print(f"  CPU: {best_cpu:.2f} s = {files.rows / best_cpu / 1e6:.2f} M rows per CPU-second")
    ours = invoice_energy(main_cfg, main, months)
    mismatch = [(k, ours.get(k), (q, cents(a))) for k, (q, a) in sorted(totals.items())
                if ours.get(k) != (q, cents(a))]
    one_side = sorted(set(ours) ^ set(totals))
    total_cents = sum(c for _, c in ours.values())
    if mismatch or one_side:
        print(f"  MISMATCH: {len(mismatch)} lines differ, {len(one_side)} lines on one side only")
        for m in mismatch[:10]:
            print("   ", m)
    else:
        print(f"  check: all {len(ours)} invoice energy lines (site x month x TOU bucket) equal "
              f"DuckDB's to the Wh and the cent; total ${Decimal(total_cents) / 100:,}")
    read_limit = (float("inf"), float("inf"))
    for label, cols in (("all 9 columns", None),
                        (f"the {len(VEE_COLUMNS_READ)} columns the settlement reads",
                         VEE_COLUMNS_READ),
                        ("the 3 columns DuckDB reads", ["channel", "interval_start_utc",
                                                        "energy_wh"])):
        secs, cpu = float("inf"), float("inf")
        for _ in range(args.repeat):
            c0 = time.process_time()
            secs = min(secs, raw_read(files, cols)[0])
            cpu = min(cpu, time.process_time() - c0)
        if cols is VEE_COLUMNS_READ:
            read_limit = (secs, cpu)
        print(f"  pyarrow read of the same files, {label + ':':28s} {secs:6.2f} s = "
              f"{rate(files.rows, secs)}, {cpu:6.2f} CPU-s")
    m2c_cpu_s = sum(m2c_cpu)
    ratio_wall, ratio_cpu = m2c_rate / duck_rate, best_cpu / m2c_cpu_s
    print(f"  meter2cash / DuckDB throughput: {ratio_wall:.2f}x (target >= 1.5x); "
          f"per CPU-second: {ratio_cpu:.2f}x (target >= 2x)")

    if args.profile:
        profile_job(main_cfg, main, months, 25)

    # ---------------------------------------------------------------- [4] scaling
    rss_rows = [("main", main, months, rss0, rss_main)]
    if not args.skip_scaling and tenth == len(months):
        print(f"\n[4] scaling: skipped ({len(months)} month(s): a tenth of it is not smaller; "
              "use --years >= 0.2)")
    elif not args.skip_scaling:
        n_small = _rows(small, small_months)
        print(f"\n[4] scaling: {tenth} month(s) vs {len(months)} months, same sites, warm pools")
        r = Runner(small_cfg, args.workers, args.partition_size, work)
        r.settle(small_months[:1])                                # warm-up
        clear_outputs(small_cfg)
        reset_peak_rss(r.pids)
        s0 = peak_rss(r.pids)
        cpu0, drv0 = cpu_seconds(r.pids), time.process_time()
        t0 = time.perf_counter()
        r.settle(small_months)
        small_s = time.perf_counter() - t0
        small_cpu = cpu_seconds(r.pids) - cpu0 + time.process_time() - drv0
        rss_rows.insert(0, ("tenth", small, small_months, s0, peak_rss(r.pids)))
        r.kill()
        print(f"  {tenth:3d} months: {n_small:>13,} rows {small_s:7.2f} s  {rate(n_small, small_s)}"
              f"  {small_cpu:7.2f} CPU-s")
        print(f"  {len(months):3d} months: {n_main:>13,} rows {warm_s:7.2f} s  {rate(n_main, warm_s)}"
              f"  {sum(m2c_cpu):7.2f} CPU-s")
        print(f"  data x{n_main / n_small:.1f} -> time x{warm_s / small_s:.2f}, CPU "
              f"x{sum(m2c_cpu) / small_cpu:.2f} (linear: x{n_main / n_small:.1f}); {load_average()}")

    if not args.skip_small:
        print("\n[5] warm month-end settlement, 10 sites of 5-minute data, end to end "
              "(submit -> plan -> workers -> reduce -> invoices published)")
        r = Runner(m5_cfg, args.workers, args.partition_size, work)
        r.settle(m5_months[:1])                                  # warm-up
        clear_outputs(m5_cfg)
        reset_peak_rss(r.pids)
        s0 = peak_rss(r.pids)
        runs = r.settle(m5_months[1:])
        for period, secs, result in runs:
            print(f"  {period}: {secs:.2f} s for {len(result['invoices'])} invoices "
                  f"({m5.rows[period]:,} meter rows)  target < 2 s: "
                  f"{'met' if secs < 2 else 'MISSED'}")
        rss_rows.append(("m5", m5, m5_months, s0, peak_rss(r.pids)))
        r.kill()
        print(f"  {load_average()}")

    print("\n  worker peak memory (VmHWM of the actor processes, reset after the warm-up job):")
    print(f"  {'store':6s} {'interval':>8s} {'months':>6s} {'rows stored':>13s} "
          f"{'rows/site-month':>15s} {'RSS before':>10s} {'peak RSS':>9s} {'peak - before':>13s}")
    for name, p, settled, before, after in rss_rows:
        per = max(p.rows[m] for m in settled) // len(p.sites)
        b = max(v[1] for v in before.values())
        a = max(v[0] for v in after.values())
        print(f"  {name:6s} {p.minutes:>6d} m {len(settled):>6d} {p.total_rows:>13,} "
              f"{per:>15,} {b:>7d} MiB {a:>5d} MiB {a - b:>9d} MiB")
    if carbon is not None:
        off, on = carbon
        print(f"\n[6] carbon tracing, best of {args.carbon_repeat}: off {off[0]:.2f} s wall / {off[1]:.2f} CPU-s, "
              f"on {on[0]:.2f} s / {on[1]:.2f} CPU-s: overhead wall {100 * (on[0] / off[0] - 1):+.1f} %, "
              f"CPU {100 * (on[1] / off[1] - 1):+.1f} % (target <= +20 %)")
    print(f"\n[7] summary ({n_main:,} meter rows, {len(months)} month(s), one process; "
          f"{load_average()})")
    print(f"  {'':34s} {'wall s':>8s} {'CPU-s':>8s} {'M rows/s':>9s} {'M rows/CPU-s':>13s}")
    for label, wall, cpu in (("meter2cash (warm, end to end)", warm_s, m2c_cpu_s),
                             (f"DuckDB ({args.duckdb_threads} threads, best of {args.repeat})",
                              best, best_cpu),
                             (f"read limit ({len(VEE_COLUMNS_READ)} columns, pyarrow)", *read_limit)):
        print(f"  {label:34s} {wall:8.2f} {cpu:8.2f} {n_main / wall / 1e6:9.2f} "
              f"{n_main / cpu / 1e6:13.2f}")
    print(f"  meter2cash vs DuckDB: {ratio_wall:.2f}x wall (target >= 1.5x: "
          f"{'met' if ratio_wall >= 1.5 else 'not met'}), {ratio_cpu:.2f}x per CPU-second "
          f"(target >= 2x: {'met' if ratio_cpu >= 2 else 'not met'}); money check: "
          f"{'exact' if not (mismatch or one_side) else 'MISMATCH'}")
    print(f"  meter2cash runs at {100 * read_limit[0] / warm_s:.0f} % of the read limit's rows/s and "
          f"{100 * read_limit[1] / m2c_cpu_s:.0f} % of its rows per CPU-second")
    print(f"  compiled passes: {kernel_info}")
    print(json.dumps({"meter2cash_rows_per_s": round(m2c_rate), "duckdb_rows_per_s": round(duck_rate),
                      "ratio": round(m2c_rate / duck_rate, 3), "rows": n_main,
                      "meter2cash_rows_per_cpu_s": round(n_main / sum(m2c_cpu)),
                      "duckdb_rows_per_cpu_s": round(files.rows / best_cpu),
                      "meter2cash_s": round(warm_s, 3), "meter2cash_cpu_s": round(m2c_cpu_s, 3),
                      "duckdb_s": round(best, 3), "duckdb_cpu_s": round(best_cpu, 3),
                      "ratio_cpu": round(ratio_cpu, 3),
                      "read_limit_rows_per_s": round(n_main / read_limit[0]),
                      "read_limit_rows_per_cpu_s": round(n_main / read_limit[1]),
                      "money_exact": not (mismatch or one_side),
                      **({} if carbon is None else {
                          "carbon_off_s": round(carbon[0][0], 3), "carbon_on_s": round(carbon[1][0], 3),
                          "carbon_off_cpu_s": round(carbon[0][1], 3), "carbon_on_cpu_s": round(carbon[1][1], 3),
                          "carbon_overhead_wall_pct": round(100 * (carbon[1][0] / carbon[0][0] - 1), 1),
                          "carbon_overhead_cpu_pct": round(100 * (carbon[1][1] / carbon[0][1] - 1), 1)})}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
