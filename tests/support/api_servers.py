"""Helpers for the API tests: a dispatcher that starts nothing, and a real uvicorn server.

``QueueOnlyDispatcher`` is the executor seam of ``api.dispatch`` with no executor behind
it: jobs are committed and stay ``queued``. It is used where a test is about the HTTP
contract (auth, idempotency, schema), which must not depend on Ray; the tests marked
``ray`` run the real ``RayDispatcher``.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import uvicorn


@dataclass
class QueueOnlyDispatcher:
    submitted: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    fail_submit: bool = False

    def start(self) -> None:
        pass

    def submit(self, job_id: str) -> None:
        if self.fail_submit:
            raise ConnectionError("executor unreachable (test)")
        self.submitted.append(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def is_running(self, job_id: str) -> bool:
        return False

    def reconcile(self, catalog, *, now_utc: datetime) -> None:
        pass

    def ping(self) -> bool:
        return True


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port in a background thread."""

    def __init__(self, app, *, access_log: bool = False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, access_log=access_log,
                                timeout_graceful_shutdown=5, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"uvicorn-{self.port}", daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 60 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``m2c serve`` in a child process (a real API process: killable, restartable).

    ``env`` carries the settings (M2C_HOME, M2C_STORAGE, M2C_DB, RAY_ADDRESS ...); the
    child joins the Ray cluster at RAY_ADDRESS.
    """

    def __init__(self, env: dict[str, str], *, log_path, reconcile_interval_s: float = 0.5,
                 stale_after_s: float = 1.0):
        import os
        import sys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "api.cli.main", "serve", "--port", str(self.port),
                     "--reconcile-interval-s", str(reconcile_interval_s),
                     "--stale-after-s", str(stale_after_s)]
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc = None

    def __enter__(self) -> "ServerProcess":
        import subprocess
        import httpx
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"m2c serve exited with {self.proc.returncode}; "
                                   f"see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"m2c serve not ready within 90 s; see {self.log_path}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown hooks."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:
                self.kill()
        self._log.close()
