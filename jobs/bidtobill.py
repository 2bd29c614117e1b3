"""The bid-to-bill chain of one site over one billing month, in this process:
awards -> metered -> ISO settlement -> PPA invoice (``engine.market.bidtobill``).

Used by ``m2c market chain`` and ``GET /v1/market/chain/{site}/{period}``. What it reads:

* the site registry entry of the site and its ISO resources (``market.resources``);
* every contract of the site in force in the period with an ``export_share`` or ``vppa``
  term. If the period is invoiced, the invoice of record is its latest published
  version, read as published (lines and interval detail) and set against the inputs
  its lineage pins (data versions, contract-version cap); otherwise the period is
  settled here as of the current versions and the line is marked ``computed``;
* the contract's price series (``jobs.settle_inputs.read_market``, as the settlement
  read them) and, for each resource, its meter (injection, withdrawal and the
  exported channels), awards and prices over the operating days of the window: as
  of the meter, price and registry versions of the first invoiced contract (so both
  sides of the chain read the same data), awards and statements as of now;
* the latest version of every stored statement of each resource for those days.

The ISO side is cut to the billing month's UTC bounds (the site's time zone); a
contract in another time zone is set against the ISO over its own month.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.contract import versions_in_force
from engine.delivered import resolve_refs
from engine.errors import DataMissingError, InputError, UnknownReferenceError
from engine.market.bidtobill import (PassThrough, ResourceChain, chain_document, export_resource,
                                     operating_days, pass_through_document, resource_chain)
from engine.market.inputs import MarketInputs
from engine.pricing import align_prices
from engine.sites import Site
from engine.terms import export_share as export_share_kind
from engine.terms import vppa as vppa_kind
from engine.timebase import US_PER_MINUTE, local_month_bounds_us, parse_period
from storage.contracts import ContractStore, StoredContract
from storage.invoices import InvoiceStore
from storage.market import read_resource_statements
from storage.objectstore import ObjectStore
from storage.sites import load_sites
from storage.tables import Tables

from .contract_period import contract_sites, settle_contract_period
from .market import MarketVersions, load_inputs
from .rebill import billed_inputs
from .settle_inputs import DataVersions, read_market

PASS_THROUGH = ("export_share", "vppa")


def _cents(amount_usd: str) -> int:
    return int((Decimal(amount_usd) * 100).to_integral_value())


def _minutes(starts: np.ndarray) -> int:
    """The billing grid of a pass-through line (it has a row for every interval)."""
    d = np.diff(np.unique(starts))
    return int(d.min() // US_PER_MINUTE) if d.size else 60


class _Invoice:
    """The invoice of record of one contract-period: published, or computed here."""

    def __init__(self, store: ObjectStore, tables: Tables, cid: str, period: str, now: DataVersions,
                 cache: dict):
        contracts = ContractStore(store)
        invoices = InvoiceStore(store)
        published = invoices.versions(cid, period)
        if published:
            version = published[-1]
            doc, _ = invoices.get(cid, period, version)
            self.data, cap = billed_inputs(doc, now)
            self.stored: list[StoredContract] = contracts.versions(cid, up_to=cap)
            self.detail = invoices.detail(cid, period, version)
            self.lines = {ln["line_id"]: (_cents(ln["amount_usd"]), ln["description"])
                          for ln in doc["lines"]}
            self.source = f"published v{version}"
        else:
            self.data = now
            self.stored = contracts.versions(cid)
            result = settle_contract_period(store, tables, self.stored, period, now, cache=cache)
            self.detail = result.detail
            self.lines = {ln.line_id: (ln.amount_cents, ln.description) for ln in result.lines}
            self.source = "computed (not invoiced)"


def _pass_throughs(inv: _Invoice, tables: Tables, site: Site, period: str, cache: dict
                   ) -> list[PassThrough]:
    versions = [s.version for s in inv.stored]
    market = read_market(tables, versions, period, {site.site_id: site}, inv.data, cache)
    detail = inv.detail
    if detail.num_rows == 0:
        return []
    out = []
    by_version = {cv.version: cv for cv in versions}
    for cv in sorted(by_version.values(), key=lambda v: v.version):
        for term in cv.terms:
            if term.kind not in PASS_THROUGH:
                continue
            mask = pc.and_(pc.and_(pc.equal(detail.column("line_id"), term.id),
                                   pc.equal(detail.column("contract_version"), cv.version)),
                           pc.equal(detail.column("site_id"), site.site_id))
            rows = detail.filter(mask)
            if rows.num_rows == 0:
                continue
            line_rows = detail.filter(pc.and_(pc.equal(detail.column("line_id"), term.id),
                                              pc.equal(detail.column("contract_version"), cv.version)))
            line_sites = tuple(sorted(pc.unique(line_rows.column("site_id")).to_pylist()))
            starts = rows.column("interval_start_utc").cast(pa.int64()).to_numpy(zero_copy_only=False)
            minutes = _minutes(starts)
            lid = f"{term.id}@v{cv.version}" if f"{term.id}@v{cv.version}" in inv.lines else term.id
            common = dict(
                contract_id=cv.contract_id, line_id=lid, contract_version=cv.version, kind=term.kind,
                description=inv.lines.get(lid, (None, term.description or term.kind))[1],
                start_us=starts, minutes=minutes,
                quantity_wh=rows.column("quantity_wh").to_numpy(zero_copy_only=False),
                rate_micro=rows.column("rate_microusd_per_mwh").to_numpy(zero_copy_only=False),
                amount_picousd=rows.column("amount_picousd").to_numpy(zero_copy_only=False),
                line_amount_cents=inv.lines.get(lid, (None, ""))[0], line_sites=line_sites,
                source=inv.source)

            def price(key: tuple[str, str, str], starts=starts, minutes=minutes) -> np.ndarray:
                return align_prices(market.prices.get(key), starts, minutes, " ".join(key))
            if term.kind == "export_share":
                key = export_share_kind.node_key(term, cv, site)
                p: export_share_kind.Params = term.params
                out.append(PassThrough(price_key=key, price_micro=price(key),
                                       channels=tuple(resolve_refs(p.export, site)),
                                       coefficient=p.coefficient, **common))
            else:
                q: vppa_kind.Params = term.params
                hub = vppa_kind.hub_of(term, cv)
                key = hub.key()
                ref = price(key)
                nb = q.node_basis
                if nb is not None and nb.node is not None:
                    key = nb.node.key()
                    ref = price(key)
                elif nb is not None:
                    ref = ref + nb.micro
                out.append(PassThrough(price_key=key, price_micro=ref, hedge_share=q.hedge_share,
                                       strike=Fraction(q.settled_strike),
                                       floor_at_zero=q.negative_price_rule == "zero_floor", **common))
    return out


def _contracts_of(store: ObjectStore, site_id: str, period: str) -> list[str]:
    """Contracts with a pass-through term in force at the site in the period."""
    cs = ContractStore(store)
    out = []
    for cid in cs.contract_ids():
        stored = cs.versions(cid)
        if site_id not in contract_sites(stored, period):
            continue
        versions = [s.version for s in stored]
        b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
        if any(t.kind in PASS_THROUGH for cv, _, _ in versions_in_force(versions, b0, b1)
               for t in cv.terms):
            out.append(cid)
    return out


def _export_on(inp: MarketInputs, rc: ResourceChain, channels: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(rc), dtype=np.int64)
    for m in np.unique(rc.minutes):
        sel = rc.minutes == m
        out[sel] = inp.channels_energy(channels, rc.start_us[sel], int(m))
    return out


def chain_in_process(store: ObjectStore, site_id: str, period: str, *,
                     intervals: bool = False) -> dict[str, Any]:
    """The bid-to-bill chain document of ``site_id`` over billing month ``period``."""
    try:
        parse_period(period)
    except ValueError as exc:
        raise InputError(f"period: {exc}") from None
    tables = Tables(store)
    now = DataVersions.resolve(tables, store)
    if now.sites is None:
        raise DataMissingError("the site registry is empty: load sites first")
    sites = load_sites(store, now.sites)
    site = sites.get(site_id)
    if site is None:
        raise UnknownReferenceError(f"unknown site {site_id!r} (known: {', '.join(sorted(sites))})")
    w0, w1 = local_month_bounds_us(period, site.timezone)
    cache: dict = {}
    invoices = {cid: _Invoice(store, tables, cid, period, now, cache)
                for cid in _contracts_of(store, site_id, period)}
    pins = next((inv.data for inv in invoices.values() if inv.source.startswith("published")), now)
    pass_throughs = [pt for cid in sorted(invoices)
                     for pt in _pass_throughs(invoices[cid], tables, site, period, cache)]
    resources = list(getattr(site, "resources", ()))
    mv = MarketVersions.resolve(store, tables)
    mv = MarketVersions(pins.meter, pins.prices, mv.awards, pins.sites)
    st_version = tables.resolve_as_of("statements", None)
    windows = {(w0, w1)} | {local_month_bounds_us(period, inv.stored[-1].version.timezone)
                            for inv in invoices.values()}
    lo, hi = min(w for w, _ in windows), max(w for _, w in windows)
    wanted = tuple(sorted({c for pt in pass_throughs for c in pt.channels}))
    chains: dict[tuple[str, int, int], ResourceChain] = {}
    inputs: dict[str, MarketInputs] = {}
    for r in resources:
        first, last = operating_days(r.iso, lo, hi)
        inputs[r.resource_id] = load_inputs(store, tables, mv, r.iso, r.resource_id, first, last,
                                            sites, channels=wanted if r.metered else ())
        d0, d1 = operating_days(r.iso, w0, w1)
        st = read_resource_statements(tables, r.iso, r.resource_id, d0, d1, as_of=st_version)
        chains[(r.resource_id, w0, w1)] = resource_chain(inputs[r.resource_id], w0, w1, st)
    pt_docs = []
    for pt in pass_throughs:
        r = (export_resource(resources, pt.channels) if pt.kind == "export_share"
             else next((x for x in resources if x.metered), None))
        rc = export12 = None
        if r is not None:
            cw = local_month_bounds_us(period, invoices[pt.contract_id].stored[-1].version.timezone)
            key = (r.resource_id, *cw)
            if key not in chains:
                chains[key] = resource_chain(inputs[r.resource_id], cw[0], cw[1])
            rc = chains[key]
            if pt.kind == "export_share":
                export12 = _export_on(inputs[r.resource_id], rc, pt.channels)
        pt_docs.append(pass_through_document(pt, rc, export12))
    site_chains = [chains[(r.resource_id, w0, w1)] for r in resources]
    doc = chain_document(site_id, period, site.timezone, w0, w1, site_chains, pt_docs,
                         intervals=intervals)
    doc["iso"] = site.iso
    doc["data_versions"] = {**mv.to_dict(), "statements": st_version, "index": pins.index}
    if not resources:
        doc["note"] = (f"site {site_id} declares no ISO resource (market.resources): the chain "
                       "has no awards, metering or ISO settlement to show")
    return doc


__all__ = ["chain_in_process"]
