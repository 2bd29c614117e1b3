"""A real PostgreSQL server for the tests, from the Debian packages (``initdb``, ``pg_ctl``).

One server per test session, started on first use (``postgres_server`` in
``tests/conftest.py``) and stopped at the end:

* its cluster in a fresh temporary folder (a short path: the Unix socket lives there
  too, and socket paths are limited to ~100 bytes), created by ``initdb`` with a
  password for the ``m2c`` user, so the tests connect with the documented URL form
  ``postgresql://m2c:<password>@127.0.0.1:<port>/<db>`` (SCRAM over TCP);
* listening on loopback only (``listen_addresses=127.0.0.1``), on a free port;
* with durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
  data is thrown away at the end, and the 2-core CI box has better uses for its disk.
  Never do this outside tests;
* run as an unprivileged user when the tests run as root (``initdb`` refuses root): the
  ``postgres`` user of the Debian package, else ``nobody``.

Each test that asks for a PostgreSQL catalog gets a database of its own
(:meth:`PostgresServer.create_database`, dropped after the test), so tests never see
each other's jobs. The binaries are found in ``M2C_TEST_PG_BIN`` when it is set (and
only there), else in ``/usr/lib/postgresql/<newest>/bin`` (Debian), then ``PATH``; without them
:func:`find_bindir` says why, and the tests that need the server are skipped with that
reason and counted in the session summary (``tests/conftest.py``).
"""
from __future__ import annotations

import atexit
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

USER = "m2c"
INSTALL_HINT = "install the Debian package 'postgresql' (.ci/run does)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start (the reason says which)."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; ``PostgresUnavailable`` if none."""
    chosen = os.environ.get("M2C_TEST_PG_BIN")
    if chosen:                                 # set: that folder and no other
        candidates = [Path(chosen)]
    else:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                            reverse=True)
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    where = f"in M2C_TEST_PG_BIN={chosen}" if chosen else "in /usr/lib/postgresql/*/bin or PATH"
    raise PostgresUnavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) {where}: "
                              f"{INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise PostgresUnavailable("running as root and no unprivileged user (postgres, nobody) "
                              "to run the PostgreSQL server as")


class PostgresServer:
    """A throw-away PostgreSQL cluster on loopback (see the module docstring)."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.password = secrets.token_urlsafe(12)
        self.root = Path(tempfile.mkdtemp(prefix="m2cpg-", dir="/tmp"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._as = _server_user()
        self._admin = None
        self._admin_lock = threading.Lock()
        self._numbers = itertools.count()
        self._started = False

    # -- life cycle
    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        kw = {}
        if self._as is not None:
            kw = {"user": self._as[0], "group": self._as[1], "extra_groups": []}
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True,
                              text=True, timeout=timeout, cwd=self.root, **kw)

    def start(self) -> "PostgresServer":
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as is not None:
            os.chown(self.root, *self._as)
            os.chown(pwfile, *self._as)
        done = self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                         "--no-locale", "--no-sync", "--no-instructions")
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({done.returncode}): {done.stderr.strip()[-800:]}")
        for _attempt in range(3):                 # the free port may be taken meanwhile
            self.port = _free_port()
            options = " ".join([
                "-c listen_addresses=127.0.0.1", f"-p {self.port}",
                f"-c unix_socket_directories={self.root}",
                "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
                "-c max_connections=300", "-c shared_buffers=32MB", "-c max_wal_size=256MB",
            ])
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                             "-w", "-t", "60", "start")
            if done.returncode == 0:
                self._started = True
                atexit.register(self.stop)
                return self
        tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed: {done.stderr.strip()[-500:]}\n{tail}")

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._started:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases
    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def _admin_execute(self, sql: str) -> None:
        import psycopg
        with self._admin_lock:
            if self._admin is None or self._admin.closed:
                self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
            self._admin.execute(sql)

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"m2c_t{next(self._numbers):05d}_{secrets.token_hex(3)}"
        self._admin_execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url`` (this process's pooled connections closed first;
        any other session on it is ended)."""
        from jobs.db import close_pools
        close_pools(url)
        name = url.rsplit("/", 1)[1]
        self._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
