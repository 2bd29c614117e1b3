"""``m2c contracts add FILE.yaml | list | show ID [--version N] | schema``.

Every command runs through :mod:`api.cli.backend` (the local store, or the API named by
``--api``: files are read here and sent as documents). ``show`` prints the document in
the form ``add`` takes: the version number, effective date and hash are comments
above it (YAML) or beside it (JSON ``{"contract_id", "version", ..., "document"}``), so
``m2c contracts show ID > c.yaml; m2c contracts add c.yaml`` stores nothing, and an
edited copy becomes the next version.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import ValidationError

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


def load_document(path: Path) -> dict:
    import yaml
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValidationError("file not found", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ValidationError(f"not valid YAML: {getattr(exc, 'problem', exc)}", file=str(path),
                              line=mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict):
        raise ValidationError("a contract document is a mapping", file=str(path))
    return doc


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    docs = [(Path(f), load_document(Path(f))) for f in args.files]      # all parse before any write
    out = []
    with open_backend(settings) as be:
        for path, doc in docs:
            stored, created = be.add_contract(doc, source=str(path))
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


def render_contract_yaml(view: dict) -> str:
    """The document as YAML that ``contracts add`` takes, its identity in comments."""
    import yaml
    head = (f"# contract {view['contract_id']} version {view['version']} of "
            f"{len(view['versions'])} (effective {view['effective_from']}; sha256 "
            f"{view['sha256']})\n"
            f"# `m2c contracts add` this file: unchanged, nothing is stored; edited (with a "
            f"later effective_from), it becomes version {max(view['versions']) + 1}\n")
    return head + yaml.safe_dump(view["document"], sort_keys=False, allow_unicode=True).rstrip("\n")


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        view = be.get_contract(args.contract_id, args.version)
    emit(args, view, lambda: render_contract_yaml(view))
    return 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    with open_backend(settings) as be:
        print_json(be.contract_schema())
    return 0
