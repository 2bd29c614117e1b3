"""``export_share``: grid-export revenue at the site's node, shared between the parties.

Parameters::

    share_to_buyer: "0.5"             # the buyer's share of export revenue
    revenue_received_by: seller       # seller (default) | buyer: who the ISO pays
    export: [exp]                     # optional; default kind:grid_export
    market_run: RT                    # optional; default pricing.site_node.market_run, else RT

Revenue per interval = exported energy x the site node's price (the site registry's
``market.iso``/``market.node``; negative prices give negative revenue). The
invoice line is the *buyer's* side of the split, with the invoice sign convention
(> 0 = the buyer pays the seller):

* revenue received by the seller: the seller credits the buyer its share,
  ``amount = -share_to_buyer x revenue``;
* received by the buyer: the buyer remits the seller's share,
  ``amount = (1 - share_to_buyer) x revenue``.

The rate ``coefficient x price`` is rounded half-even once per distinct price to
1e-6 USD/MWh; quantity = exported energy. One line ``<id>``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..units import MICRO
from .base import IntervalOutput, affine_micro, choice, dec, frac_str, line, refs_param

KIND = "export_share"
RECEIVERS = ("seller", "buyer")
SCHEMA = {
    "required": ["share_to_buyer"],
    "properties": {
        "share_to_buyer": {"$ref": "#/$defs/fraction"},
        "revenue_received_by": {"enum": list(RECEIVERS)},
        "export": {"$ref": "#/$defs/refs"},
        "market_run": {"$ref": "#/$defs/market_run"},
    },
}


@dataclass(frozen=True)
class Params:
    share_to_buyer: Fraction
    received_by: str = "seller"
    export: tuple[str, ...] = ("kind:grid_export",)
    market_run: str | None = None

    @property
    def coefficient(self) -> Fraction:
        return -self.share_to_buyer if self.received_by == "seller" else 1 - self.share_to_buyer

    def rate_micro(self, price_micro: Any) -> Any:
        """``quantise_micro(coefficient x price)`` in micro-USD/MWh, for an integer or,
        element by element, an int64 array of node prices (``affine_micro``)."""
        return affine_micro(price_micro, self.coefficient / MICRO, Fraction(0))


def parse(raw: dict, where: str) -> Params:
    return Params(dec(raw, "share_to_buyer", where, required=True, lo=0, hi=1),
                  choice(raw, "revenue_received_by", where, RECEIVERS, "seller"),
                  refs_param(raw, "export", where, ("kind:grid_export",)), raw.get("market_run"))


def refs(params: Params) -> list[tuple[str, str]]:
    return [(f"export[{i}]", r) for i, r in enumerate(params.export)]


def node_key(term, cv, site) -> tuple[str, str, str]:
    run = term.params.market_run or cv.site_node_market_run or "RT"
    return (site.iso or "", site.node or "", run)


def needs(term, cv, site) -> list[tuple]:
    return [("price", node_key(term, cv, site))]


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    key = node_key(term, ctx.cv, ctx.site)
    price = ctx.price(key)
    rate = p.rate_micro(price)
    desc = term.description or (f"Export revenue share at {key[0]} {key[1]} {key[2]}: buyer "
                                f"{frac_str(p.share_to_buyer * 100, 4)}%, received by the {p.received_by}")
    return IntervalOutput([line(term.id, KIND, desc, np.arange(ctx.n), ctx.energy(p.export), rate)])
