"""Contract term kinds, one module each; ``TERM_KINDS`` maps ``kind`` -> module.

Every module has the same interface (see ``engine.terms.base``): ``KIND``,
``parse(raw, where)``, ``refs(params)``, ``check(term, cv, where)``,
``needs(term, cv, site)``, ``interval(term, ctx)`` (map side, per site and
version sub-range) and ``period(term, pctx)`` (finalize side, once per period).
"""
from __future__ import annotations

from types import ModuleType

from . import (capacity, curtailment, energy_fixed, energy_indexed, export_share, min_delivery,
               take_or_pay, vppa)

TERM_KINDS: dict[str, ModuleType] = {m.KIND: m for m in (
    energy_fixed, energy_indexed, capacity, min_delivery, curtailment, vppa, export_share, take_or_pay)}

# Period-level kinds are settled at finalize, after all sites and days are combined.
PERIOD_KINDS = frozenset({"capacity", "min_delivery", "take_or_pay"})

__all__ = ["TERM_KINDS", "PERIOD_KINDS"]
