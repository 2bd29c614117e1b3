"""Sweep expansion: the cartesian product of parameter lists, as named variants.

::

    sweep:
      name: "gas x{gas}, hub {hub}"            # optional name template
      parameters:
        - {name: gas, values: ["0.5", "1", "1.5", "2"]}
        - {name: hub, values: ["-10", "0", "10", "25"]}
      transforms:
        - {op: index_scale, index: HENRY_HUB, factor: "{gas}"}
        - {op: price_shift, usd_per_mwh: "{hub}"}

gives 16 variants, the last parameter varying fastest. In a transform, a string that
is exactly ``"{name}"`` takes the parameter's value as it is (a decimal string stays
a string); ``{name}`` inside longer text is replaced by the value's text. The default
variant name is ``gas=0.5,hub=-10``. :func:`count` is known before anything is
expanded, so a sweep over the limit is refused before any work; each transform is
parsed once per distinct combination of the parameters it uses, not once per variant.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Iterator

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]{0,31})\}")


def count(sweep: dict | None) -> int:
    """How many variants ``sweep`` expands to (0 without a sweep)."""
    if not sweep:
        return 0
    n = 1
    for p in sweep["parameters"]:
        n *= len(p["values"])
    return n


def placeholders(obj: Any) -> set[str]:
    """Parameter names a transform (any JSON value) refers to."""
    if isinstance(obj, str):
        return set(_PLACEHOLDER.findall(obj))
    if isinstance(obj, dict):
        return {n for v in obj.values() for n in placeholders(v)} | {n for k in obj for n in placeholders(k)}
    if isinstance(obj, list):
        return {n for v in obj for n in placeholders(v)}
    return set()


def substitute(obj: Any, values: dict[str, Any]) -> Any:
    """``obj`` with the placeholders of ``values`` replaced (see the module docstring)."""
    if isinstance(obj, str):
        whole = _PLACEHOLDER.fullmatch(obj)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), obj)
    if isinstance(obj, dict):
        return {substitute(k, values): substitute(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, values) for v in obj]
    return obj


def variant_name(sweep: dict, values: dict[str, Any]) -> str:
    template = sweep.get("name")
    if template:
        return substitute(template, {k: str(v) for k, v in values.items()})
    return ",".join(f"{k}={v}" for k, v in values.items())


def combinations(sweep: dict) -> Iterator[dict[str, Any]]:
    """The parameter values of each variant, in order."""
    names = [p["name"] for p in sweep["parameters"]]
    for combo in itertools.product(*(p["values"] for p in sweep["parameters"])):
        yield dict(zip(names, combo))


__all__ = ["count", "placeholders", "substitute", "variant_name", "combinations"]
