"""``capacity``: contracted capacity x capacity price x monthly availability adjustment (MAAF).

Parameters::

    contracted_kw: "200000"            # CC
    price_usd_per_kw_month: "9.25"     # CPR; or one of the two other price forms below
    availability:
      channels: [gt1]                  # generation channels whose availability is measured
      target: "0.95"                   # availability target
      rule: energy_ratio               # energy_ratio (default) | online
      online_min_fraction: "0.0"       # for rule: online

The price takes exactly one of three forms (the notes' capacity payments):

* ``price_usd_per_kw_month: "9.25"``: ``CC x CPR`` a billing month;
* ``price_usd_per_mw_day: "250.00"`` (ISO style): ``CC/1000 x price x days``, the
  days being the local days of the billing month (contract zone) within the term:
  ``100 MW x $250/MW-day x 30 days = $750,000`` for a full June;
* ``price_usd_per_kw_year: "120.00"`` with ``monthly_shape_pct: {jan: "6.7", feb:
  "5.0", ..., dec: "6.3"}`` (all twelve, summing to exactly 100): ``CC x CP x
  SF_m / 100`` in calendar month ``m`` (the notes' ``MCP = CC x CP x SF_m x AAF``).

Availability (defined here; the domain form is ``CAF_h = (AD+DD)/AFCE <= 1``): for
each interval the *available-for-capacity energy* is the channels' nameplate
energy ``N_i = sum(nameplate_kw) x interval hours`` (from the site registry).

* ``energy_ratio``: ``CAF_i = min(E_i, N_i) / N_i``, i.e. metered output against
  nameplate, capped at 1 (suits must-run/baseload and tolling units);
* ``online``: ``CAF_i = 1`` if ``E_i > 0`` and ``E_i >= online_min_fraction x N_i``,
  else 0 (the unit was running; suits load-following units).

The month's availability is the nameplate-weighted mean over every interval of
every site: ``CAFm = sum_i CAF_i N_i / sum_i N_i`` (additive integer sums, so any
partitioning of sites and days gives the same figure). A missing interval counts
as unavailable. Then, as in the notes::

    MAAF = 1                               if CAFm >= target
         = max(0, 1 - 2 x (target - CAFm)) otherwise
    amount = CC x CPR x MAAF               (exact, rounded once to cents)

with ``CPR`` the month's price per kW (``price x days / 1000`` per MW-day,
``price x SF_m / 100`` per kW-year). The line shows quantity = CC (kW-month) and
rate = CPR x MAAF (USD/kW-month); per MW-day, quantity = CC/1000 x days (MW-day)
and rate = price x MAAF (USD/MW-day). Per kW-month and kW-year the payment is for
the whole billing month (no pro-rating of partial months); per MW-day it counts
the days in the term. The version in force on the period's last day applies.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

import numpy as np

from ..delivered import resolve_refs
from ..errors import FieldError
from ..money import sum_exact
from ..timebase import parse_period
from ..units import PICO_PER_USD, decimal_to_scaled
from .base import IntervalOutput, PeriodLine, choice, dec, frac_str, md, refs_param

KIND = "capacity"
RULES = ("energy_ratio", "online")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: the price fields, exactly one of which a term gives, and the unit each is in
PRICES = {"price_usd_per_kw_month": "kW-month", "price_usd_per_mw_day": "MW-day",
          "price_usd_per_kw_year": "kW-year"}
SCHEMA = {
    "required": ["contracted_kw", "availability"],
    "properties": {
        "contracted_kw": {"$ref": "#/$defs/nonneg_decimal"},
        "price_usd_per_kw_month": {"$ref": "#/$defs/decimal"},
        "price_usd_per_mw_day": {"$ref": "#/$defs/decimal"},
        "price_usd_per_kw_year": {"$ref": "#/$defs/decimal"},
        "monthly_shape_pct": {
            "type": "object", "required": list(MONTHS), "additionalProperties": False,
            "properties": {m: {"$ref": "#/$defs/nonneg_decimal"} for m in MONTHS},
        },
        "availability": {
            "type": "object", "required": ["channels", "target"], "additionalProperties": False,
            "properties": {
                "channels": {"$ref": "#/$defs/refs"},
                "target": {"$ref": "#/$defs/fraction"},
                "rule": {"enum": list(RULES)},
                "online_min_fraction": {"$ref": "#/$defs/fraction"},
            },
        },
    },
}


@dataclass(frozen=True)
class Params:
    contracted_kw: Fraction
    price_per_kw_month: Fraction | None
    channels: tuple[str, ...]
    target: Fraction
    rule: str = "energy_ratio"
    online_min_fraction: Fraction = Fraction(0)
    price_per_mw_day: Fraction | None = None
    price_per_kw_year: Fraction | None = None
    monthly_shape_pct: tuple[Fraction, ...] | None = None     # Jan..Dec, summing to 100

    @property
    def price(self) -> tuple[Fraction, str]:
        """(the price, its unit: ``kW-month``, ``MW-day`` or ``kW-year``)."""
        for f, unit in ((self.price_per_kw_month, "kW-month"), (self.price_per_mw_day, "MW-day"),
                        (self.price_per_kw_year, "kW-year")):
            if f is not None:
                return f, unit
        raise ValueError("capacity: no price")            # parse guarantees one


def _shape(raw: dict, where: str) -> tuple[Fraction, ...]:
    shares = tuple(dec(raw, m, where, required=True, lo=0) for m in MONTHS)
    total = sum(shares, Fraction(0))
    if total != 100:
        raise FieldError(where, f"the 12 monthly shares must sum to exactly 100 (%); they sum to "
                                f"{frac_str(total)}")
    return shares


def parse(raw: dict, where: str) -> Params:
    a = raw["availability"]
    aw = f"{where}.availability"
    given = [k for k in PRICES if k in raw]
    if len(given) != 1:
        raise FieldError(f"{where}.{given[1] if given else 'price_usd_per_kw_month'}",
                         f"give exactly one of {', '.join(PRICES)}")
    prices = {k: dec(raw, k, where) for k in PRICES}
    shape = None
    if "monthly_shape_pct" in raw:
        if given[0] != "price_usd_per_kw_year":
            raise FieldError(f"{where}.monthly_shape_pct", "only with price_usd_per_kw_year")
        shape = _shape(raw["monthly_shape_pct"], f"{where}.monthly_shape_pct")
    elif given[0] == "price_usd_per_kw_year":
        raise FieldError(f"{where}.monthly_shape_pct", "required with price_usd_per_kw_year (the share "
                                                       "of the annual price paid in each month, in %)")
    return Params(dec(raw, "contracted_kw", where, required=True, lo=0), prices["price_usd_per_kw_month"],
                  refs_param(a, "channels", aw, required=True), dec(a, "target", aw, required=True, lo=0, hi=1),
                  choice(a, "rule", aw, RULES, "energy_ratio"),
                  dec(a, "online_min_fraction", aw, default="0", lo=0, hi=1),
                  prices["price_usd_per_mw_day"], prices["price_usd_per_kw_year"], shape)


def refs(params: Params) -> list[tuple[str, str]]:
    return [(f"availability.channels[{i}]", r) for i, r in enumerate(params.channels)]


def nameplate_w(site, channels: tuple[str, ...]) -> int:
    total = 0
    for n in resolve_refs(channels, site):
        npk = site.channels[n].nameplate_kw
        if not npk:
            from ..errors import UnknownReferenceError
            raise UnknownReferenceError(f"site {site.site_id}: channel {n} has no nameplate_kw "
                                        f"(capacity availability needs it)")
        total += decimal_to_scaled(npk, 1000)
    return total


def availability_sums(p: Params, energy_wh: np.ndarray, nameplate_w_total: int, minutes: int
                      ) -> tuple[int, int]:
    """(sum CAF_i x N_i, sum N_i) in Wh x 60 (integers; N_i = W x minutes)."""
    n_i = nameplate_w_total * minutes                       # Wh x 60 per interval
    e60 = np.asarray(energy_wh, dtype=np.int64) * 60
    if p.rule == "energy_ratio":
        num = sum_exact(np.minimum(e60, n_i))
    else:
        thr = p.online_min_fraction * n_i
        online = (e60 > 0) & (e60 * thr.denominator >= thr.numerator)
        num = int(online.sum()) * n_i
    return num, n_i * int(e60.size)


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    num, den = availability_sums(p, ctx.energy(p.channels), nameplate_w(ctx.site, p.channels), ctx.minutes)
    return IntervalOutput([], {md(term.id, "available_wh60"): num, md(term.id, "nameplate_wh60"): den})


def maaf(availability: Fraction, target: Fraction) -> Fraction:
    if availability >= target:
        return Fraction(1)
    return max(Fraction(0), 1 - 2 * (target - availability))


def days_in_term(pctx) -> int:
    """Local days of the billing month within the term (the MW-day count)."""
    y, m = parse_period(pctx.period)
    first = max(date(y, m, 1), pctx.cv.term_start)
    return (pctx.last_day - first).days + 1


def period(term, pctx) -> list[PeriodLine]:
    p: Params = term.params
    den = pctx.det(term, "nameplate_wh60")
    caf = Fraction(pctx.det(term, "available_wh60"), den) if den else Fraction(0)
    f = maaf(caf, p.target)
    price, unit = p.price
    kw = frac_str(p.contracted_kw)
    if unit == "MW-day":
        days = days_in_term(pctx)
        qty, qty_unit, rate = p.contracted_kw / 1000 * days, "MW-day", price * f
        basis = f"{frac_str(p.contracted_kw / 1000)} MW x ${frac_str(price)}/MW-day x {days} days"
    elif unit == "kW-year":
        month = parse_period(pctx.period)[1]
        shape = p.monthly_shape_pct
        assert shape is not None                          # parse requires it with a kW-year price
        share = shape[month - 1]
        qty, qty_unit, rate = p.contracted_kw, "kW-month", price * share / 100 * f
        basis = (f"{kw} kW x ${frac_str(price)}/kW-year x {frac_str(share)}% "
                 f"({MONTHS[month - 1].capitalize()} share)")
    else:
        qty, qty_unit, rate = p.contracted_kw, "kW-month", price * f
        basis = f"{kw} kW x ${frac_str(price)}/kW-month"
    desc = (term.description or "Capacity") + (
        f": {basis}; availability {frac_str(caf * 100, 3)}% vs target {frac_str(p.target * 100, 3)}% "
        f"-> MAAF {frac_str(f, 6)}")
    return [PeriodLine(term.id, KIND, desc, qty, qty_unit, rate, f"USD/{qty_unit}", qty * rate * PICO_PER_USD)]


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    """The capacity price in its own unit (before the availability adjustment)."""
    price, unit = term.params.price
    return [(term.id, price, f"USD/{unit}")]
