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


class ChildServer:
    """An HTTP server in a child process (``args``, ``env`` on top of this process's),
    its output appended to ``log_path``; ready once ``/readyz`` answers 200. A context
    manager: entering starts it and waits until it is ready; :meth:`kill` is a crash
    (SIGKILL, no shutdown hooks), leaving the context a clean stop."""

    name = "server"

    def __init__(self, args: list[str], env: dict[str, str], *, log_path, cwd=None):
        import os
        self.args = args
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.cwd = cwd
        self.proc = None

    def start(self) -> None:
        import subprocess
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.cwd, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 90):
        import httpx
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} not ready within {timeout_s:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def __enter__(self):
        self.start()
        return self.wait_ready()

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown hooks."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def __exit__(self, *exc: object) -> None:
        import subprocess
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class ServerProcess(ChildServer):
    """``m2c serve`` in a child process (a real API process: killable, restartable).

    ``env`` carries the settings (M2C_HOME, M2C_STORAGE, M2C_DB, RAY_ADDRESS ...); the
    child joins the Ray cluster at RAY_ADDRESS.
    """

    name = "m2c serve"

    def __init__(self, env: dict[str, str], *, log_path, reconcile_interval_s: float = 0.5,
                 stale_after_s: float = 1.0):
        import sys
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "api.cli.main", "serve", "--port", str(self.port),
                          "--reconcile-interval-s", str(reconcile_interval_s),
                          "--stale-after-s", str(stale_after_s)], env, log_path=log_path)


def until(predicate, timeout_s: float, what: str):
    """Poll ``predicate`` every 0.1 s until it returns something truthy (returned), or
    fail the test naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
