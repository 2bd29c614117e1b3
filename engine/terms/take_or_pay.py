"""``take_or_pay``: the buyer pays for at least a share of the contracted quantity.

Parameters::

    contracted_mwh_per_month: "90000"  # CQ per billing month
    take_share: "0.80"                 # TOP share
    price_usd_per_mwh: "60.00"         # or price_term: <energy_fixed term id>
    escalator_pct_per_year: "2.0"      # with price_usd_per_mwh only
    bill_delivered: true               # false when an energy_fixed term already bills it

``Pay = max(E_delivered, TOP x CQ) x P``, shown as two lines:

* ``<id>:delivered`` (if ``bill_delivered``): delivered energy x P, per interval
  (P of each interval's contract year, no TOU);
* ``<id>:top_up``: ``max(0, round(TOP x CQ) - E_delivered)`` x P, with the minimum
  take rounded half-even to 1 Wh (part of its definition) and P the price of the
  contract year of the period's last local day. The line is always present
  (0.00 when the take was met).

CQ applies to every billing month in full (no pro-rating of partial months); the
version in force on the period's last day applies.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..units import MICRO, WH_PER_MWH
from . import _fixed_price
from .base import IntervalOutput, PeriodLine, dec, frac_str, line, rates_by_distinct

KIND = "take_or_pay"
SCHEMA = {
    "required": ["contracted_mwh_per_month", "take_share"],
    "properties": {
        "contracted_mwh_per_month": {"$ref": "#/$defs/nonneg_decimal"},
        "take_share": {"$ref": "#/$defs/fraction"},
        **_fixed_price.SCHEMA_PROPERTIES,
        "bill_delivered": {"type": "boolean"},
    },
}
DELIVERED, TOP_UP = "delivered", "top_up"
LINE_PARTS = (DELIVERED, TOP_UP)


@dataclass(frozen=True)
class Params:
    contracted_mwh: Fraction
    take_share: Fraction
    own_price: object | None
    price_term: str | None
    bill_delivered: bool = True

    @property
    def min_take_wh(self) -> int:
        return round(self.take_share * self.contracted_mwh * WH_PER_MWH)


def parse(raw: dict, where: str) -> Params:
    own, pt = _fixed_price.parse_price(raw, where)
    return Params(dec(raw, "contracted_mwh_per_month", where, required=True, lo=0),
                  dec(raw, "take_share", where, required=True, lo=0, hi=1), own, pt,
                  bool(raw.get("bill_delivered", True)))


def check(term, cv, where: str) -> list[tuple[str, str]]:
    p: Params = term.params
    return _fixed_price.check_price(p.own_price, p.price_term, cv, where)


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    if not p.bill_delivered:
        return IntervalOutput()
    price = _fixed_price.resolve(p.own_price, p.price_term, ctx.cv)
    rate = rates_by_distinct(ctx.contract_year(), price.rate_micro)
    desc = (term.description or "Take-or-pay") + ": delivered energy"
    return IntervalOutput([line(f"{term.id}:{DELIVERED}", KIND, desc, np.arange(ctx.n),
                                ctx.delivered_wh, rate)])


def period(term, pctx) -> list[PeriodLine]:
    p: Params = term.params
    price = _fixed_price.resolve(p.own_price, p.price_term, pctx.cv)
    rate_micro = price.rate_micro(pctx.contract_year())
    top_up_wh = max(0, p.min_take_wh - pctx.delivered_wh)
    desc = (term.description or "Take-or-pay") + (
        f": top-up to {frac_str(p.take_share * 100, 4)}% of {frac_str(p.contracted_mwh)} MWh "
        f"(minimum take {frac_str(Fraction(p.min_take_wh, WH_PER_MWH))} MWh)")
    return [PeriodLine(f"{term.id}:{TOP_UP}", KIND, desc, Fraction(top_up_wh, WH_PER_MWH), "MWh",
                       Fraction(rate_micro, 10**6), "USD/MWh", Fraction(top_up_wh * rate_micro))]


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    """The contract price of the delivered and top-up lines (no TOU factor)."""
    p: Params = term.params
    return [(term.id, Fraction(_fixed_price.resolve(p.own_price, p.price_term, cv).rate_micro(year), MICRO),
             "USD/MWh")]
