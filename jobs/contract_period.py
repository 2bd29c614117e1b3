"""Settle one contract over one billing period: the piece every job kind reuses.

A contract-period is settled from its **items**, one per (site, month) it reads: every
site of the versions in force in the billing month, for the billing month itself and
for the earlier months a term looks back to (``engine.settlement.lookback_periods``,
e.g. a ``min_delivery`` guarantee closing this month). Each item is mapped to an exact
:class:`engine.settlement.SitePartial` (:func:`jobs.settle_inputs.site_partial`); the
billing month's partials are combined and finalized, the earlier months only feed the
look-back (their delivered Wh).

Two ways to run it, with one result for the same pinned inputs:

* distributed: the ``settlement`` job plans :func:`contract_items` as partitions, maps
  them on workers and calls :func:`finalize_items` in its reduce;
* in this process: :func:`settle_contract_period` (rebills, reproduction of an old
  invoice, scenario variants, bankability forecasts).

``transform`` (in-process only) rewrites a site-month's inputs between reading and
settling (prices, indices, meter channels): the hook what-if scenarios use, so a
variant is priced by the same engine that bills.

The public surface: :func:`contract_sites`, :func:`contract_items`,
:func:`contract_partials`, :func:`finalize_partials`, :func:`finalize_items`,
:func:`settle_contract_period`, :func:`without_detail`, :func:`contract_at_period_end`.
"""
from __future__ import annotations

import dataclasses
import io
import logging
from typing import TYPE_CHECKING, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from engine.contract import version_at_period_end, versions_in_force
from engine.settlement import DETAIL_SCHEMA, SettlementResult, SitePartial, combine, finalize, lookback_periods
from engine.timebase import local_month_bounds_us
from storage.contracts import StoredContract
from storage.invoices import detail_to_parquet

from .planning import partition_key
from .settle_inputs import DataVersions, InputsTransform, partial_from_dict, site_partial

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["contract_sites", "contract_items", "contract_partials", "finalize_partials",
           "finalize_items", "settle_contract_period", "without_detail", "contract_at_period_end"]


def contract_sites(stored: list[StoredContract], period: str) -> list[str]:
    """The sites of every contract version in force in the local billing month."""
    versions = [s.version for s in stored]
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    return sorted({sid for cv, _, _ in versions_in_force(versions, b0, b1) for sid in cv.sites})


def contract_items(stored: list[StoredContract], period: str, data: DataVersions) -> list[tuple[str, dict]]:
    """(key, params) of every site-month one contract's settlement of ``period`` reads,
    keyed ``<contract>|<site>|<month>``; the params pin the inputs (``data``, the
    contract-version cap)."""
    cid = stored[-1].version.contract_id
    cap = stored[-1].version.version
    months = sorted({period, *lookback_periods(stored[-1].version, period)})
    return [(partition_key(cid, site, month),
             {"contract_id": cid, "contract_cap": cap, "site_id": site, "period": month,
              "billing_period": period, "data": data.to_dict()})
            for site in contract_sites(stored, period) for month in months]


def contract_partials(store: ObjectStore, tables: Tables, stored: list[StoredContract], period: str,
                      data: DataVersions, *, cache: dict,
                      transform: InputsTransform | None = None) -> dict[str, SitePartial]:
    """The map of one contract-period in this process: a partial per item of
    :func:`contract_items` (``item key -> partial``), as of ``data`` and ``stored``."""
    cid = stored[-1].version.contract_id
    cap = stored[-1].version.version
    return {key: site_partial(store, tables, contract_id=cid, contract_cap=cap, site_id=p["site_id"],
                              period=p["period"], data=data, cache=cache, transform=transform,
                              stored=stored)
            for key, p in contract_items(stored, period, data)}


def finalize_partials(stored: list[StoredContract], period: str,
                      partials: Mapping[str, SitePartial]) -> SettlementResult:
    """The reduce of one contract-period over its site-month partials (``item key ->
    partial``, as planned by :func:`contract_items`): the billing month's partials are
    combined, earlier months only feed the look-back (delivered Wh)."""
    billing, lookback = [], {}
    for key in sorted(partials):
        p = partials[key]
        if p.period == period:
            billing.append(p)
        else:
            lookback[p.period] = lookback.get(p.period, 0) + int(p.delivered_wh)
    versions = [s.version for s in stored]
    return finalize(versions, period, combine(billing), lookback=lookback or None)


def without_detail(partials: Mapping[str, SitePartial]) -> dict[str, SitePartial]:
    """The same partials with empty interval detail: finalizing them gives the same
    lines and totals, without concatenating and sorting the detail (for callers that
    only compare amounts)."""
    empty = DETAIL_SCHEMA.empty_table()
    return {k: dataclasses.replace(p, detail=empty) for k, p in partials.items()}


def settle_contract_period(store: ObjectStore, tables: Tables, stored: list[StoredContract],
                           period: str, data: DataVersions, *, cache: dict, detail: bool = True,
                           transform: InputsTransform | None = None) -> SettlementResult:
    """One contract's settlement of ``period`` in this process, as of ``data`` and the
    contract versions ``stored`` (:func:`contract_partials`, then
    :func:`finalize_partials`): the same result the ``settlement`` job's distributed
    map and reduce give for the same pinned inputs. ``detail=False`` leaves the
    result's interval detail empty (cheaper; lines and totals are the same)."""
    partials = contract_partials(store, tables, stored, period, data, cache=cache, transform=transform)
    return finalize_partials(stored, period, partials if detail else without_detail(partials))


def read_detail(store: ObjectStore, key: str) -> pa.Table:
    """A partition's stored detail: Parquet, or Arrow IPC for parts committed by the
    version that wrote IPC (a job resumed across an upgrade)."""
    raw = store.get(key)
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(raw))
    return pa.ipc.open_file(pa.BufferReader(raw)).read_all()


def finalize_items(store: ObjectStore, stored: list[StoredContract], period: str,
                   items: Mapping[str, dict]) -> tuple[SettlementResult, bytes]:
    """Combine one contract's committed item results (``item key -> partial dict``, as
    the ``settlement`` map writes them) and finalize: (the result without its interval
    detail, that detail as the invoice's Parquet bytes).

    The map writes each billing site-month's detail in the invoice's encoding
    (:func:`storage.invoices.detail_to_parquet`, on the workers, in parallel), so a
    contract billed from one site-month publishes those bytes as they are: nothing
    decoded or encoded here. Several are read, combined (sorted) and encoded."""
    billing = [d["detail"] for d in items.values() if d["period"] == period and d.get("detail")]
    if len(billing) == 1 and billing[0].endswith(".parquet"):
        result = finalize_partials(stored, period,
                                   {k: partial_from_dict(d) for k, d in items.items()})
        return result, store.get(billing[0])
    partials = {}
    for key, d in items.items():
        detail = read_detail(store, d["detail"]) if d["period"] == period and d.get("detail") else None
        partials[key] = partial_from_dict(d, detail)
    result = finalize_partials(stored, period, partials)
    return (dataclasses.replace(result, detail=DETAIL_SCHEMA.empty_table()),
            detail_to_parquet(result.detail))


def contract_at_period_end(stored: list[StoredContract], period: str) -> StoredContract:
    """The stored version in force on the period's last local day (its terms bill the
    period-level charges; the invoice names it and its SHA-256)."""
    cv = version_at_period_end([s.version for s in stored], period)
    return next(s for s in stored if s.version.version == cv.version)
