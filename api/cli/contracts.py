"""``m2c contracts add FILE.yaml | list | show ID [--version N] | schema``.

Every command runs through :mod:`api.cli.backend` (the local store, or the API named by
``--api``: files are read and checked here, then sent as documents). ``show`` prints
the document in the form ``add`` takes (its identity and price schedule as comments),
so a shown contract can be edited and added back.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.errors import InputError

from ..settings import Settings
from .backend import open_backend
from .output import add_format, emit, print_json, table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("contracts", help="contracts and their versions")
    sub = p.add_subparsers(dest="contracts_command", required=True)
    add = sub.add_parser("add", help="validate and store a contract or an amendment (new version)")
    add.add_argument("files", nargs="+", metavar="FILE.yaml")
    add_format(add)
    add.set_defaults(handler=cmd_add)
    ls = sub.add_parser("list", help="contracts with their latest version and term")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one contract's document (latest or --version N)")
    show.add_argument("contract_id", metavar="ID")
    show.add_argument("--version", type=int)
    add_format(show, ("yaml", "json"))
    show.set_defaults(handler=cmd_show)
    schema = sub.add_parser("schema", help="print the published JSON Schema of contract documents")
    schema.set_defaults(handler=cmd_schema)


def load_document(path: Path):
    """A contract YAML file through the one strict YAML reader
    (``storage.readers.yaml_doc``: no aliases, no duplicate keys, UTF-8, size cap), its
    ``contract_id`` checked before anything else sees it."""
    from engine.ids import check_id
    from storage.readers.yaml_doc import read_yaml_file
    doc = read_yaml_file(path, what="contract document")
    if "contract_id" in doc:
        check_id(doc["contract_id"], field="contract_id", file=str(path),
                 line=doc.line_of("contract_id"))
    return doc


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    docs = [(Path(f), load_document(Path(f))) for f in args.files]      # all parse before any write
    out = []
    with open_backend(settings) as be:
        for path, doc in docs:
            try:
                stored, created = be.add_contract(doc, source=str(path))
            except InputError as exc:
                raise doc.locate(exc) from None
            out.append({**stored, "file": str(path)})
    emit(args, out, lambda: "\n".join(
        f"{o['file']}: {o['contract_id']} {'stored as' if o['created'] else 'unchanged, already'} "
        f"v{o['version']} (effective {o['effective_from']})" for o in out))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        out = be.list_contracts()
    rows = [("CONTRACT", "VERSIONS", "SITES", "TERM", "TERMS")]
    rows += [(o["contract_id"], str(o["versions"]), ",".join(o["sites"]),
              f"{o['term_start']}..{o['term_end']}", ",".join(o["terms"])) for o in out]
    emit(args, out, table(rows) if out else "no contracts")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        view = be.get_contract(args.contract_id, args.version)
        schema = be.contract_schema() if args.format != "json" else None
    emit(args, view, lambda: show_yaml(view, schema))
    return 0


def _aligned(values: list[str]) -> list[str]:
    """Decimal strings padded with zeros to the same number of places (same values)."""
    places = max((len(v.partition(".")[2]) for v in values), default=0)
    return [f"{w}.{f.ljust(places, '0')}" if v else v
            for v in values for w, _, f in [v.partition(".")]]


def _document_for_add(document: dict, schema: dict) -> dict:
    """The stored document as ``contracts add`` takes it: no ``version`` (the store
    numbers versions), fields in the schema's order, each term's ``id``, ``kind``
    and ``description`` first."""
    order = list(schema["properties"])
    doc = {k: document[k] for k in sorted(document, key=lambda k: (order.index(k) if k in order else len(order), k))
           if k != "version"}
    if isinstance(doc.get("terms"), list):
        head = ("id", "kind", "description")
        doc["terms"] = [{**{k: t[k] for k in head if k in t}, **{k: v for k, v in t.items() if k not in head}}
                        for t in doc["terms"]]
    return doc


def show_yaml(view: dict[str, Any], schema: dict) -> str:
    """A stored contract version (``api.views.contract_view``) as a YAML document that
    ``m2c contracts add`` accepts unchanged, its provenance and its price schedule by
    contract year in comments."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        """Safe YAML without anchors/aliases (a loader that refuses aliases reads it back)."""

        def ignore_aliases(self, data) -> bool:
            return True

    n_versions = len(view["versions"])
    latest = view["version"] == max(view["versions"])
    schedule = view["price_schedule"]
    lines = [f"# contract {view['contract_id']} version {view['version']} of {n_versions}, "
             f"effective {view['effective_from']}",
             f"# sha256 {view['sha256']} (canonical JSON of the stored version)",
             "# `m2c contracts add` takes this document as it is: "
             + ("unchanged, it is reported as already\n# stored; edited, it is stored as the next version."
                if latest else "it is stored as the next version\n# (this version is not the latest).")]
    if schedule["columns"]:
        cols = schedule["columns"]
        rates = [[y["rates"].get(c["name"], "") for y in schedule["years"]] for c in cols]
        rates = [_aligned(column) for column in rates]
        rows = [("YEAR", "FROM", "TO", *(c["name"] for c in cols)), ("", "", "", *(c["unit"] for c in cols))]
        rows += [(str(y["contract_year"]), y["from"], y["to"], *(r[i] for r in rates))
                 for i, y in enumerate(schedule["years"])]
        lines += ["#", "# Price schedule by contract year (local dates, inclusive; rates as settled):"]
        lines += [f"#   {r}" for r in table(rows, right=set(range(3, 3 + len(cols)))).splitlines()]
    body = yaml.dump(_document_for_add(view["document"], schema), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, default_flow_style=False, width=100)
    return "\n".join(lines) + "\n" + body.rstrip("\n")


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        print_json(be.contract_schema())
    return 0
