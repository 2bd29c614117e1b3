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
class PartyDetails:
    """What an invoice prints under a party's legal name (all optional)."""
    address: tuple[str, ...] = ()
    tax_id: str | None = None
    contact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.address:
            out["address"] = list(self.address)
        if self.tax_id:
            out["tax_id"] = self.tax_id
        if self.contact:
            out["contact"] = self.contact
        return out


@dataclass(frozen=True)
class Parties:
    seller: str                      # legal names, as invoiced
    buyer: str
    seller_details: PartyDetails | None = None
    buyer_details: PartyDetails | None = None


@dataclass(frozen=True)
class Invoicing:
    """The document's ``invoicing`` block: the numbering sequence, payment terms,
    remittance details (``engine.invoice`` turns them into an invoice's issue block)."""
    issuer_id: str | None = None
    payment_terms_days: int | None = None
    due_from: str = "issue_date"                     # or "period_end"
    remittance: tuple[tuple[str, str], ...] = ()     # (field, value), in document order


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
    invoicing: Invoicing | None = None

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


__all__ = ["PartyDetails", "Parties", "Invoicing", "Term", "DeliveredDef", "PriceNode", "ContractVersion"]
