"""ISO market benchmarks (``python bench/market.py``; the defaults are issue 17's targets).

Prints, in one process:

1. shadow settlement of one ERCOT resource for a year (35,040 fifteen-minute RTEIAMT
   intervals from 105,120 five-minute SCED prices and meter readings, 8,760 day-ahead
   hours; DAESAMT + RTEIAMT + BPDAMT), pure engine, inputs in memory. Target < 5 s;
2. reconciliation of a statement of 1,000,000 lines against its shadow (one vectorised
   merge: keys coded through a sorted dictionary, one int64 sort; two planted
   mismatches found), and the deltas of a re-settled version of it (every line
   re-priced). The statement is built column-wise (no Python object per line, here or
   in ``engine.market.reconcile``). Target < 5 s;
3. the bid-to-bill identity of that year (``engine.market.bidtobill``: 35,040 intervals,
   physical at RT + position spread against the shadow lines, exact);
4. the shadow year of N resources (default 100) on Ray, one task per resource (inputs
   generated in the task from its seed, so nothing large crosses the object store),
   against N times the same work (inputs generated + settled) in this process: the
   engine's scaling figure;
5. the ``shadow_settlement`` job kind itself on the Ray pool (``cluster.executor``):
   N resources x ``--job-days`` operating days stored as the tables it reads (meter,
   prices, awards ingested through the real readers into a local store), with one
   partition per resource-day (the kind's floor ``DAYS_PER_PARTITION`` lowered to 1
   in this process, where the job is planned) and as planned by default (a resource's
   week per partition, read as one range), against N times one resource's days
   shadow-settled in this process from the same store.

``--resources 0`` skips (4) and (5), ``--job-days 0`` skips (5); smaller ``--lines`` /
``--days`` check that it runs. Timings are what this machine measured now; the
integrator measures on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.market.bidtobill import resource_chain  # noqa: E402
from engine.market.inputs import MarketInputs, PriceCurve  # noqa: E402
from engine.market.reconcile import reconcile, summary, version_deltas  # noqa: E402
from engine.market.resources import MarketResource  # noqa: E402
from engine.market.series import Series  # noqa: E402
from engine.market.shadow import day_bounds_us, interval_counts, shadow_settle  # noqa: E402
from engine.timebase import US_PER_MINUTE  # noqa: E402

FIRST = date(2026, 1, 1)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def year_inputs(seed: int, days: int) -> MarketInputs:
    """``days`` operating days of one ERCOT resource from ``FIRST``: 5-minute meter,
    SCED prices and base points, hourly DA prices and a sale every hour (1-59 MW, so
    the year has 8,760 DAESAMT lines)."""
    rng = np.random.default_rng(seed)
    s, e = day_bounds_us("ERCOT", FIRST, FIRST + timedelta(days=days - 1))
    fives = np.arange(s, e, 5 * US_PER_MINUTE, dtype=np.int64)
    hours = fives[::12]
    meter = rng.integers(0, 60_000_000 // 12, fives.size)
    r = MarketResource(f"R{seed}", "ERCOT", "S", "RN", inject=("exp",))
    return MarketInputs(
        r, {"exp": Series(fives, np.full(fives.size, 5), meter)},
        {"da_sale": Series(hours, np.full(hours.size, 60), rng.integers(1, 60, hours.size) * 1_000_000),
         "base_point": Series(fives, np.full(fives.size, 5),
                              meter * 12 + rng.integers(-6_000_000, 6_000_000, fives.size))},
        {("DA", "RN"): PriceCurve(Series(hours, np.full(hours.size, 60),
                                         rng.integers(0, 90_000_000, hours.size))),
         ("RT", "RN"): PriceCurve(Series(fives, np.full(fives.size, 5),
                                         rng.integers(-20_000_000, 300_000_000, fives.size)))})


def statement_of(lines: pa.Table, n: int) -> tuple[pa.Table, pa.Table]:
    """A statement of ``n`` lines that states ``lines`` again for as many resources as it
    takes (``R0``, ``R1``, ...), and the shadow lines it answers: built column-wise."""
    reps = -(-n // lines.num_rows)
    rid = pa.array([f"R{k}" for k in range(reps)]).take(
        pa.array(np.repeat(np.arange(reps, dtype=np.int32), lines.num_rows)))
    idx = pa.array(np.tile(np.arange(lines.num_rows, dtype=np.int64), reps))
    t = lines.take(idx)
    t = t.set_column(t.schema.get_field_index("resource_id"), "resource_id", rid).slice(0, n)
    t = t.combine_chunks()
    st = pa.table({"charge_type": t.column("charge_type"), "resource_id": t.column("resource_id"),
                   "interval_start_utc": t.column("interval_start_utc"),
                   "interval_minutes": t.column("interval_minutes"),
                   "energy_wh": pc.divide(t.column("quantity_wh12"), 12),
                   "price_microusd_per_mwh": t.column("price_microusd_per_mwh"),
                   "amount_microusd": pc.multiply(t.column("amount_cents"), 10_000)})
    return st, t


def _z(us: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(us.astype("datetime64[us]"), unit="s").astype(object) + "Z"


def stored_portfolio(root: Path, n: int, days: int):
    """``n`` ERCOT resources (one site each, ``B<k>_CC1`` at node ``B<k>_RN``) over
    ``days`` operating days from ``FIRST``, ingested through the real readers into a
    local store under ``root``: 5-minute export meter and RT prices, hourly DA prices
    and sales. Returns the storage config."""
    from engine.sites import parse_sites
    from storage.config import StorageConfig
    from storage.ingest import ingest_awards, ingest_meter, ingest_prices
    from storage.objectstore import ObjectStore
    from storage.sites import save_sites
    cfg = StorageConfig(uri=f"file://{root / 'store'}")
    store = ObjectStore.from_config(cfg)
    sites = parse_sites({"sites": [
        {"site_id": f"TX-B{k}", "timezone": "America/Chicago",
         "market": {"iso": "ERCOT", "node": f"B{k}_RN",
                    "resources": {f"B{k}_CC1": {"settlement_point": f"B{k}_RN", "qse": "QBENCH"}}},
         "channels": {"exp": {"kind": "grid_export"}}} for k in range(n)]})
    save_sites(store, sites)
    s, e = day_bounds_us("ERCOT", FIRST, FIRST + timedelta(days=days - 1))
    fives = _z(np.arange(s, e, 5 * US_PER_MINUTE, dtype=np.int64))
    hours = _z(np.arange(s, e, 60 * US_PER_MINUTE, dtype=np.int64))
    rng = np.random.default_rng(5)
    meter = ["site_id,channel,interval_start,interval_minutes,kwh,quality"]
    prices = ["iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh"]
    awards = ["iso,resource_id,product,interval_start,interval_minutes,mw,price_usd_per_mwh"]
    for k in range(n):
        kwh = rng.integers(0, 5000, fives.size).astype(str).astype(object)
        meter += list(f"TX-B{k},exp," + fives + ",5," + kwh + ",A")
        rt = (rng.integers(-2000, 20000, fives.size) / 100).astype(str).astype(object)
        prices += list(f"ERCOT,B{k}_RN,RT," + fives + ",5," + rt)
        da = (rng.integers(500, 9000, hours.size) / 100).astype(str).astype(object)
        prices += list(f"ERCOT,B{k}_RN,DA," + hours + ",60," + da)
        mw = rng.integers(1, 50, hours.size).astype(str).astype(object)
        awards += list(f"ERCOT,B{k}_CC1,da_sale," + hours + ",60," + mw + "," + da)
    paths = {}
    for name, rows in (("meter", meter), ("prices", prices), ("awards", awards)):
        paths[name] = root / f"{name}.csv"
        paths[name].write_text("\n".join(rows) + "\n")
    ingest_meter(store, [paths["meter"]], "csv", sites=sites, now_utc=NOW)
    ingest_prices(store, [paths["prices"]], now_utc=NOW)
    ingest_awards(store, [paths["awards"]], sites=sites, now_utc=NOW)
    return cfg, store


def job_on_ray(cfg, cluster, pool, root: Path, days: int, tag: int):
    """One ``shadow_settlement`` job over every stored resource, through
    ``cluster.executor.run_job`` on the warm pool. Returns (wall s, result, partitions)."""
    from cluster.executor import Runtime, run_job
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec
    catalog = JobCatalog(f"sqlite:///{root / f'jobs-{tag}.db'}")
    catalog.init_schema()
    spec = {"kind": "shadow_settlement", "iso": "ERCOT", "from_date": FIRST.isoformat(),
            "to_date": (FIRST + timedelta(days=days - 1)).isoformat()}
    record, _ = catalog.submit(parse_spec(spec), now_utc=NOW, idempotency_key=None)
    t0 = time.perf_counter()
    result = run_job(record.id, record.spec, Runtime(cfg, catalog, cluster), now_utc=NOW, pool=pool)
    wall = time.perf_counter() - t0
    return wall, result, catalog.get(record.id).progress_total


def timed(fn, *a, **k):
    t0 = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365, help="operating days of the shadow (365)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="statement lines (1,000,000)")
    ap.add_argument("--resources", type=int, default=100, help="resources on Ray (100; 0 skips)")
    ap.add_argument("--job-days", type=int, default=7,
                    help="operating days of the shadow_settlement job of (5) (7; 0 skips)")
    a = ap.parse_args()
    last = FIRST + timedelta(days=a.days - 1)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    inp = year_inputs(1, a.days)
    lines, cold = timed(shadow_settle, inp, FIRST, last)
    dt_shadow = min(cold, timed(shadow_settle, inp, FIRST, last)[1])      # best of a cold and a warm run
    counts = interval_counts(lines)
    print(f"1. shadow settlement, 1 ERCOT resource x {a.days} days: {lines.num_rows:,} lines "
          f"({', '.join(f'{k} {v:,}' for k, v in counts.items())}) in {dt_shadow:.2f} s "
          f"(target < 5 s for 365 days)")

    st, shadow = statement_of(lines, a.lines)
    amt = st.column("amount_microusd").to_numpy().copy()
    amt[[10, a.lines // 2]] += [250_000, -13_000]
    st = st.set_column(st.schema.get_field_index("amount_microusd"), "amount_microusd", pa.array(amt))
    rec, dt_rec = timed(reconcile, st, shadow)
    s = summary(rec)
    print(f"2. reconciliation of {st.num_rows:,} statement lines: {s['total']['mismatches']} "
          f"mismatches found (2 planted) in {dt_rec:.2f} s (target < 5 s for 1,000,000)")
    resettled = st.set_column(st.schema.get_field_index("price_microusd_per_mwh"),
                              "price_microusd_per_mwh",
                              pc.add(st.column("price_microusd_per_mwh"), 1_000_000))
    resettled = resettled.set_column(resettled.schema.get_field_index("amount_microusd"),
                                     "amount_microusd", pc.add(st.column("amount_microusd"), 1))
    deltas, dt_delta = timed(version_deltas, st, resettled)
    print(f"   version deltas of a re-settlement of every line: {deltas.num_rows:,} deltas "
          f"attributed in {dt_delta:.2f} s")

    s0, e0 = day_bounds_us("ERCOT", FIRST, last)
    rc, dt_chain = timed(resource_chain, inp, s0, e0)
    exact = int(sum(1 for d in (rc.shadow12 - rc.physical12 - rc.spread12) if d == 0))
    print(f"3. bid-to-bill identity of the same {a.days} days: {exact:,}/{len(rc):,} intervals "
          f"exact (shadow = metered x RT + DA x spread) in {dt_chain:.2f} s (shadow included)")

    if a.resources <= 0:
        return
    import ray
    ray.init(include_dashboard=False, log_to_driver=False)

    @ray.remote
    def one(seed: int, days: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        inp = year_inputs(seed, days)
        rows = shadow_settle(inp, FIRST, FIRST + timedelta(days=days - 1)).num_rows
        return rows, time.perf_counter() - t0
    ray.get([one.remote(0, 1) for _ in range(int(ray.cluster_resources().get("CPU", 1)))])  # warm
    n = a.resources
    t0 = time.perf_counter()
    done = ray.get([one.remote(k + 1, a.days) for k in range(n)])
    wall = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    work = sum(dt for _, dt in done)
    one_here = min(timed(lambda: shadow_settle(year_inputs(2, a.days), FIRST, last))[1] for _ in range(2))
    print(f"4. {n} resources x {a.days} days on Ray ({cpus} CPUs), one task each: "
          f"{sum(r for r, _ in done):,} lines in {wall:.2f} s wall ({work:.2f} s of task time); "
          f"serially {n} x {one_here:.3f} s (inputs generated + settled here) = {n * one_here:.2f} s; "
          f"speed-up {n * one_here / wall:.2f}x on {cpus} CPUs")
    ray.shutdown()

    if a.job_days <= 0:
        return
    from cluster.pool import WorkerPool
    from cluster.runtime import ClusterConfig, ensure_ray, pool_size, shutdown
    from jobs.market import shadow_in_process
    root = Path(tempfile.mkdtemp(prefix="m2c-bench-market-"))
    (cfg, store), dt_data = timed(stored_portfolio, root, n, a.job_days)
    job_last = FIRST + timedelta(days=a.job_days - 1)
    one_stored = min(timed(shadow_in_process, store, "ERCOT", "B0_CC1", FIRST, job_last)[1]
                     for _ in range(2))
    print(f"5. shadow_settlement job, {n} resources x {a.job_days} days stored "
          f"(ingested in {dt_data:.1f} s); serially here {n} x {one_stored:.3f} s "
          f"(read + settle one resource's days) = {n * one_stored:.2f} s")
    cluster = ClusterConfig(num_cpus=os.cpu_count() or 2, namespace="m2c-bench")
    ensure_ray(cluster)
    t0 = time.perf_counter()
    pool = WorkerPool(pool_size(cluster), cfg)
    pool.wait_ready()
    print(f"   {pool_size(cluster)} warm workers started in {time.perf_counter() - t0:.1f} s (not counted)")
    import jobs.shadow
    default_floor = jobs.shadow.DAYS_PER_PARTITION
    for floor in (1, default_floor):
        jobs.shadow.DAYS_PER_PARTITION = floor
        wall, result, parts = job_on_ray(cfg, cluster, pool, root, a.job_days, floor)
        what = "a resource-day each" if floor == 1 else f"up to {floor} days of a resource each (default)"
        print(f"   {parts:,} partitions of {what}: {result['lines']:,} lines published "
              f"in {wall:.2f} s wall ({n * a.job_days / wall:,.1f} resource-days/s; speed-up "
              f"{n * one_stored / wall:.2f}x over the serial time)")
    jobs.shadow.DAYS_PER_PARTITION = default_floor
    pool.kill()
    shutdown()


if __name__ == "__main__":
    main()
