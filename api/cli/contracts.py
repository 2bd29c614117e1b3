"""``m2c contracts add FILE.yaml | list | show ID [--version N] | schema``."""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from engine.contract import contract_schema
from engine.errors import InputError

from ..settings import Settings
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


def _store(settings: Settings):
    from storage.objectstore import ObjectStore
    return ObjectStore.from_config(settings.storage_config())


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
    from storage.contracts import ContractStore
    from storage.sites import load_sites
    store = _store(settings)
    sites = load_sites(store)
    docs = [(Path(f), load_document(Path(f))) for f in args.files]      # all parse before any write
    out = []
    for path, doc in docs:
        try:
            stored, created = ContractStore(store).add(doc, sites=sites, source=str(path))
        except InputError as exc:
            raise doc.locate(exc) from None
        cv = stored.version
        out.append({"contract_id": cv.contract_id, "version": cv.version, "created": created,
                    "effective_from": str(cv.effective_from), "sha256": stored.sha256, "file": str(path)})
    emit(args, out, lambda: "\n".join(
        f"{o['file']}: {o['contract_id']} {'stored as' if o['created'] else 'unchanged, already'} "
        f"v{o['version']} (effective {o['effective_from']})" for o in out))
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from storage.contracts import ContractStore
    cs = ContractStore(_store(settings))
    out = []
    for cid in cs.contract_ids():
        versions = cs.versions(cid)
        cv = versions[-1].version
        out.append({"contract_id": cid, "versions": len(versions), "timezone": cv.timezone,
                    "sites": list(cv.sites), "term_start": str(cv.term_start),
                    "term_end": str(cv.term_end), "terms": [t.kind for t in cv.terms]})
    rows = [("CONTRACT", "VERSIONS", "SITES", "TERM", "TERMS")]
    rows += [(o["contract_id"], str(o["versions"]), ",".join(o["sites"]),
              f"{o['term_start']}..{o['term_end']}", ",".join(o["terms"])) for o in out]
    emit(args, out, table(rows) if out else "no contracts")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from engine.contract import price_schedule
    from engine.errors import NotFoundError
    from storage.contracts import ContractStore
    versions = ContractStore(_store(settings)).versions(args.contract_id)
    pick = versions[-1] if args.version is None else next(
        (s for s in versions if s.version.version == args.version), None)
    if pick is None:
        raise NotFoundError(f"contract {args.contract_id} has versions "
                            f"{[s.version.version for s in versions]}; no version {args.version}")
    cv = pick.version
    schedule = price_schedule(cv)
    doc = {"contract_id": cv.contract_id, "version": cv.version,
           "versions": [s.version.version for s in versions], "effective_from": str(cv.effective_from),
           "sha256": pick.sha256, "document": pick.document, "price_schedule": schedule}
    emit(args, doc, lambda: show_yaml(pick, len(versions), schedule))
    return 0


def _aligned(values: list[str]) -> list[str]:
    """Decimal strings padded with zeros to the same number of places (same values)."""
    places = max((len(v.partition(".")[2]) for v in values), default=0)
    return [f"{w}.{f.ljust(places, '0')}" if v else v
            for v in values for w, _, f in [v.partition(".")]]


class _Dumper(yaml.SafeDumper):
    """Safe YAML without anchors/aliases (a loader that refuses aliases reads it back)."""

    def ignore_aliases(self, data) -> bool:
        return True


def _document_for_add(document: dict) -> dict:
    """The stored document as ``contracts add`` takes it: no ``version`` (the store
    numbers versions), fields in the schema's order, each term's ``id``, ``kind``
    and ``description`` first."""
    order = list(contract_schema()["properties"])
    doc = {k: document[k] for k in sorted(document, key=lambda k: (order.index(k) if k in order else len(order), k))
           if k != "version"}
    if isinstance(doc.get("terms"), list):
        head = ("id", "kind", "description")
        doc["terms"] = [{**{k: t[k] for k in head if k in t}, **{k: v for k, v in t.items() if k not in head}}
                        for t in doc["terms"]]
    return doc


def show_yaml(stored, n_versions: int, schedule: dict) -> str:
    """A stored contract version as a YAML document that ``m2c contracts add`` accepts
    unchanged, its provenance and its price schedule by contract year in comments."""
    cv = stored.version
    latest = cv.version == n_versions
    lines = [f"# contract {cv.contract_id} version {cv.version} of {n_versions}, effective {cv.effective_from}",
             f"# sha256 {stored.sha256} (canonical JSON of the stored version)",
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
    body = yaml.dump(_document_for_add(stored.document), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=100)
    return "\n".join(lines) + "\n" + body.rstrip("\n")


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    print_json(contract_schema())
    return 0
