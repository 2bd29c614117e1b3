"""A real multi-node Ray cluster on this machine, started the way production starts one.

``RayNodes`` runs ``ray start --head --num-cpus=0`` and worker nodes
``ray start --address=<head>``, each a separate ``--block`` process tree with its own
short ``--temp-dir`` under one root (``/tmp/m2c-XXXXXXXX``: AF_UNIX socket paths must
stay under 107 bytes), started from the repository folder (a process whose working
folder holds a ``ray`` session folder imports it instead of Ray), with token
authentication on (``RAY_AUTH_MODE=token`` and one random ``RAY_AUTH_TOKEN`` for every
process; nothing is written to ``~/.ray``). That is what ``ray_config.yaml``'s start
commands and KubeRay's pods run, so a job that works here took the production path.

A node's processes are the ones whose command line names its temp dir: the
``ray start`` process, the raylet, its agents, and the workers the raylet spawned (in
process groups of their own). :meth:`RayNodes.kill` SIGKILLs all of them, as a lost
machine or pod would; :meth:`RayNodes.freeze` SIGSTOPs them (a hung node).
:meth:`RayNodes.stop` ends every process of every node the same way. ``ray stop`` is
never used: it ends every Ray process on the machine, other clusters' included.

The head's GCS checks node health every second and gives up after three misses (the
default is about 15 s), so a lost node is noticed quickly; nothing else is tuned.

``python -m tests.support.ray_nodes HOST:PORT`` prints the cluster's nodes as JSON,
read straight from the GCS (no driver): the tests use it, in a child process with the
cluster's token, to see which nodes are alive.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _session(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[3])


def node_pids(temp_dir: Path, session: int | None = None) -> list[int]:
    """Processes of the node whose ``--temp-dir`` is ``temp_dir``: their command line
    names it, or they are in ``session`` (the ``ray start`` process's own session: the
    agents rename themselves ``ray::DashboardAgent``, and outlive the raylet a while)."""
    own, inside = str(temp_dir), f"{temp_dir}/"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if (session is not None and _session(pid) == session) or any(
                a == own or a.endswith(f"={own}") or inside in a for a in _cmdline(pid)):
            pids.append(pid)
    return pids


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class Node:
    name: str
    temp_dir: Path
    num_cpus: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None


@dataclass
class RayNodes:
    root: Path
    token: str
    #: object store per node: small, this is a 2-core test machine
    object_store_bytes: int = 128 * 1024**2
    nodes: dict[str, Node] = field(default_factory=dict)
    address: str | None = None

    @property
    def env(self) -> dict[str, str]:
        """What every process that talks to this cluster sets (the API, ``ray status``)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                "RAY_USAGE_STATS_ENABLED": "0"}

    def _start(self, name: str, args: list[str], num_cpus: int, extra_env: dict[str, str]) -> Node:
        node = Node(name, self.root / name, num_cpus)
        node.temp_dir.mkdir(parents=True, exist_ok=True)
        node.log_path = self.root / f"{name}.log"
        env = {**os.environ, **self.env, **extra_env}
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(
                [str(RAY), "start", *args, f"--num-cpus={num_cpus}", f"--temp-dir={node.temp_dir}",
                 f"--object-store-memory={self.object_store_bytes}",
                 f"--dashboard-agent-listen-port={free_port()}",
                 "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats", "--block"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.nodes[name] = node
        return node

    def start_head(self, timeout_s: float = 120) -> str:
        port = free_port()
        self._start("head", ["--head", f"--port={port}", "--include-dashboard=false",
                             f"--dashboard-port={free_port()}"], 0,
                    {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                     "RAY_health_check_failure_threshold": "3"})
        self.address = f"127.0.0.1:{port}"
        self.wait_for(lambda ns: any(n["head"] and n["alive"] for n in ns), timeout_s, "the head")
        return self.address

    def start_worker(self, name: str, num_cpus: int, timeout_s: float = 120) -> Node:
        """Start (or restart, in the same temp dir) worker node ``name``; returns once
        the GCS sees it alive."""
        assert self.address, "start the head first"
        old = self.nodes.get(name)
        if old is not None and old.proc is not None and old.proc.poll() is None:
            raise RuntimeError(f"node {name} is running")
        node = self._start(name, [f"--address={self.address}"], num_cpus, {})
        self.wait_for(lambda ns: self._alive(ns, node), timeout_s, f"worker node {name}")
        return node

    def _alive(self, infos: list[dict], node: Node) -> bool:
        return any(n["alive"] and n["temp_dir"] == str(node.temp_dir) for n in infos)

    def is_up(self, name: str) -> bool:
        node = self.nodes.get(name)
        return node is not None and node.proc is not None and node.proc.poll() is None

    def titles(self, name: str) -> list[str]:
        """Process titles on node ``name`` (a Ray worker names itself after its actor and
        call, e.g. ``ray::PartitionWorker.run``)."""
        node = self.nodes[name]
        return [_cmdline(pid)[0] for pid in node_pids(node.temp_dir, node.proc.pid if node.proc else None)
                if _cmdline(pid)]

    def freeze(self, name: str) -> list[int]:
        """SIGSTOP every process of node ``name`` (a hung machine)."""
        node = self.nodes[name]
        pids = node_pids(node.temp_dir, node.proc.pid if node.proc else None)
        _signal_all(pids, signal.SIGSTOP)
        return pids

    def kill(self, name: str) -> list[int]:
        """SIGKILL every process of node ``name`` (a lost machine); returns their pids."""
        node = self.nodes[name]
        killed: set[int] = set()
        for _ in range(20):          # the raylet may have been spawning a worker
            pids = [p for p in node_pids(node.temp_dir, node.proc.pid if node.proc else None)
                    if p not in killed]
            if not pids and (node.proc is None or node.proc.poll() is not None):
                break
            _signal_all(pids, signal.SIGKILL)
            _signal_all(pids, signal.SIGCONT)
            killed.update(pids)
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    pass
        return sorted(killed)

    def infos(self) -> list[dict]:
        """The cluster's nodes as the GCS sees them (a child process with the token)."""
        assert self.address
        out = subprocess.run([sys.executable, "-m", "tests.support.ray_nodes", self.address],
                             cwd=REPO, env={**os.environ, **self.env}, capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"cannot read the nodes of {self.address}: {out.stderr[-2000:]}")
        return json.loads(out.stdout)

    def wait_for(self, predicate, timeout_s: float, what: str) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            for node in self.nodes.values():
                if node.proc is not None and node.proc.poll() is not None and node.name == "head":
                    raise RuntimeError(f"the head exited; see {node.log_path}")
            try:
                infos = self.infos()
                if predicate(infos):
                    return infos
                last = infos
            except RuntimeError as exc:      # the GCS is not up yet
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}: {last}")

    def stop(self) -> None:
        """End every process of every node (workers first), then remove the root."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            node = self.nodes[name]
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()        # `ray start --block` stops its processes
                try:
                    node.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            self.kill(name)
        shutil.rmtree(self.root, ignore_errors=True)


def _print_nodes(address: str) -> None:
    from ray._raylet import GcsClient
    infos = GcsClient(address=address).get_all_node_info(timeout=30)
    print(json.dumps([{
        "node_id": info.node_id.hex(), "alive": info.state == 0, "head": info.is_head_node,
        "temp_dir": info.temp_dir, "cpus": info.resources_total.get("CPU", 0.0),
    } for info in infos.values()]))


if __name__ == "__main__":
    _print_nodes(sys.argv[1])
