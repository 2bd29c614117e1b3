"""Index transformations (family ``market``): a fuel or price index (``HENRY_HUB``,
``CPI_U``) as the contract engine reads it, for one site-month.

``index_scale``  ``v' = round_half_even(v x factor)`` in 1e-6 units of the index
``index_shift``  ``v' = v + value`` (at most 6 decimal places)

``index`` names the index; ``months`` optionally limits the billing months. The
series keeps its dates, so the prepared site-month aligns it by the same gather.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import FieldError
from ..pricing import IndexSeries
from ..settlement import MarketData
from ..terms.base import dec
from ..units import MICRO
from .exact import scale_half_even, to_units
from .ops import MarketContext, Op, applies_in, months_param


@dataclass(frozen=True)
class IndexScale:
    index: str
    factor: Fraction
    months: tuple[str, ...] | None


@dataclass(frozen=True)
class IndexShift:
    index: str
    micro: int
    months: tuple[str, ...] | None


def _parse_scale(raw: dict, where: str) -> IndexScale:
    return IndexScale(raw["index"], dec(raw, "factor", where, required=True, lo=0), months_param(raw))


def _parse_shift(raw: dict, where: str) -> IndexShift:
    v = dec(raw, "value", where, required=True)
    try:
        micro = to_units(v, MICRO, f"{where}.value")
    except ValueError:
        raise FieldError(f"{where}.value", "at most 6 decimal places (index values are held in 1e-6)") from None
    return IndexShift(raw["index"], micro, months_param(raw))


def _with(market: MarketData, name: str, fn) -> MarketData:
    s = market.indices.get(name)
    if s is None:
        return market
    return MarketData(market.prices, {**market.indices, name: IndexSeries(s.period_start_days, fn(s.value_micro))})


def _apply_scale(p: IndexScale, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _with(market, p.index, lambda v: scale_half_even(v, p.factor))


def _apply_shift(p: IndexShift, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _with(market, p.index, lambda v: np.asarray(v, dtype=np.int64) + p.micro)


_INDEX = {"index": {"type": "string", "minLength": 1, "maxLength": 64}, "months": {"$ref": "#/$defs/months"}}

OPS = (
    Op("index_scale", "market", {"required": ["index", "factor"], "properties": {
        **_INDEX, "factor": {"$ref": "#/$defs/nonneg_decimal"}}}, _parse_scale, _apply_scale,
       "multiply an index by a factor (rounded half-even to 1e-6)"),
    Op("index_shift", "market", {"required": ["index", "value"], "properties": {
        **_INDEX, "value": {"$ref": "#/$defs/decimal"}}}, _parse_shift, _apply_shift,
       "add an amount to an index"),
)

__all__ = ["OPS"]
