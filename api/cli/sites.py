"""``m2c sites load FILE.yaml`` and ``m2c sites list``: the site registry.

``load`` validates the YAML document (``engine.sites.parse_sites``: errors name the
file and field path) and merges it into the stored registry as a new version:
a site whose ``site_id`` is new is ADDED; a site whose ``site_id`` exists is
REPLACED whole (timezone, market and the full channel set); sites not in the file
are kept. Loading a file identical to the registry writes nothing.

Both run through :mod:`api.cli.backend`: the file is read and validated here, then
merged into the local registry or sent to the API named by ``--api``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import InputError
from engine.sites import Site, parse_sites

from ..settings import Settings
from .backend import open_backend
from .output import add_format, print_json, wants_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sites", help="site registry: load a YAML file, list sites")
    sub = p.add_subparsers(dest="sites_command", required=True)
    load = sub.add_parser("load", help="add or replace sites from a YAML registry file")
    load.add_argument("file", type=Path, metavar="FILE.yaml")
    add_format(load, ("text", "json"))
    load.set_defaults(handler=load_command)
    ls = sub.add_parser("list", help="list the registered sites")
    add_format(ls)
    ls.set_defaults(handler=list_command)


def read_sites_yaml(path: Path) -> dict[str, Site]:
    """Parse and validate a registry YAML file (the one strict YAML reader,
    ``storage.readers.yaml_doc``); every error names the file, line and field, and
    every ``site_id`` must be a valid id (it becomes a table partition) before anything
    is stored."""
    from engine.ids import check_id
    from storage.readers.yaml_doc import read_yaml_file
    doc = read_yaml_file(path, what="site registry")
    entries = doc.get("sites")
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and "site_id" in entry:
                fld = f"sites[{i}].site_id"
                check_id(entry["site_id"], field=fld, file=str(path), line=doc.line_of(fld))
    try:
        return parse_sites(doc, str(path))
    except InputError as exc:
        raise doc.locate(exc) from None


def load_command(args: argparse.Namespace, settings: Settings) -> int:
    incoming = read_sites_yaml(args.file)
    with open_backend(settings) as be:
        doc, _ = be.load_sites(incoming)
    if wants_json(args):
        print_json(doc)
    elif doc["status"] == "unchanged":
        print(f"site registry unchanged (version {doc['version']}): every site in "
              f"{args.file.name} is already registered as given")
    else:
        print(f"site registry version {doc['version']} saved from {args.file.name}")
        print(f"  added ({len(doc['added'])}): {', '.join(doc['added']) or '-'}")
        print(f"  replaced ({len(doc['replaced'])}): {', '.join(doc['replaced']) or '-'}"
              "  (a site in the file replaces the stored site with the same id, channels included)")
    return 0


def list_command(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        registry = be.list_sites()
    if wants_json(args):
        print_json(registry)
        return 0
    sites = parse_sites({"sites": registry["sites"]}, "site registry")
    if not sites:
        print("no sites registered (load a registry with `m2c sites load FILE.yaml`)")
        return 0
    rows = [("SITE", "TIMEZONE", "MARKET", "CHANNELS")]
    for sid in sorted(sites):
        s = sites[sid]
        market = f"{s.iso}/{s.node}" if s.iso or s.node else "-"
        chans = ", ".join(f"{c.name}:{c.kind}" for c in sorted(s.channels.values(), key=lambda c: c.name))
        rows.append((sid, s.timezone, market, chans))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    print(f"({len(sites)} site(s), registry version {registry['version']})")
    return 0
