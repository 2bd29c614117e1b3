"""Prometheus metrics of one API process (one ``CollectorRegistry`` per app).

* ``m2c_jobs{state}`` — gauge, read from the catalog at scrape time (so it is the
  cluster-wide truth, whichever process ran the jobs).
* ``m2c_job_partitions_active{kind,which="done|total"}`` — partition progress of the
  jobs not yet terminal, from the catalog at scrape time.
* ``m2c_job_partitions_processed_total{kind}`` and ``m2c_job_duration_seconds{kind,state}``
  — counter and histogram fed by :meth:`ApiMetrics.observe_jobs`: each reconciler pass
  hands it the jobs that left the live set since the last pass plus the newest page;
  each job is counted once, when first seen terminal by this process (duration =
  finished_at - started_at, or - created_at if it never started).
  Counters restart at 0 with the process, as Prometheus counters may.
* ``m2c_http_requests_total{method,route,status}`` and
  ``m2c_http_request_duration_seconds{method,route}`` — per route *template*
  (``/v1/jobs/{job_id}``), so label cardinality stays bounded.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.states import TERMINAL_STATES, JobState

JOB_STATES = tuple(str(s) for s in JobState)
_SEEN_CAP = 10_000

# Month-end settlement runs seconds to hours; rebills of decades longer.
_JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, float("inf"))
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, float("inf"))


class _CatalogCollector(Collector):
    def __init__(self, catalog_fn: Callable[[], Any]):
        self._catalog_fn = catalog_fn

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """Names only, so registering does not query the catalog."""
        yield GaugeMetricFamily("m2c_jobs", "Jobs in the catalog by state.", labels=["state"])
        yield GaugeMetricFamily("m2c_job_partitions_active",
                                "Partition progress of non-terminal jobs.", labels=["kind", "which"])

    def collect(self) -> Iterable[GaugeMetricFamily]:
        catalog = self._catalog_fn()
        if catalog is None:
            return
        jobs = GaugeMetricFamily("m2c_jobs", "Jobs in the catalog by state.", labels=["state"])
        counts = catalog.counts_by_state()
        for state in sorted(set(JOB_STATES) | set(counts)):
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        active = GaugeMetricFamily("m2c_job_partitions_active",
                                   "Partition progress of non-terminal jobs.",
                                   labels=["kind", "which"])
        sums: dict[str, list[int]] = {}
        for rec in catalog.nonterminal():
            s = sums.setdefault(rec.kind, [0, 0])
            s[0] += int(rec.progress_done or 0)
            s[1] += int(rec.progress_total or 0)
        for kind, (done, total) in sorted(sums.items()):
            active.add_metric([kind, "done"], done)
            active.add_metric([kind, "total"], total)
        yield active


class ApiMetrics:
    def __init__(self, catalog_fn: Callable[[], Any]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_CatalogCollector(catalog_fn))
        self.http_requests = Counter("m2c_http_requests", "HTTP requests served.",
                                     ["method", "route", "status"], registry=self.registry)
        self.http_latency = Histogram("m2c_http_request_duration_seconds",
                                      "HTTP request latency, first byte in to last byte out.",
                                      ["method", "route"], buckets=_HTTP_BUCKETS,
                                      registry=self.registry)
        self.job_duration = Histogram("m2c_job_duration_seconds",
                                      "Wall time of finished jobs, start to terminal state.",
                                      ["kind", "state"], buckets=_JOB_BUCKETS,
                                      registry=self.registry)
        self.partitions = Counter("m2c_job_partitions_processed",
                                  "Partitions processed by jobs that finished.",
                                  ["kind"], registry=self.registry)
        self._seen: OrderedDict[str, None] = OrderedDict()

    def observe_jobs(self, records: Iterable[Any]) -> None:
        """Count terminal jobs not yet counted (called from the reconciler tick)."""
        for rec in records:
            if rec.state not in TERMINAL_STATES or rec.id in self._seen:
                continue
            self._seen[rec.id] = None
            if len(self._seen) > _SEEN_CAP:
                self._seen.popitem(last=False)
            start = rec.started_at or rec.created_at
            if rec.finished_at is not None and start is not None:
                seconds = max(0.0, (rec.finished_at - start).total_seconds())
                self.job_duration.labels(rec.kind, rec.state).observe(seconds)
            self.partitions.labels(rec.kind).inc(int(rec.progress_done or 0))


class HttpMetricsMiddleware:
    """Pure ASGI middleware: request count and latency per route template."""

    def __init__(self, app: Any, metrics: ApiMetrics):
        self.app = app
        self.requests = metrics.http_requests
        self.latency = metrics.http_latency

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.latency.labels(method, template).observe(time.perf_counter() - start)
            self.requests.labels(method, template, str(status)).inc()
