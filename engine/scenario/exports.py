"""Export rules: a cap on grid export, no export at negative prices (family ``site``),
and a changed export share (family ``contract``).

``export_cap``          export per interval is at most ``kw`` (``kw x minutes / 60`` Wh,
                        rounded half-even to 1 Wh); the excess is not produced
                        (``engine.scenario.site.curtail``)
``no_negative_export``  in intervals whose price at the site's node (``series``; default
                        the registry node, ``market_run`` RT) is below zero after the
                        variant's price transforms, nothing is exported (curtailed)
``export_share``        every ``export_share`` term of the base contracts (or of
                        ``contract``) gets ``share_to_buyer`` (through the contract
                        document, so the term's validation applies)
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import FieldError
from ..pricing import align_prices
from ..terms.base import dec
from ..units import WH_PER_KWH
from .exact import scale_half_even
from .meter import sites_param, targets
from .ops import Op, SeriesSelector, applies_in, months_param, selector
from .site import SiteHorizon, SiteMonth, curtail, energy, grid_channels


@dataclass(frozen=True)
class ExportCap:
    sites: tuple[str, ...] | None
    kw: Fraction
    months: tuple[str, ...] | None


def _parse_cap(raw: dict, where: str) -> ExportCap:
    return ExportCap(sites_param(raw), dec(raw, "kw", where, required=True, lo=0), months_param(raw))


def cap_wh(kw: Fraction, minutes: int) -> int:
    """The export cap of one interval in Wh (half-even)."""
    return int(scale_half_even(np.array([1], dtype=np.int64), kw * WH_PER_KWH * minutes / 60)[0])


def _months_with(horizon: SiteHorizon, months, fn) -> SiteHorizon:
    _, exp = grid_channels(horizon.site)
    out = []
    for m in horizon.months:
        if not exp or exp[0] not in m.channels or not applies_in(months, m.period):
            out.append(m)
            continue
        s = m.channels[exp[0]]
        remove = fn(m, s)
        out.append(SiteMonth(m.period, m.b0, m.b1, curtail(horizon.site, m.channels, exp[0], remove), m.market)
                   if remove.any() else m)
    return horizon.with_months(out)


def _apply_cap(p: ExportCap, horizon: SiteHorizon, where: str) -> SiteHorizon:
    if not targets(p.sites, horizon):
        return horizon

    def remove(m: SiteMonth, s) -> np.ndarray:
        minutes = int(getattr(s, "interval_minutes", 0) or getattr(s, "minutes", 0))
        return np.maximum(energy(s) - cap_wh(p.kw, minutes), 0)
    return _months_with(horizon, p.months, remove)


@dataclass(frozen=True)
class NoNegativeExport:
    sites: tuple[str, ...] | None
    series: SeriesSelector | None
    months: tuple[str, ...] | None

    def price_key(self, site) -> tuple[str, str, str]:
        s = self.series or SeriesSelector()
        return (s.iso or site.iso or "", s.node or site.node or "", s.market_run or "RT")


def _parse_no_negative(raw: dict, where: str) -> NoNegativeExport:
    return NoNegativeExport(sites_param(raw), selector(raw["series"]) if "series" in raw else None,
                            months_param(raw))


def _apply_no_negative(p: NoNegativeExport, horizon: SiteHorizon, where: str) -> SiteHorizon:
    if not targets(p.sites, horizon):
        return horizon
    key = p.price_key(horizon.site)

    def remove(m: SiteMonth, s) -> np.ndarray:
        minutes = int(getattr(s, "interval_minutes", 0) or getattr(s, "minutes", 0))
        price = align_prices(m.market.prices.get(key), np.asarray(s.grid_us, dtype=np.int64), minutes,
                             "/".join(key))
        return np.where(price < 0, energy(s), 0)
    return _months_with(horizon, p.months, remove)


@dataclass(frozen=True)
class ExportShare:
    contract: str | None
    share_to_buyer: str


def _parse_share(raw: dict, where: str) -> ExportShare:
    dec(raw, "share_to_buyer", where, required=True, lo=0, hi=1)
    return ExportShare(raw.get("contract"), raw["share_to_buyer"])


def _apply_share(p: ExportShare, docs: dict[str, list[dict]], where: str, strict: bool = True
                 ) -> dict[str, list[dict]]:
    out = {}
    hit = False
    for cid, versions in docs.items():
        if p.contract is not None and cid != p.contract:
            out[cid] = versions
            continue
        new = []
        for doc in versions:
            doc = copy.deepcopy(doc)
            for t in doc.get("terms", []):
                if t.get("kind") == "export_share":
                    t["share_to_buyer"] = p.share_to_buyer
                    hit = True
            new.append(doc)
        out[cid] = new if any(t.get("kind") == "export_share" for d in versions for t in d.get("terms", [])) \
            else versions
    if not hit and strict:
        raise FieldError(f"{where}.contract", "no export_share term in "
                         + (f"contract {p.contract}" if p.contract else "the base contracts"))
    return out


OPS = (
    Op("export_cap", "site", {"required": ["kw"], "properties": {
        "site": {"$ref": "#/$defs/sites"}, "months": {"$ref": "#/$defs/months"},
        "kw": {"$ref": "#/$defs/nonneg_decimal"}}}, _parse_cap, _apply_cap,
       "cap grid export (kW); the excess is curtailed"),
    Op("no_negative_export", "site", {"properties": {
        "site": {"$ref": "#/$defs/sites"}, "months": {"$ref": "#/$defs/months"},
        "series": {"$ref": "#/$defs/series"}}}, _parse_no_negative, _apply_no_negative,
       "no export while the site's price is negative"),
    Op("export_share", "contract", {"required": ["share_to_buyer"], "properties": {
        "contract": {"$ref": "#/$defs/name"}, "share_to_buyer": {"$ref": "#/$defs/decimal"}}},
       _parse_share, _apply_share, "change the buyer's share of export revenue"),
)

__all__ = ["OPS", "cap_wh", "NoNegativeExport"]
