"""Connect to Ray: an existing cluster, the local cluster, or an embedded one.

The only module that calls ``ray.init``. Settings are passed in by the entry point.
Which Ray a process uses (:func:`ensure_ray`):

1. ``ClusterConfig.address`` (``RAY_ADDRESS``): join that cluster;
2. else the local cluster ``m2c cluster start`` keeps running (``cluster.local``,
   recorded in ``ClusterConfig.local_state_file``), if it answers: join it;
3. else start an embedded Ray in this process; it ends with the process.

:func:`shutdown` leaves a joined cluster running and ends an embedded one completely:
``ray.shutdown()`` leaves the raylet's dashboard and runtime-env agents behind (they
outlive it by minutes, some ignoring SIGTERM; engineering notes), so the processes of
the embedded node, found as this process's Ray children and their descendants before
it shuts down, are ended too.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import ray

from engine.errors import JobError

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
    local_state_file: str | None = None  # where `m2c cluster start` records the local cluster
    #: a job fails after this many seconds with no worker up while the cluster offers
    #: no CPU at all (worker nodes lost or never started); None: wait for ever
    worker_wait_s: float | None = 900.0


#: how this process got its Ray: "starting" / "embedded" (started here), "joined", or None
_mode: str | None = None


def ensure_ray(config: ClusterConfig) -> str:
    """Start or join Ray once per process. Returns what happened: ``"embedded"`` (an
    embedded Ray was started), ``"joined"`` (``config.address``, or the local cluster),
    or ``"connected"`` (this process was connected already: nothing done)."""
    global _mode
    if ray.is_initialized():
        return "connected"
    # Loopback embedded clusters need neither usage stats nor token auth.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = config.address
    if address is None:
        from .local import read
        local = read(config.local_state_file)
        if local is not None:
            if local.ray_version != ray.__version__:
                raise JobError(f"the local Ray cluster at {local.address} runs Ray "
                               f"{local.ray_version}, this m2c Ray {ray.__version__}: stop it "
                               "(`m2c cluster stop`) and start it again")
            address = local.address
            os.environ["RAY_AUTH_MODE"] = "disabled"   # as `m2c cluster start` runs it (loopback)
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        _mode = "starting"               # shutdown() ends its processes even mid-start
        with _quiet_thread_warning():
            # address="local": a new node of our own, never a cluster someone else's
            # `ray start` left in /tmp/ray/ray_current_cluster (ray.init's default)
            ray.init(address="local", num_cpus=config.num_cpus, include_dashboard=False,
                     log_to_driver=False,
                     object_store_memory=config.object_store_memory, namespace=config.namespace,
                     logging_level=logging.WARNING, configure_logging=False)
        _mode = "embedded"
        logger.info("started embedded Ray with %s CPUs", ray.cluster_resources().get("CPU"))
        return "embedded"
    with _quiet_thread_warning():
        ray.init(address=address, namespace=config.namespace, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
    _mode = "joined"
    logger.info("joined Ray cluster at %s", address)
    return "joined"


class _DropThreadWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SIGTERM handler is not set")


@contextlib.contextmanager
def _quiet_thread_warning() -> Iterator[None]:
    """``ray.init`` outside the main thread (the API connects from its reconciler) warns
    that it cannot set its SIGTERM handler: by design here (the process's own handlers
    stop it, then :func:`shutdown`), so that one warning is dropped while it connects."""
    if threading.current_thread() is threading.main_thread():
        yield
        return
    worker_logger = logging.getLogger("ray._private.worker")
    quiet = _DropThreadWarning()
    worker_logger.addFilter(quiet)
    try:
        yield
    finally:
        worker_logger.removeFilter(quiet)


def connected() -> bool:
    """Is this process connected to a Ray (``ensure_ray`` would do nothing)?"""
    return ray.is_initialized()


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
    """Disconnect; an embedded Ray is ended with every process of its node (also when it
    is still starting in another thread: its processes are this process's children)."""
    global _mode
    leftovers = _embedded_processes() if _mode in ("starting", "embedded") else []
    if ray.is_initialized():
        ray.shutdown()
    _mode = None
    if leftovers:
        from .local import end_processes
        ended = end_processes(leftovers, grace_s=3.0)
        logger.info("embedded Ray stopped (%d processes)", ended)


def _embedded_processes() -> list:
    """The processes of the embedded node: this process's children that Ray started
    (GCS, raylet, monitors: their command lines name Ray's package folder) and all their
    descendants (agents and workers, which rename themselves)."""
    from .local import _psutil, _with_descendants
    psutil = _psutil()
    ray_dir = os.path.dirname(ray.__file__)
    roots = []
    try:
        children = psutil.Process().children()
    except psutil.NoSuchProcess:          # pragma: no cover
        return []
    for child in children:
        try:
            if any(ray_dir in part for part in child.cmdline()):
                roots.append(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return _with_descendants(roots)
