"""Connect to Ray: an embedded local cluster (RAY_ADDRESS unset) or an existing one.

The only module that calls ``ray.init``. Settings are passed in by the entry point.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import ray

logger = logging.getLogger(__name__)

NAMESPACE = "meter2cash"


@dataclass(frozen=True)
class ClusterConfig:
    address: str | None = None           # None: start an embedded local Ray
    num_cpus: int | None = None          # embedded only; None: all CPUs
    workers: int | None = None           # worker-actor pool size; None: all CPUs Ray offers
    object_store_memory: int | None = 256 * 1024**2   # embedded only
    namespace: str = NAMESPACE
    partition_size: int = 1              # items (e.g. site-months) per partition; never changes results
    #: a job fails after this many seconds with no worker up while the cluster offers
    #: no CPU at all (worker nodes lost or never started); None: wait for ever
    worker_wait_s: float | None = 900.0


def ensure_ray(config: ClusterConfig) -> None:
    """Start or join Ray once per process; a no-op when already connected."""
    if ray.is_initialized():
        return
    # Loopback embedded clusters need neither usage stats nor token auth.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if config.address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=config.num_cpus, include_dashboard=False, log_to_driver=False,
                 object_store_memory=config.object_store_memory, namespace=config.namespace,
                 logging_level=logging.WARNING, configure_logging=False)
        logger.info("started embedded Ray with %s CPUs", ray.cluster_resources().get("CPU"))
    else:
        ray.init(address=config.address, namespace=config.namespace, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
        logger.info("joined Ray cluster at %s", config.address)


def cluster_cpus() -> int:
    """CPUs of the cluster's live nodes now (0 on a ``CPU: 0`` head before any worker
    node joined, or after every worker node was lost)."""
    return int(ray.cluster_resources().get("CPU", 0))


def pool_size(config: ClusterConfig) -> int:
    """Worker-actor pool size: the setting, else every CPU the cluster offers now (at
    least 1: on a head without CPUs, one worker waits for the first worker node, and
    the executor grows the pool as nodes join)."""
    if config.workers:
        return config.workers
    return max(1, cluster_cpus())


def ping(timeout_s: float = 2.0) -> bool:
    """Is Ray reachable from this process, with a live node? For ``/readyz``: never
    raises and answers within ``timeout_s`` even if the GCS hangs."""
    if not ray.is_initialized():
        return False
    answer: dict[str, bool] = {}

    def probe() -> None:
        try:
            answer["ok"] = any(n.get("Alive") for n in ray.nodes())
        except Exception:        # GCS unreachable, connection lost, ...
            logger.debug("Ray ping failed", exc_info=True)

    thread = threading.Thread(target=probe, name="m2c-ray-ping", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return answer.get("ok", False)


def gcs_address() -> str | None:
    """``host:port`` of the connected cluster's GCS: what another process (the CLI, a
    second API replica) sets as ``RAY_ADDRESS`` to join this Ray. None if not connected."""
    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().gcs_address


def current_namespace() -> str | None:
    return ray.get_runtime_context().namespace if ray.is_initialized() else None


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()
