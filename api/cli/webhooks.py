"""``m2c webhooks add | list | remove | deliveries | deliver``: event notifications.

``add URL [--event TYPE ...] [--description TEXT]`` prints the new webhook and its
signing secret (once); ``list`` the subscriptions; ``remove ID``; ``deliveries`` the
delivery log; ``deliver`` sends what is due once (where no API process runs the
sender: a cron job). They work on the catalog in ``M2C_DB`` (the first webhooks of a
deployment are added where its catalog is), or with ``--api`` through
``/v1/webhooks`` with an admin key; ``deliver`` is local-only.
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timezone

from ..settings import Settings
from .backend import is_remote, local_only
from .output import add_format, emit, print_json, table, wants_json


def register(subparsers: argparse._SubParsersAction) -> None:
    from jobs.outbox import EVENT_TYPES
    p = subparsers.add_parser("webhooks", help="webhooks for job and invoice events (admin)")
    sub = p.add_subparsers(dest="webhooks_command", required=True)
    a = sub.add_parser("add", help="subscribe a URL; prints its signing secret once")
    a.add_argument("url")
    a.add_argument("--event", action="append", dest="events", choices=[*EVENT_TYPES, "*"],
                   help="an event type to send (repeat; default: all)")
    a.add_argument("--description")
    add_format(a, ("text", "json"))
    a.set_defaults(handler=cmd_add)
    ls = sub.add_parser("list", help="the subscriptions")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)
    rm = sub.add_parser("remove", help="remove a webhook by its id")
    rm.add_argument("webhook_id")
    rm.set_defaults(handler=cmd_remove)
    dl = sub.add_parser("deliveries", help="the delivery log, newest first")
    dl.add_argument("--webhook")
    dl.add_argument("--limit", type=int, default=50)
    add_format(dl)
    dl.set_defaults(handler=cmd_deliveries)
    dv = sub.add_parser("deliver", help="send the deliveries that are due, once")
    dv.set_defaults(handler=cmd_deliver)


def _outbox(settings: Settings):
    from jobs.catalog import JobCatalog
    from jobs.outbox import Outbox
    catalog = JobCatalog(settings.db_url)
    catalog.init_schema()
    return Outbox(catalog)


def _client(settings: Settings):
    from ..client import ApiClient
    return ApiClient(settings.api_url, settings.api_key)


def _now_us() -> int:
    from engine.timebase import to_us
    return to_us(datetime.now(timezone.utc))


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    if is_remote(settings):
        with _client(settings) as c:
            doc = c.add_webhook(args.url, args.events, args.description)
    else:
        hook, secret = _outbox(settings).add_webhook(args.url, event_types=args.events,
                                                     description=args.description, now_us=_now_us())
        doc = {**hook.to_dict(), "secret": secret}
    if wants_json(args):
        print_json(doc)
    else:
        print(f"added webhook {doc['id']} -> {doc['url']} ({', '.join(doc['event_types'])})")
        print(f"signing secret (shown once): {doc['secret']}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if is_remote(settings):
        with _client(settings) as c:
            docs = c.list_webhooks()
    else:
        docs = [h.to_dict() for h in _outbox(settings).webhooks()]
    rows = [("ID", "URL", "EVENTS", "CREATED (UTC)", "DESCRIPTION")]
    rows += [(d["id"], d["url"], ",".join(d["event_types"]), str(d["created_at"])[:19],
              d.get("description") or "") for d in docs]
    emit(args, docs, table(rows) if docs else "no webhooks")
    return 0


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    if is_remote(settings):
        with _client(settings) as c:
            c.remove_webhook(args.webhook_id)
    else:
        _outbox(settings).remove_webhook(args.webhook_id, now_us=_now_us())
    print(f"removed {args.webhook_id}")
    return 0


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> int:
    if is_remote(settings):
        with _client(settings) as c:
            docs = c.webhook_deliveries(args.webhook, args.limit)
    else:
        docs = _outbox(settings).deliveries(webhook_id=args.webhook, limit=args.limit)
    rows = [("EVENT", "TYPE", "WEBHOOK", "STATE", "ATTEMPTS", "LAST", "ERROR")]
    rows += [(d["event_id"], d["event_type"], d["webhook_id"], d["state"], str(d["attempts"]),
              str(d["last_status"] or ""), d["last_error"] or "") for d in docs]
    emit(args, docs, table(rows) if docs else "no deliveries")
    return 0


@local_only("webhooks deliver", "it sends this machine's catalog outbox")
def cmd_deliver(args: argparse.Namespace, settings: Settings) -> int:
    from ..webhooks import deliver_due
    outbox = _outbox(settings)
    total = 0
    while (n := asyncio.run(deliver_due(outbox, now=datetime.now(timezone.utc)))):
        total += n
    print(f"{total} delivery attempt(s) made")
    return 0
