"""`m2c`: the command-line entry point.

Each command group lives in its own module under ``api/cli/`` exposing
``register(subparsers)``; a handler receives ``(args, settings)`` and returns an
exit code. Errors map to exit codes here, once: ``InputError`` -> 2, any other
``M2CError`` -> 1; the message goes to stderr, and under ``--format json`` (or
``--output json``/``--json``) one JSON error document (``output.error_doc``) goes to
stdout, so a program reading stdout always gets one document. Stdout belongs to the
command: other threads' prints (Ray's "A worker died ...") go to stderr, and under
JSON everything but the document does. Logging is configured here and nowhere in
library code.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from engine.errors import InputError, M2CError

from ..settings import Settings
from .output import error_doc, json_mode, print_json, stdout_for_this_thread, wants_json

# command-group modules, each with register(subparsers)
COMMAND_MODULES = [
    "demo", "sites", "ingest", "vee", "contracts", "settle", "rebill", "jobs", "invoices",
    "serve", "keys", "market", "cluster", "bankability", "scenarios", "esg", "webhooks", "tables",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m2c", description="meter2cash: meter data to exact invoices")
    parser.add_argument("--api", metavar="URL", default=None,
                        help="drive a remote m2c API instead of running in-process (key from M2C_API_KEY)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"api.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"api.cli.{name}":
                continue          # command group not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    if args.api:
        settings = Settings(**{**settings.__dict__, "api_url": args.api})
    as_json = wants_json(args)
    try:
        with json_mode() if as_json else stdout_for_this_thread():
            try:
                return int(args.handler(args, settings) or 0)
            except M2CError as exc:
                code = 2 if isinstance(exc, InputError) else 1
                print(f"error: {exc}", file=sys.stderr)
                if as_json:
                    print_json(error_doc(exc, code))
                return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:              # e.g. `m2c invoices explain ... | head`
        if sys.stdout is sys.__stdout__:  # silence the flush at exit; never under a test runner
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
