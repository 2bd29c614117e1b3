"""Is a billing period ready to settle? The settlement's own checks, before any job runs.

``m2c settle --period P --check`` and ``GET /v1/settlements/{period}/readiness``
answer it for every contract active in the period (or the ones named), as of the
data versions current now (or ``as_of``), with the reads and rules a settlement
job uses:

* **meter completeness**, per site the contract settles and per channel it reads:
  each site-month is read and validated by ``jobs.settle_inputs.validated_month``
  (what the job's map bills) and counted by ``engine.completeness`` against the
  limits the job's gate applies (contract, then site registry, then defaults);
* **market data**: every price and index series the terms read covers every
  billed interval (``engine.completeness.market_gaps``, the terms' own alignment);
* a site the registry does not know, or a channel it lacks, is reported too.

A contract whose period is already approved is listed as such (a settlement does
not settle it again) and does not make the period unready. Nothing is written.
Look-back months (a ``min_delivery`` guarantee period) are not checked: each was
checked when it was billed.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.completeness import (contract_limits, market_gaps, resolve_limits, shortfalls,
                                 site_month_completeness)
from engine.contract import active_in_period, version_at_period_end
from engine.errors import DataMissingError, InputError
from engine.timebase import local_month_bounds_us
from storage.contracts import ContractStore, StoredContract
from storage.invoices import InvoiceStore
from storage.parallel_io import map_io

from .contract_period import contract_sites
from .settle_inputs import (DataVersions, cached, load_registry, read_market, require_contract,
                            require_data, validated_month)

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["readiness"]


def readiness(store: ObjectStore, tables: Tables, periods: list[str], *,
              contracts: list[str] | None = None, as_of: dict[str, int] | None = None) -> dict:
    """The readiness document of ``periods`` (see the module docstring):
    ``{"ready", "periods", "data_versions", "contracts": [...], "problems": [...]}``,
    one entry per contract and period, each with its sites' counts, shortfalls and
    market gaps; ``problems``: what stops every settlement (no meter data at all)."""
    ids = contracts or ContractStore(store).contract_ids()
    stored = dict(zip(ids, map_io(lambda cid: require_contract(store, cid), ids)))
    for cid in contracts or []:
        if not any(active_in_period([s.version for s in stored[cid]], p) for p in periods):
            cv = stored[cid][-1].version
            raise InputError(f"contract {cid} is not active in {', '.join(periods)} "
                             f"(term {cv.term_start} to {cv.term_end})")
    data = DataVersions.resolve(tables, store, as_of)
    try:
        require_data(data)
    except DataMissingError as exc:              # an answer, not a failure: not ready
        return {"ready": False, "periods": list(periods), "data_versions": data.to_dict(),
                "contracts": [], "problems": [str(exc)]}
    invoices = InvoiceStore(store)
    cache: dict = {}
    jobs = [(p, cid) for p in periods for cid in sorted(stored)
            if active_in_period([s.version for s in stored[cid]], p)]
    entries = map_io(lambda job: _contract_period(store, tables, invoices, stored[job[1]], job[0],
                                                  data, cache), jobs)
    return {"ready": all(e["status"] in ("ready", "approved") for e in entries),
            "periods": list(periods), "data_versions": data.to_dict(), "contracts": entries,
            "problems": []}


def _contract_period(store: ObjectStore, tables: Tables, invoices: InvoiceStore,
                     stored: list[StoredContract], period: str, data: DataVersions,
                     cache: dict) -> dict:
    cid = stored[-1].version.contract_id
    entry: dict = {"contract_id": cid, "period": period, "status": "ready", "sites": []}
    approved = invoices.latest_approved(cid, period)
    if approved is not None:
        return {**entry, "status": "approved", "approved_version": approved}
    versions = [s.version for s in stored]
    at_end = version_at_period_end(versions, period).version
    own_limits = contract_limits(next(s for s in stored if s.version.version == at_end).document)
    registry = load_registry(store, data.sites, cache)
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    found = []
    for site_id in contract_sites(stored, period):
        site_doc: dict = {"site_id": site_id, "shortfalls": [], "market": [], "problems": []}
        entry["sites"].append(site_doc)
        site = registry.get(site_id)
        if site is None:
            site_doc["problems"].append(f"site {site_id!r} is not in the site registry "
                                        f"(version {data.sites})")
            continue
        try:
            vee = cached(cache, ("vee", site_id, b0, b1, data.meter),   # a site under two contracts
                         lambda site=site: validated_month(tables, site, b0, b1, period,
                                                           as_of=data.meter))
            limits = resolve_limits(own_limits, site.completeness)
            counts = site_month_completeness(versions, period, site, vee.channels, limits)
            market = read_market(tables, versions, period, {site_id: site}, data, cache)
            site_doc["market"] = market_gaps(versions, period, site, vee.channels, market)
        except (InputError, DataMissingError) as exc:
            site_doc["problems"].append(str(exc))
            continue
        short = shortfalls(cid, [counts])
        found += short
        site_doc.update({k: v for k, v in counts.to_dict().items() if k not in ("site_id", "period")})
        site_doc["shortfalls"] = [s.to_dict() for s in short]
    if any(s["problems"] or s["market"] for s in entry["sites"]):
        entry["status"] = "not ready"
    elif found:
        entry["status"] = "short"
    return entry
