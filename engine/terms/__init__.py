"""Contract term kinds, one module each; ``TERM_KINDS`` maps ``kind`` -> ``TermKind``.

The protocol a module follows is in ``engine.terms.base``. Adding a kind: write
``engine/terms/<kind>.py`` (``KIND``, ``SCHEMA``, ``parse``, ``interval`` and/or
``period``, and what else it needs) and add it to the tuple below. Its order is
the order of the kinds in the published contract schema.
"""
from __future__ import annotations

from . import (capacity, curtailment, energy_fixed, energy_indexed, export_share, min_delivery,
               take_or_pay, vppa)
from .base import TermKind

TERM_KINDS: dict[str, TermKind] = {k.kind: k for k in map(TermKind.of, (
    energy_fixed, energy_indexed, capacity, min_delivery, curtailment, vppa, export_share, take_or_pay))}


def line_rank(kind: str, part: str) -> tuple[int, int, int]:
    """Where line ``<term id>:<part>`` of a ``kind`` term sorts among its term's lines.

    The bare ``<term id>`` line first, then the parts in the order the kind
    declares (``LINE_PARTS``), then any undeclared part (the caller breaks ties by
    name). Across kinds the table order decides, so a term id whose kind changes
    at an amendment still has one order.
    """
    if not part:
        return (0, 0, 0)
    tk = TERM_KINDS.get(kind)
    if tk is None or part not in tk.line_parts:
        return (2, 0, 0)
    return (1, list(TERM_KINDS).index(kind), tk.line_parts.index(part))


__all__ = ["TERM_KINDS", "TermKind", "line_rank"]
