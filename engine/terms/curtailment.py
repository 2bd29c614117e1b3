"""``curtailment``: deemed (curtailed) energy paid at the contract price.

Parameters::

    potential: [pv1_potential]        # channels giving potential net output (Wh)
    actual: [pv1]                     # optional; default: the contract's delivered energy
    price_usd_per_mwh: "38.00"        # or price_term: <energy_fixed term id>
    escalator_pct_per_year: "2.0"     # with price_usd_per_mwh only
    only_when_hub_below_usd_per_mwh: "0"   # optional economic-curtailment trigger

Deemed energy per interval (domain form "Compensable Curtailment Energy = Potential
Net Output - Net Output delivered")::

    deemed_i = max(potential_i - actual_i, 0)

and, with ``only_when_hub_below_usd_per_mwh: X``, only in intervals whose hub price
(``pricing.hub``) is below X (buyer economic curtailment); 0 elsewhere. Paid at the
contract price of the interval's contract year (with ``price_term``, also that
term's TOU factor), rounded once per distinct rate to 1e-6 USD/MWh.
One line ``<id>``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..calendar import tou_buckets
from ..units import MICRO
from . import _fixed_price, energy_fixed
from .base import IntervalOutput, dec, line, rates_by_distinct, refs_param

KIND = "curtailment"
SCHEMA = {
    "required": ["potential"],
    "properties": {
        "potential": {"$ref": "#/$defs/refs"},
        "actual": {"$ref": "#/$defs/refs"},
        **_fixed_price.SCHEMA_PROPERTIES,
        "only_when_hub_below_usd_per_mwh": {"$ref": "#/$defs/decimal"},
    },
}


@dataclass(frozen=True)
class Params:
    potential: tuple[str, ...]
    actual: tuple[str, ...] | None
    own_price: object | None
    price_term: str | None
    hub_below: Fraction | None


def parse(raw: dict, where: str) -> Params:
    own, pt = _fixed_price.parse_price(raw, where)
    return Params(refs_param(raw, "potential", where, required=True), refs_param(raw, "actual", where), own, pt,
                  dec(raw, "only_when_hub_below_usd_per_mwh", where))


def refs(params: Params) -> list[tuple[str, str]]:
    out = [(f"potential[{i}]", r) for i, r in enumerate(params.potential)]
    return out + [(f"actual[{i}]", r) for i, r in enumerate(params.actual or ())]


def check(term, cv, where: str) -> list[tuple[str, str]]:
    p: Params = term.params
    out = _fixed_price.check_price(p.own_price, p.price_term, cv, where)
    if p.hub_below is not None and cv.hub is None:
        out.append((f"{where}.only_when_hub_below_usd_per_mwh", "needs pricing.hub"))
    return out


def needs(term, cv, site) -> list[tuple]:
    return [("price", cv.hub.key())] if term.params.hub_below is not None else []


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    actual = ctx.delivered_wh if p.actual is None else ctx.energy(p.actual)
    deemed = np.maximum(ctx.energy(p.potential) - actual, 0)
    if p.hub_below is not None:
        hub = ctx.price(ctx.cv.hub.key())
        deemed = np.where(hub * p.hub_below.denominator < p.hub_below.numerator * MICRO, deemed, 0)
    price = _fixed_price.resolve(p.own_price, p.price_term, ctx.cv)
    years = ctx.contract_year()
    if price.tou is not None:
        t = price.tou
        b = tou_buckets(ctx.start_us, ctx.cv.timezone, on_peak_hours_ending=t.hours_ending,
                        on_peak_days=t.days, holidays=t.holidays, local=ctx.local).astype(np.int64)
        rate = rates_by_distinct(years * 2 + b, lambda k: price.rate_micro(k // 2, k % 2))
    else:
        rate = rates_by_distinct(years, price.rate_micro)
    desc = term.description or (f"Curtailed (deemed) energy at "
                                f"{_fixed_price.describe(p.own_price, p.price_term)}")
    return IntervalOutput([line(term.id, KIND, desc, np.arange(ctx.n), deemed, rate)])


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    """The compensation price (with the TOU factors of a referenced term, as applied)."""
    p: Params = term.params
    return energy_fixed.schedule_of(term.id, _fixed_price.resolve(p.own_price, p.price_term, cv), year)
