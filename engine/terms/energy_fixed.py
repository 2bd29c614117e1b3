"""``energy_fixed``: delivered MWh x fixed price, annual escalator, optional TOU factors.

Parameters::

    price_usd_per_mwh: "64.00"        # P1, the contract-year-1 price
    escalator_pct_per_year: "2.0"      # e, percent per contract year (default 0)
    tou:                               # optional; without it there is one line
      factors: {on_peak: "1.10", off_peak: "0.90"}
      on_peak_hours_ending: [7, 22]    # inclusive, hours ending, local prevailing time
      on_peak_days: [mon, tue, wed, thu, fri, sat]
      holidays: nerc                   # nerc | none

Rate of an interval in contract year ``y`` and TOU bucket ``b``::

    rate_microusd_per_mwh = round_half_even(1e6 x P1 x (1 + e/100)^(y-1) x factor_b)

computed exactly (``Fraction``) and rounded once per distinct (year, bucket): the
escalated price is defined to 1e-6 USD/MWh. Contract year 1 starts on
``term.start`` (local date); year ``y`` starts on its ``(y-1)``-th anniversary,
so the escalation steps at local midnight. Quantity = the contract's delivered
energy. Lines: ``<id>`` or, with TOU, ``<id>:on_peak`` and ``<id>:off_peak``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..calendar import BUCKET_NAMES, MON_SAT, OFF_PEAK, ON_PEAK, WEEKDAYS, tou_buckets
from ..errors import FieldError
from ..units import MICRO
from .base import IntervalOutput, dec, escalated_price_micro, line, rates_by_distinct

KIND = "energy_fixed"
SCHEMA = {
    "required": ["price_usd_per_mwh"],
    "properties": {
        "price_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "escalator_pct_per_year": {"$ref": "#/$defs/decimal"},
        "tou": {"$ref": "#/$defs/tou"},
    },
}
_BUCKETS = (ON_PEAK, OFF_PEAK)                         # the TOU lines, in invoice order
LINE_PARTS = tuple(BUCKET_NAMES[b] for b in _BUCKETS)


@dataclass(frozen=True)
class Tou:
    on_peak: Fraction
    off_peak: Fraction
    hours_ending: tuple[int, int] = (7, 22)
    days: tuple[int, ...] = MON_SAT
    holidays: str = "nerc"

    def factor(self, bucket: int) -> Fraction:
        return self.on_peak if bucket == 1 else self.off_peak

    def describe(self, bucket: int) -> str:
        if bucket == 0:
            return "off-peak"
        days = "/".join(WEEKDAYS[d].capitalize() for d in self.days)
        hol = ", excl. NERC holidays" if self.holidays == "nerc" else ""
        return f"on-peak HE{self.hours_ending[0]:02d}-HE{self.hours_ending[1]:02d} {days}{hol}"


@dataclass(frozen=True)
class Params:
    price: Fraction
    escalator_pct: Fraction | None = None
    tou: Tou | None = None

    def rate_micro(self, year: int, bucket: int | None = None) -> int:
        factor = self.tou.factor(bucket) if (self.tou is not None and bucket is not None) else Fraction(1)
        return escalated_price_micro(self.price, self.escalator_pct, year, factor)


def parse_tou(raw: dict, where: str) -> Tou:
    f = raw["factors"]
    he = tuple(raw.get("on_peak_hours_ending", (7, 22)))
    if he[0] > he[1]:
        raise FieldError(f"{where}.on_peak_hours_ending", f"first must be <= last; got {list(he)}")
    days = tuple(sorted(WEEKDAYS.index(d) for d in raw.get("on_peak_days", [WEEKDAYS[d] for d in MON_SAT])))
    return Tou(dec(f, "on_peak", f"{where}.factors", required=True, lo=0),
               dec(f, "off_peak", f"{where}.factors", required=True, lo=0),
               (int(he[0]), int(he[1])), days, raw.get("holidays", "nerc"))


def parse(raw: dict, where: str) -> Params:
    tou = parse_tou(raw["tou"], f"{where}.tou") if "tou" in raw else None
    return Params(dec(raw, "price_usd_per_mwh", where, required=True),
                  dec(raw, "escalator_pct_per_year", where, lo=-100), tou)


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    years = ctx.contract_year()
    qty = ctx.delivered_wh
    desc = term.description or "Energy at fixed price"
    if p.tou is None:
        sel = np.arange(ctx.n)
        return IntervalOutput([line(term.id, KIND, desc, sel, qty, rates_by_distinct(years, p.rate_micro))])
    t = p.tou
    buckets = tou_buckets(ctx.start_us, ctx.cv.timezone, on_peak_hours_ending=t.hours_ending,
                          on_peak_days=t.days, holidays=t.holidays, local=ctx.local)
    out = IntervalOutput()
    for b in _BUCKETS:
        sel = np.flatnonzero(buckets == b)
        if sel.size:
            rate = rates_by_distinct(years[sel], lambda y, b=b: p.rate_micro(y, b))
            out.lines.append(line(f"{term.id}:{BUCKET_NAMES[b]}", KIND, f"{desc}, {t.describe(b)}",
                                  sel, qty[sel], rate, BUCKET_NAMES[b]))
    return out


def schedule_of(term_id: str, p: Params, year: int) -> list[tuple[str, Fraction, str]]:
    """The rates of price ``p`` in contract year ``year``: one, or one per TOU bucket
    (``<term id>:on_peak``, ``<term id>:off_peak``), as ``interval`` applies them."""
    if p.tou is None:
        return [(term_id, Fraction(p.rate_micro(year), MICRO), "USD/MWh")]
    return [(f"{term_id}:{BUCKET_NAMES[b]}", Fraction(p.rate_micro(year, b), MICRO), "USD/MWh") for b in _BUCKETS]


def schedule(term, cv, year: int) -> list[tuple[str, Fraction, str]]:
    return schedule_of(term.id, term.params, year)
