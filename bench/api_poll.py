"""Benchmark: job-status polling latency while a job runs.

Starts ``m2c serve`` on a loopback port (its own process, embedded Ray unless
RAY_ADDRESS is set) against a fresh M2C_HOME, queues a long synthetic ``probe`` job in
the catalog (the API's reconciler starts it on Ray), waits until it runs, then has N
concurrent clients poll ``GET /v1/jobs/{id}`` for a fixed time and prints throughput
and latency percentiles. Target: p99 < 50 ms while the job runs.

Three runs by default: clients pausing 0.5 s between polls (what ``ApiClient.wait_job``
does), 0.1 s, and no pause (closed loop: the server's saturation point, where latency
is queueing: clients / throughput by Little's law).

    .venv/bin/python bench/api_poll.py [--clients 50] [--seconds 10]

Latency is measured client side (request sent -> body read), with keep-alive
connections, one asyncio client per simulated poller, in a separate process from the
server.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.keystore import KeyStore  # noqa: E402
from jobs.catalog import JobCatalog  # noqa: E402
from jobs.probe import ProbeSpec  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


async def poll(url: str, headers: dict[str, str], job_path: str, clients: int,
               seconds: float, interval_s: float) -> tuple[list[float], int, dict[str, int]]:
    """Each client polls, then sleeps ``interval_s`` (0: closed loop, as fast as it can)."""
    latencies: list[float] = []
    errors = 0
    states: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                     timeout=10) as c:
            if interval_s:                                 # spread the clients' phases
                await asyncio.sleep(random.uniform(0, interval_s))
            while time.perf_counter() < stop_at:           # bounded by the deadline
                t0 = time.perf_counter()
                r = await c.get(job_path)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1
                else:
                    state = r.json()["state"]
                    states[state] = states.get(state, 0) + 1
                if interval_s:
                    await asyncio.sleep(interval_s)

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return latencies, errors, states


_BUCKET = re.compile(r'^m2c_http_request_duration_seconds_bucket\{le="([^"]+)",method="GET",'
                     r'route="/v1/jobs/\{job_id\}"\} ([0-9.e+]+)$', re.M)


def server_buckets(url: str) -> dict[float, float]:
    """Cumulative server-side latency histogram of GET /v1/jobs/{job_id} from /metrics."""
    text = httpx.get(f"{url}/metrics").text
    return {float(le): float(n) for le, n in _BUCKET.findall(text)}


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """Upper bound of the histogram bucket holding quantile ``q`` of the requests in between."""
    delta = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = delta[-1][1] if delta else 0
    for le, cumulative in delta:
        if total and cumulative >= q * total:
            return f"<= {le * 1e3:g} ms" if le != float("inf") else "> last bucket"
    return "n/a"


def percentile(sorted_values: list[float], q: float) -> float:
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--interval-s", type=float, action="append", default=None,
                    help="pause between one client's polls; repeat for several runs "
                         "(default: 0.5 = ApiClient.wait_job's default, then 0.1, then 0 = "
                         "closed loop, the saturation point)")
    ap.add_argument("--job-items", type=int, default=120,
                    help="probe items (each 1 s of simulated work) so the job outlasts the run")
    ap.add_argument("--idle-job", action="store_true",
                    help="the job's workers sleep instead of burning CPU (default: every core "
                         "busy, like a month-end settlement)")
    ap.add_argument("--workers", type=int, default=None,
                    help="M2C_WORKERS for the job (default: every CPU). In production the API "
                         "runs on a head node offering no CPU to workers (ray_config.yaml); on "
                         "one 2-core box, --workers 1 leaves a core to the API the same way")
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="m2c-bench-api-"))
    db_url = f"sqlite:///{home / 'm2c.db'}"
    env = {**os.environ, "M2C_HOME": str(home), "M2C_STORAGE": f"file://{home / 'store'}",
           "M2C_DB": db_url, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT),
           **({"M2C_WORKERS": str(args.workers)} if args.workers else {})}
    now = datetime.now(timezone.utc)
    catalog = JobCatalog(db_url)
    catalog.init_schema()
    key = KeyStore(db_url).create("analyst", now_utc=now, label="bench")[1]
    job, _ = catalog.submit(ProbeSpec(items=args.job_items, work_ms=1000, seed=1,
                                      cpu=not args.idle_job),
                            principal="bench", now_utc=now)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "api.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "api.cli.main", "serve", "--port", str(port),
                               "--reconcile-interval-s", "1", "--stale-after-s", "0"],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.perf_counter()

        def ready() -> bool:
            if server.poll() is not None:
                raise SystemExit(f"m2c serve exited ({server.returncode}); see {home / 'api.log'}")
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 120, "the API to be ready")
        print(f"API ready in {time.perf_counter() - t0:.1f} s (embedded Ray start included)")
        headers = {"X-API-Key": key}
        job_path = f"/v1/jobs/{job.id}"
        # steady state: the job's worker pool is up (its start-up imports take both
        # cores of a small box for a few seconds) and partitions are completing
        wait_for(lambda: httpx.get(url + job_path, headers=headers).json()["progress"]["done"] >= 1,
                 120, "the job to run")
        print(f"host: {os.cpu_count()} CPUs; load average before: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for interval_s in args.interval_s or [0.5, 0.1, 0.0]:
            before = httpx.get(url + job_path, headers=headers).json()["progress"]
            buckets_before = server_buckets(url)
            latencies, errors, states = asyncio.run(
                poll(url, headers, job_path, args.clients, args.seconds, interval_s))
            buckets_after = server_buckets(url)
            after = httpx.get(url + job_path, headers=headers).json()
            lat = sorted(latencies)
            n = len(lat)
            mode = f"every {interval_s:g} s" if interval_s else "closed loop"
            print(f"\n{args.clients} clients polling {mode} for {args.seconds:.0f} s: "
                  f"{n} requests, {errors} errors, {n / args.seconds:.0f} requests/s")
            print(f"  latency ms: p50={percentile(lat, 0.50) * 1e3:.1f} "
                  f"p90={percentile(lat, 0.90) * 1e3:.1f} p99={percentile(lat, 0.99) * 1e3:.1f} "
                  f"max={lat[-1] * 1e3:.1f} mean={statistics.fmean(lat) * 1e3:.1f} (client side)")
            print(f"  server side (app time, /metrics histogram): "
                  f"p50 {bucket_quantile(buckets_before, buckets_after, 0.50)}, "
                  f"p99 {bucket_quantile(buckets_before, buckets_after, 0.99)}")
            print(f"  job while polling: {states}; progress {before['done']}/{before['total']} -> "
                  f"{after['progress']['done']}/{after['progress']['total']} ({after['state']}); "
                  f"load average {os.getloadavg()[0]:.2f}")
        # stop the job so the embedded cluster shuts down cleanly with the server
        httpx.post(f"{url}{job_path}/cancel", headers=headers)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
