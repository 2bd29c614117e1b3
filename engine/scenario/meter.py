"""Meter-data transformations (family ``site``), on a site's VEE'd channels.

``site`` names one site id or a list of them (absent: every base site with the
channel); ``channel`` is a channel name or ``kind:<kind>``; ``months`` optionally
limits the billing months. Energy stays integer Wh (``engine.scenario.exact``), and
the site's grid import/export follow (``engine.scenario.site.rebalance``):

``channel_scale``  ``e' = round_half_even(e x factor)``
``outage``         the channel (a unit) produces nothing from local date ``from`` to
                   ``to`` (inclusive, the site's time zone)
``add_capacity``   ``added_kw`` more of the same resource, from the existing profile:
                   ``e' = round_half_even(e x (nameplate + added) / nameplate)`` with the
                   channel's ``nameplate_kw`` from the site registry (e.g. +50 MW of
                   solar from the solar shape)
``load_growth``    the load (default ``kind:load``) grows by ``pct`` %:
                   ``e' = round_half_even(e x (1 + pct / 100))``
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..errors import FieldError
from ..terms.base import dec
from ..timebase import local_midnight_us
from .exact import scale_half_even
from .ops import Op, applies_in, date_param, months_param
from .site import SiteHorizon, SiteMonth, channels_of, energy, rebalance, with_energy

_SITE = {"site": {"$ref": "#/$defs/sites"}, "months": {"$ref": "#/$defs/months"}}


def sites_param(raw: dict) -> tuple[str, ...] | None:
    s = raw.get("site")
    if s is None:
        return None
    return (s,) if isinstance(s, str) else tuple(sorted(set(s)))


@dataclass(frozen=True)
class Scale:
    sites: tuple[str, ...] | None
    channel: str
    factor: Fraction
    months: tuple[str, ...] | None
    what: str = "channel_scale"


def _parse_scale(raw: dict, where: str) -> Scale:
    return Scale(sites_param(raw), raw["channel"], dec(raw, "factor", where, required=True, lo=0),
                 months_param(raw))


def _parse_growth(raw: dict, where: str) -> Scale:
    pct = dec(raw, "pct", where, required=True, lo=-100)
    return Scale(sites_param(raw), raw.get("channel", "kind:load"), 1 + pct / 100, months_param(raw),
                 "load_growth")


@dataclass(frozen=True)
class AddCapacity:
    sites: tuple[str, ...] | None
    channel: str
    added_kw: Fraction
    months: tuple[str, ...] | None


def _parse_add(raw: dict, where: str) -> AddCapacity:
    return AddCapacity(sites_param(raw), raw["channel"], dec(raw, "added_kw", where, required=True),
                       months_param(raw))


@dataclass(frozen=True)
class Outage:
    sites: tuple[str, ...] | None
    channel: str
    first: date
    last: date


def _parse_outage(raw: dict, where: str) -> Outage:
    first = date_param(raw, "from", where)
    last = date_param(raw, "to", where)
    assert first is not None and last is not None
    if last < first:
        raise FieldError(f"{where}.to", f"{last} is before from {first}")
    return Outage(sites_param(raw), raw["channel"], first, last)


def targets(sites: tuple[str, ...] | None, horizon: SiteHorizon) -> bool:
    return sites is None or horizon.site.site_id in sites


def _map_channels(horizon: SiteHorizon, ref: str, months: tuple[str, ...] | None, fn) -> SiteHorizon:
    """Apply ``fn(name, series, month) -> series`` to the channels behind ``ref`` in
    each month, then rebalance the month."""
    names = channels_of(horizon.site, ref)
    out = []
    for m in horizon.months:
        if not applies_in(months, m.period):
            out.append(m)
            continue
        after = dict(m.channels)
        for n in names:
            if n in after:
                after[n] = fn(n, after[n], m)
        out.append(SiteMonth(m.period, m.b0, m.b1, rebalance(horizon.site, m.channels, after), m.market))
    return horizon.with_months(out)


def _apply_scale(p: Scale, horizon: SiteHorizon, where: str) -> SiteHorizon:
    if not targets(p.sites, horizon):
        return horizon
    return _map_channels(horizon, p.channel, p.months,
                         lambda n, s, m: with_energy(s, scale_half_even(energy(s), p.factor)))


def nameplate_kw(horizon: SiteHorizon, name: str) -> Fraction | None:
    npk = horizon.site.channels[name].nameplate_kw
    return None if not npk else Fraction(Decimal(repr(float(npk))))


def _apply_add(p: AddCapacity, horizon: SiteHorizon, where: str) -> SiteHorizon:
    if not targets(p.sites, horizon):
        return horizon

    def fn(n, s, m):
        npk = nameplate_kw(horizon, n)
        if npk is None:                        # refused before any work (references)
            raise FieldError(f"{where}.channel", f"site {horizon.site.site_id}: channel {n} has no "
                                                 f"nameplate_kw to scale its profile by")
        return with_energy(s, scale_half_even(energy(s), (npk + p.added_kw) / npk))
    return _map_channels(horizon, p.channel, p.months, fn)


def _apply_outage(p: Outage, horizon: SiteHorizon, where: str) -> SiteHorizon:
    if not targets(p.sites, horizon):
        return horizon
    tz = horizon.site.timezone
    a = local_midnight_us(p.first, tz)
    b = local_midnight_us(p.last + timedelta(days=1), tz)

    def fn(n, s, m):
        g = np.asarray(s.grid_us, dtype=np.int64)
        off = (g >= a) & (g < b)
        return with_energy(s, np.where(off, 0, energy(s))) if off.any() else s
    return _map_channels(horizon, p.channel, None, fn)


OPS = (
    Op("channel_scale", "site", {"required": ["channel", "factor"], "properties": {
        **_SITE, "channel": {"$ref": "#/$defs/channel"}, "factor": {"$ref": "#/$defs/nonneg_decimal"}}},
       _parse_scale, _apply_scale, "multiply a channel's energy by a factor (rounded half-even to 1 Wh)"),
    Op("outage", "site", {"required": ["channel", "from", "to"], "properties": {
        "site": {"$ref": "#/$defs/sites"}, "channel": {"$ref": "#/$defs/channel"},
        "from": {"$ref": "#/$defs/date"}, "to": {"$ref": "#/$defs/date"}}},
       _parse_outage, _apply_outage, "a unit produces nothing over local dates (inclusive)"),
    Op("add_capacity", "site", {"required": ["channel", "added_kw"], "properties": {
        **_SITE, "channel": {"$ref": "#/$defs/channel"}, "added_kw": {"$ref": "#/$defs/decimal"}}},
       _parse_add, _apply_add, "add capacity of a resource, scaling its profile by its nameplate"),
    Op("load_growth", "site", {"required": ["pct"], "properties": {
        **_SITE, "channel": {"$ref": "#/$defs/channel"}, "pct": {"$ref": "#/$defs/decimal"}}},
       _parse_growth, _apply_scale, "grow the load by a percentage"),
)

__all__ = ["OPS", "sites_param", "nameplate_kw"]
