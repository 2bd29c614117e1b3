"""Benchmark: a full-term rebill of a 20-year contract over 10 sites at 5-minute data.

A script, not a test. Steps (``--root`` keeps the built store between runs):

1. **build** (once per ``--root``): a site registry of ``--sites`` sites (America/Chicago,
   a generation and a load channel each), a ``--years`` PPA over all of them
   (fixed TOU energy price with an annual escalator, a monthly minimum-delivery
   guarantee), deterministic numpy meter data at ``--minutes`` minutes appended
   through ``storage.tables.Tables.append`` (one Delta commit per site), and every
   billing period settled (the settlement job's own map/reduce functions, in a
   process pool) and approved: the billed baseline.
2. **correct**: a canonical meter CSV superseding one day in each of 3 months (in
   years 5, 12 and 19 of the term) ingested through ``storage.ingest.ingest_meter``.
3. **rebill**: the full term as one ``rebill`` job on an embedded 2-CPU Ray
   (``cluster.job_runner.run_inline``, ``--workers`` warm workers); wall time,
   time per contract-month, and the adjustment summary.
4. **split**: the rebill's map step in this process, single core, for a sample of
   unchanged periods and for the changed ones (re-settlement + diff, plus the
   attribution settlements), so the job time can be split between them.

Usage::

    .venv/bin/python bench/rebill.py [--root /tmp/m2c-bench-rebill] [--sites 10]
        [--years 20] [--minutes 5] [--workers 2] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.schema import METER_SCHEMA, UTC_TS  # noqa: E402
from engine.sites import parse_sites  # noqa: E402
from engine.timebase import (US_PER_MINUTE, local_midnight_us, local_month_labels,  # noqa: E402
                             periods_between)
from storage.config import StorageConfig  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402

TZ = "America/Chicago"
CID = "PPA-BENCH-20Y"
FIRST_YEAR = 2026
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def site_ids(n: int) -> list[str]:
    return [f"BX-{i:02d}" for i in range(n)]


def sites_doc(n: int) -> dict:
    return {"sites": [{"site_id": s, "timezone": TZ, "market": {"iso": "ERCOT", "node": f"{s}_N"},
                       "channels": {"gt1": {"kind": "generation", "resource": "gas_cc",
                                            "nameplate_kw": 60000},
                                    "dc": {"kind": "load"}}} for s in site_ids(n)]}


def contract_doc(n_sites: int, years: int) -> dict:
    start, end = f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + years - 1}-12-31"
    return {"contract_id": CID, "effective_from": start, "sites": site_ids(n_sites),
            "parties": {"seller": "Bench Onsite Power LLC", "buyer": "Bench Compute Inc."},
            "timezone": TZ, "term": {"start": start, "end": end}, "billing_period": "month",
            "currency": "USD", "delivered": {"add": ["gt1"], "cap_at": ["dc"]},
            "terms": [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "58.40",
                       "escalator_pct_per_year": "2.0",
                       "tou": {"factors": {"on_peak": "1.12", "off_peak": "0.88"}}},
                      {"id": "min_delivery", "kind": "min_delivery", "guaranteed_mwh": "250000",
                       "period": "month", "ld_usd_per_mwh": "15.00"}]}


def meter_table(site: str, index: int, start_us: int, end_us: int, minutes: int) -> pa.Table:
    """Deterministic 5-minute gt1 and dc energy (Wh) for one site, as METER_SCHEMA rows."""
    grid = np.arange(start_us, end_us, minutes * US_PER_MINUTE, dtype=np.int64)
    rng = np.random.default_rng(1000 + index)
    hour = (grid // (60 * US_PER_MINUTE)) % 24
    day = grid // (1440 * US_PER_MINUTE)
    load_kw = 30000 + 6000 * np.sin((hour - 20) / 24 * 2 * np.pi) + 1500 * np.sin(day / 58.0)
    gen_kw = np.where((hour + index) % 97 == 0, 0, 0.85 * load_kw + rng.normal(0, 900, grid.size))
    scale = minutes / 60 * 1000                       # kW over the interval -> Wh
    dc = np.round(np.clip(load_kw, 0, None) * scale).astype(np.int64)
    gt = np.round(np.clip(gen_kw, 0, None) * scale).astype(np.int64)
    n = grid.size
    months = pa.array(local_month_labels(grid, TZ), pa.string())
    ts = pa.array(grid, UTC_TS)
    cols = {
        "site_id": pa.array(np.full(2 * n, site, dtype=object), pa.string()),
        "channel": pa.array(np.repeat(np.array(["gt1", "dc"], dtype=object), n), pa.string()),
        "interval_start_utc": pa.concat_arrays([ts, ts]),
        "interval_minutes": pa.array(np.full(2 * n, minutes, dtype=np.int16)),
        "energy_wh": pa.array(np.concatenate([gt, dc])),
        "quality": pa.array(np.full(2 * n, "A", dtype=object), pa.string()),
        "method": pa.nulls(2 * n, pa.string()),
        "source_file": pa.array(np.full(2 * n, f"bench-{site}.parquet", dtype=object), pa.string()),
        "source_sha256": pa.array(np.full(2 * n, f"{index:064x}", dtype=object), pa.string()),
        "ingested_at_utc": pa.array(np.full(2 * n, int(NOW.timestamp() * 1e6), dtype=np.int64), UTC_TS),
        "month": pa.concat_arrays([months, months]),
    }
    return pa.table(cols, schema=METER_SCHEMA)


# ---------------------------------------------------------------------------- build
def _settle_periods(args: tuple[str, list[str]]) -> list[tuple[str, bytes]]:
    """Worker process: settle periods, return pickled results (settlement job functions)."""
    import pickle

    from jobs.contract_period import settle_contract_period
    from jobs.settle_inputs import DataVersions
    from storage.contracts import ContractStore
    from storage.tables import Tables
    uri, periods = args
    store = ObjectStore.from_config(StorageConfig(uri=uri))
    tables = Tables(store)
    stored = ContractStore(store).versions(CID)
    data = DataVersions.resolve(tables, store)
    cache: dict = {}
    return [(p, pickle.dumps((settle_contract_period(store, tables, stored, p, data, cache=cache), data)))
            for p in periods]


def build(root: Path, n_sites: int, years: int, minutes: int) -> None:
    import pickle

    from storage.contracts import ContractStore
    from storage.invoices import InvoiceStore
    from storage.sites import save_sites
    from storage.tables import Tables
    from jobs.invoicing import publish_invoice
    marker = root / "BUILT.json"
    spec = {"sites": n_sites, "years": years, "minutes": minutes}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        print(f"store: {root} (built)")
        return
    if marker.exists() or (root / "store").exists():
        raise SystemExit(f"{root} holds another build; remove it or pick another --root")
    uri = f"file://{root / 'store'}"
    store = ObjectStore.from_config(StorageConfig(uri=uri))
    sites = parse_sites(sites_doc(n_sites))
    save_sites(store, sites)
    ContractStore(store).add(contract_doc(n_sites, years), sites=sites)
    tables = Tables(store)
    # a week of history before the term (VEE like-day estimation) through the term end
    start_us = local_midnight_us(date(FIRST_YEAR - 1, 12, 24), TZ)
    end_us = local_midnight_us(date(FIRST_YEAR + years, 1, 1), TZ)
    t0 = time.perf_counter()
    rows = 0
    for i, site in enumerate(site_ids(n_sites)):
        t = meter_table(site, i, start_us, end_us, minutes)
        rows += t.num_rows
        tables.append("meter", t, metadata={"source": "bench/rebill.py", "site": site})
        print(f"  meter {site}: {t.num_rows:,} rows appended ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    print(f"meter: {rows:,} rows in {time.perf_counter() - t0:.1f} s")

    periods = periods_between(f"{FIRST_YEAR}-01", f"{FIRST_YEAR + years - 1}-12")
    t0 = time.perf_counter()
    chunks = [(uri, periods[i::2]) for i in range(2)]
    invoices = InvoiceStore(store)
    stored = ContractStore(store).versions(CID)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for chunk in pool.map(_settle_periods, chunks):
            for period, blob in chunk:
                result, data = pickle.loads(blob)
                v, _ = publish_invoice(store, result, stored, run_id="bench-billing", data=data)
                invoices.approve(CID, period, version=v, now_utc=NOW)
    print(f"billed and approved {len(periods)} periods in {time.perf_counter() - t0:.1f} s")
    marker.write_text(json.dumps(spec))


# ------------------------------------------------------------------------ correction
CORRECTED_DAYS = ((5, 7, 14), (12, 2, 3), (19, 11, 22))    # (term year, month, day)


def correct(root: Path, n_sites: int, years: int, minutes: int) -> list[str]:
    """Supersede one day of gt1 at one site in three months, via the real CSV ingest."""
    from storage.ingest import ingest_meter
    from storage.sites import load_sites
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{root / 'store'}"))
    lines = ["site_id,channel,interval_start,interval_minutes,kwh,quality"]
    periods = []
    for year, month, day in CORRECTED_DAYS:
        y = FIRST_YEAR + min(year, years) - 1
        periods.append(f"{y}-{month:02d}")
        d0 = local_midnight_us(date(y, month, day), TZ)
        for k in range(24 * 60 // minutes):
            ts = datetime.fromtimestamp((d0 + k * minutes * US_PER_MINUTE) / 1e6, tz=timezone.utc)
            lines.append(f"{site_ids(n_sites)[min(3, n_sites - 1)]},gt1,{ts.strftime('%Y-%m-%dT%H:%M:%SZ')},{minutes},"
                         f"{2100 + (k % 7) * 13.5:.1f},A")
    path = root / "correction.csv"
    path.write_text("\n".join(lines) + "\n")
    report = ingest_meter(store, [path], "csv", sites=load_sites(store),
                          now_utc=datetime(2026, 6, 1, tzinfo=timezone.utc))
    print(f"correction: {report.rows_new} new, {report.rows_superseded} superseded, "
          f"{report.rows_unchanged} unchanged rows -> meter data version {report.version}; "
          f"months {', '.join(periods)}")
    return periods


# --------------------------------------------------------------------------- rebill
def rebill(root: Path, n_sites: int, years: int, workers: int) -> dict:
    from cluster.job_runner import run_inline
    from cluster.runtime import ClusterConfig, ensure_ray
    from jobs.catalog import JobCatalog
    from jobs.specs import parse_spec
    db = f"sqlite:///{root / 'm2c.db'}"
    catalog = JobCatalog(db)
    catalog.init_schema()
    cluster = ClusterConfig(num_cpus=2, workers=workers)
    t0 = time.perf_counter()
    ensure_ray(cluster)
    print(f"ray: started in {time.perf_counter() - t0:.1f} s (not counted)")
    spec = {"kind": "rebill", "contract": CID, "from_period": f"{FIRST_YEAR}-01",
            "to_period": f"{FIRST_YEAR + years - 1}-12", "reason": "bench: meter correction"}
    record, _ = catalog.submit(parse_spec(spec), now_utc=datetime.now(timezone.utc))
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    record = run_inline(record.id, storage_config=StorageConfig(uri=f"file://{root / 'store'}"),
                        db_url=db, cluster_config=cluster)
    wall = time.perf_counter() - t0
    if record.state != "succeeded":
        raise SystemExit(f"rebill {record.state}: {record.error}")
    s = record.result["summary"]
    n = s["periods"]
    print(f"rebill: {n} contract-months ({n * n_sites} site-months) in {wall:.1f} s wall "
          f"({workers} workers, load average before {load:.1f}): {wall / n * 1000:.0f} ms per "
          f"contract-month; {s['changed_periods']} changed, net {s['net_adjustment_usd']} USD "
          f"(by cause {s['by_cause_usd']})")
    return {"wall_s": wall, "periods": n, "summary": s, "result": record.result}


def split(root: Path, changed: list[str], years: int, sample: int, profile: bool) -> None:
    """Single-core cost of the map step: unchanged versus changed periods."""
    from jobs.planning import partition_key
    from jobs.rebill import plan, run_partition
    from jobs.specs import RebillSpec
    from jobs.tasks import JobContext, WorkerContext
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{root / 'store'}"))
    spec = RebillSpec(contract=CID, from_period=f"{FIRST_YEAR}-01", to_period=f"{FIRST_YEAR + years - 1}-12")
    job_id = f"bench-split-{time.time_ns()}"        # a new job: its own pins (jobs.settle_inputs)
    parts = {p.key: p for p in plan(spec, JobContext(store=store, job_id=job_id, now_utc=NOW))}
    ctx = WorkerContext(store=store, job_id=job_id, attempt=1)
    periods = periods_between(spec.from_period, spec.to_period)
    unchanged = [p for p in periods[1::max(1, len(periods) // sample)] if p not in changed][:sample]
    run_partition(parts[partition_key(CID, unchanged[0])], ctx)          # warm the cache

    def timed(ps: list[str]) -> list[float]:
        out = []
        for p in ps:
            t0 = time.perf_counter()
            r = run_partition(parts[partition_key(CID, p)], ctx)
            out.append(time.perf_counter() - t0)
            assert r["changed"] == (p in changed), p
        return out

    tu, tc = timed(unchanged), timed(changed)
    mu, mc = float(np.mean(tu)), float(np.mean(tc))
    n_u, n_c = len(periods) - len(changed), len(changed)
    print(f"map step, 1 core: unchanged period {mu * 1000:.0f} ms (mean of {len(tu)}), changed "
          f"period {mc * 1000:.0f} ms (mean of {len(tc)}: re-settle, diff, attribution)")
    total = n_u * mu + n_c * mc
    print(f"  -> of {total:.1f} core-s of map work: unchanged {n_u} x {mu:.2f} s = "
          f"{n_u * mu:.1f} s ({n_u * mu / total:.0%}), changed {n_c} x {mc:.2f} s = "
          f"{n_c * mc:.1f} s ({n_c * mc / total:.0%})")
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        timed(unchanged[:3])
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
        print(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/m2c-bench-rebill"))
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--years", type=int, default=20)
    ap.add_argument("--minutes", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=8, help="unchanged periods timed in-process")
    ap.add_argument("--profile", action="store_true", help="cProfile the unchanged map step")
    ap.add_argument("--skip-job", action="store_true", help="only build, correct and split")
    ap.add_argument("--skip-split", action="store_true", help="only build, correct and the job")
    a = ap.parse_args()
    a.root.mkdir(parents=True, exist_ok=True)
    print(f"contract {CID}: {a.years} years x {a.sites} sites at {a.minutes}-minute data, "
          f"2 channels per site")
    build(a.root, a.sites, a.years, a.minutes)
    changed = correct(a.root, a.sites, a.years, a.minutes)
    if not a.skip_job:
        rebill(a.root, a.sites, a.years, a.workers)
    if not a.skip_split:
        split(a.root, changed, a.years, a.sample, a.profile)


if __name__ == "__main__":
    main()
