"""``m2c serve``: run the HTTP API with uvicorn (one process; jobs run on Ray).

Start and stop are clean and quick:

* the port is bound **before** anything else starts (no Ray, no banner): a busy port is
  one line, ``error: cannot listen on HOST:PORT: ...``, and exit 1 at once;
* SIGINT and SIGTERM stop it gracefully (uvicorn finishes the requests in flight; the
  reconciler stops), then Ray is shut down: an embedded Ray with every process of its
  node (``cluster.runtime.shutdown``), a joined cluster (``RAY_ADDRESS`` or the local
  cluster) is left running. One line says so; exit 0 (SIGTERM) or 130 (SIGINT). Ray
  replaces the process's SIGTERM handler with its own crash reporter when it connects;
  the API takes it back (``api.app``), so a SIGTERM is a shutdown, not a crash trace.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading

from engine.errors import ConflictError

from ..settings import Settings
from .backend import local_only


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (OpenAPI at /docs)",
                              description="Serve the meter2cash HTTP API. Jobs are recorded in "
                                          "M2C_DB and run on Ray (RAY_ADDRESS, or an embedded "
                                          "local Ray when unset).")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind (default 127.0.0.1; use 0.0.0.0 behind a proxy)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--reconcile-interval-s", type=float, default=5.0, metavar="S",
                   help="how often the reconciler looks for orphaned jobs (default 5)")
    p.add_argument("--stale-after-s", type=float, default=10.0, metavar="S",
                   help="a queued job older than this without a runner is re-submitted "
                        "(default 10)")
    p.set_defaults(handler=serve)


class _Stop(Exception):
    """SIGINT or SIGTERM arrived (raised by our handler, in the main thread)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a one-line ``ConflictError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = (" (another m2c serve?); choose another --port" if exc.errno == errno.EADDRINUSE
                else "")
        raise ConflictError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


@local_only("serve", "it runs the API on this machine")
def serve(args: argparse.Namespace, settings: Settings) -> int:
    sock = bind(args.host, args.port)            # before anything starts: fail fast and clean
    import uvicorn

    from cluster.local import read as read_local_cluster

    from ..app import create_app

    app = create_app(settings, reconcile_interval_s=args.reconcile_interval_s,
                     stale_after_s=args.stale_after_s)
    local = None if settings.ray_address else read_local_cluster(settings.local_cluster_file)
    ray_text = (f"at {settings.ray_address}" if settings.ray_address else
                f"local cluster at {local.address}" if local else "embedded")
    print(f"m2c API on http://{args.host}:{args.port} (OpenAPI at /docs; jobs in "
          f"{settings.db_public_url}; Ray {ray_text})", file=sys.stderr, flush=True)
    # log_config=None: keep the logging the CLI entry point configured.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=args.access_log,
                                           timeout_graceful_shutdown=10))
    # uvicorn handles SIGINT/SIGTERM while it serves, then re-raises the signal to the
    # handler it found: ours, which ends run() with _Stop, so Ray is shut down below.
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stopped_by = None
    try:
        server.run(sockets=[sock])
    except _Stop as stop:
        stopped_by = stop.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        _stop_ray()
    if stopped_by is not None:
        print(f"m2c API stopped ({signal.Signals(stopped_by).name})", file=sys.stderr, flush=True)
    code = 130 if stopped_by == signal.SIGINT else 0
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        # a reconciler pass still blocked in a Ray call (e.g. connecting while we stop):
        # the process is done; do not wait for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _stop_ray() -> None:
    """Shut Ray down: an embedded node with all its processes; a joined cluster stays."""
    from cluster.runtime import shutdown
    try:
        shutdown()
    except Exception as exc:                 # noqa: BLE001 - stopping must not fail
        print(f"warning: stopping Ray: {exc}", file=sys.stderr)
