"""An API replica in a process of its own whose executor only records hand-offs.

``python -m tests.support.replica --port N --record FILE`` serves ``create_app`` for the
settings in the environment (``M2C_DB``: the shared catalog) with a dispatcher that
appends every job it is handed to ``FILE`` (one line per hand-off; ``O_APPEND`` writes of
one line are atomic, so several replicas may share the file) and starts nothing. Used
where a test's point is the shared catalog, not Ray (``tests/api/test_two_replicas.py``);
``m2c serve`` is the replica with the real executor.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.api_servers import QueueOnlyDispatcher, free_port

ROOT = Path(__file__).resolve().parents[2]


class RecordingDispatcher(QueueOnlyDispatcher):
    def __init__(self, record: Path):
        super().__init__()
        self.record = record

    def submit(self, job_id: str) -> None:
        super().submit(job_id)
        fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {job_id}\n".encode())
        finally:
            os.close(fd)


class ReplicaProcess:
    """This module's replica in a child process (``env``: its settings); ready once its
    ``/readyz`` answers 200. A context manager; :meth:`kill` is a crash (SIGKILL)."""

    def __init__(self, env: dict[str, str], *, record: Path, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "tests.support.replica", "--port", str(self.port),
                     "--record", str(record)]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "ReplicaProcess":
        self.start()
        return self

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 90) -> "ReplicaProcess":
        import httpx
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica not ready within {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def main() -> None:
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", type=Path, required=True)
    p.add_argument("--key-cache-ttl-s", type=float, default=1.0)
    args = p.parse_args()
    # a queued job is never re-submitted by the reconciler while the test runs: every
    # line in the record is a hand-off made by a POST
    app = create_app(Settings.from_env(), dispatcher=RecordingDispatcher(args.record),
                     reconcile_interval_s=0.5, stale_after_s=3600,
                     key_cache_ttl_s=args.key_cache_ttl_s)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
