"""``m2c keys``: API keys for the HTTP API (stored hashed in the M2C_DB SQLite file).

``create`` prints the key exactly once; it cannot be recovered, only revoked and
replaced. ``list`` shows ids, roles and dates, never keys.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from ..auth import Role
from ..keystore import KeyStore
from ..settings import Settings
from .output import add_format, emit, print_json, table, wants_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("keys", help="API keys (create, list, revoke)")
    sub = p.add_subparsers(dest="keys_command", required=True)

    c = sub.add_parser("create", help="create a key and print it once")
    c.add_argument("--role", required=True, choices=[r.value for r in Role],
                   help="scheduler: settlement jobs; analyst: all jobs and data; "
                        "investor: invoice summaries; admin: everything")
    c.add_argument("--label", default=None, help="free text, e.g. who or what uses the key")
    add_format(c, ("text", "json"))
    c.set_defaults(handler=create)

    ls = sub.add_parser("list", help="list key ids, roles and dates (never the keys)")
    add_format(ls)
    ls.set_defaults(handler=list_keys)

    r = sub.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")
    r.set_defaults(handler=revoke)


def create(args: argparse.Namespace, settings: Settings) -> int:
    record, key = KeyStore(settings.db_url).create(args.role, label=args.label,
                                                   now_utc=datetime.now(timezone.utc))
    if wants_json(args):
        print_json({**record.to_dict(), "key": key})
    else:
        print(key)
        print(f"created {record.role.value} key {record.key_id}; store it now, it is not "
              f"shown again", file=sys.stderr)
    return 0


def list_keys(args: argparse.Namespace, settings: Settings) -> int:
    records = KeyStore(settings.db_url).list()
    docs = [r.to_dict() for r in records]
    rows = [("KEY ID", "ROLE", "CREATED (UTC)", "REVOKED", "LABEL")]
    rows += [(d["key_id"], d["role"], d["created_at"][:19], (d["revoked_at"] or "-")[:19],
              d.get("label") or "") for d in docs]
    emit(args, docs, table(rows))
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    KeyStore(settings.db_url).revoke(args.key_id, now_utc=datetime.now(timezone.utc))
    print(f"revoked {args.key_id}", file=sys.stderr)
    return 0
