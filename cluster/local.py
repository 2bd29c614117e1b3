"""A local Ray cluster kept running between commands (``m2c cluster start|stop|status``).

Starting Ray costs seconds (4-7 s on a small machine, more when it is busy); an
embedded Ray is started and stopped by every ``m2c settle``. ``m2c cluster start``
runs ``ray start --head`` once, on loopback, and records where it is in a state file
(``$M2C_HOME/cluster.json``); while that cluster answers, ``m2c settle`` (and every
command that needs Ray, ``m2c serve`` included) joins it instead of starting one
(:func:`cluster.runtime.ensure_ray`), so a month-end starts in well under a second
of Ray time. ``RAY_ADDRESS``, when set, still wins: it names the cluster to join.

The cluster's processes are found by its own temporary folder (``--temp-dir``,
``/tmp/m2c-<uid>-<hash of the state file>``: short, because Ray's socket paths must fit
in 107 bytes), which every Ray process of it names on its command line, plus their
descendants (the dashboard and runtime-env agents rename themselves). ``stop`` ends
exactly those (SIGTERM, then SIGKILL after a grace period): never ``ray stop``, which
would kill every Ray on the machine.

Stdlib only at import (the CLI imports this to decide what to print before Ray is
imported); process inspection uses ``psutil``, imported on use.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import InputError, JobError

logger = logging.getLogger(__name__)

__all__ = ["LocalCluster", "read", "start", "stop", "temp_dir_for", "session_processes",
           "end_processes", "gcs_answers"]

START_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0


@dataclass(frozen=True)
class LocalCluster:
    """What ``m2c cluster start`` recorded: enough to join the cluster and to stop it."""

    address: str                     # GCS host:port (what RAY_ADDRESS would say)
    temp_dir: str                    # Ray's --temp-dir: names every process of this cluster
    num_cpus: int
    started_at: str                  # ISO 8601 UTC
    ray_version: str
    python: str                      # the interpreter whose Ray started it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def temp_dir_for(state_file: str | Path) -> str:
    """Ray's temp dir for the cluster of ``state_file``: short and unique per home."""
    digest = hashlib.sha256(str(Path(state_file).resolve()).encode()).hexdigest()[:10]
    return str(Path(tempfile.gettempdir()) / f"m2c-{os.getuid()}-{digest}")


def gcs_answers(address: str, timeout_s: float = 0.5) -> bool:
    """Does something listen at the GCS ``host:port``? (Cheap: one TCP connect.)"""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _load(state_file: Path) -> LocalCluster | None:
    try:
        doc = json.loads(state_file.read_text())
        return LocalCluster(**doc)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        logger.warning("ignoring unreadable local cluster state %s", state_file)
        return None


def read(state_file: str | Path | None) -> LocalCluster | None:
    """The local cluster recorded in ``state_file`` if it is up (its GCS answers), else
    None. A state file whose cluster is gone (a reboot, killed processes) is stale: it
    is ignored here and replaced by the next ``start``."""
    if not state_file:
        return None
    cluster = _load(Path(state_file))
    if cluster is None or not gcs_answers(cluster.address):
        return None
    return cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> list[str]:
    """``ray`` of this interpreter's environment (the cluster must run this Ray and
    this package's code)."""
    exe = Path(sys.executable).with_name("ray")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ray")
    if found is None:
        raise JobError("cannot find the `ray` command of this environment")
    return [found]


def start(state_file: str | Path, *, num_cpus: int | None = None,
          object_store_memory: int = 256 * 1024**2, cwd: str | Path | None = None
          ) -> tuple[LocalCluster, bool]:
    """Start the local cluster of ``state_file`` unless it is up; ``(cluster, started)``.

    ``ray start --head`` on loopback with a free GCS port, no dashboard, token auth
    off (loopback only, as the embedded default), ``num_cpus`` (default: every CPU)
    and a capped object store. Raises ``JobError`` with Ray's output if it fails."""
    state = Path(state_file)
    running = read(state)
    if running is not None:
        return running, False
    leftover = _load(state)
    if leftover is not None:                      # stale: clean what may remain of it
        end_processes(session_processes(leftover.temp_dir, _gcs_port(leftover)))
    cpus = num_cpus or os.cpu_count() or 1
    port = _free_port()
    temp_dir = temp_dir_for(state)
    args = [*_ray_cli(), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats",
            f"--temp-dir={temp_dir}", f"--object-store-memory={object_store_memory}",
            f"--ray-client-server-port={_free_port()}"]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    # a folder of its own as the working directory (never one holding a `ray` folder)
    workdir = Path(cwd) if cwd else state.parent
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(args, env=env, cwd=workdir, capture_output=True, text=True,
                              timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        end_processes(session_processes(temp_dir, port))
        raise JobError(f"`ray start` did not finish within {START_TIMEOUT_S:.0f} s") from None
    address = f"127.0.0.1:{port}"
    if done.returncode != 0 or not gcs_answers(address, timeout_s=5):
        end_processes(session_processes(temp_dir, port))
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise JobError(f"`ray start` failed (exit {done.returncode}):\n{tail}")
    import ray                                    # the version this environment runs
    cluster = LocalCluster(address=address, temp_dir=temp_dir, num_cpus=cpus,
                           started_at=datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                           ray_version=ray.__version__, python=sys.executable)
    tmp = state.with_name(state.name + ".tmp")
    tmp.write_text(json.dumps(cluster.to_dict(), indent=1, sort_keys=True) + "\n")
    os.replace(tmp, state)
    logger.info("started local Ray cluster at %s (%d CPUs)", address, cpus)
    return cluster, True


def stop(state_file: str | Path, *, grace_s: float = STOP_GRACE_S) -> tuple[LocalCluster | None, int]:
    """Stop the local cluster of ``state_file`` (its processes only) and forget it;
    ``(cluster or None if none was recorded, processes ended)``."""
    state = Path(state_file)
    cluster = _load(state)
    temp_dir = cluster.temp_dir if cluster else temp_dir_for(state)
    ended = end_processes(session_processes(temp_dir, _gcs_port(cluster)), grace_s=grace_s)
    state.unlink(missing_ok=True)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return cluster, ended


# -- processes ----------------------------------------------------------------------------

def _psutil():
    import psutil
    return psutil


def session_processes(marker: str, gcs_port: int | None = None) -> list:
    """Live processes whose command line names ``marker`` (a Ray temp or session
    folder) or, given ``gcs_port``, whose ``--address``/``--gcs-address`` is that GCS
    port (the Ray Client server ``ray start`` spawns names no folder), and all their
    descendants (agents and workers rename themselves)."""
    psutil = _psutil()
    suffix = f":{gcs_port}" if gcs_port else None
    roots = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = proc.info["cmdline"] or []
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if proc.pid == os.getpid():
            continue
        if any(marker in part for part in cmdline) or (suffix and any(
                part.startswith(("--address=", "--gcs-address=")) and part.endswith(suffix)
                for part in cmdline)):
            roots.append(proc)
    return _with_descendants(roots)


def _gcs_port(cluster: LocalCluster | None) -> int | None:
    try:
        return int(cluster.address.rpartition(":")[2]) if cluster else None
    except ValueError:
        return None


def _with_descendants(roots: list) -> list:
    psutil = _psutil()
    seen: dict[int, Any] = {}
    for proc in roots:
        seen.setdefault(proc.pid, proc)
        try:
            for child in proc.children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
    seen.pop(os.getpid(), None)
    return list(seen.values())


def end_processes(procs: list, *, grace_s: float = STOP_GRACE_S) -> int:
    """SIGTERM ``procs``, then SIGKILL whatever is alive after ``grace_s``; returns how
    many were running. Processes that already exited (or are zombies) are skipped."""
    if not procs:
        return 0
    psutil = _psutil()
    alive = [p for p in procs if _alive(psutil, p)]
    for proc in alive:
        _signal(psutil, proc, "terminate")
    survivors = _wait_gone(psutil, alive, grace_s)
    for proc in survivors:
        logger.info("process %s ignored SIGTERM for %.0f s; killing it", proc.pid, grace_s)
        _signal(psutil, proc, "kill")
    if survivors:
        _wait_gone(psutil, survivors, grace_s)
    return len(alive)


def _alive(psutil, proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(psutil, proc, how: str) -> None:
    try:
        getattr(proc, how)()
    except psutil.NoSuchProcess:
        pass
    except psutil.AccessDenied:
        logger.warning("may not stop process %s", proc.pid)


def _wait_gone(psutil, procs: list, timeout_s: float) -> list:
    """Wait until none of ``procs`` runs (children are reaped); the survivors."""
    deadline = time.monotonic() + timeout_s
    pending = list(procs)
    while pending:
        psutil.wait_procs(pending, timeout=0.1)          # reaps our own children
        pending = [p for p in pending if _alive(psutil, p)]
        if not pending or time.monotonic() >= deadline:
            break
    return pending


def describe(cluster: LocalCluster) -> str:
    return (f"local Ray cluster at {cluster.address} ({cluster.num_cpus} CPUs, Ray "
            f"{cluster.ray_version}, since {cluster.started_at})")


def check_state_file(state_file: str | Path | None) -> Path:
    if not state_file:
        raise InputError("no local cluster state file configured (M2C_HOME)")
    return Path(state_file)
