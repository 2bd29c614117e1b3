"""Market price transformations (family ``market``), on one site-month's price series.

Every op takes an optional ``series`` selector (``{iso, node, market_run}``, each field
optional; absent: every series the site-month reads) and ``months`` (billing months it
applies in; absent: all). Prices are integer micro-USD/MWh (``engine.scenario.exact``):

``price_scale``           ``p' = round_half_even(p x factor)``
``price_shift``           ``p' = p + usd_per_mwh`` (at most 6 decimal places)
``price_floor``           ``p' = max(p, usd_per_mwh)``
``price_cap``             ``p' = min(p, usd_per_mwh)``
``price_replace``         the series is replaced by another stored series, the
                          selected key with the fields of ``with`` changed (e.g. RT by
                          DA: ``{series: {market_run: RT}, with: {market_run: DA}}``);
                          the contract engine aligns it as any price series
``price_curve``           the series is replaced by an uploaded curve, stored in the
                          prices table under iso ``CURVE``, node = the curve's name
                          (``m2c scenarios run`` ingests a ``file:`` as its own table
                          version: every curve a result used is pinned in its lineage)
``price_scarcity``        on each of ``days`` (local dates at the site), ``hours`` hours
                          from local ``start_hour`` (DST-aware), price intervals
                          starting in that window are set to ``usd_per_mwh``
``price_negative_hours``  the lowest ``share_pct`` % of the billing month's hours (by
                          their mean price, exactly; ties by time; the count rounded
                          half-even) are set to ``usd_per_mwh`` (< 0)

A value-only op keeps the series' time arrays, so the prepared site-month aligns
the new values by the same gather (``engine.settlement.price_site``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from math import lcm
from zoneinfo import ZoneInfo

import numpy as np

from ..errors import FieldError
from ..pricing import PriceSeries
from ..settlement import MarketData
from ..terms.base import dec
from ..timebase import US_PER_HOUR, to_us
from ..units import MICRO
from .exact import scale_half_even, to_units
from .ops import MarketContext, Op, SeriesSelector, applies_in, months_param, selector

CURVE_ISO = "CURVE"
CURVE_RUN = "RT"

_SERIES = {"series": {"$ref": "#/$defs/series"}, "months": {"$ref": "#/$defs/months"}}


def curve_key(name: str) -> tuple[str, str, str]:
    """The prices-table key an uploaded curve is stored under."""
    return (CURVE_ISO, name, CURVE_RUN)


def _usd(raw: dict, key: str, where: str) -> int:
    v = dec(raw, key, where, required=True)
    try:
        return to_units(v, MICRO, f"{where}.{key}")
    except ValueError as exc:
        raise FieldError(f"{where}.{key}", str(exc).split(": ", 1)[1]) from None


def _map(market: MarketData, sel: SeriesSelector, fn) -> MarketData:
    prices = dict(market.prices)
    for key, s in market.prices.items():
        if sel.matches(key):
            prices[key] = fn(key, s)
    return MarketData(prices, market.indices)


def _values(s: PriceSeries, lmp: np.ndarray) -> PriceSeries:
    """The same series (its time arrays, so its alignment) with other prices."""
    return PriceSeries(s.start_us, s.minutes, np.asarray(lmp, dtype=np.int64))


# ----------------------------------------------------------------- value-only ops
@dataclass(frozen=True)
class Scale:
    series: SeriesSelector
    factor: Fraction
    months: tuple[str, ...] | None


def _parse_scale(raw: dict, where: str) -> Scale:
    return Scale(selector(raw.get("series")), dec(raw, "factor", where, required=True), months_param(raw))


def _apply_scale(p: Scale, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _map(market, p.series, lambda k, s: _values(s, scale_half_even(s.lmp_microusd_per_mwh, p.factor)))


@dataclass(frozen=True)
class Amount:
    series: SeriesSelector
    micro: int
    months: tuple[str, ...] | None


def _parse_amount(raw: dict, where: str) -> Amount:
    return Amount(selector(raw.get("series")), _usd(raw, "usd_per_mwh", where), months_param(raw))


def _apply_shift(p: Amount, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _map(market, p.series, lambda k, s: _values(s, s.lmp_microusd_per_mwh + p.micro))


def _apply_floor(p: Amount, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _map(market, p.series, lambda k, s: _values(s, np.maximum(s.lmp_microusd_per_mwh, p.micro)))


def _apply_cap(p: Amount, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _map(market, p.series, lambda k, s: _values(s, np.minimum(s.lmp_microusd_per_mwh, p.micro)))


# ----------------------------------------------------------------- replacements
@dataclass(frozen=True)
class Replace:
    series: SeriesSelector
    with_: SeriesSelector            # the fields to change (a curve: its key)
    months: tuple[str, ...] | None
    curve: str | None = None

    def target(self, key: tuple[str, str, str]) -> tuple[str, str, str]:
        if self.curve is not None:
            return curve_key(self.curve)
        w = self.with_
        return (w.iso or key[0], w.node or key[1], w.market_run or key[2])


def _parse_replace(raw: dict, where: str) -> Replace:
    w = selector(raw["with"])
    if w == SeriesSelector():
        raise FieldError(f"{where}.with", "name at least one of iso, node, market_run to change")
    return Replace(selector(raw["series"]), w, months_param(raw))


def _parse_curve(raw: dict, where: str) -> Replace:
    return Replace(selector(raw["series"]), SeriesSelector(), months_param(raw), raw["curve"])


def _apply_replace(p: Replace, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    return _map(market, p.series, lambda k, s: mctx.series.get(p.target(k), _Absent(p.target(k))))


class _Absent(PriceSeries):
    """A replacement series not stored: aligning it raises the engine's own
    ``DataMissingError`` naming the series (an empty series)."""

    def __init__(self, key: tuple[str, str, str]):
        z = np.zeros(0, dtype=np.int64)
        super().__init__(z, z, z)


# ----------------------------------------------------------------- events
@dataclass(frozen=True)
class Scarcity:
    series: SeriesSelector
    days: tuple[date, ...]
    start_hour: int
    hours: int
    micro: int
    months: tuple[str, ...] | None


def _parse_scarcity(raw: dict, where: str) -> Scarcity:
    seen: set[date] = set()
    for i, d in enumerate(raw["days"]):
        try:
            seen.add(date.fromisoformat(str(d)))
        except ValueError:
            raise FieldError(f"{where}.days[{i}]", f"not a date YYYY-MM-DD: {d!r}") from None
    if int(raw["start_hour"]) + int(raw.get("hours", 1)) > 24:
        raise FieldError(f"{where}.hours", "an event ends by local midnight (start_hour + hours <= 24)")
    return Scarcity(selector(raw.get("series")), tuple(sorted(seen)), int(raw["start_hour"]), int(raw.get("hours", 1)),
                    _usd(raw, "usd_per_mwh", where), months_param(raw))


def scarcity_windows(p: Scarcity, tz: str) -> list[tuple[int, int]]:
    """UTC ``[start, end)`` of each event: ``hours`` hours from local ``start_hour``."""
    zone = ZoneInfo(tz)
    out = []
    for d in p.days:
        start = datetime(d.year, d.month, d.day, p.start_hour, tzinfo=zone)
        out.append((to_us(start), to_us(start) + p.hours * US_PER_HOUR))
    return out


def _apply_scarcity(p: Scarcity, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market
    windows = scarcity_windows(p, mctx.timezone)

    def fn(key, s: PriceSeries) -> PriceSeries:
        start = np.asarray(s.start_us, dtype=np.int64)
        hit = np.zeros(start.size, dtype=bool)
        for a, b in windows:
            hit |= (start >= a) & (start < b)
        return _values(s, np.where(hit, p.micro, s.lmp_microusd_per_mwh)) if hit.any() else s
    return _map(market, p.series, fn)


@dataclass(frozen=True)
class NegativeHours:
    series: SeriesSelector
    share_pct: Fraction
    micro: int
    months: tuple[str, ...] | None


def _parse_negative(raw: dict, where: str) -> NegativeHours:
    p = NegativeHours(selector(raw.get("series")), dec(raw, "share_pct", where, required=True, lo=0, hi=100),
                      _usd(raw, "usd_per_mwh", where), months_param(raw))
    if p.micro >= 0:
        raise FieldError(f"{where}.usd_per_mwh", "must be negative (the hours are forced below zero)")
    return p


def lowest_hours(s: PriceSeries, b0: int, b1: int, share_pct: Fraction) -> np.ndarray:
    """The UTC hours (``start // 1 h``) of the month ``[b0, b1)`` with the lowest mean
    price: ``round_half_even(share_pct % x hours)`` of them, ties by time."""
    start = np.asarray(s.start_us, dtype=np.int64)
    inside = (start >= b0) & (start < b1)
    if not inside.any():
        return np.zeros(0, dtype=np.int64)
    hours = start[inside] // US_PER_HOUR
    uniq, inv = np.unique(hours, return_inverse=True)
    sums = np.zeros(uniq.size, dtype=np.int64)
    np.add.at(sums, inv, np.asarray(s.lmp_microusd_per_mwh, dtype=np.int64)[inside])
    counts = np.bincount(inv, minlength=uniq.size).astype(np.int64)
    common = lcm(*(int(c) for c in np.unique(counts)))
    mean_key = sums * (common // counts)                 # the mean x common: exact order
    n = round(share_pct / 100 * uniq.size)               # half-even
    return uniq[np.lexsort((uniq, mean_key))[:n]]


def _apply_negative(p: NegativeHours, market: MarketData, mctx: MarketContext) -> MarketData:
    if not applies_in(p.months, mctx.period):
        return market

    def fn(key, s: PriceSeries) -> PriceSeries:
        chosen = lowest_hours(s, mctx.b0, mctx.b1, p.share_pct)
        start = np.asarray(s.start_us, dtype=np.int64)
        hit = np.isin(start // US_PER_HOUR, chosen) & (start >= mctx.b0) & (start < mctx.b1)
        return _values(s, np.where(hit, p.micro, s.lmp_microusd_per_mwh))
    return _map(market, p.series, fn)


OPS = (
    Op("price_scale", "market", {"required": ["factor"], "properties": {
        **_SERIES, "factor": {"$ref": "#/$defs/nonneg_decimal"}}}, _parse_scale, _apply_scale,
       "multiply prices by a factor (each rounded half-even to 1e-6 USD/MWh)"),
    Op("price_shift", "market", {"required": ["usd_per_mwh"], "properties": {
        **_SERIES, "usd_per_mwh": {"$ref": "#/$defs/decimal"}}}, _parse_amount, _apply_shift,
       "add an amount to prices"),
    Op("price_floor", "market", {"required": ["usd_per_mwh"], "properties": {
        **_SERIES, "usd_per_mwh": {"$ref": "#/$defs/decimal"}}}, _parse_amount, _apply_floor,
       "raise prices below a floor to the floor"),
    Op("price_cap", "market", {"required": ["usd_per_mwh"], "properties": {
        **_SERIES, "usd_per_mwh": {"$ref": "#/$defs/decimal"}}}, _parse_amount, _apply_cap,
       "lower prices above a cap to the cap"),
    Op("price_replace", "market", {"required": ["series", "with"], "properties": {
        **_SERIES, "with": {"$ref": "#/$defs/series"}}}, _parse_replace, _apply_replace,
       "settle against another stored series (e.g. DA instead of RT)"),
    Op("price_curve", "market", {"required": ["series", "curve"], "properties": {
        **_SERIES, "curve": {"$ref": "#/$defs/name"},
        "file": {"type": "string", "minLength": 1,
                 "description": "a price CSV the CLI ingests as the curve before submitting"}}},
       _parse_curve, _apply_replace, "settle against an uploaded price curve"),
    Op("price_scarcity", "market", {"required": ["days", "start_hour", "usd_per_mwh"], "properties": {
        **_SERIES, "days": {"type": "array", "minItems": 1, "maxItems": 366,
                            "items": {"$ref": "#/$defs/date"}},
        "start_hour": {"type": "integer", "minimum": 0, "maximum": 23},
        "hours": {"type": "integer", "minimum": 1, "maximum": 24},
        "usd_per_mwh": {"$ref": "#/$defs/decimal"}}}, _parse_scarcity, _apply_scarcity,
       "scarcity events: hours at a price on chosen local days"),
    Op("price_negative_hours", "market", {"required": ["share_pct", "usd_per_mwh"], "properties": {
        **_SERIES, "share_pct": {"$ref": "#/$defs/nonneg_decimal"},
        "usd_per_mwh": {"$ref": "#/$defs/decimal"}}}, _parse_negative, _apply_negative,
       "force the lowest share of each month's hours to a negative price"),
)

#: ops whose result keeps each series' time arrays (value-only)
VALUE_ONLY = frozenset({"price_scale", "price_shift", "price_floor", "price_cap", "price_scarcity",
                        "price_negative_hours"})


def replacement_keys(params, keys) -> set[tuple[str, str, str]]:
    """The stored series a ``price_replace``/``price_curve`` reads for the series
    ``keys`` it may select."""
    return {params.target(k) for k in keys if params.series.matches(k)}


__all__ = ["OPS", "VALUE_ONLY", "CURVE_ISO", "curve_key", "replacement_keys", "lowest_hours",
           "scarcity_windows", "Replace"]

