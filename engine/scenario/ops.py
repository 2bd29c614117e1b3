"""What every transformation shares: the op protocol, parameter parsing, the inputs
they rewrite.

An op is one entry of ``OPS`` (``engine.scenario.registry``), declared by its family's
module (``prices``, ``indices``, ``meter``, ``exports``, ``contracts``, ``battery``)
as an :class:`Op`:

``name``      the ``op`` of the scenario document (``price_scale``);
``family``    what it rewrites, which fixes when it applies (see below);
``schema``    its parameters as a JSON-Schema fragment (``{"required": [...],
              "properties": {...}}``; ``$ref`` to the shared ``$defs`` of
              ``engine.scenario.schema``), published in the scenario schema;
``parse``     ``parse(raw, where) -> Params``: a frozen dataclass of exact parameters
              from a transform the schema accepted, raising ``FieldError(path, msg)``
              (checks that need no stored data: ranges, a battery's feasibility);
``apply``     the rewrite itself, with the family's signature;
``doc``       one line for the schema's description.

Families, applied in this order whatever the order of the variant's list (within a
family, in the list's order):

``contract``  the contract documents (``apply(params, docs, where) -> docs``); the
              result is parsed again by ``engine.contract.parse_contract``, so every
              term's own validation applies;
``market``    one site-month's ``MarketData`` (``apply(params, market, mctx)``);
``site``      a site's channels over the scenario's horizon (``apply(params, horizon,
              where)``): meter data, export rules and battery re-dispatch, which see
              the variant's prices and contracts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

from ..errors import FieldError
from ..settlement import MarketData

FAMILIES = ("contract", "market", "site")


@dataclass(frozen=True)
class Op:
    name: str
    family: str
    schema: Mapping[str, Any]
    parse: Callable[[dict, str], Any]
    apply: Callable[..., Any]
    doc: str


@dataclass(frozen=True)
class SeriesSelector:
    """Price series by any of iso, node, market run (an absent field matches all)."""
    iso: str | None = None
    node: str | None = None
    market_run: str | None = None

    def matches(self, key: tuple[str, str, str]) -> bool:
        return all(want is None or want == got
                   for want, got in zip((self.iso, self.node, self.market_run), key))

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in (("iso", self.iso), ("node", self.node),
                                          ("market_run", self.market_run)) if v is not None]
        return "every price series" if not parts else "price series " + ", ".join(parts)


def selector(raw: dict | None) -> SeriesSelector:
    raw = raw or {}
    return SeriesSelector(raw.get("iso"), raw.get("node"), raw.get("market_run"))


def months_param(raw: dict) -> tuple[str, ...] | None:
    """The optional ``months`` a transform is limited to (billing months, YYYY-MM)."""
    m = raw.get("months")
    return None if m is None else tuple(sorted(set(m)))


def date_param(raw: dict, key: str, where: str, *, required: bool = True) -> date | None:
    v = raw.get(key)
    if v is None:
        if required:
            raise FieldError(f"{where}.{key}", "required")
        return None
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise FieldError(f"{where}.{key}", f"not a date YYYY-MM-DD: {v!r}") from None


@dataclass(frozen=True)
class MarketContext:
    """Where a market transform applies: one site-month being settled.

    ``b0``/``b1`` are the UTC bounds of the billing month, ``timezone`` the site's
    (local hours of scarcity events), ``series`` the stored series a replacement may
    take (by key; read by the job as of the pinned prices version)."""
    period: str
    site_id: str
    timezone: str
    b0: int
    b1: int
    series: Mapping[tuple[str, str, str], Any] = field(default_factory=dict)


def applies_in(months: tuple[str, ...] | None, period: str) -> bool:
    return months is None or period in months


__all__ = ["Op", "FAMILIES", "SeriesSelector", "selector", "months_param", "date_param",
           "MarketContext", "MarketData", "applies_in"]
