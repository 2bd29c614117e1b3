"""``capacity``: contracted kW x $/kW-month x monthly availability adjustment (MAAF).

Parameters::

    contracted_kw: "200000"            # CC
    price_usd_per_kw_month: "9.25"     # CPR
    availability:
      channels: [gt1]                  # generation channels whose availability is measured
      target: "0.95"                   # availability target
      rule: energy_ratio               # energy_ratio (default) | online
      online_min_fraction: "0.0"       # for rule: online

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

The line shows quantity = CC (kW-month) and rate = CPR x MAAF (USD/kW-month). The
payment is for the whole billing month (no pro-rating of partial months). The
version in force on the period's last day applies.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..delivered import resolve_refs
from ..money import sum_exact
from ..units import PICO_PER_USD, decimal_to_scaled
from .base import IntervalOutput, PeriodLine, choice, dec, frac_str, md, refs_param

KIND = "capacity"
RULES = ("energy_ratio", "online")
SCHEMA = {
    "required": ["contracted_kw", "price_usd_per_kw_month", "availability"],
    "properties": {
        "contracted_kw": {"$ref": "#/$defs/nonneg_decimal"},
        "price_usd_per_kw_month": {"$ref": "#/$defs/decimal"},
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
    price_per_kw_month: Fraction
    channels: tuple[str, ...]
    target: Fraction
    rule: str = "energy_ratio"
    online_min_fraction: Fraction = Fraction(0)


def parse(raw: dict, where: str) -> Params:
    a = raw["availability"]
    aw = f"{where}.availability"
    return Params(dec(raw, "contracted_kw", where, required=True, lo=0),
                  dec(raw, "price_usd_per_kw_month", where, required=True),
                  refs_param(a, "channels", aw, required=True), dec(a, "target", aw, required=True, lo=0, hi=1),
                  choice(a, "rule", aw, RULES, "energy_ratio"),
                  dec(a, "online_min_fraction", aw, default="0", lo=0, hi=1))


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


def period(term, pctx) -> list[PeriodLine]:
    p: Params = term.params
    den = pctx.det(term, "nameplate_wh60")
    caf = Fraction(pctx.det(term, "available_wh60"), den) if den else Fraction(0)
    f = maaf(caf, p.target)
    rate = p.price_per_kw_month * f
    desc = (term.description or "Capacity") + (
        f": {frac_str(p.contracted_kw)} kW x ${frac_str(p.price_per_kw_month)}/kW-month; "
        f"availability {frac_str(caf * 100, 3)}% vs target {frac_str(p.target * 100, 3)}% "
        f"-> MAAF {frac_str(f, 6)}")
    return [PeriodLine(term.id, KIND, desc, p.contracted_kw, "kW-month", rate, "USD/kW-month",
                       p.contracted_kw * rate * PICO_PER_USD)]
