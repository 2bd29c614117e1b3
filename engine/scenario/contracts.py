"""Contract-term transformations (family ``contract``), on the contract documents.

An op edits every stored version of the contract (so an amendment keeps the change),
then each version is parsed again by ``engine.contract.parse_contract`` and the chain
checked (``check_amendments``, ``validate_contract_sites``): a term's own validation
applies to what a variant sets, with its field path. Nothing is stored: the variant
settles with the edited versions.

``term_set``     ``set`` parameters of term ``term`` (price, strike, escalator, hedge
                 share, negative-price rule, TOU factors, capacity price, ...) and
                 ``unset`` others, in ``contract`` (absent: every base contract having
                 a term with that id)
``term_add``     add ``term`` (a whole term, as in a contract document) to ``contract``
``term_remove``  remove term ``term`` from ``contract`` (absent: every base contract
                 having it)
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..contract import ContractVersion, check_amendments, parse_contract, validate_contract_sites
from ..errors import ContractError, FieldError, InputError
from ..sites import Site
from .ops import Op


@dataclass(frozen=True)
class TermSet:
    contract: str | None
    term: str
    set: tuple[tuple[str, Any], ...]
    unset: tuple[str, ...]


def _parse_set(raw: dict, where: str) -> TermSet:
    s = raw.get("set") or {}
    u = tuple(raw.get("unset") or ())
    if not s and not u:
        raise FieldError(f"{where}.set", "give parameters to set (or unset)")
    if {"id", "kind"} & (set(s) | set(u)):
        raise FieldError(f"{where}.set", "a term's id and kind cannot be changed (remove and add it)")
    both = sorted(set(s) & set(u))
    if both:
        raise FieldError(f"{where}.unset", f"{', '.join(both)} both set and unset")
    return TermSet(raw.get("contract"), raw["term"], tuple(sorted(s.items())), u)


@dataclass(frozen=True)
class TermAdd:
    contract: str
    term: tuple[tuple[str, Any], ...]


def _parse_add(raw: dict, where: str) -> TermAdd:
    t = raw["term"]
    for k in ("id", "kind"):
        if k not in t:
            raise FieldError(f"{where}.term.{k}", "required")
    return TermAdd(raw["contract"], tuple(sorted(t.items())))


@dataclass(frozen=True)
class TermRemove:
    contract: str | None
    term: str


def _parse_remove(raw: dict, where: str) -> TermRemove:
    return TermRemove(raw.get("contract"), raw["term"])


def _targets(docs: dict[str, list[dict]], contract: str | None, term: str | None, where: str,
             strict: bool) -> list[str]:
    """The contracts an op edits; with ``strict``, none is an error naming the field
    (a job's partition holds part of the base: there, an op on other contracts is no
    edit)."""
    if contract is not None:
        if contract not in docs:
            if not strict:
                return []
            raise FieldError(f"{where}.contract", f"contract {contract!r} is not in the base "
                                                  f"(base: {', '.join(sorted(docs)) or 'none'})")
        ids = [contract]
    else:
        ids = sorted(docs)
    if term is not None:
        ids = [c for c in ids if any(t.get("id") == term for d in docs[c] for t in d.get("terms", []))]
        if not ids and strict:
            raise FieldError(f"{where}.term", f"no term {term!r} in "
                             + (f"contract {contract}" if contract else "the base contracts"))
    return ids


def _edit(docs: dict[str, list[dict]], ids: list[str], fn) -> dict[str, list[dict]]:
    out = dict(docs)
    for cid in ids:
        out[cid] = [fn(copy.deepcopy(d)) for d in docs[cid]]
    return out


def _apply_set(p: TermSet, docs: dict[str, list[dict]], where: str, strict: bool = True
               ) -> dict[str, list[dict]]:
    def fn(doc: dict) -> dict:
        for t in doc.get("terms", []):
            if t.get("id") == p.term:
                t.update(copy.deepcopy(dict(p.set)))
                for k in p.unset:
                    t.pop(k, None)
        return doc
    return _edit(docs, _targets(docs, p.contract, p.term, where, strict), fn)


def _apply_add(p: TermAdd, docs: dict[str, list[dict]], where: str, strict: bool = True
               ) -> dict[str, list[dict]]:
    ids = _targets(docs, p.contract, None, where, strict)
    if not ids:
        return docs
    new = dict(p.term)

    def fn(doc: dict) -> dict:
        doc["terms"] = [t for t in doc.get("terms", []) if t.get("id") != new["id"]] + [copy.deepcopy(new)]
        return doc
    if any(t.get("id") == new["id"] for d in docs[ids[0]] for t in d.get("terms", [])):
        raise FieldError(f"{where}.term.id", f"contract {p.contract} already has a term {new['id']!r} "
                                             f"(use term_set)")
    return _edit(docs, ids, fn)


def _apply_remove(p: TermRemove, docs: dict[str, list[dict]], where: str, strict: bool = True
                  ) -> dict[str, list[dict]]:
    def fn(doc: dict) -> dict:
        doc["terms"] = [t for t in doc.get("terms", []) if t.get("id") != p.term]
        return doc
    return _edit(docs, _targets(docs, p.contract, p.term, where, strict), fn)


def parse_versions(cid: str, docs: list[dict], sites: dict[str, Site], where: str) -> list[ContractVersion]:
    """A contract's edited version documents, parsed and checked as stored ones are;
    errors name ``where`` (the variant's transform) and the contract's field."""
    try:
        versions = [parse_contract(d) for d in docs]
        check_amendments(versions)
        for cv in versions:
            validate_contract_sites(cv, sites)
    except (ContractError, InputError) as exc:
        raise FieldError(where, str(exc)) from None
    return versions


_TERM = {"type": "string", "minLength": 1, "maxLength": 64}

OPS = (
    Op("term_set", "contract", {"required": ["term"], "properties": {
        "contract": {"$ref": "#/$defs/name"}, "term": _TERM,
        "set": {"type": "object", "maxProperties": 64},
        "unset": {"type": "array", "items": {"type": "string"}, "maxItems": 64}}},
       _parse_set, _apply_set, "override parameters of a contract term"),
    Op("term_add", "contract", {"required": ["contract", "term"], "properties": {
        "contract": {"$ref": "#/$defs/name"}, "term": {"type": "object"}}},
       _parse_add, _apply_add, "add a term to a contract"),
    Op("term_remove", "contract", {"required": ["term"], "properties": {
        "contract": {"$ref": "#/$defs/name"}, "term": _TERM}},
       _parse_remove, _apply_remove, "remove a term from a contract"),
)

__all__ = ["OPS", "parse_versions"]
