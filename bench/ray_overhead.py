"""Cluster overhead of meter2cash jobs on this machine: prints figures, asserts nothing.

    .venv/bin/python bench/ray_overhead.py [--items 400] [--workers N]

Measures, with the synthetic ``probe`` job kind (no settlement data needed):

* embedded Ray start-up;
* warm-pool start-up (actors scheduled and ``__init__`` done);
* per-partition overhead on a warm pool: empty partitions through the full path
  (dispatch, worker, result + commit marker in the object store, progress, reduce);
* the same with partition sizes 1 / 10 / 50 items (fewer, larger partitions);
* hand-off latency of a detached JobRunner: submit -> catalog says running -> done.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    from cluster import job_runner
    from cluster.executor import Runtime, run_job
    from cluster.pool import WorkerPool
    from cluster.runtime import ClusterConfig, ensure_ray, pool_size, shutdown
    from jobs.catalog import JobCatalog
    from jobs.probe import ProbeSpec
    from storage.config import StorageConfig

    work = tempfile.mkdtemp(prefix="m2c-bench-")
    storage = StorageConfig(uri=f"file://{work}/store")
    catalog = JobCatalog(f"sqlite:///{work}/m2c.db")
    catalog.init_schema()
    now = datetime.now(timezone.utc)

    t = time.perf_counter()
    config = ClusterConfig(workers=args.workers, namespace="m2c-bench")
    ensure_ray(config)
    print(f"ray start (embedded)           {time.perf_counter() - t:7.2f} s")
    size = pool_size(config)

    t = time.perf_counter()
    pool = WorkerPool(size, storage)
    pool.wait_ready()
    print(f"warm pool start ({size} workers)    {time.perf_counter() - t:7.2f} s")

    def job(items: int, partition_size: int) -> float:
        spec = ProbeSpec(items=items, seed=partition_size)
        rec, _ = catalog.submit(spec, now_utc=now)
        t0 = time.perf_counter()
        run_job(rec.id, spec, Runtime(storage, catalog, replace(config, partition_size=partition_size)),
                now_utc=now, pool=pool)
        return time.perf_counter() - t0

    job(20, 1)                                     # warm imports in the workers
    for psize in (1, 10, 50):
        secs = job(args.items, psize)
        parts = -(-args.items // psize)
        print(f"{args.items} items, partition size {psize:3d} ({parts:4d} partitions): "
              f"{secs:6.2f} s  {1000 * secs / parts:6.2f} ms/partition  "
              f"{args.items / secs:8.0f} items/s")
    pool.kill()

    spec = ProbeSpec(items=size)
    rec, _ = catalog.submit(spec, now_utc=now)
    t = time.perf_counter()
    job_runner.submit_detached(rec.id, storage_config=storage, db_url=catalog.db_url,
                               cluster_config=config)
    handed = time.perf_counter() - t
    while catalog.get(rec.id).state == "queued":
        time.sleep(0.005)
    running = time.perf_counter() - t
    while not catalog.get(rec.id).is_terminal:
        time.sleep(0.01)
    print(f"detached runner: hand-off {handed:.2f} s, running after {running:.2f} s, "
          f"{size}-partition job done after {time.perf_counter() - t:.2f} s "
          f"({catalog.get(rec.id).state})")
    shutdown()


if __name__ == "__main__":
    main()
