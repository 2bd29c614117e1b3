"""ISO market work in this process: read a resource's inputs as of pinned data versions,
shadow-settle it, reconcile a statement against it (``engine.market``).

Used by the ``shadow_settlement`` job kind (one resource x operating day per item),
by ``m2c market`` and by ``/v1/market``. Inputs read for a range of operating days:

* the site registry (a pinned version) for the resource, its site, zone and channels;
* meter rows of the resource's inject / withdraw channels (quality is not a
  criterion here: an ISO settles the meter data it has; estimates count);
* awards of the resource (``storage.market.read_awards``);
* prices at its settlement point for the DA, RT and FMM runs, with components when
  every row has them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError, UnknownReferenceError
from engine.market.inputs import COMPONENTS, MarketInputs, PriceCurve
from engine.market.reconcile import (DEFAULT_TOLERANCE_MICROUSD, reconcile, select_version,
                                     summary, version_deltas, versions)
from engine.market.resources import MarketResource, resource_index
from engine.market.series import Series
from engine.market.shadow import day_bounds_us, shadow_settle
from engine.sites import Site
from engine.timebase import US_PER_HOUR
from storage.market import read_awards, read_statement
from storage.objectstore import ObjectStore
from storage.sites import load_sites, registry_versions
from storage.tables import Tables

MARKET_TABLES = ("meter", "prices", "awards")
RUNS = ("DA", "RT", "FMM")


@dataclass(frozen=True)
class MarketVersions:
    """Pinned inputs of a shadow settlement: table data versions and the site registry
    version (None: nothing stored)."""
    meter: int | None
    prices: int | None
    awards: int | None
    sites: int | None

    def to_dict(self) -> dict[str, int | None]:
        return {"meter": self.meter, "prices": self.prices, "awards": self.awards,
                "sites": self.sites}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MarketVersions":
        return cls(d.get("meter"), d.get("prices"), d.get("awards"), d.get("sites"))

    @classmethod
    def resolve(cls, store: ObjectStore, tables: Tables,
                as_of: dict[str, int] | None = None) -> "MarketVersions":
        as_of = as_of or {}
        got = {t: tables.resolve_as_of(t, as_of.get(t)) for t in MARKET_TABLES}
        sv = registry_versions(store)
        return cls(got["meter"], got["prices"], got["awards"],
                   as_of.get("sites", sv[-1] if sv else None))


def find_resource(sites: dict[str, Site], iso: str, resource_id: str) -> MarketResource:
    idx = resource_index(sites)
    r = idx.get((iso, resource_id))
    if r is None:
        have = sorted(rid for i, rid in idx if i == iso)
        raise UnknownReferenceError(f"unknown resource {resource_id!r} of {iso}: the site registry "
                                    f"declares {', '.join(have) or 'none'} (market.resources)")
    return r


def _series(t: pa.Table, value: str) -> Series:
    return Series.of(t.column("interval_start_utc").cast(pa.int64()).to_numpy(zero_copy_only=False),
                     t.column("interval_minutes").to_numpy(zero_copy_only=False),
                     t.column(value).to_numpy(zero_copy_only=False))


def load_inputs(store: ObjectStore, tables: Tables, versions: MarketVersions, iso: str,
                resource_id: str, first_day: date, last_day: date,
                sites: dict[str, Site] | None = None, *,
                channels: tuple[str, ...] = ()) -> MarketInputs:
    """The inputs of one resource over the operating days ``first..last``; ``channels``
    names more channels of its site to read (the bid-to-bill chain's exported ones)."""
    if sites is None:
        sites = load_sites(store, versions.sites) if versions.sites is not None else {}
    r = find_resource(sites, iso, resource_id)
    start, end = day_bounds_us(iso, first_day, last_day)
    meter: dict[str, Series] = {}
    names = sorted(set(r.inject + r.withdraw + tuple(channels)))
    if names and versions.meter is not None:
        site = sites[r.site_id]
        rows = tables.read_meter(site.site_id, site.timezone, start, end, channels=names,
                                 columns=["channel", "interval_start_utc", "interval_minutes",
                                          "energy_wh"], as_of=versions.meter)
        ch = rows.column("channel")
        for name in names:
            meter[name] = _series(rows.filter(pc.equal(ch, name)), "energy_wh")
    awards: dict[str, Series] = {}
    if versions.awards is not None:
        rows = read_awards(tables, iso, resource_id, start, end, as_of=versions.awards)
        prod = rows.column("product")
        for p in sorted(pc.unique(prod).to_pylist()):
            awards[p] = _series(rows.filter(pc.equal(prod, p)), "power_w")
    prices: dict[tuple[str, str], PriceCurve] = {}
    if versions.prices is not None:
        for run in RUNS:
            rows = tables.read_prices(iso, r.settlement_point, run, start - US_PER_HOUR, end,
                                      as_of=versions.prices)
            if rows.num_rows == 0:
                continue
            comps = {}
            if all(rows.column(f"{c}_microusd_per_mwh").null_count == 0 for c in COMPONENTS):
                comps = {c: _series(rows, f"{c}_microusd_per_mwh") for c in COMPONENTS}
            prices[(run, r.settlement_point)] = PriceCurve(_series(rows, "lmp_microusd_per_mwh"),
                                                           comps)
    return MarketInputs(r, meter, awards, prices)


def shadow_in_process(store: ObjectStore, iso: str, resource_id: str, first_day: date,
                      last_day: date, as_of: dict[str, int] | None = None
                      ) -> tuple[pa.Table, MarketVersions]:
    """Shadow lines of one resource over operating days, computed here."""
    if last_day < first_day:
        raise InputError(f"--to {last_day} is before --from {first_day}")
    tables = Tables(store)
    versions = MarketVersions.resolve(store, tables, as_of)
    inp = load_inputs(store, tables, versions, iso, resource_id, first_day, last_day)
    return shadow_settle(inp, first_day, last_day), versions


def statement_scope(rows: pa.Table) -> tuple[str, list[str], date, date]:
    """A statement's ISO, resources and operating days."""
    isos = sorted(pc.unique(rows.column("iso")).to_pylist())
    if len(isos) != 1:
        raise InputError(f"a statement belongs to one ISO; this one names {isos}")
    days = rows.column("operating_date")
    return (isos[0], sorted(pc.unique(rows.column("resource_id")).to_pylist()),
            pc.min(days).as_py(), pc.max(days).as_py())


def reconcile_statement(store: ObjectStore, statement_id: str, *, version: str | None = None,
                        tolerance_microusd: int = DEFAULT_TOLERANCE_MICROUSD,
                        as_of: dict[str, int] | None = None) -> dict[str, Any]:
    """Shadow-settle what a statement covers and reconcile it line by line; with the
    deltas of the version against the one before it. Returns the tables and summary."""
    tables = Tables(store)
    st_version = tables.resolve_as_of("statements", (as_of or {}).get("statements"))
    rows = read_statement(tables, statement_id, as_of=st_version)
    vs = versions(rows)
    chosen = select_version(rows, version)
    label = chosen.column("version")[0].as_py()
    iso, resources, first, last = statement_scope(chosen)
    mv = MarketVersions.resolve(store, tables, as_of)
    sites = load_sites(store, mv.sites) if mv.sites is not None else {}
    shadows = []
    cts = pc.unique(chosen.column("charge_type"))
    for rid in resources:
        inp = load_inputs(store, tables, mv, iso, rid, first, last, sites)
        lines = shadow_settle(inp, first, last)
        shadows.append(lines.filter(pc.is_in(lines.column("charge_type"), value_set=cts)))
    shadow = pa.concat_tables(shadows) if shadows else None
    rec = reconcile(chosen, shadow, tolerance_microusd=tolerance_microusd)
    i = vs.index(label)
    deltas = version_deltas(select_version(rows, vs[i - 1]), chosen) if i > 0 else None
    return {"statement_id": statement_id, "iso": iso, "version": label, "versions": vs,
            "previous_version": vs[i - 1] if i > 0 else None, "resources": resources,
            "first_day": first, "last_day": last, "tolerance_microusd": tolerance_microusd,
            "data_versions": {**mv.to_dict(), "statements": st_version}, "reconcile": rec,
            "summary": summary(rec),
            "deltas": deltas, "shadow": shadow}


__all__ = ["MarketVersions", "find_resource", "load_inputs", "shadow_in_process",
           "reconcile_statement", "statement_scope"]
