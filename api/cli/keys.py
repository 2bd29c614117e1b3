"""``m2c keys``: API keys for the HTTP API (stored hashed in the M2C_DB SQLite file).

``create`` prints the key exactly once; it cannot be recovered, only revoked and
replaced. ``list`` shows ids, roles and dates, never keys.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from ..auth import Role
from ..keystore import KeyStore
from ..settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("keys", help="API keys (create, list, revoke)")
    sub = p.add_subparsers(dest="keys_command", required=True)

    c = sub.add_parser("create", help="create a key and print it once")
    c.add_argument("--role", required=True, choices=[r.value for r in Role],
                   help="scheduler: settlement jobs; analyst: all jobs and data; "
                        "investor: invoice summaries; admin: everything")
    c.add_argument("--label", default=None, help="free text, e.g. who or what uses the key")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.set_defaults(handler=create)

    ls = sub.add_parser("list", help="list key ids, roles and dates (never the keys)")
    ls.add_argument("--format", choices=["table", "json"], default="table")
    ls.set_defaults(handler=list_keys)

    r = sub.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")
    r.set_defaults(handler=revoke)


def create(args: argparse.Namespace, settings: Settings) -> int:
    record, key = KeyStore(settings.db_url).create(args.role, label=args.label,
                                                   now_utc=datetime.now(timezone.utc))
    if args.format == "json":
        print(json.dumps({**record.to_dict(), "key": key}, indent=2))
    else:
        print(key)
        print(f"created {record.role.value} key {record.key_id}; store it now, it is not "
              f"shown again", file=sys.stderr)
    return 0


def list_keys(args: argparse.Namespace, settings: Settings) -> int:
    records = KeyStore(settings.db_url).list()
    if args.format == "json":
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return 0
    print(f"{'KEY ID':<14}{'ROLE':<11}{'CREATED (UTC)':<22}{'REVOKED':<22}LABEL")
    for r in records:
        d = r.to_dict()
        print(f"{r.key_id:<14}{r.role.value:<11}{d['created_at'][:19]:<22}"
              f"{(d['revoked_at'] or '-')[:19]:<22}{r.label or ''}")
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    KeyStore(settings.db_url).revoke(args.key_id, now_utc=datetime.now(timezone.utc))
    print(f"revoked {args.key_id}", file=sys.stderr)
    return 0
