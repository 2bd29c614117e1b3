"""``energy_indexed``: delivered MWh x an index-linked price, with floor and cap.

Parameters (``formula: heat_rate``)::

    index: HENRY_HUB                  # USD/MMBtu, daily
    heat_rate_mmbtu_per_mwh: "7.2"    # HR
    adder_usd_per_mwh: "4.50"         # A (default 0)
    index_frequency: daily            # default daily for heat_rate, monthly for cpi
    carry_forward_days: 3             # use the last published value up to 3 days back
    floor_usd_per_mwh / cap_usd_per_mwh  # optional

``price = HR x index_value + A``.

Parameters (``formula: cpi``)::

    index: CPI_U                      # monthly, applies to every day of its month
    base_price_usd_per_mwh: "55.00"   # P_base
    base_index_value: "310.326"       # CPI_base

``price = P_base x CPI_t / CPI_base``.

Either way the price is clamped to [floor, cap] and rounded half-even once per
distinct index value to 1e-6 USD/MWh (the rate definition; computed for all intervals
at once, exactly, by ``Params.rate_micro``). The index value of an
interval is the one applying to its local date in the contract zone
(``engine.pricing.align_index``). One line ``<id>``; its invoice rate is the
energy-weighted average.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..units import MICRO
from .base import IntervalOutput, affine_micro, choice, dec, frac_str, line, quantise_micro

KIND = "energy_indexed"
FORMULAS = ("heat_rate", "cpi")
FREQUENCIES = ("daily", "monthly")
SCHEMA = {
    "required": ["formula", "index"],
    "properties": {
        "formula": {"enum": list(FORMULAS)},
        "index": {"type": "string", "minLength": 1},
        "index_frequency": {"enum": list(FREQUENCIES)},
        "carry_forward_days": {"type": "integer", "minimum": 0, "maximum": 31},
        "heat_rate_mmbtu_per_mwh": {"$ref": "#/$defs/nonneg_decimal"},
        "adder_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "base_price_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "base_index_value": {"$ref": "#/$defs/nonneg_decimal"},
        "floor_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "cap_usd_per_mwh": {"$ref": "#/$defs/decimal"},
    },
}


@dataclass(frozen=True)
class Params:
    formula: str
    index: str
    frequency: str
    carry_forward_days: int
    heat_rate: Fraction | None
    adder: Fraction
    base_price: Fraction | None
    base_index_value: Fraction | None
    floor: Fraction | None
    cap: Fraction | None

    def price(self, value_micro: int) -> Fraction:
        """Exact USD/MWh for an index value (x1e6), clamped, before quantisation."""
        v = Fraction(value_micro, MICRO)
        if self.formula == "heat_rate":
            assert self.heat_rate is not None                # parse requires it for heat_rate
            p = self.heat_rate * v + self.adder
        else:
            assert self.base_price is not None and self.base_index_value is not None   # cpi
            p = self.base_price * v / self.base_index_value
        if self.floor is not None:
            p = max(p, self.floor)
        if self.cap is not None:
            p = min(p, self.cap)
        return p

    def rate_micro(self, value_micro: Any) -> Any:
        """``quantise_micro(price(v))`` for an index value (x1e6) or, element by element,
        an int64 array of them: the formula is affine in ``v`` (``affine_micro``), and
        since rounding is monotone, rounding the clamped price is clamping the rounded
        one to the rounded floor and cap (the same integers)."""
        v = np.asarray(value_micro, dtype=np.int64)
        if self.formula == "heat_rate":
            assert self.heat_rate is not None
            rate = affine_micro(v, self.heat_rate / MICRO, self.adder)
        else:
            assert self.base_price is not None and self.base_index_value is not None
            rate = affine_micro(v, self.base_price / (self.base_index_value * MICRO), Fraction(0))
        if self.floor is not None:
            rate = np.maximum(rate, quantise_micro(self.floor))
        if self.cap is not None:
            rate = np.minimum(rate, quantise_micro(self.cap))
        return int(rate) if np.ndim(value_micro) == 0 else rate


def parse(raw: dict, where: str) -> Params:
    formula = choice(raw, "formula", where, FORMULAS, "heat_rate")
    freq = choice(raw, "index_frequency", where, FREQUENCIES,
                  "daily" if formula == "heat_rate" else "monthly")
    return Params(formula, raw["index"], freq, int(raw.get("carry_forward_days", 0)),
                  dec(raw, "heat_rate_mmbtu_per_mwh", where, required=formula == "heat_rate", lo=0),
                  dec(raw, "adder_usd_per_mwh", where, default="0"),
                  dec(raw, "base_price_usd_per_mwh", where, required=formula == "cpi"),
                  dec(raw, "base_index_value", where, required=formula == "cpi"),
                  dec(raw, "floor_usd_per_mwh", where), dec(raw, "cap_usd_per_mwh", where))


def check(term, cv, where: str) -> list[tuple[str, str]]:
    p: Params = term.params
    out = []
    if p.formula == "cpi" and not p.base_index_value:
        out.append((f"{where}.base_index_value", "must be > 0"))
    if p.floor is not None and p.cap is not None and p.floor > p.cap:
        out.append((f"{where}.cap_usd_per_mwh", f"cap {frac_str(p.cap)} is below floor {frac_str(p.floor)}"))
    return out


def needs(term, cv, site) -> list[tuple]:
    p: Params = term.params
    return [("index", p.index, p.frequency, p.carry_forward_days)]


def describe(p: Params) -> str:
    if p.formula == "heat_rate":
        assert p.heat_rate is not None
        s = f"{frac_str(p.heat_rate)} MMBtu/MWh x {p.index} + ${frac_str(p.adder)}/MWh"
    else:
        assert p.base_price is not None and p.base_index_value is not None
        s = f"${frac_str(p.base_price)}/MWh x {p.index} / {frac_str(p.base_index_value)}"
    if p.floor is not None:
        s += f", floor ${frac_str(p.floor)}"
    if p.cap is not None:
        s += f", cap ${frac_str(p.cap)}"
    return s


def interval(term, ctx) -> IntervalOutput:
    p: Params = term.params
    values = ctx.index(p.index, p.frequency, p.carry_forward_days)
    rate = p.rate_micro(values)
    desc = term.description or f"Energy at indexed price ({describe(p)})"
    return IntervalOutput([line(term.id, KIND, desc, np.arange(ctx.n), ctx.delivered_wh, rate)])
