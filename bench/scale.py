"""Benchmark: month-end settlement over 1, 2 and 4 Ray nodes simulated on this machine,
and the per-component figures ``docs/scaling.md`` extrapolates from (a script, not a
test: it prints figures and asserts only that every run bills the same money).

    .venv/bin/python bench/scale.py [--sites 8] [--months 2] [--minutes 1]
        [--nodes 1,2,4] [--cpus-per-node 1] [--data DIR]
        [--log-commits 10,100,400] [--log-files-per-commit 250]
        [--skip-nodes] [--skip-extras]

1. **Data** (``bench/settle_data.py``): ``--sites`` sites x ``--months`` billing
   months (plus the month before, for VEE's history) of ``--minutes`` data, 6
   channels, one PPA per site, in a local store (``--data DIR`` keeps it).
2. **Nodes.** For each N of ``--nodes``: a ``ray.cluster_utils.Cluster`` whose head
   offers no CPU (this process is its driver: it plans and reduces, as the API's job
   runner does on a CPU-0 head) and N worker nodes of ``--cpus-per-node`` CPUs (each
   its own raylet, object store and worker processes; they share this machine's cores
   and disk). One warm worker actor per CPU (the script prints where Ray placed
   them), a warm-up month, then one ``settlement`` job per month through
   ``cluster.executor.run_job``. Printed per N: wall time, rows/s, **rows/s per
   node**, worker CPU-seconds (``/proc``), driver CPU-seconds, rows per worker
   CPU-second. The published invoices (run id aside) must be the same for every N.
   With N x CPUs per node above this machine's cores, the nodes share cores: wall time
   per node then falls while CPU-seconds per row stay flat -- the figure to carry to
   real nodes is rows per worker CPU-second (x the cores of a node).
3. **What grows with scale**, each measured alone:

   a. the Delta log: a fresh ``Tables`` opening the meter table (log replay from the
      last checkpoint) and listing its files, after K commits of F files each (the
      tables checkpoint every 50 commits), and the append time as the log grows;
   b. the driver: plan and reduce CPU per contract of one month-end, in process;
   c. the job catalog (SQLite): writes per second (progress updates, whole jobs);
   d. object-store operations and meter files read per site-month of one
      month-end, counted in process by kind.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.timebase import next_period  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402

from settle import clear_outputs, cpu_seconds, load_average, rate  # noqa: E402
from settle_data import Portfolio, load_or_build  # noqa: E402

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
NODE_OBJECT_STORE = 128 * 1024**2


# --------------------------------------------------------------------------- [2] nodes
def invoice_digest(cfg: StorageConfig) -> dict[str, str]:
    """(contract/period/version/part) -> sha256 of the part, the run id blanked."""
    store = ObjectStore.from_config(cfg)
    out = {}
    for key in store.list("invoices/"):
        name = key.rsplit("/", 1)[1]
        if name == "invoice.json":
            doc = json.loads(store.get(key))
            doc["lineage"]["run_id"] = None
            body = json.dumps(doc, sort_keys=True).encode()
        elif name == "detail.parquet":
            body = store.get(key)
        else:                    # html, manifest, marker: they carry the run id or its hash
            continue
        out[key] = hashlib.sha256(body).hexdigest()
    return out


def run_on_nodes(cfg: StorageConfig, portfolio: Portfolio, months: list[str], nodes: int,
                 cpus: int, work: Path) -> dict:
    """Warm month-end jobs on a simulated cluster of ``nodes`` x ``cpus`` CPUs."""
    import ray
    from ray._common.utils import get_ray_address_file
    from ray.cluster_utils import Cluster

    from cluster.executor import Runtime, run_job
    from cluster.pool import WorkerPool
    from cluster.runtime import ClusterConfig, ensure_ray, shutdown
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec

    # Cluster writes its address to /tmp/ray/ray_current_cluster (where a bare
    # ray.init() looks) and deletes the file on shutdown: put back whatever another
    # `ray start` on this machine had written there
    address_file = Path(get_ray_address_file(None))
    previous = address_file.read_text() if address_file.exists() else None
    t0 = time.perf_counter()
    sim = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": NODE_OBJECT_STORE, "include_dashboard": False})
    for _ in range(nodes):
        sim.add_node(num_cpus=cpus, object_store_memory=NODE_OBJECT_STORE)
    config = ClusterConfig(address=sim.address, namespace="m2c-bench-scale")
    try:
        ensure_ray(config)
        sim.wait_for_nodes()
        start_s = time.perf_counter() - t0
        pool = WorkerPool(nodes * cpus, cfg)
        pool.wait_ready()
        pids = pool.pids()
        per_node = Counter(info["node_id"] for info in pool.info.values())
        def month_end(period: str, phase: str) -> dict:
            # one catalog per phase: a month-end runs once per period in a catalog
            catalog = JobCatalog(f"sqlite:///{work / f'catalog-{nodes}-{phase}.db'}")
            catalog.init_schema()
            record, _ = catalog.submit(parse_spec({"kind": "settlement", "period": period}),
                                       now_utc=NOW)
            return run_job(record.id, record.spec, Runtime(cfg, catalog, config), now_utc=NOW,
                           pool=pool)

        month_end(months[0], "warm-up")               # caches, imports, snapshots
        clear_outputs(cfg)
        cpu0, drv0 = cpu_seconds(pids), time.process_time()
        t1 = time.perf_counter()
        for period in months:
            month_end(period, "timed")
        wall = time.perf_counter() - t1
        worker_cpu, driver_cpu = cpu_seconds(pids) - cpu0, time.process_time() - drv0
        pool.kill()
        digest = invoice_digest(cfg)
        clear_outputs(cfg)
        return {"nodes": nodes, "cpus": nodes * cpus, "start_s": start_s, "wall_s": wall,
                "worker_cpu_s": worker_cpu, "driver_cpu_s": driver_cpu,
                "placement": sorted(per_node.values(), reverse=True),
                "rows": sum(portfolio.rows[m] for m in months), "digest": digest,
                "cluster_cpus": int(ray.cluster_resources().get("CPU", 0))}
    finally:
        shutdown()
        sim.shutdown()
        if previous is not None:
            address_file.write_text(previous)


def section_nodes(args, cfg: StorageConfig, portfolio: Portfolio, months: list[str],
                  work: Path) -> list[dict]:
    cores = os.cpu_count() or 1
    print(f"\n[2] month-end settlement on simulated nodes of {args.cpus_per_node} CPU(s) each "
          f"(head: 0 CPUs, the driver); {len(months)} monthly jobs x {len(portfolio.sites)} "
          f"site-months; this machine has {cores} cores")
    runs = []
    for n in args.nodes:
        r = run_on_nodes(cfg, portfolio, months, n, args.cpus_per_node, work)
        runs.append(r)
        rows, wall = r["rows"], r["wall_s"]
        over = r["cpus"] / cores
        print(f"  {n} node(s), {r['cpus']} workers (placed {r['placement']} per node; cluster up "
              f"in {r['start_s']:.1f} s): {rows:,} rows in {wall:.2f} s = {rate(rows, wall)} = "
              f"{rate(rows / n, wall)} per node")
        print(f"      CPU: workers {r['worker_cpu_s']:.2f} s = {rows / r['worker_cpu_s'] / 1e6:.2f} M "
              f"rows per worker CPU-s, driver {r['driver_cpu_s']:.2f} s"
              f"{f'; {over:.1f} workers per core: wall is core-bound' if over > 1 else ''}; "
              f"{load_average()}")
    base = runs[0]
    for r in runs[1:]:
        same = r["digest"] == base["digest"]
        print(f"  invoices with {r['nodes']} node(s) vs {base['nodes']}: "
              f"{'identical' if same else 'DIFFERENT'} ({len(r['digest'])} parts)")
        assert same, "the settlement must publish the same invoices whatever the nodes"
    if base["digest"]:
        print(f"  scaling {base['nodes']} -> {runs[-1]['nodes']} nodes: wall x"
              f"{runs[-1]['wall_s'] / base['wall_s']:.2f}, worker CPU x"
              f"{runs[-1]['worker_cpu_s'] / base['worker_cpu_s']:.2f} (same rows)")
    return runs


# --------------------------------------------------------------------------- [3] extras
def _files_commit(files: int, commit: int):
    """One meter row for each of ``files`` sites (so ``files`` new data files, one per
    site-month partition, like one day's ingest of a fleet), at minute ``commit``."""
    import numpy as np
    import pyarrow as pa

    from engine.schema import METER_SCHEMA
    start = int(datetime(2025, 1, 10, tzinfo=timezone.utc).timestamp() * 1e6) + commit * 60_000_000
    n = files
    ts = METER_SCHEMA.field("interval_start_utc").type
    return pa.table({
        "site_id": [f"S{j:05d}" for j in range(n)], "channel": ["gt1"] * n,
        "interval_start_utc": pa.array(np.full(n, start, dtype=np.int64), pa.int64()).cast(ts),
        "interval_minutes": pa.array(np.ones(n, dtype=np.int16)),
        "energy_wh": pa.array(np.arange(n, dtype=np.int64) + commit), "quality": ["A"] * n,
        "method": pa.nulls(n, pa.string()), "source_file": [f"ingest-{commit}.csv"] * n,
        "source_sha256": [f"{commit:064x}"] * n,
        "ingested_at_utc": pa.array(np.full(n, start, dtype=np.int64), pa.int64()).cast(
            METER_SCHEMA.field("ingested_at_utc").type),
        "month": ["2025-01"] * n}, schema=METER_SCHEMA)


def delta_log_growth(commits: list[int], files_per_commit: int, work: Path) -> list[dict]:
    """Open time of the meter table after K commits of ``files_per_commit`` files."""
    from storage.tables import Tables
    cfg = StorageConfig(uri=f"file://{work / 'log-growth'}")
    store = ObjectStore.from_config(cfg)
    writer = Tables(store)
    log_dir = work / "log-growth" / "tables" / "meter" / "_delta_log"
    out, done = [], 0
    for k in sorted(commits):
        t0 = time.perf_counter()
        for i in range(done, k):
            writer.append("meter", _files_commit(files_per_commit, i))
        append_ms = (time.perf_counter() - t0) / max(1, k - done) * 1e3
        done = k
        opens, lists, files = [], [], 0
        for _ in range(3):
            fresh = Tables(store)                           # a new worker's first read
            t0 = time.perf_counter()
            version = fresh.version("meter")
            t1 = time.perf_counter()
            files = len(fresh._snapshot("meter", version).files)
            opens.append(t1 - t0)
            lists.append(time.perf_counter() - t1)
        checkpoints = sorted(log_dir.glob("*.checkpoint.parquet"))
        out.append({"commits": k, "files": files, "open_ms": min(opens) * 1e3,
                    "file_list_ms": min(lists) * 1e3, "append_ms": append_ms,
                    "checkpoint_bytes": checkpoints[-1].stat().st_size if checkpoints else 0,
                    "log_bytes": sum(p.stat().st_size for p in log_dir.iterdir() if p.is_file())})
    return out


def in_process_month(cfg: StorageConfig, period: str) -> dict:
    """One month-end in this process (plan -> every partition -> reduce), counting
    object-store calls and meter files read by stage; CPU seconds per stage."""
    from jobs.kinds import get_kind
    from jobs.parts import commit_part
    from jobs.specs import parse_spec
    from jobs.tasks import JobContext, WorkerContext
    from storage.tables import Tables, readers

    calls: Counter[tuple[str, str]] = Counter()
    stage = ["plan"]
    originals = {}
    for name in ("get", "get_or_none", "put", "put_many", "put_if_absent", "put_if_absent_many",
                 "list", "exists", "delete"):
        fn = getattr(ObjectStore, name)
        originals[name] = fn

        def counted(self, *a, _fn=fn, _name=name, **kw):
            n = len(a[0]) if _name.endswith("_many") and a else 1   # objects in a batch
            calls[(stage[0], _name)] += n
            if _name.startswith("put"):
                sizes = a[0].values() if _name.endswith("_many") else [a[1]]
                calls[(stage[0], "bytes put")] += sum(len(b) for b in sizes)
            return _fn(self, *a, **kw)
        setattr(ObjectStore, name, counted)
    read_parts, read_rows = readers.read_parts, readers.read_rows

    def counted_parts(delta_log, name, *a, **kw):
        parts = read_parts(delta_log, name, *a, **kw)
        calls[(stage[0], f"{name} files read")] += sum(n for _, n in parts)
        return parts

    def counted_rows(delta_log, name, *a, **kw):
        rows, files = read_rows(delta_log, name, *a, **kw)
        calls[(stage[0], f"{name} files read")] += files
        return rows, files
    readers.read_parts, readers.read_rows = counted_parts, counted_rows
    try:
        store = ObjectStore.from_config(cfg)
        kind = get_kind("settlement")
        spec = parse_spec({"kind": "settlement", "period": period})
        job_id = f"scale-{datetime.now(timezone.utc):%H%M%S%f}"
        jctx = JobContext(store=store, job_id=job_id, now_utc=NOW)
        c0 = time.process_time()
        parts = kind.plan(spec, jctx)
        c1 = time.process_time()
        stage[0] = "map"
        results, tables, cache = {}, Tables(store), {}
        for part in parts:
            wctx = WorkerContext(store=store, job_id=job_id, attempt=1, tables=tables, cache=cache)
            results[part.key] = kind.run_partition(part, wctx)
            commit_part(store, job_id, part.key, results[part.key], attempt=1, objects=wctx.staged)
        c2 = time.process_time()
        stage[0] = "reduce"
        result = kind.reduce(spec, results, jctx)
        c3 = time.process_time()
    finally:
        for name, fn in originals.items():
            setattr(ObjectStore, name, fn)
        readers.read_parts, readers.read_rows = read_parts, read_rows
    return {"partitions": len(parts), "contracts": len(result["invoices"]),
            "plan_cpu_s": c1 - c0, "map_cpu_s": c2 - c1, "reduce_cpu_s": c3 - c2,
            "calls": calls}


def catalog_writes(work: Path, jobs: int = 200, updates: int = 2000) -> dict:
    """SQLite catalog: progress updates per second, and whole job lifecycles per second
    (submit, running, 10 progress updates, succeeded = 13 writes)."""
    from jobs.catalog import JobCatalog
    from jobs.probe import ProbeSpec
    catalog = JobCatalog(f"sqlite:///{work / 'catalog-writes.db'}")
    catalog.init_schema()
    rec, _ = catalog.submit(ProbeSpec(items=1, seed=-1), now_utc=NOW)
    catalog.mark_running(rec.id, attempt=1, runner="bench", now_utc=NOW)
    t0 = time.perf_counter()
    for i in range(updates):
        catalog.set_progress(rec.id, i, updates, NOW)
    progress_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for j in range(jobs):
        r, _ = catalog.submit(ProbeSpec(items=1, seed=j), now_utc=NOW)
        catalog.mark_running(r.id, attempt=1, runner="bench", now_utc=NOW)
        for i in range(10):
            catalog.set_progress(r.id, i, 10, NOW)
        catalog.mark_succeeded(r.id, {"ok": True}, NOW)
    jobs_s = time.perf_counter() - t0
    return {"progress_per_s": updates / progress_s, "jobs_per_s": jobs / jobs_s,
            "writes_per_s": jobs * 13 / jobs_s}


def section_extras(args, cfg: StorageConfig, portfolio: Portfolio, months: list[str],
                   work: Path) -> dict:
    print(f"\n[3] what grows with scale; {load_average()}")
    out: dict = {}
    print(f"  a. Delta log of the meter table after K commits of {args.log_files_per_commit} files "
          "(one day's ingest of a fleet; a checkpoint every 50 commits):")
    out["delta_log"] = delta_log_growth(args.log_commits, args.log_files_per_commit, work)
    for r in out["delta_log"]:
        print(f"     {r['commits']:6,} commits, {r['files']:8,} files (last checkpoint "
              f"{r['checkpoint_bytes'] / 1e6:6.2f} MB, log {r['log_bytes'] / 1e6:7.2f} MB): open "
              f"{r['open_ms']:7.1f} ms + file list {r['file_list_ms']:7.1f} ms; "
              f"append {r['append_ms']:5.1f} ms each")
    first, last = out["delta_log"][0], out["delta_log"][-1]
    if last["files"] > first["files"]:
        def total(r: dict) -> float:
            return r["open_ms"] + r["file_list_ms"]
        slope = (total(last) - total(first)) / (last["files"] - first["files"])
        print(f"     open + file list grows {slope * 1e3:.2f} us per data file in the snapshot")
        out["open_us_per_file"] = slope * 1e3
        with_ckpt = [r for r in out["delta_log"] if r["checkpoint_bytes"]]
        if len(with_ckpt) >= 2 and with_ckpt[-1]["files"] > with_ckpt[0]["files"]:
            a, b = with_ckpt[0], with_ckpt[-1]
            ckpt = (b["checkpoint_bytes"] - a["checkpoint_bytes"]) / (b["files"] - a["files"])
            print(f"     a checkpoint grows {ckpt:.0f} bytes per data file")
            out["checkpoint_bytes_per_file"] = ckpt

    print(f"  b+d. one month-end ({months[-1]}, {len(portfolio.sites)} site-months) in this "
          "process, no Ray:")
    month = in_process_month(cfg, months[-1])
    clear_outputs(cfg)
    out["month"] = {k: v for k, v in month.items() if k != "calls"}
    n_parts, n_contracts = month["partitions"], month["contracts"]
    rows = portfolio.rows[months[-1]]
    print(f"     CPU: plan {month['plan_cpu_s'] * 1e3:.0f} ms ({month['plan_cpu_s'] / n_contracts * 1e3:.1f} "
          f"ms per contract), map {month['map_cpu_s']:.2f} s ({month['map_cpu_s'] / n_parts * 1e3:.0f} ms "
          f"per site-month, {rows / month['map_cpu_s'] / 1e6:.2f} M rows/CPU-s), reduce "
          f"{month['reduce_cpu_s'] * 1e3:.0f} ms ({month['reduce_cpu_s'] / n_contracts * 1e3:.1f} ms "
          "per contract)")
    by_stage: dict[str, Counter] = {}
    for (stage, call), n in month["calls"].items():
        by_stage.setdefault(stage, Counter())[call] = n
    out["calls_per_site_month"] = {}
    for stage in ("plan", "map", "reduce"):
        counts = by_stage.get(stage, Counter())
        per = {call: n / n_parts for call, n in sorted(counts.items())}
        out["calls_per_site_month"][stage] = per
        print(f"     {stage:6s} per site-month: " + (", ".join(
            f"{call} {v / 1e3:,.0f} kB" if call == "bytes put" else f"{call} {v:.2f}"
            for call, v in per.items()) or "none"))

    print("  c. job catalog, SQLite (WAL) on this disk:")
    out["catalog"] = catalog_writes(work)
    c = out["catalog"]
    print(f"     {c['progress_per_s']:,.0f} progress updates/s; {c['jobs_per_s']:,.0f} whole jobs/s "
          f"(13 writes each: {c['writes_per_s']:,.0f} writes/s)")
    return out


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--months", type=int, default=2, help="billing months (+1 month of history)")
    ap.add_argument("--minutes", type=int, default=1, choices=(1, 5, 15, 30, 60))
    ap.add_argument("--first-period", default="2025-01")
    ap.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--cpus-per-node", type=int, default=1)
    ap.add_argument("--data", default=None, metavar="DIR", help="keep the store here and reuse it")
    ap.add_argument("--log-commits", type=lambda s: [int(x) for x in s.split(",")],
                    default=[10, 100, 400], help="Delta log sizes to open (commits)")
    ap.add_argument("--log-files-per-commit", type=int, default=250,
                    help="data files each of those commits adds")
    ap.add_argument("--skip-nodes", action="store_true")
    ap.add_argument("--skip-extras", action="store_true")
    args = ap.parse_args()

    import numpy
    import pyarrow
    import ray
    print(f"machine: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; Python "
          f"{platform.python_version()}, numpy {numpy.__version__}, pyarrow {pyarrow.__version__}, "
          f"ray {ray.__version__}; {load_average()}")
    tmp = tempfile.mkdtemp(prefix="m2c-bench-scale-")
    root = Path(args.data).resolve() if args.data else Path(tmp)
    work = Path(tmp) / "work"
    work.mkdir(parents=True, exist_ok=True)
    try:
        cfg = StorageConfig(uri=f"file://{root / 'store'}")
        t0 = time.perf_counter()
        portfolio, built = load_or_build(cfg, sites=args.sites,
                                         first_period=next_period(args.first_period, -1),
                                         months=args.months + 1, minutes=args.minutes)
        months = portfolio.periods[1:]
        if not built:
            clear_outputs(cfg)
        rows = sum(portfolio.rows[m] for m in months)
        print(f"\n[1] data: {args.sites} sites x {args.months} months x {args.minutes}-min x 6 "
              f"channels = {rows:,} rows to settle ({'generated' if built else 'reused'} in "
              f"{time.perf_counter() - t0:.1f} s)")
        report: dict = {"rows": rows}
        if not args.skip_nodes:
            runs = section_nodes(args, cfg, portfolio, months, work)
            report["nodes"] = [{k: v for k, v in r.items() if k != "digest"} for r in runs]
        if not args.skip_extras:
            extras = section_extras(args, cfg, portfolio, months, work)
            report["extras"] = {k: v for k, v in extras.items()}
        print(json.dumps(report, default=str))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
