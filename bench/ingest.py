"""Benchmark: ingest throughput and the hot read path (a script, not a test).

Generates deterministic 1-minute meter data (numpy, fixed seed) for ``--sites`` sites
x ``--days`` days x ``--channels`` channels as canonical CSV files (one per site),
ingests them through the real path (``storage.ingest.ingest_meter``: parse,
validate, registry check, supersession lookup, one Delta commit) into a temporary
local store (and an S3 store if ``--s3 URI`` is given), then reads one site-month back:

* ``Tables.read_meter`` (Delta snapshot -> partition pruning -> pyarrow -> dedupe)
* plain ``pyarrow.parquet.read_table`` of the very same Parquet files
* a supersession round: one site-month corrected (every 16th interval), read again

once per table layout, in one process (``--layout both``, the default):

* ``in-place``: a table created by this version: the correction rewrites the
  site-month's file in its commit, and a plain Delta reader (``deltalake``) of the
  month is checked to see the corrected rows, equal to ``Tables.read_meter``;
* ``on-read``: a table written the old way (``delta.appendOnly``): every ingest a
  plain append through ``write_deltalake``, the correction an extra file that
  ``read_meter`` dedupes (what every table was before supersession moved into it).

Prints rows/s for each. Usage::

    .venv/bin/python bench/ingest.py [--sites 10] [--days 365] [--channels 1]
        [--layout both|in-place|on-read]
        [--s3 s3://bucket/prefix --endpoint http://127.0.0.1:8333 --key K --secret S]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.schema import METER_SCHEMA  # noqa: E402
from engine.sites import Channel, Site  # noqa: E402
from engine.timebase import US_PER_MINUTE, local_month_bounds_us, to_us  # noqa: E402
from storage.config import StorageConfig  # noqa: E402
from storage.ingest import ingest_meter  # noqa: E402
from storage.objectstore import ObjectStore  # noqa: E402
from storage.tables import Tables  # noqa: E402
from storage.tables.append import append_on_read  # noqa: E402

TZ = "America/Chicago"
START = datetime(2025, 1, 1, 6, 0, tzinfo=timezone.utc)        # 2025-01-01 00:00 CST


def make_sites(n_sites: int, n_channels: int) -> dict[str, Site]:
    names = ["gt1", "pv1", "dc", "imp", "exp"][:n_channels]
    kinds = {"gt1": "generation", "pv1": "generation", "dc": "load", "imp": "grid_import",
             "exp": "grid_export"}
    return {f"BENCH-{i:03d}": Site(f"BENCH-{i:03d}", TZ,
                                   {c: Channel(c, kinds[c]) for c in names})
            for i in range(n_sites)}


def write_site_csv(path: Path, site: Site, days: int, seed: int) -> int:
    """One canonical CSV per site: every channel, 1-minute intervals, kWh with <= 3 decimals."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    starts = to_us(START) + np.arange(n, dtype=np.int64) * US_PER_MINUTE
    ts = pc.strftime(pa.array(starts, pa.timestamp("us", tz="UTC")), "%Y-%m-%dT%H:%M")
    ts = pc.binary_join_element_wise(ts, pa.array([":00Z"] * 1, pa.string())[0], "")
    tables = []
    for c in sorted(site.channels):
        wh = rng.integers(0, 5_000_000, size=n, dtype=np.int64)
        tables.append(pa.table({
            "site_id": pa.array(np.full(n, site.site_id, dtype=object), pa.string()),
            "channel": pa.array(np.full(n, c, dtype=object), pa.string()),
            "interval_start": ts,
            "interval_minutes": pa.array(np.full(n, 1, dtype=np.int16)),
            "kwh": pa.array(wh / 1000.0).cast(pa.string()),      # shortest repr: exact 3 dp
            "quality": pa.array(np.full(n, "A", dtype=object), pa.string())}))
    table = pa.concat_tables(tables)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
    return table.num_rows


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(cfg: StorageConfig, files: list[Path], sites: dict[str, Site], total_rows: int,
        label: str, repeat: int, layout: str) -> None:
    store = ObjectStore.from_config(cfg)
    label = f"{label} {layout}"
    if layout == "on-read":            # a table created the old way (append-only, empty)
        append_on_read(Tables(store).delta_log, "meter", METER_SCHEMA.empty_table())
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    rep = ingest_meter(store, files, "csv", sites=sites, now_utc=now)
    dt = time.perf_counter() - t0
    print(f"[{label}] ingest {len(files)} files, {total_rows:,} rows -> version {rep.version}: "
          f"{dt:.2f} s = {total_rows / dt:,.0f} rows/s")
    # the commit alone (what this layout changes): the same site-month of rows, added
    # to a table of this layout holding another site (best of --repeat)
    rows_all = Tables(store).read_partition("meter", {"site_id": sorted(sites)[0],
                                                      "month": "2025-06"})
    walls, cpus = [], []
    for i in range(repeat):
        commit_store = ObjectStore.from_config(StorageConfig(
            uri=f"{cfg.uri.rstrip('/')}-commit-{i}", endpoint=cfg.endpoint,
            access_key=cfg.access_key, secret_key=cfg.secret_key))
        writer = Tables(commit_store)
        other = rows_all.set_column(0, "site_id", pa.repeat(pa.scalar("OTHER"), rows_all.num_rows))
        (append_on_read(writer.delta_log, "meter", other) if layout == "on-read"
         else writer.append("meter", other))
        w0, c0 = time.perf_counter(), time.process_time()
        writer.append("meter", rows_all)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    print(f"[{label}] the commit alone, one site-month ({rows_all.num_rows:,} rows) into a "
          f"table: {min(walls) * 1e3:.1f} ms wall, {min(cpus) * 1e3:.1f} ms CPU (best of {repeat})")

    site = sites[sorted(sites)[0]]
    period = "2025-06"
    start, end = local_month_bounds_us(period, TZ)
    fs, _ = store.arrow_filesystem()

    cold = Tables(store)
    t0 = time.perf_counter()
    rows = cold.read_meter(site.site_id, TZ, start, end)
    cold_s = time.perf_counter() - t0
    tables = Tables(store)
    tables.read_meter(site.site_id, TZ, start, end)                      # warm the snapshot
    warm_s, rows = best_of(lambda: tables.read_meter(site.site_id, TZ, start, end), repeat)
    snap = tables._snapshot("meter", tables.version("meter")).files
    paths = snap.filter(pc.and_(pc.equal(snap.column("site_id"), site.site_id),
                                pc.equal(snap.column("month"), period))).column("path").to_pylist()
    raw_s, raw = best_of(lambda: pq.read_table(paths, filesystem=fs), repeat)
    n = rows.num_rows
    assert raw.num_rows == n, (raw.num_rows, n)
    print(f"[{label}] read one site-month ({site.site_id} {period}, {n:,} rows, "
          f"{len(paths)} file(s)):")
    print(f"    Tables.read_meter warm  {warm_s * 1e3:8.1f} ms = {n / warm_s:,.0f} rows/s")
    print(f"    Tables.read_meter cold  {cold_s * 1e3:8.1f} ms (new Tables: log + snapshot load)")
    print(f"    pyarrow.read_table      {raw_s * 1e3:8.1f} ms = {n / raw_s:,.0f} rows/s "
          f"(same files; ratio {warm_s / raw_s:.2f}x)")

    # supersession: correct the month (every 16th interval), read again
    fix = rows.filter(pc.equal(pc.bit_wise_and(pa.array(np.arange(n)), 15), 0))
    corr = files[0].with_name(f"correction-{label.replace(' ', '-')}.csv")
    out = pa.table({
        "site_id": fix.column("site_id"), "channel": fix.column("channel"),
        "interval_start": pc.binary_join_element_wise(
            pc.strftime(fix.column("interval_start_utc"), "%Y-%m-%dT%H:%M"),
            pa.array([":00Z"])[0], ""),
        "interval_minutes": fix.column("interval_minutes"),
        "kwh": pc.cast(pc.divide(pc.cast(pc.add(fix.column("energy_wh"), 1), pa.float64()), 1000.0),
                       pa.string()),
        "quality": pa.array(np.full(fix.num_rows, "S", dtype=object), pa.string())})
    pacsv.write_csv(out, corr, pacsv.WriteOptions(quoting_style="none"))
    t0 = time.perf_counter()
    rep = ingest_meter(store, [corr], "csv", sites=sites, now_utc=datetime.now(timezone.utc))
    dt = time.perf_counter() - t0
    print(f"[{label}] correction: {rep.rows_superseded:,} superseded in {dt:.2f} s "
          f"-> version {rep.version}")
    tables.read_meter(site.site_id, TZ, start, end)
    sup_s, rows2 = best_of(lambda: tables.read_meter(site.site_id, TZ, start, end), repeat)
    assert rows2.num_rows == n
    snap = tables._snapshot("meter", rep.version)
    in_month = snap.files.filter(pc.and_(pc.equal(snap.files.column("site_id"), site.site_id),
                                         pc.equal(snap.files.column("month"), period)))
    how = "unique keys, no dedupe" if snap.keys_unique else "dedupe"
    print(f"    Tables.read_meter after supersession ({in_month.num_rows} file(s), {how}) "
          f"{sup_s * 1e3:8.1f} ms = {n / sup_s:,.0f} rows/s")
    if layout == "in-place":           # what a plain Delta reader of the month sees
        from deltalake import DeltaTable
        delta = DeltaTable(tables.uri("meter"), storage_options=store.delta_storage_options())
        outside = pa.table(delta.to_pyarrow_dataset().to_table(
            filter=(pc.field("site_id") == site.site_id) & (pc.field("month") == period)))
        outside = outside.sort_by([("channel", "ascending"), ("interval_start_utc", "ascending")])
        same = outside.select(rows2.column_names).cast(rows2.schema).equals(rows2)
        print(f"    deltalake reads the month: {outside.num_rows:,} rows, "
              f"{'equal to' if same else 'DIFFERENT from'} Tables.read_meter")
        assert same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--channels", type=int, default=1, choices=range(1, 6))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--layout", default="both", choices=["both", "in-place", "on-read"],
                    help="table layout: supersession in place (new tables), on read (old "
                         "tables), or both in one run")
    ap.add_argument("--s3", default=None, metavar="URI", help="also run against s3://bucket/prefix")
    ap.add_argument("--endpoint", default=None)
    ap.add_argument("--key", default=None)
    ap.add_argument("--secret", default=None)
    args = ap.parse_args()
    if args.days < 181:
        ap.error("--days must be at least 181: the read and the correction use June 2025")

    sites = make_sites(args.sites, args.channels)
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        files, total = [], 0
        for i, sid in enumerate(sorted(sites)):
            path = d / f"{sid}.csv"
            total += write_site_csv(path, sites[sid], args.days, seed=1000 + i)
            files.append(path)
        size = sum(f.stat().st_size for f in files)
        print(f"generated {total:,} rows ({args.sites} sites x {args.days} days x "
              f"{args.channels} channel(s), 1-minute), {size / 1e6:.0f} MB CSV in "
              f"{time.perf_counter() - t0:.1f} s")
        layouts = ["on-read", "in-place"] if args.layout == "both" else [args.layout]
        for layout in layouts:
            run(StorageConfig(uri=f"file://{d / f'store-{layout}'}"), files, sites, total,
                "local", args.repeat, layout)
        if args.s3:
            for layout in layouts:
                run(StorageConfig(uri=f"{args.s3.rstrip('/')}/{layout}", endpoint=args.endpoint,
                                  access_key=args.key, secret_key=args.secret),
                    files, sites, total, "s3", args.repeat, layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
