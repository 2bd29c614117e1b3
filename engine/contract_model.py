"""The contract model: frozen dataclasses of one parsed contract version.

``engine.contract`` builds them from a document (validation, amendments, version
selection); the term kinds in ``engine/terms/`` read them. Both import this
module and neither imports the other's internals, so there is no cycle between
``engine.contract`` and ``engine.terms``. The field meanings are those of the
document (see ``engine.contract``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .timebase import local_midnight_us


@dataclass(frozen=True)
class Parties:
    seller: str
    buyer: str


@dataclass(frozen=True)
class Term:
    id: str
    kind: str
    params: Any                # the kind's frozen Params dataclass
    description: str = ""


@dataclass(frozen=True)
class DeliveredDef:
    """``max(0, sum(add) - sum(subtract))``, capped at ``sum(cap_at)`` (per interval)."""
    add: tuple[str, ...]
    subtract: tuple[str, ...] = ()
    cap_at: tuple[str, ...] = ()
    floor_zero: bool = True

    def refs(self) -> tuple[str, ...]:
        return self.add + self.subtract + self.cap_at


@dataclass(frozen=True)
class PriceNode:
    """A price series: ``pricing.hub``, a ``vppa`` hub, a site's node."""
    iso: str
    node: str
    market_run: str           # DA | RT

    def key(self) -> tuple[str, str, str]:
        return (self.iso, self.node, self.market_run)


@dataclass(frozen=True)
class ContractVersion:
    contract_id: str
    version: int
    effective_from: date
    parties: Parties
    sites: tuple[str, ...]
    timezone: str
    term_start: date
    term_end: date                       # inclusive last local date
    delivered: DeliveredDef
    terms: tuple[Term, ...]
    hub: PriceNode | None = None
    site_node_market_run: str | None = None
    billing_period: str = "month"
    currency: str = "USD"
    description: str = ""

    @property
    def label(self) -> str:
        return f"contract {self.contract_id} v{self.version}"

    def term(self, term_id: str) -> Term:
        for t in self.terms:
            if t.id == term_id:
                return t
        raise KeyError(term_id)

    def term_bounds_us(self) -> tuple[int, int]:
        """UTC [start, end) of the whole term."""
        return (local_midnight_us(self.term_start, self.timezone),
                local_midnight_us(self.term_end + timedelta(days=1), self.timezone))


__all__ = ["Parties", "Term", "DeliveredDef", "PriceNode", "ContractVersion"]
