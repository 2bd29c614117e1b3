"""Fixtures of the ``m2c --api`` tests: an API server on a store of its own, the CLI on
another.

The server's home holds the demo portfolio (two sites, their contracts, a month of
meter data, prices and indices) and one settled, published invoice; the API serves it
from a real uvicorn in a thread (``ServerThread``). The CLI runs in-process with
``M2C_HOME`` in a different, empty folder: whatever a command prints with ``--api``
can only have come from the server.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from api.keystore import KeyStore
from api.settings import Settings
from storage.config import StorageConfig

ROLES = ("scheduler", "analyst", "investor", "admin")
PERIOD = "2026-10"
CONTRACT = "PPA-TX-DC1"


@dataclass
class QueueOnlyDispatcher:
    """The executor seam with nothing behind it: accepted jobs stay queued."""

    submitted: list[str] = field(default_factory=list)

    def start(self) -> None:
        pass

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def cancel(self, job_id: str) -> None:
        pass

    def is_running(self, job_id: str) -> bool:
        return False

    def reconcile(self, catalog, *, now_utc: datetime) -> None:
        pass

    def ping(self) -> bool:
        return True


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port in a background thread."""

    def __init__(self, app):
        import uvicorn
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                                    timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


def point_cli_at(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Point the in-process CLI's settings at ``home`` (nothing else leaks in)."""
    mp.setenv("M2C_HOME", str(home))
    mp.setenv("M2C_STORAGE", f"file://{home / 'store'}")
    for var in ("M2C_DB", "RAY_ADDRESS", "M2C_API_URL", "M2C_API_KEY", "M2C_S3_ENDPOINT",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        mp.delenv(var, raising=False)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from api.cli.main import main
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def server_home(tmp_path_factory, ray_cluster) -> Path:
    """The server's home: the demo portfolio and a settled PERIOD of CONTRACT."""
    from api.cli.main import main
    from tests.support.portfolio import load_demo
    root = tmp_path_factory.mktemp("server")
    home = root / "home"
    load_demo(StorageConfig(uri=f"file://{home / 'store'}"), root / "files")
    with pytest.MonkeyPatch.context() as mp:
        point_cli_at(mp, home)
        assert main(["settle", "--period", PERIOD, "--contract", CONTRACT]) == 0
    return home


@pytest.fixture(scope="module")
def server(server_home):
    """The API on the server's home; ``server.keys[role]`` is a key of each role."""
    from api.app import create_app
    settings = Settings.from_env({"M2C_HOME": str(server_home),
                                  "M2C_STORAGE": f"file://{server_home / 'store'}"})
    store = KeyStore(settings.db_url)
    now = datetime.now(timezone.utc)
    keys = {role: store.create(role, now_utc=now, label=f"test {role}") for role in ROLES}
    with ServerThread(create_app(settings, dispatcher=QueueOnlyDispatcher())) as srv:
        srv.settings = settings
        srv.keys = {role: key for role, (_, key) in keys.items()}
        srv.key_ids = {role: rec.key_id for role, (rec, _) in keys.items()}
        yield srv


@pytest.fixture
def cli_home(tmp_path, monkeypatch) -> Path:
    """The CLI's own, empty home (another folder than the server's)."""
    home = tmp_path / "cli"
    point_cli_at(monkeypatch, home)
    return home


@pytest.fixture
def remote(server, cli_home, monkeypatch):
    """``[--api URL]`` for argv, with M2C_API_KEY set to the role asked by ``as_role``."""
    def as_role(role: str | None) -> list[str]:
        if role is None:
            monkeypatch.delenv("M2C_API_KEY", raising=False)
        else:
            monkeypatch.setenv("M2C_API_KEY", server.keys[role])
        return ["--api", server.url]
    return as_role


def loads(text: str):
    return json.loads(text)
