"""Hand-off from the web process to the executor.

The API never runs jobs. ``POST /v1/jobs`` commits the catalog row first and then asks
a :class:`JobDispatcher` to start it; if that hand-off fails (Ray down, API killed in
between), the row stays ``queued`` and the periodic reconciler submits it again.
Submissions are idempotent because the runner is a named detached actor
(``m2c-job-<id>``, ``get_if_exists``), so a double submit reaches the same runner.

:class:`RayDispatcher` is the production implementation over ``cluster.job_runner``
(``api`` reaches Ray only through ``cluster``). The protocol is the seam route tests use
to run without an executor.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from engine.errors import JobError

logger = logging.getLogger(__name__)


class ExecutorUnavailable(JobError):
    """The executor cannot be reached right now (the job stays queued)."""


class JobDispatcher(Protocol):
    def start(self) -> None:
        """Connect to the executor (blocking; called once at start-up, retried if it fails)."""

    def submit(self, job_id: str) -> None:
        """Start the runner of a committed, queued job (idempotent)."""

    def cancel(self, job_id: str) -> None:
        """Forward a cancellation already recorded in the catalog to the runner."""

    def is_running(self, job_id: str) -> bool:
        """Whether the job's runner is alive."""

    def reconcile(self, catalog: Any, *, now_utc: datetime) -> None:
        """Resubmit queued jobs without a runner and running jobs whose runner died."""

    def ping(self) -> bool:
        """Whether the executor is reachable (for ``/readyz``)."""


class RayDispatcher:
    """Detached JobRunner actors on Ray (embedded if ``cluster_config.address`` is None)."""

    def __init__(self, *, storage_config: Any, db_url: str, cluster_config: Any):
        self.storage_config = storage_config
        self.db_url = db_url
        self.cluster_config = cluster_config
        self._connected = False

    def start(self) -> None:
        from cluster.runtime import ensure_ray
        self._mode = ensure_ray(self.cluster_config)
        self._connected = True

    def stop(self) -> None:
        """Disconnect from Ray at API shutdown; an embedded Ray this dispatcher started is
        ended with every process of its node (a joined cluster keeps running). Called
        while the thread that started Ray still lives: Ray's processes die with it."""
        if getattr(self, "_mode", None) in ("embedded", "joined"):
            from cluster.runtime import shutdown
            shutdown()
        self._connected = False

    def submit(self, job_id: str) -> None:
        if not self._connected:
            # Never connect from a request: that can block for as long as Ray's own
            # connect timeout. The reconciler connects, then starts every queued job.
            raise ExecutorUnavailable("not connected to Ray yet; the reconciler will start the job")
        from cluster import job_runner
        job_runner.submit_detached(job_id, storage_config=self.storage_config,
                                   db_url=self.db_url, cluster_config=self.cluster_config)

    def cancel(self, job_id: str) -> None:
        if not self._connected:
            raise ExecutorUnavailable("not connected to Ray; the runner polls the catalog")
        from cluster import job_runner
        job_runner.cancel(job_id, namespace=self.cluster_config.namespace)

    def is_running(self, job_id: str) -> bool:
        from cluster import job_runner
        return bool(job_runner.is_running(job_id, namespace=self.cluster_config.namespace))

    def reconcile(self, catalog: Any, *, now_utc: datetime) -> None:
        from cluster import job_runner
        job_runner.reconcile(catalog, storage_config=self.storage_config, db_url=self.db_url,
                             cluster_config=self.cluster_config, now_utc=now_utc)

    def ping(self) -> bool:
        if not self._connected:
            return False
        try:
            from cluster.runtime import ping
            return bool(ping())
        except Exception:       # any failure to reach Ray means "not ready"
            logger.debug("Ray ping failed", exc_info=True)
            return False
