"""``m2c serve``: run the HTTP API with uvicorn (one process; jobs run on Ray)."""
from __future__ import annotations

import argparse
import sys

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


@local_only("serve", "it runs the API on this machine")
def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from ..app import create_app

    app = create_app(settings, reconcile_interval_s=args.reconcile_interval_s,
                     stale_after_s=args.stale_after_s)
    print(f"m2c API on http://{args.host}:{args.port} (OpenAPI at /docs; jobs in "
          f"{settings.db_url}; Ray {'at ' + settings.ray_address if settings.ray_address else 'embedded'})",
          file=sys.stderr)
    # log_config=None: keep the logging the CLI entry point configured.
    uvicorn.run(app, host=args.host, port=args.port, log_config=None,
                access_log=args.access_log, timeout_graceful_shutdown=10)
    return 0
