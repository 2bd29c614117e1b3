"""``vppa``: virtual PPA / contract for differences at a hub, with hedge share and basis.

Parameters::

    strike_usd_per_mwh: "42.50"       # K
    hedge_share: "0.75"               # s, share of the volume hedged (default 1)
    negative_price_rule: none         # none | zero_floor | no_settlement_below_zero
    volume: [kind:generation]         # optional; default: the contract's delivered energy
    hub: {iso: ERCOT, node: HB_NORTH, market_run: RT}   # optional; default pricing.hub
    basis:                            # optional: hub-to-node basis, one of
      mode: adjusted_strike           #   buyer view:   K' = K + b, settled against the hub
      usd_per_mwh: "-1.50"            #   b
    # basis: {mode: node_price, usd_per_mwh: "-1.50"}    project view: node = hub + b
    # basis: {mode: node_price, node: {iso: ERCOT, node: DC1_NODE, market_run: RT}}
    #                                                    the node's own price series

Per interval with reference price ``P`` and volume ``V``, the swap pays the buyer
``(P - K') x V x s`` (the seller sells at ``P``, the buyer tops it up to ``K'``).
The reference price is the hub price (the hub price interval containing the meter
interval's start, DA hourly or RT), except with ``basis.mode: node_price``: the
realised node price, ``hub + b`` or the node series. ``K' = K + b`` with
``basis.mode: adjusted_strike``, else ``K``. A basis in USD/MWh has at most 6
decimal places (prices are held in 1e-6 USD/MWh).

**Sign convention.** Like every invoice line, the amount is what the buyer owes the
seller (> 0 means the seller is paid)::

    amount = (K' - P_eff) x s x V

with the negative-price rule applied to the reference price ``P``: ``none``
P_eff = P (buyer bears negative prices); ``zero_floor`` P_eff = max(P, 0);
``no_settlement_below_zero`` intervals with P < 0 settle nothing (quantity and
amount 0).

The settlement rate ``s x (K' - P_eff)`` is computed exactly and rounded half-even
once per distinct reference price to 1e-6 USD/MWh (part of the rate definition);
the quantity is the full metered volume. One line ``<id>``; its rate on the invoice
is the volume-weighted average.

**Determinants** (``lines[].determinants`` of the invoice; volume-weighted over the
line's whole volume ``V``, including intervals a negative-price rule did not settle;
USD/MWh rounded half-even to 6 places for display, never used in an amount)::

    volume_mwh                      sum V
    capture_price_usd_per_mwh       sum(P_hub x V) / sum V       (ppaoracle's capture price)
    node_capture_price_usd_per_mwh  sum(P_node x V) / sum V      (node_price mode)
    basis_usd_per_mwh               node capture - hub capture   (node_price mode: realised basis)
    effective_price_usd_per_mwh     (sum(P_hub x V) + amount) / sum V

The effective price is what the buyer pays per MWh of the volume when it buys
that energy at the hub and settles the swap: ``K'`` with a full hedge and no
negative-price rule binding; ``capture + s x (K' - capture)`` with a hedge share;
``K + hub - node`` at a node (the buyer bears the basis); e.g. strike $40 with
``zero_floor`` and a hub at -$2 gives $38 (renewafi's "adjusted settlement").
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping

import numpy as np

from ..contract_model import PriceNode
from ..errors import FieldError
from ..money import mul_exact, sum_exact
from ..units import MICRO, wh_to_mwh_str
from .base import IntervalOutput, affine_micro, choice, dec, frac_str, line, rate_str, refs_param

KIND = "vppa"
RULES = ("none", "zero_floor", "no_settlement_below_zero")
BASIS_MODES = ("adjusted_strike", "node_price")
SCHEMA = {
    "required": ["strike_usd_per_mwh"],
    "properties": {
        "strike_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "hedge_share": {"$ref": "#/$defs/fraction"},
        "negative_price_rule": {"enum": list(RULES)},
        "volume": {"$ref": "#/$defs/refs"},
        "hub": {"$ref": "#/$defs/node"},
        "basis": {
            "type": "object", "required": ["mode"], "additionalProperties": False,
            "properties": {
                "mode": {"enum": list(BASIS_MODES)},
                "usd_per_mwh": {"$ref": "#/$defs/decimal"},
                "node": {"$ref": "#/$defs/node"},
            },
        },
    },
}


@dataclass(frozen=True)
class Basis:
    """``adjusted_strike``: ``usd_per_mwh`` added to the strike; ``node_price``: the
    reference price is ``hub + usd_per_mwh`` or, with ``node``, that series."""
    mode: str
    usd_per_mwh: Fraction | None = None
    node: PriceNode | None = None

    @property
    def micro(self) -> int:
        """The fixed basis in micro-USD/MWh (exact: ``parse`` allows 6 places at most)."""
        return int((self.usd_per_mwh or Fraction(0)) * MICRO)


@dataclass(frozen=True)
class Params:
    strike: Fraction
    hedge_share: Fraction = Fraction(1)
    negative_price_rule: str = "none"
    volume: tuple[str, ...] | None = None
    hub: PriceNode | None = None
    basis: Basis | None = None

    @property
    def settled_strike(self) -> Fraction:
        """``K'``: the strike plus an ``adjusted_strike`` basis, else the strike."""
        if self.basis is not None and self.basis.mode == "adjusted_strike":
            return self.strike + (self.basis.usd_per_mwh or Fraction(0))
        return self.strike

    @property
    def node_basis(self) -> Basis | None:
        """The basis if it makes the reference a node price (``node_price``), else None."""
        return self.basis if self.basis is not None and self.basis.mode == "node_price" else None

    def rate_micro(self, ref_micro: Any) -> Any:
        """Settlement rate (buyer -> seller), micro-USD/MWh, for a reference price in
        micro-USD/MWh: ``quantise_micro(s x (K' - P_eff))``, for an integer or, element
        by element, an int64 array of prices (``affine_micro``: the same integers)."""
        p = np.asarray(ref_micro, dtype=np.int64)
        eff = np.maximum(p, 0) if self.negative_price_rule == "zero_floor" else p
        rate = affine_micro(eff, -self.hedge_share / MICRO, self.hedge_share * self.settled_strike)
        if self.negative_price_rule == "no_settlement_below_zero":
            rate = np.where(p < 0, 0, rate)
        return int(rate) if np.ndim(ref_micro) == 0 else rate


def _parse_basis(raw: dict, where: str) -> Basis:
    mode = choice(raw, "mode", where, BASIS_MODES, "adjusted_strike")
    b = dec(raw, "usd_per_mwh", where)
    node = PriceNode(**raw["node"]) if "node" in raw else None
    if b is not None and (b * MICRO).denominator != 1:
        raise FieldError(f"{where}.usd_per_mwh", f"at most 6 decimal places (1e-6 USD/MWh); got {raw['usd_per_mwh']}")
    if mode == "adjusted_strike":
        if node is not None:
            raise FieldError(f"{where}.node", "only with mode: node_price (adjusted_strike settles at the hub)")
        if b is None:
            raise FieldError(f"{where}.usd_per_mwh", "required with mode: adjusted_strike")
    elif (b is None) == (node is None):
        raise FieldError(f"{where}.usd_per_mwh", "mode: node_price takes exactly one of usd_per_mwh "
                                                 "(node = hub + basis) or node (the node's price series)")
    return Basis(mode, b, node)


def parse(raw: dict, where: str) -> Params:
    hub = PriceNode(**raw["hub"]) if "hub" in raw else None
    basis = _parse_basis(raw["basis"], f"{where}.basis") if "basis" in raw else None
    return Params(dec(raw, "strike_usd_per_mwh", where, required=True),
                  dec(raw, "hedge_share", where, default="1", lo=0, hi=1),
                  choice(raw, "negative_price_rule", where, RULES, "none"),
                  refs_param(raw, "volume", where), hub, basis)


def refs(params: Params) -> list[tuple[str, str]]:
    return [(f"volume[{i}]", r) for i, r in enumerate(params.volume or ())]


def hub_of(term, cv) -> PriceNode:
    return term.params.hub or cv.hub


def check(term, cv, where: str) -> list[tuple[str, str]]:
    if hub_of(term, cv) is None:
        return [(f"{where}.hub", "required (or set pricing.hub)")]
    return []


def needs(term, cv, site) -> list[tuple]:
    p: Params = term.params
    out = [("price", hub_of(term, cv).key())]
    nb = p.node_basis
    if nb is not None and nb.node is not None:
        out.append(("price", nb.node.key()))
    return out


def _describe(term, node: PriceNode) -> str:
    p: Params = term.params
    at = f"{node.iso} {node.node} {node.market_run}"
    strike = f"strike ${frac_str(p.strike)}/MWh"
    b = p.basis
    if b is not None and b.mode == "adjusted_strike":
        strike += f" + basis ${frac_str(b.usd_per_mwh or Fraction(0))} = ${frac_str(p.settled_strike)}/MWh"
    elif b is not None:
        at = (f"{b.node.iso} {b.node.node} {b.node.market_run} (node)" if b.node is not None
              else f"{at} + basis ${frac_str(b.usd_per_mwh or Fraction(0))} (node)")
    return f"VPPA settlement at {at}, {strike}, hedge share {frac_str(p.hedge_share)}"


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    node = hub_of(term, ctx.cv)
    hub = ctx.price(node.key())
    nb = p.node_basis
    if nb is None:
        ref = hub
    elif nb.node is not None:
        ref = ctx.price(nb.node.key())
    else:
        ref = hub + nb.micro
    volume = ctx.delivered_wh if p.volume is None else ctx.energy(p.volume)
    vol = np.where(ref < 0, 0, volume) if p.negative_price_rule == "no_settlement_below_zero" else volume
    rate = p.rate_micro(ref)
    sums = {"volume_wh": sum_exact(volume), "hub_value_picousd": sum_exact(mul_exact(hub, volume))}
    if nb is not None:
        sums["node_value_picousd"] = sum_exact(mul_exact(ref, volume))
    desc = term.description or _describe(term, node)
    return IntervalOutput([line(term.id, KIND, desc, np.arange(ctx.n), vol, rate, sums=sums)])


def line_determinants(sums: Mapping[str, int], quantity_wh: int, amount_picousd: int) -> dict[str, str]:
    """Capture price, effective price (and at a node its capture price and the
    realised basis) from the line's sums; see the module docstring."""
    v = int(sums.get("volume_wh", 0))
    out = {"volume_mwh": wh_to_mwh_str(v)}
    if v == 0:
        return out                                 # no volume: no weighted price
    hub = Fraction(int(sums["hub_value_picousd"]), v * MICRO)        # pico-USD / Wh = micro-USD/MWh
    out["capture_price_usd_per_mwh"] = rate_str(hub)
    if "node_value_picousd" in sums:
        node = Fraction(int(sums["node_value_picousd"]), v * MICRO)
        out["node_capture_price_usd_per_mwh"] = rate_str(node)
        out["basis_usd_per_mwh"] = rate_str(node - hub)
    out["effective_price_usd_per_mwh"] = rate_str(hub + Fraction(amount_picousd, v * MICRO))
    return out


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    """The settled strike ``K'`` (constant over the contract years)."""
    return [(f"{term.id} strike", term.params.settled_strike, "USD/MWh")]
