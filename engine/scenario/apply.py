"""Applying a variant: its contract versions, its market data, its site channels.

Pure functions over the inputs a job has read once (``jobs.scenario``), in the order
of the families (``engine.scenario.ops``): :func:`variant_contracts` (contract
documents, parsed again), :func:`variant_market` (one site-month's prices and
indices), :func:`variant_site` (a site's channels over the horizon, seeing the
variant's market and contracts). A variant without transformations of a family
gets the base's objects back unchanged (identity), which is how the caller knows
it may reuse a prepared site-month.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..canonical import canonical_json
from ..contract import ContractVersion
from ..settlement import MarketData
from ..sites import Site
from .battery import BatteryOp
from .contracts import parse_versions
from .document import Variant
from .exports import NoNegativeExport
from .ops import MarketContext
from .prices import Replace, replacement_keys
from .registry import OPS
from .site import SiteHorizon


def variant_contracts(variant: Variant, docs: Mapping[str, list[dict]],
                      base: Mapping[str, list[ContractVersion]], sites: dict[str, Site],
                      memo: dict | None = None, *, strict: bool = True) -> dict[str, list[ContractVersion]]:
    """The contract versions the variant settles with: ``base`` unless a contract op
    edits them (then parsed again, errors naming the op's field). ``memo`` shares the
    parsed versions between variants with the same contract ops (a sweep).
    ``strict=False`` (part of the base, in a job's partition): an op naming only
    contracts outside ``docs`` edits nothing instead of being an error."""
    ops = variant.of("contract")
    if not ops:
        return dict(base)
    key = canonical_json([t.raw for t in ops])
    if memo is not None and key in memo:
        return memo[key]
    edited: dict[str, list[dict]] = {cid: list(v) for cid, v in docs.items()}
    for t in ops:
        edited = OPS[t.op].apply(t.params, edited, t.where, strict)
    out = {cid: (parse_versions(cid, edited[cid], sites, ops[-1].where) if edited[cid] is not docs[cid]
                 else base[cid]) for cid in docs}
    if memo is not None:
        memo[key] = out
    return out


def variant_market(variant: Variant, market: MarketData, mctx: MarketContext) -> MarketData:
    """One site-month's market data after the variant's market ops (in order)."""
    for t in variant.of("market"):
        market = OPS[t.op].apply(t.params, market, mctx)
    return market


def variant_site(variant: Variant, horizon: SiteHorizon) -> SiteHorizon:
    """A site's months after the variant's site ops (in order)."""
    for t in variant.of("site"):
        horizon = OPS[t.op].apply(t.params, horizon, t.where)
    return horizon


def extra_price_keys(variants: list[Variant], site: Site, keys: set[tuple[str, str, str]]
                     ) -> set[tuple[str, str, str]]:
    """Price series a site-month needs besides those its contracts read (``keys``):
    replacement series and curves, and the site's price for battery and export ops."""
    out: set[tuple[str, str, str]] = set()
    for v in variants:
        for t in v.transforms:
            p = t.params
            if isinstance(p, Replace):
                out |= replacement_keys(p, keys)
            elif isinstance(p, NoNegativeExport) and _targets_site(p, site):
                out.add(p.price_key(site))
            elif (isinstance(p, BatteryOp) and p.objective != "max_contract_revenue"
                  and _targets_site(p, site)):
                out.add(p.price_key(site))
    return out - keys


def _targets_site(p: Any, site: Site) -> bool:
    sites = getattr(p, "sites", None)
    if sites is not None:
        return site.site_id in sites
    one = getattr(p, "site", None)
    return one is None or one == site.site_id


__all__ = ["variant_contracts", "variant_market", "variant_site", "extra_price_keys"]
