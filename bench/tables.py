"""Benchmark: a table after thousands of small ingests, before and after ``m2c tables
optimize`` (a script, not a test: it prints figures and checks that the reads agree).

    .venv/bin/python bench/tables.py [--ingests 5000] [--sites 2] [--channels 2]
        [--hours 1] [--corrections 20] [--root DIR]

1. **Ingests.** ``--ingests`` commits of ``--hours`` hours of 1-minute data for every
   site and channel (a meter feed arriving hourly), each through ``Tables.append``
   (the commit path of ``m2c ingest``: plan, write sorted files, one Delta commit;
   CSV parsing left out), into a fresh local store. Every 50th commit writes a
   checkpoint (``delta.checkpointInterval``). Prints the commit rate, and the time of
   the first and the last hundred commits (does a commit get slower as the log grows?).
   With ``--old-way`` (default) every batch is also committed, interleaved, to a table
   written the old way (append-only, ``write_deltalake``; corrections superseded on
   read): the median wall and CPU time of a commit on each, in the same run.
2. **Before optimize.** Open time: a new ``Tables`` finding the current version, and a
   bare ``deltalake.DeltaTable`` open -- from the last checkpoint plus the JSON commits
   after it, and, for comparison, replaying every JSON commit (the same log without
   its checkpoints, copied aside). One site-month read: cold (new ``Tables``: open,
   snapshot, read) and warm (best of 5).
   Then ``--corrections`` commits re-sending 10 intervals of an earlier hour each:
   in place (the file holding them read, merged and written again in the commit)
   against the old way (appended), median per commit.
3. **Optimize** (``storage.maintenance.optimize``: one file per partition, one commit,
   a checkpoint), then the same figures. The site-month rows must be identical.

The machine's load average is printed with each section (the figures move with it).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.schema import METER_SCHEMA  # noqa: E402
from engine.timebase import US_PER_MINUTE, local_month_bounds_us, local_month_labels, to_us  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.maintenance import optimize, table_status  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402
from storage.tables import Tables  # noqa: E402
from storage.tables.append import append_on_read  # noqa: E402

TZ = "America/Chicago"
START = datetime(2025, 1, 1, 6, 0, tzinfo=timezone.utc)        # 2025-01-01 00:00 CST
NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def batch(i: int, sites: list[str], channels: list[str], hours: int, rng: np.random.Generator) -> pa.Table:
    """Hour block ``i`` of every site and channel, as rows of the meter table."""
    n = hours * 60
    starts = to_us(START) + (i * n + np.arange(n, dtype=np.int64)) * US_PER_MINUTE
    months = local_month_labels(starts, TZ)
    cols: dict[str, list] = {k: [] for k in METER_SCHEMA.names}
    for s in sites:
        for c in channels:
            cols["site_id"].append(pa.array([s] * n, pa.string()))
            cols["channel"].append(pa.array([c] * n, pa.string()))
            cols["interval_start_utc"].append(pa.array(starts, pa.timestamp("us", tz="UTC")))
            cols["interval_minutes"].append(pa.array(np.ones(n, np.int16)))
            cols["energy_wh"].append(pa.array(rng.integers(0, 5_000_000, n)))
            cols["quality"].append(pa.array(["A"] * n, pa.string()))
            cols["method"].append(pa.nulls(n, pa.string()))
            cols["source_file"].append(pa.array([f"feed-{i:05d}.csv"] * n, pa.string()))
            cols["source_sha256"].append(pa.array([f"{i:064x}"] * n, pa.string()))
            cols["ingested_at_utc"].append(pa.array(np.full(n, to_us(NOW) + i), pa.timestamp("us", tz="UTC")))
            cols["month"].append(pa.array(months.astype(object), pa.string()))
    return pa.table({k: pa.concat_arrays(v) for k, v in cols.items()}, schema=METER_SCHEMA)


def best_of(fn, repeat: int = 5):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def opens(store: ObjectStore, root: Path) -> dict[str, float]:
    """Open times (s): a new Tables to its version, DeltaTable from the checkpoint, and
    DeltaTable replaying every JSON commit (the log copied aside without checkpoints)."""
    from deltalake import DeltaTable
    uri = Tables(store).uri("meter")
    t_tables, _ = best_of(lambda: Tables(store).version("meter"), 3)
    t_delta, _ = best_of(lambda: DeltaTable(uri), 3)
    bare = root / "log-without-checkpoints"
    shutil.rmtree(bare, ignore_errors=True)
    (bare / "_delta_log").mkdir(parents=True)
    for f in (Path(uri) / "_delta_log").iterdir():
        if f.suffix == ".json":
            shutil.copy(f, bare / "_delta_log" / f.name)
    t_replay, _ = best_of(lambda: DeltaTable(str(bare)), 3)
    shutil.rmtree(bare)
    return {"tables": t_tables, "delta": t_delta, "replay": t_replay}


def reads(store: ObjectStore, site: str, period: str) -> tuple[float, float, pa.Table, int]:
    start, end = local_month_bounds_us(period, TZ)
    t0 = time.perf_counter()
    cold = Tables(store).read_meter(site, TZ, start, end)
    cold_s = time.perf_counter() - t0
    tables = Tables(store)
    tables.read_meter(site, TZ, start, end)
    warm_s, rows = best_of(lambda: tables.read_meter(site, TZ, start, end))
    assert rows.equals(cold)
    snap = tables._snapshot("meter", tables.version("meter")).files
    files = sum(1 for s, m in zip(snap.column("site_id").to_pylist(), snap.column("month").to_pylist())
                if s == site and m == period)
    return cold_s, warm_s, rows, files


def report(label: str, store: ObjectStore, root: Path, site: str, period: str) -> pa.Table:
    st = table_status(store, "meter")
    o = opens(store, root)
    cold, warm, rows, files = reads(store, site, period)
    print(f"[{label}] version {st['version']}, {st['files']:,} files in {st['partitions']} "
          f"partitions, checkpoint v{st['checkpoint']} (+{st['commits_since_checkpoint']}); {load()}")
    print(f"    open: Tables -> version {o['tables'] * 1e3:8.1f} ms | DeltaTable from checkpoint "
          f"{o['delta'] * 1e3:8.1f} ms | replaying every JSON commit {o['replay'] * 1e3:8.1f} ms")
    print(f"    read {site} {period} ({rows.num_rows:,} rows, {files} file(s)): cold "
          f"{cold * 1e3:8.1f} ms, warm {warm * 1e3:8.1f} ms")
    return rows


def corrections(tables: Tables, old: Tables | None, args: argparse.Namespace, sites: list[str],
                channels: list[str], rng: np.random.Generator) -> None:
    """``--corrections`` commits each re-sending 10 intervals of one earlier hour block
    (a meter's corrected reads): in place, the commit rewrites the file holding them;
    the old way appends them. Median wall time per commit on each, interleaved."""
    wall, cpu, old_wall = [], [], []
    for k in range(args.corrections):
        i = int(rng.integers(0, args.ingests))
        data = batch(i, sites[:1], channels[:1], args.hours, rng).slice(0, 10)
        data = data.set_column(data.schema.get_field_index("ingested_at_utc"), "ingested_at_utc",
                               pa.array(np.full(10, to_us(NOW) + 10**9 + k), pa.timestamp("us", tz="UTC")))
        if old is not None:
            w0 = time.perf_counter()
            append_on_read(old.delta_log, "meter", data, metadata={"fix": k})
            old_wall.append(time.perf_counter() - w0)
        w0, c0 = time.perf_counter(), time.process_time()
        tables.append("meter", data, metadata={"fix": k})
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    line = (f"[corrections] {args.corrections} commits of 10 corrected intervals: in place "
            f"{np.median(wall) * 1e3:.1f} ms wall, {np.median(cpu) * 1e3:.1f} ms CPU (reads and "
            f"rewrites the file holding them)")
    if old_wall:
        line += f" | the old way {np.median(old_wall) * 1e3:.1f} ms wall (appends; readers dedupe)"
    print(line + f"; {load()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ingests", type=int, default=5000)
    ap.add_argument("--sites", type=int, default=2)
    ap.add_argument("--channels", type=int, default=2, choices=range(1, 5))
    ap.add_argument("--hours", type=int, default=1, help="hours of data per ingest")
    ap.add_argument("--corrections", type=int, default=20,
                    help="correcting commits after the ingests (0: none)")
    ap.add_argument("--root", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--old-way", action=argparse.BooleanOptionalAction, default=True,
                    help="also commit every batch to an append-only table (the old way)")
    args = ap.parse_args()

    root = Path(args.root or tempfile.mkdtemp(prefix="m2c-bench-tables-"))
    shutil.rmtree(root / "store", ignore_errors=True)
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{root / 'store'}"))
    tables = Tables(store)
    sites = [f"BENCH-{i:03d}" for i in range(args.sites)]
    channels = ["gt1", "dc", "pv1", "imp"][:args.channels]
    rng = np.random.default_rng(7)
    rows_per = args.sites * args.channels * args.hours * 60
    print(f"{args.ingests:,} ingests of {rows_per:,} rows ({args.sites} sites x {args.channels} "
          f"channels x {args.hours} h of 1-minute data); {load()}")
    times, cpu, old_wall, old_cpu = [], [], [], []
    old = Tables(ObjectStore.from_config(StorageConfig(uri=f"file://{root / 'old-way'}")))
    total = 0.0
    for i in range(args.ingests):
        data = batch(i, sites, channels, args.hours, rng)
        if args.old_way and i % 2:            # interleaved, each first every other time
            w0, c0 = time.perf_counter(), time.process_time()
            append_on_read(old.delta_log, "meter", data, metadata={"feed": i})
            old_wall.append(time.perf_counter() - w0)
            old_cpu.append(time.process_time() - c0)
        w0, c0 = time.perf_counter(), time.process_time()
        tables.append("meter", data, metadata={"feed": i})
        times.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        total += times[-1]
        if args.old_way and not i % 2:
            w0, c0 = time.perf_counter(), time.process_time()
            append_on_read(old.delta_log, "meter", data, metadata={"feed": i})
            old_wall.append(time.perf_counter() - w0)
            old_cpu.append(time.process_time() - c0)
        if (i + 1) % 500 == 0:
            print(f"    {i + 1:,} commits, last 500 at {np.mean(times[-500:]) * 1e3:.1f} ms each")
    k = min(100, len(times))
    print(f"[ingest] {args.ingests:,} commits in {total:.1f} s = {args.ingests / total:.1f} commits/s; "
          f"first {k}: {np.mean(times[:k]) * 1e3:.1f} ms each, last {k}: "
          f"{np.mean(times[-k:]) * 1e3:.1f} ms each; {load()}")
    if args.old_way:
        print(f"    a commit, median: in place {np.median(times) * 1e3:.1f} ms wall, "
              f"{np.median(cpu) * 1e3:.1f} ms CPU | the old way (append-only) "
              f"{np.median(old_wall) * 1e3:.1f} ms wall, {np.median(old_cpu) * 1e3:.1f} ms CPU")

    if args.corrections:
        corrections(tables, old if args.old_way else None, args, sites, channels, rng)

    end = START + timedelta(hours=args.ingests * args.hours)
    period = str(local_month_labels(np.array([to_us(START + (end - START) / 2)]), TZ)[0])
    before = report("before optimize", store, root, sites[0], period)
    t0 = time.perf_counter()
    rep = optimize(store, "meter")
    print(f"[optimize] {rep.files_before:,} -> {rep.files_after:,} files, "
          f"{rep.partitions_compacted} partitions, {time.perf_counter() - t0:.2f} s, "
          f"version {rep.version}, checkpoint v{rep.checkpoint}; {load()}")
    after = report("after optimize", store, root, sites[0], period)
    assert after.equals(before), "optimize changed what a read returns"
    print("    the site-month read is identical before and after")
    if not args.root:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
