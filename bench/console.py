"""Benchmark: console and list pages on a catalog of 10,000 jobs and 100,000 invoices.

Builds a fresh catalog (SQLite, as ``M2C_DB``) holding 10,000 jobs (every state, three
kinds, spread over a year) and an invoice index of 100,000 invoice versions (2,000
contracts x 50 periods, a tenth with a second version, a third approved), signs in to
the console, and times each page in process (FastAPI TestClient: server work and
rendering, no network): the first page, a filtered page, and a page deep into the
cursor. Then, for comparison in the same process, the same invoice list answered by
walking the object store (what ``api.views.invoice_page`` did before the index) over
``--walk`` published invoices, per invoice.

    .venv/bin/python bench/console.py [--jobs 10000] [--invoices 100000] [--repeat 20] [--walk 500]

Prints median and p95 milliseconds per page.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)


def build_catalog(db_url: str, n_jobs: int, n_invoices: int, store_uri: str) -> None:
    from engine.timebase import to_us
    from jobs.catalog import JobCatalog
    from jobs.invoice_index import InvoiceIndex
    catalog = JobCatalog(db_url)
    catalog.init_schema()
    rng = random.Random(7)
    states = ["succeeded"] * 80 + ["failed"] * 10 + ["cancelled"] * 5 + ["running", "queued"] * 2 + ["cancelling"]
    kinds = ["settlement", "rebill", "meter_totals"]
    t0 = to_us(NOW - timedelta(days=365))
    with catalog.transaction() as conn:
        rows = []
        for i in range(n_jobs):
            kind, state = rng.choice(kinds), rng.choice(states)
            created = t0 + i * 3_000_000_000
            spec = {"kind": kind, "period": f"2026-{1 + i % 12:02d}"}
            done = 4 if state == "succeeded" else 1
            rows.append((f"job-{i:012x}", kind, json.dumps(spec), f"{i:064x}", state, 4, done, 1, created,
                         created + 1_000_000, created if state != "queued" else None,
                         created + 60_000_000 if state in ("succeeded", "failed", "cancelled") else None,
                         "no meter data for site X in 2026-01" if state == "failed" else None,
                         "DataMissingError" if state == "failed" else None, None))
        conn.executemany(
            "INSERT INTO jobs (id, kind, spec_json, fingerprint, state, progress_total, progress_done, attempt, "
            "created_us, updated_us, started_us, finished_us, error, error_type, result_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    contracts = max(1, n_invoices // 55)
    periods = [f"{2022 + k // 12}-{1 + k % 12:02d}" for k in range(50)]
    with catalog.transaction() as conn:
        rows, n = [], 0
        for c in range(contracts):
            for p in periods:
                versions = 2 if rng.random() < 0.1 else 1
                for v in range(1, versions + 1):
                    if n >= n_invoices:
                        break
                    n += 1
                    approved = rng.random() < 0.33 and v == versions
                    status = "approved" if approved else ("superseded" if v < versions else "draft")
                    approval = json.dumps({"approved_at_utc": "2026-11-05T12:00:00Z",
                                           "approved_by": {"key_id": "k", "role": "admin", "source": "console"},
                                           "version": v}) if approved else None
                    rows.append((f"C-{c:05d}", p, v, "draft", status, v + 1 if v < versions else None,
                                 rng.randrange(10**6, 10**10), "USD", 1 if v == 2 else None, f"ISS-{n:06d}",
                                 "2026-11-05", "2026-12-05", "run", approval, to_us(NOW)))
        conn.executemany(
            "INSERT INTO invoice_index (contract_id, period, version, stored_status, list_status, superseded_by, "
            "total_cents, currency, adjusts, invoice_number, issue_date, due_date, run_id, approval_json, "
            "published_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    InvoiceIndex(catalog, store_uri).mark_built(now_us=to_us(NOW))


def timed(client, path: str, repeat: int) -> tuple[float, float, int]:
    samples = []
    status = 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path)
        samples.append((time.perf_counter() - t) * 1000)
        status = r.status_code
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))], status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--invoices", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--walk", type=int, default=500, help="invoices published for the store-walk comparison")
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from api.app import create_app
    from api.keystore import KeyStore
    from api.settings import Settings
    from tests.support.api_servers import QueueOnlyDispatcher
    home = Path(tempfile.mkdtemp(prefix="m2c-bench-console-"))
    settings = Settings.from_env({"M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}",
                                  "M2C_DB": f"sqlite:///{home / 'm2c.db'}"})
    t = time.perf_counter()
    build_catalog(settings.db_url, args.jobs, args.invoices, settings.storage_uri)
    print(f"catalog: {args.jobs:,} jobs, {args.invoices:,} indexed invoices, built in {time.perf_counter() - t:.1f} s")
    _, key = KeyStore(settings.db_url).create("admin", now_utc=NOW, label="bench")
    app = create_app(settings, dispatcher=QueueOnlyDispatcher(), webhook_interval_s=3600)
    with TestClient(app) as client:
        page = client.get("/console/sign-in")
        token = re.search(r'name="signin_token" value="([^"]+)"', page.text)[1]
        client.post("/console/sign-in", data={"api_key": key, "signin_token": token})
        def cursor_after(path: str, pages: int) -> str:
            cursor = ""
            for _ in range(pages):
                cursor = client.get(path + (f"&cursor={cursor}" if cursor else ""),
                                    headers={"X-API-Key": key}).json()["next_cursor"]
            return cursor
        deep_jobs = cursor_after("/v1/jobs?limit=100", 41)
        deep_inv = cursor_after("/v1/invoices?limit=500", 101)
        pages = [
            ("console jobs, first page", "/console/jobs"),
            ("console jobs, state=failed", "/console/jobs?state=failed"),
            ("console jobs, kind=rebill", "/console/jobs?kind=rebill"),
            ("console jobs, page ~4,100 deep", f"/console/jobs?cursor={deep_jobs}"),
            ("console invoices, first page", "/console/invoices"),
            ("console invoices, status=approved", "/console/invoices?status=approved"),
            ("console invoices, one contract", "/console/invoices?contract=C-01234"),
            ("console invoices, period 2025-06", "/console/invoices?period=2025-06"),
            ("console invoices, ~50,000 deep", f"/console/invoices?cursor={deep_inv}"),
        ]
        print(f"\n{'page':<40} {'median ms':>10} {'p95 ms':>8}  status")
        for name, path in pages:
            med, p95, status = timed(client, path, args.repeat)
            print(f"{name:<40} {med:>10.1f} {p95:>8.1f}  {status}")
        for name, path in [("GET /v1/invoices?limit=100", "/v1/invoices?limit=100"),
                           ("GET /v1/invoices status=superseded", "/v1/invoices?status=superseded&limit=100")]:
            samples = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                client.get(path, headers={"X-API-Key": key})
                samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            print(f"{name:<40} {statistics.median(samples):>10.1f} {samples[int(0.95 * (len(samples) - 1))]:>8.1f}")
    # the same list by walking the store (before the index): cost per invoice listed
    if args.walk:
        from api import views
        from storage.invoices import InvoiceParts, InvoiceStore
        from storage.objectstore import ObjectStore
        store = ObjectStore.from_config(settings.storage_config())
        inv = InvoiceStore(store)
        doc = {"contract_id": "W", "period": "2026-10", "version": 1, "status": "draft", "total_usd": "1.00",
               "currency": "USD", "lines": [], "adjusts": None}
        for i in range(args.walk):
            inv.publish(f"W-{i:05d}", "2026-10", lambda v, i=i: InvoiceParts(
                json.dumps({**doc, "contract_id": f"W-{i:05d}", "version": v}).encode(), "<html></html>", b""))
        t = time.perf_counter()
        n = len(views.invoice_page(store, limit=500)["data"])
        walk_ms = (time.perf_counter() - t) * 1000
        per = walk_ms / args.walk
        print(f"\nstore walk (no index), first page of {n} over {args.walk} invoices: {walk_ms:.0f} ms "
              f"({per:.2f} ms per invoice in the store: ~{per * args.invoices / 1000:.0f} s "
              f"for {args.invoices:,}, every page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
