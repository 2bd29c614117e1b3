"""A fixed contract price given inline or by reference to an ``energy_fixed`` term.

Used by ``curtailment`` and ``take_or_pay``: either ``price_usd_per_mwh`` (with an
optional ``escalator_pct_per_year``, same rule as ``energy_fixed``) or
``price_term: <id of an energy_fixed term>`` (its price, escalator and, for
interval-level use, its TOU factors).
"""
from __future__ import annotations

from . import energy_fixed
from .base import dec, frac_str

# The price fields of a kind's SCHEMA (``check_price`` requires exactly one of the two prices).
SCHEMA_PROPERTIES = {
    "price_usd_per_mwh": {"$ref": "#/$defs/decimal"},
    "escalator_pct_per_year": {"$ref": "#/$defs/decimal"},
    "price_term": {"$ref": "#/$defs/term_id"},
}


def parse_price(raw: dict, where: str) -> tuple[energy_fixed.Params | None, str | None]:
    own = None
    if "price_usd_per_mwh" in raw:
        own = energy_fixed.Params(dec(raw, "price_usd_per_mwh", where, required=True),
                                  dec(raw, "escalator_pct_per_year", where, lo=-100))
    return own, raw.get("price_term")


def check_price(own, price_term, cv, where: str) -> list[tuple[str, str]]:
    if (own is None) == (price_term is None):
        return [(f"{where}.price_usd_per_mwh", "give exactly one of price_usd_per_mwh or price_term")]
    if price_term is not None:
        try:
            t = cv.term(price_term)
        except KeyError:
            return [(f"{where}.price_term", f"no term with id {price_term!r}")]
        if t.kind != "energy_fixed":
            return [(f"{where}.price_term", f"term {price_term!r} is {t.kind}, not energy_fixed")]
    return []


def resolve(own, price_term, cv) -> energy_fixed.Params:
    return own if own is not None else cv.term(price_term).params


def describe(own, price_term) -> str:
    if own is not None:
        esc = f", escalating {frac_str(own.escalator_pct)}%/yr" if own.escalator_pct else ""
        return f"${frac_str(own.price)}/MWh{esc}"
    return f"the {price_term} price"


__all__ = ["SCHEMA_PROPERTIES", "parse_price", "check_price", "resolve", "describe"]
