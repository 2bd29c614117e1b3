"""The scenario document's JSON Schema (draft 2020-12), published by ``m2c scenarios
schema``, and the messages of its violations.

The document and the shared definitions are here; each op contributes its parameters
(``Op.schema``, in ``engine.scenario.registry``) as ``$defs/op_<name>``, selected by
``op`` with one ``if``/``then`` branch per op, as contract terms are selected by
``kind`` (``engine.contract``). Sweep transforms are checked after their parameters
are substituted, against the same ``$defs/transform``.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import jsonschema

from .registry import OPS

SCHEMA_ID = "https://meter2cash.dev/schemas/scenario.json"
MAX_VARIANTS = 100_000           # the default limit of a document's variants
MAX_VARIANTS_CEILING = 1_000_000

_DEFS: dict[str, Any] = {
    "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"},
    "variant_name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[^\x00-\x1f]+$"},
    "decimal": {"type": "string", "pattern": r"^-?[0-9]{1,15}(\.[0-9]{1,12})?$",
                "description": "a decimal as a string (quote it in YAML): no float touches money"},
    "nonneg_decimal": {"type": "string", "pattern": r"^[0-9]{1,15}(\.[0-9]{1,12})?$"},
    "period": {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"},
    "date": {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    "months": {"type": "array", "items": {"$ref": "#/$defs/period"}, "minItems": 1, "maxItems": 600},
    "sites": {"oneOf": [{"$ref": "#/$defs/name"},
                        {"type": "array", "items": {"$ref": "#/$defs/name"}, "minItems": 1}]},
    "channel": {"type": "string", "minLength": 1, "maxLength": 64,
                "description": "a channel name or kind:<channel kind>"},
    "series": {"type": "object", "additionalProperties": False,
               "description": "price series by iso, node and market run (an absent field matches all)",
               "properties": {"iso": {"type": "string", "minLength": 1, "maxLength": 64},
                              "node": {"type": "string", "minLength": 1, "maxLength": 64},
                              "market_run": {"enum": ["DA", "RT"]}}},
}


def _op_def(name: str) -> dict:
    op = OPS[name]
    fragment = copy.deepcopy(dict(op.schema))
    return {"type": "object", "description": op.doc, "additionalProperties": False,
            "required": ["op", *fragment.pop("required", [])],
            "properties": {"op": {"const": name}, **fragment.pop("properties", {})}, **fragment}


@lru_cache(maxsize=1)
def _schema() -> dict:
    defs = copy.deepcopy(_DEFS)
    defs["transform"] = {
        "type": "object", "required": ["op"],
        "properties": {"op": {"enum": list(OPS)}},
        "allOf": [{"if": {"required": ["op"], "properties": {"op": {"const": k}}},
                   "then": {"$ref": f"#/$defs/op_{k}"}} for k in OPS]}
    for k in OPS:
        defs[f"op_{k}"] = _op_def(k)
    defs["variant"] = {
        "type": "object", "required": ["name", "transforms"], "additionalProperties": False,
        "properties": {"name": {"$ref": "#/$defs/variant_name"},
                       "description": {"type": "string", "maxLength": 2000},
                       "transforms": {"type": "array", "items": {"$ref": "#/$defs/transform"},
                                      "maxItems": 64}}}
    defs["sweep"] = {
        "type": "object", "required": ["parameters", "transforms"], "additionalProperties": False,
        "description": "the cartesian product of the parameters' values; a string \"{name}\" in "
                       "a transform takes the value of parameter name (text around it: substituted)",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128,
                     "description": "variant name template, e.g. \"gas {gas}, hub {hub}\" "
                                    "(default: name=value pairs)"},
            "description": {"type": "string", "maxLength": 2000},
            "parameters": {"type": "array", "minItems": 1, "maxItems": 16, "items": {
                "type": "object", "required": ["name", "values"], "additionalProperties": False,
                "properties": {"name": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]{0,31}$"},
                               "values": {"type": "array", "minItems": 1, "maxItems": 100_000,
                                          "items": {"type": ["string", "integer", "boolean"]}}}}},
            "transforms": {"type": "array", "minItems": 1, "maxItems": 64,
                           "items": {"type": "object", "required": ["op"]}}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "meter2cash scenario",
        "description": "A base (contracts, a range of billing months, data versions) and variants "
                       "of it, each re-settled by the contract engine that bills.",
        "type": "object", "required": ["scenario", "base"], "additionalProperties": False,
        "properties": {
            "scenario": {"$ref": "#/$defs/name"},
            "description": {"type": "string", "maxLength": 4000},
            "base": {
                "type": "object", "required": ["from_period", "to_period"], "additionalProperties": False,
                "properties": {
                    "contracts": {"type": "array", "items": {"$ref": "#/$defs/name"}, "minItems": 1,
                                  "maxItems": 10_000, "uniqueItems": True,
                                  "description": "contract ids; absent: every contract active in the range"},
                    "from_period": {"$ref": "#/$defs/period"},
                    "to_period": {"$ref": "#/$defs/period"},
                    "as_of": {"type": "object", "additionalProperties": False,
                              "description": "data versions; absent tables: the latest at submit",
                              "properties": {t: {"type": "integer", "minimum": 0}
                                             for t in ("meter", "prices", "index")}}}},
            "variants": {"type": "array", "items": {"$ref": "#/$defs/variant"},
                         "maxItems": MAX_VARIANTS_CEILING},
            "sweep": {"$ref": "#/$defs/sweep"},
            "outputs": {"type": "object", "additionalProperties": False, "properties": {
                "site_energy": {"type": "boolean",
                                "description": "also a table of energy per site, month and channel"}}},
            "max_variants": {"type": "integer", "minimum": 1, "maximum": MAX_VARIANTS_CEILING,
                             "description": f"refuse more variants than this (default {MAX_VARIANTS})"},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1,
                     "description": "recorded in the lineage; no op draws at random today"},
        },
        "$defs": defs,
    }


def scenario_schema() -> dict:
    """The published JSON Schema of a scenario document."""
    return copy.deepcopy(_schema())


@lru_cache(maxsize=2)
def validator(ref: str = "") -> jsonschema.Draft202012Validator:
    """A validator of the document, or of one of its ``$defs`` (``ref``)."""
    schema = _schema()
    if ref:
        schema = {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def path_str(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _message(err: jsonschema.ValidationError) -> list[tuple[tuple, str]]:
    path, inst = tuple(err.absolute_path), err.instance
    v = err.validator
    if v == "required":
        return [(path + (r,), "required") for r in err.validator_value if r not in inst]
    if v == "additionalProperties":
        known = err.schema.get("properties", {})
        return [(path + (k,), "unknown field") for k in inst if k not in known]
    if v == "type":
        return [(path, f"expected {err.validator_value}, got {type(inst).__name__} {inst!r}"[:160])]
    if v == "enum":
        return [(path, f"must be one of {', '.join(map(str, err.validator_value))}; got {inst!r}")]
    if v == "const":
        return [(path, f"must be {err.validator_value!r}; got {inst!r}")]
    if v == "pattern":
        hint = " (a decimal string, e.g. \"1.5\": quote it in YAML)" if "[0-9]{1,15}" in err.validator_value else ""
        return [(path, f"{inst!r} is not valid{hint}"[:200])]
    if v in ("minimum", "maximum"):
        return [(path, f"must be {'>=' if v == 'minimum' else '<='} {err.validator_value}; got {inst}")]
    if v in ("minItems", "maxItems"):
        return [(path, f"needs {'at least' if v == 'minItems' else 'at most'} {err.validator_value} item(s)")]
    if v == "minLength":
        return [(path, "must not be empty")]
    if v == "maxLength":
        return [(path, f"longer than {err.validator_value} characters")]
    return [(path, err.message[:200])]


def _leaves(err: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The most specific errors under an ``allOf``/``if-then`` (the op's own field)."""
    if err.context:
        return [leaf for c in err.context for leaf in _leaves(c)]
    return [err]


def errors(instance: Any, ref: str = "") -> list[tuple[str, str]]:
    """Every (field path, message) the schema (or ``$defs/<ref>``) finds, in path order."""
    found = sorted(validator(ref).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [(path_str(p), m) for e in found for leaf in _leaves(e) for p, m in _message(leaf)]


__all__ = ["scenario_schema", "errors", "validator", "path_str", "MAX_VARIANTS", "MAX_VARIANTS_CEILING",
           "SCHEMA_ID"]
