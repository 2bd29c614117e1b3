"""The scenario document: its model, and parsing with errors that name the variant
and the field.

::

    scenario: ercot-2026-sensitivities     # name
    description: Gas and hub sensitivities of the Texas portfolio
    base:
      contracts: [PPA-TX-DC1, VPPA-TX-DC1-SOLAR]    # absent: every contract active in the range
      from_period: 2026-01                 # billing months (contract-local), inclusive
      to_period: 2026-12
      as_of: {meter: 12, prices: 7}        # absent tables: the latest at submit (pinned, recorded)
    variants:
      - name: hub +10
        transforms:
          - {op: price_shift, series: {node: HB_NORTH}, usd_per_mwh: "10"}
    sweep: {...}                           # engine.scenario.sweep
    outputs: {site_energy: true}
    max_variants: 100000                   # refuse more (the base is not counted)

Every variant is settled from the same base: ``base`` (no transformation) always
comes first. The transformations of a variant apply by family (``engine.scenario.ops``):
contract documents, then market data, then site channels, each family in the order
listed. :func:`parse_scenario` checks what needs no stored data (the schema, each
op's parameters, a battery's feasibility, the variant limit, unique names); what
names stored things (contracts, terms, channels, indices, price series, curves) is
checked against them by ``engine.scenario.references`` before any work.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ..canonical import canonical_json
from ..errors import FieldError, ValidationError
from ..timebase import parse_period, periods_between
from . import sweep as sweeps
from .registry import OPS
from .schema import MAX_VARIANTS, errors

BASE = "base"
MAX_MONTHS = 600


@dataclass(frozen=True)
class Base:
    contracts: tuple[str, ...] | None
    from_period: str
    to_period: str
    as_of: dict[str, int] | None

    @property
    def periods(self) -> list[str]:
        return periods_between(self.from_period, self.to_period)


@dataclass(frozen=True)
class Transform:
    op: str
    params: Any
    where: str                   # the field path of the transform in the document
    raw: dict

    @property
    def family(self) -> str:
        return OPS[self.op].family


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    transforms: tuple[Transform, ...]
    where: str

    def of(self, family: str) -> tuple[Transform, ...]:
        return tuple(t for t in self.transforms if t.family == family)

    @property
    def families(self) -> frozenset[str]:
        return frozenset(t.family for t in self.transforms)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    base: Base
    variants: tuple[Variant, ...]        # the base first
    site_energy: bool
    max_variants: int
    seed: int | None
    document: dict                       # normalised
    sha256: str                          # of the canonical JSON of ``document``


def normalise(obj: Any) -> Any:
    """YAML scalars to JSON types (dates to ISO strings), recursively."""
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {str(k): normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [normalise(v) for v in obj]
    return obj


def document_sha256(doc: dict) -> str:
    return hashlib.sha256(canonical_json(normalise(doc))).hexdigest()


def _fail(source: str, field: str, message: str, problems: list[str] | None = None) -> ValidationError:
    return ValidationError(message, file=source, field=field, problems=problems)


def _variant_label(name: str | None, where: str) -> str:
    return f"variant {name!r}" if name else where


def parse_transform(raw: Any, where: str, label: str, source: str) -> Transform:
    """One transform, checked by its op's schema and ``parse``; errors name ``label``
    (the variant) and the field path from ``where``."""
    errs = errors(raw, "transform")
    if errs:
        path, msg = errs[0]
        field = f"{where}.{path}" if path else where
        raise _fail(source, field, f"{label}: {msg}", [f"{label}: {where}.{p}: {m}" for p, m in errs])
    try:
        params = OPS[raw["op"]].parse(raw, where)
    except FieldError as exc:
        raise _fail(source, exc.path, f"{label}: {exc.message}") from None
    return Transform(raw["op"], params, where, raw)


def parse_scenario(doc: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario document and build the model, its sweep expanded.

    Raises ``ValidationError`` naming ``source``, the field path and, for a
    transformation, the variant (``variant 'hub +10': ...``); ``problems`` lists
    every schema problem found."""
    if not isinstance(doc, dict):
        raise _fail(source, "(document)", "a scenario is a mapping")
    doc = normalise(doc)
    errs = [(p, m) for p, m in errors(doc) if ".transforms[" not in p or p.startswith("sweep")]
    if errs:
        raise _fail(source, errs[0][0] or "(document)", errs[0][1], [f"{p}: {m}" for p, m in errs])
    b = doc["base"]
    if parse_period(b["from_period"]) > parse_period(b["to_period"]):
        raise _fail(source, "base.to_period", f"{b['to_period']} is before from_period {b['from_period']}")
    base = Base(tuple(b["contracts"]) if b.get("contracts") else None, b["from_period"], b["to_period"],
                dict(sorted(b["as_of"].items())) if b.get("as_of") else None)
    if len(base.periods) > MAX_MONTHS:
        raise _fail(source, "base.to_period", f"{len(base.periods)} months; at most {MAX_MONTHS}")
    limit = int(doc.get("max_variants", MAX_VARIANTS))
    sweep = doc.get("sweep")
    total = len(doc.get("variants", [])) + sweeps.count(sweep)
    if total > limit:
        field = "sweep.parameters" if sweep else "variants"
        raise _fail(source, field, f"{total:,} variants is over the limit of {limit:,} "
                                   f"(max_variants); nothing was run")
    variants = [Variant(BASE, "the base: data and contracts as they are", (), "base")]
    names = {BASE: "base"}
    for i, v in enumerate(doc.get("variants", [])):
        where = f"variants[{i}]"
        label = _variant_label(v["name"], where)
        _unique(names, v["name"], f"{where}.name", source)
        ts = tuple(parse_transform(t, f"{where}.transforms[{j}]", label, source)
                   for j, t in enumerate(v["transforms"]))
        variants.append(Variant(v["name"], v.get("description", ""), ts, where))
    if sweep:
        variants += _expand(sweep, names, source)
    return Scenario(doc["scenario"], doc.get("description", ""), base, tuple(variants),
                    bool((doc.get("outputs") or {}).get("site_energy", False)), limit, doc.get("seed"),
                    doc, document_sha256(doc))


def _unique(names: dict[str, str], name: str, where: str, source: str) -> None:
    if name in names:
        raise _fail(source, where, f"variant name {name!r} is used twice (also {names[name]})"
                    + (" ('base' is the name of the base)" if name == BASE else ""))
    names[name] = where


def _expand(sweep: dict, names: dict[str, str], source: str) -> list[Variant]:
    params = [p["name"] for p in sweep["parameters"]]
    if len(set(params)) != len(params):
        raise _fail(source, "sweep.parameters", "parameter names must be unique")
    used_by = []
    for j, t in enumerate(sweep["transforms"]):
        used = sweeps.placeholders(t)
        unknown = sorted(used - set(params))
        if unknown:
            raise _fail(source, f"sweep.transforms[{j}]", f"unknown sweep parameter(s) {', '.join(unknown)} "
                                                          f"(parameters: {', '.join(params)})")
        used_by.append([p for p in params if p in used])
    parsed: dict[tuple, Transform] = {}
    out = []
    for values in sweeps.combinations(sweep):
        name = sweeps.variant_name(sweep, values)
        label = f"sweep variant {name!r}"
        _unique(names, name, "sweep.name", source)
        ts = []
        for j, t in enumerate(sweep["transforms"]):
            key = (j, tuple(repr(values[p]) for p in used_by[j]))
            if key not in parsed:
                raw = normalise(sweeps.substitute(t, {p: values[p] for p in used_by[j]}))
                parsed[key] = parse_transform(raw, f"sweep.transforms[{j}]", label, source)
            ts.append(parsed[key])
        out.append(Variant(name, sweep.get("description", ""), tuple(ts), f"sweep[{name}]"))
    return out


__all__ = ["Base", "Transform", "Variant", "Scenario", "parse_scenario", "parse_transform", "normalise",
           "document_sha256", "BASE"]
