"""``m2c keys``: API keys for the HTTP API (stored hashed in the M2C_DB SQLite file).

``create`` prints the key exactly once; it cannot be recovered, only revoked and
replaced. ``list`` shows ids, roles and dates, never keys.

Locally they work on the key store in ``M2C_DB`` (how the first admin key is made);
with ``--api`` they go through ``/v1/keys`` with an admin key (:mod:`api.cli.backend`).
"""
from __future__ import annotations

import argparse
import sys

from ..roles import Role
from ..settings import Settings
from .backend import open_backend
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
    with open_backend(settings) as be:
        doc = be.create_key(args.role, args.label)
    if wants_json(args):
        print_json(doc)
    else:
        print(doc["key"])
        print(f"created {doc['role']} key {doc['key_id']}; store it now, it is not "
              f"shown again", file=sys.stderr)
    return 0


def list_keys(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        docs = be.list_keys()
    rows = [("KEY ID", "ROLE", "CREATED (UTC)", "REVOKED", "LABEL")]
    rows += [(d["key_id"], d["role"], str(d["created_at"])[:19].replace("T", " "),
              str(d["revoked_at"] or "-")[:19].replace("T", " "), d.get("label") or "")
             for d in docs]
    emit(args, docs, table(rows))
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        be.revoke_key(args.key_id)
    print(f"revoked {args.key_id}", file=sys.stderr)
    return 0
