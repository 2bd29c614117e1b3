"""``vppa``: virtual PPA / contract for differences at a hub, with hedge share.

Parameters::

    strike_usd_per_mwh: "42.50"       # K
    hedge_share: "0.75"               # s, share of the volume hedged (default 1)
    negative_price_rule: none         # none | zero_floor | no_settlement_below_zero
    volume: [kind:generation]         # optional; default: the contract's delivered energy
    hub: {iso: ERCOT, node: HB_NORTH, market_run: RT}   # optional; default pricing.hub

Per interval with hub price ``P`` (the hub price interval containing the meter
interval's start, DA hourly or RT) and volume ``V``, the swap pays the buyer
``(P - K) x V x s`` (the seller sells at the hub, the buyer tops it up to K).

**Sign convention.** Like every invoice line, the amount is what the buyer owes the
seller (> 0 means the seller is paid)::

    amount = (K - P_eff) x s x V

with the negative-price rule applied to ``P``: ``none`` P_eff = P (buyer bears
negative prices); ``zero_floor`` P_eff = max(P, 0); ``no_settlement_below_zero``
intervals with P < 0 settle nothing (quantity and amount 0).

The settlement rate ``s x (K - P_eff)`` is computed exactly and rounded half-even
once per distinct hub price to 1e-6 USD/MWh (part of the rate definition); the
quantity is the full metered volume. One line ``<id>``; its rate on the invoice is
the volume-weighted average.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..contract_model import PriceNode
from ..units import MICRO
from .base import IntervalOutput, affine_micro, choice, dec, frac_str, line, refs_param

KIND = "vppa"
RULES = ("none", "zero_floor", "no_settlement_below_zero")
SCHEMA = {
    "required": ["strike_usd_per_mwh"],
    "properties": {
        "strike_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "hedge_share": {"$ref": "#/$defs/fraction"},
        "negative_price_rule": {"enum": list(RULES)},
        "volume": {"$ref": "#/$defs/refs"},
        "hub": {"$ref": "#/$defs/node"},
    },
}


@dataclass(frozen=True)
class Params:
    strike: Fraction
    hedge_share: Fraction = Fraction(1)
    negative_price_rule: str = "none"
    volume: tuple[str, ...] | None = None
    hub: PriceNode | None = None

    def rate_micro(self, hub_micro: Any) -> Any:
        """Settlement rate (buyer -> seller), micro-USD/MWh, for a hub price in
        micro-USD/MWh: ``quantise_micro(s x (K - P_eff))``, for an integer or, element
        by element, an int64 array of prices (``affine_micro``: the same integers)."""
        p = np.asarray(hub_micro, dtype=np.int64)
        eff = np.maximum(p, 0) if self.negative_price_rule == "zero_floor" else p
        rate = affine_micro(eff, -self.hedge_share / MICRO, self.hedge_share * self.strike)
        if self.negative_price_rule == "no_settlement_below_zero":
            rate = np.where(p < 0, 0, rate)
        return int(rate) if np.ndim(hub_micro) == 0 else rate


def parse(raw: dict, where: str) -> Params:
    hub = PriceNode(**raw["hub"]) if "hub" in raw else None
    return Params(dec(raw, "strike_usd_per_mwh", where, required=True),
                  dec(raw, "hedge_share", where, default="1", lo=0, hi=1),
                  choice(raw, "negative_price_rule", where, RULES, "none"),
                  refs_param(raw, "volume", where), hub)


def refs(params: Params) -> list[tuple[str, str]]:
    return [(f"volume[{i}]", r) for i, r in enumerate(params.volume or ())]


def hub_of(term, cv) -> PriceNode:
    return term.params.hub or cv.hub


def check(term, cv, where: str) -> list[tuple[str, str]]:
    if hub_of(term, cv) is None:
        return [(f"{where}.hub", "required (or set pricing.hub)")]
    return []


def needs(term, cv, site) -> list[tuple]:
    return [("price", hub_of(term, cv).key())]


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    hub = ctx.price(hub_of(term, ctx.cv).key())
    vol = ctx.delivered_wh if p.volume is None else ctx.energy(p.volume)
    if p.negative_price_rule == "no_settlement_below_zero":
        vol = np.where(hub < 0, 0, vol)
    rate = p.rate_micro(hub)
    node = hub_of(term, ctx.cv)
    desc = term.description or (f"VPPA settlement at {node.iso} {node.node} {node.market_run}, "
                                f"strike ${frac_str(p.strike)}/MWh, hedge share {frac_str(p.hedge_share)}")
    return IntervalOutput([line(term.id, KIND, desc, np.arange(ctx.n), vol, rate)])
