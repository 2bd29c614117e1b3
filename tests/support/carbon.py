"""Carbon-traced stores for tests: the demo portfolio with balancing authorities and
deterministic hourly grid factors (written as the documented CSV, ingested through
``storage.ingest.ingest_grid_factors``)."""
from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from storage.ingest import ingest_grid_factors
from storage.objectstore import ObjectStore
from storage.sites import load_sites, merge_sites

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)
BA_OF_ISO = {"ERCOT": "ERCO", "PJM": "PJM", "CAISO": "CISO"}


def factor_rows(ba: str, start: datetime, hours: int, *, base: float = 400.0, residual: bool = True,
                seed: int = 0) -> list[str]:
    """CSV rows of ``hours`` deterministic hourly factors from ``start`` (UTC): a daily
    cycle (cleaner at midday), exact decimals."""
    rows = []
    for i in range(hours):
        t = start + timedelta(hours=i)
        phase = math.cos(2 * math.pi * ((t.hour - 18 + seed) % 24) / 24)
        co2e = f"{base + 120 * phase:.3f}"
        share = f"{0.35 - 0.2 * phase:.4f}"
        res = f"{base + 60 + 120 * phase:.3f}" if residual else ""
        rows.append(f"{ba},{t:%Y-%m-%dT%H:00:00Z},{co2e},{share},{res},test factors")
    return rows


def write_factors(path: Path, rows: list[str]) -> Path:
    path.write_text("balancing_authority,interval_start,co2e_kg_per_mwh,cfe_share,residual_co2e_kg_per_mwh,"
                    "source\n" + "\n".join(rows) + "\n")
    return path


def trace_sites(store: ObjectStore) -> dict:
    """Give every site of the registry its ISO's balancing authority (a new registry version)."""
    sites = load_sites(store)
    traced = {sid: dataclasses.replace(s, balancing_authority=BA_OF_ISO.get(s.iso or "", "ERCO"))
              for sid, s in sites.items()}
    merge_sites(store, traced)
    return traced


def ingest_factors(store: ObjectStore, folder: Path, first: str = "2026-09-20", days: int = 50,
                   bas: tuple[str, ...] = ("ERCO", "PJM")) -> None:
    start = datetime.fromisoformat(first).replace(tzinfo=timezone.utc)
    rows = [r for ba in bas for r in factor_rows(ba, start, days * 24, seed=len(ba))]
    ingest_grid_factors(store, [write_factors(folder / "factors.csv", rows)], now_utc=NOW)


def run_in_process(store: ObjectStore, spec: dict, job_id: str, *, partition_size: int = 1,
                   reverse: bool = False, now_utc: datetime = NOW) -> dict:
    """A job of ``spec`` without Ray: plan, every partition (in reverse order on request,
    each on a fresh worker cache), commit, reduce: as the executor does."""
    from jobs.kinds import get_kind
    from jobs.parts import commit_part
    from jobs.specs import parse_spec
    from jobs.tasks import JobContext, WorkerContext
    parsed = parse_spec(spec)
    kind = get_kind(parsed.kind)
    jctx = JobContext(store=store, job_id=job_id, now_utc=now_utc, partition_size=partition_size)
    parts = kind.plan(parsed, jctx)
    results = {}
    for part in (reversed(parts) if reverse else parts):
        wctx = WorkerContext(store=store, job_id=job_id, attempt=1, cache={})
        results[part.key] = kind.run_partition(part, wctx)
        commit_part(store, job_id, part.key, results[part.key], attempt=1, objects=wctx.staged)
    return kind.reduce(parsed, dict(sorted(results.items())), jctx)
