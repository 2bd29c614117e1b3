"""Carbon beside the money: the carbon inputs of a site-month as of pinned versions, and
the carbon of a contract-period or a site-period.

The settlement (``jobs.settle``) and the rebill (``jobs.rebill``) trace carbon in the same
map step as the money: :class:`CarbonRecorder` is an ``InputsTransform`` (like
``CompletenessRecorder``) that sees the VEE channels the settlement already read and
computes, for each billed site-month, ``engine.carbon.statement.site_month_carbon`` from
them, the site's grid factors as of the pinned ``grid_factors`` version and the
certificates as of the pinned registry version (``DataVersions``). No second read of meter
data; carbon never touches an amount. The reduce sums the site-months' exact partials
(:func:`contract_annex`) into the invoice's ESG annex.

A site is traced when it names a ``balancing_authority`` (``engine.carbon.classify``). Reads
here are cached in the worker's ``cache`` (grid factors per balancing authority, month and
version; the certificate registry per version).

:func:`site_period_carbon` and :func:`contract_period_carbon` compute the same thing in
this process for ``m2c esg report`` and ``GET /v1/esg/...`` (with hourly series for the
heat map).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from engine.carbon.classify import SiteCarbon, site_config
from engine.carbon.factors import FactorSet, GwpSet, factor_set
from engine.carbon.hourly import GridFactors, HourGrid
from engine.carbon.statement import (CarbonPartial, SiteMonthCarbon, annex, combine, delivered_intervals,
                                     site_month_carbon)
from engine.contract import ContractVersion
from engine.errors import UnknownReferenceError
from engine.sites import Site
from engine.timebase import local_month_bounds_us
from storage.certificates import CertificateRegistry, RegistryState

from .settle_inputs import DataVersions, SiteMonthInputs, cached, load_registry, validated_month

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["traced", "grid_factors", "certificate_state", "CarbonRecorder", "contract_annex",
           "site_period_carbon", "contract_period_carbon", "hourly_arrays", "issue_certificates", "esg_report"]


def traced(site: Site, cache: dict) -> SiteCarbon | None:
    """The site's carbon configuration, or None if it is not traced."""
    if site.balancing_authority is None:
        return None
    # the registry's Site objects live in the same cache (load_registry), so their id is stable
    return cached(cache, ("carbon-site", site.site_id, id(site)), lambda: site_config(site))


def grid_factors(tables: Tables, ba: str, hours: HourGrid, version: int | None, cache: dict) -> GridFactors:
    """The balancing authority's hourly factors on ``hours``, as of ``version``."""
    if version is None or not hours.n:
        return GridFactors.missing(ba, hours.n)
    parts = []
    for month in hours.utc_months():
        t = cached(cache, ("grid-factors", ba, month, version),
                   lambda month=month: tables.read_partition("grid_factors",
                                                             {"balancing_authority": ba, "month": month},
                                                             as_of=version))
        if t.num_rows:
            parts.append(t)
    if not parts:
        return GridFactors.missing(ba, hours.n)
    t = pa.concat_tables(parts)
    residual = t.column("residual_co2e_mg_per_mwh").fill_null(-1)
    return GridFactors.align(ba, hours, t.column("interval_start_utc").cast(pa.int64()).to_numpy(),
                             t.column("co2e_mg_per_mwh").to_numpy(), residual.to_numpy(),
                             t.column("cfe_ppm").to_numpy())


def certificate_state(store: ObjectStore, version: int | None, cache: dict) -> RegistryState | None:
    if version is None:
        return None
    return cached(cache, ("certificates", version), lambda: CertificateRegistry(store).state(version))


def _site_month(store: ObjectStore, tables: Tables, config: SiteCarbon, site: Site, period: str,
                series: dict, start_us: int, end_us: int, data: DataVersions, cache: dict, *,
                versions: list[ContractVersion] | None, fs: FactorSet, gwp: GwpSet,
                keep_hourly: bool = False) -> SiteMonthCarbon:
    hours = HourGrid.of(start_us, end_us)
    certs = certificate_state(store, data.certificates, cache)
    claims = CertificateRegistry.claims(certs, site.site_id, start_us, end_us) if certs else None
    sold = CertificateRegistry.sold(certs, site.site_id, start_us, end_us) if certs else None
    delivered = delivered_intervals(versions, site, series, start_us, end_us) if versions else None
    return site_month_carbon(config, period, start_us, end_us, series,
                             grid=grid_factors(tables, config.balancing_authority, hours, data.grid_factors, cache),
                             fs=fs, gwp=gwp, delivered=delivered, certificates_in=claims, own_sold=sold,
                             keep_hourly=keep_hourly)


class CarbonRecorder:
    """An ``InputsTransform`` that changes nothing and records the carbon partial of every
    traced site-month of the billing ``period`` it sees (look-back months are not billed),
    by site. Pass it (chained with the completeness recorder) to ``site_partial``."""

    def __init__(self, store: ObjectStore, tables: Tables, data: DataVersions, period: str, cache: dict):
        self.store, self.tables, self.data, self.period, self.cache = store, tables, data, period, cache
        self.fs = factor_set()
        self.gwp = self.fs.gwp()
        self.entries: dict[str, CarbonPartial] = {}

    def __call__(self, inputs: SiteMonthInputs, versions: list[ContractVersion], period: str) -> SiteMonthInputs:
        if period != self.period or not self.data.carbon:
            return inputs
        config = traced(inputs.site, self.cache)
        if config is None:
            return inputs
        b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
        self.entries[inputs.site.site_id] = _site_month(
            self.store, self.tables, config, inputs.site, period, inputs.channels, b0, b1, self.data,
            self.cache, versions=versions, fs=self.fs, gwp=self.gwp).partial
        return inputs


def contract_annex(partials: list[dict | CarbonPartial]) -> dict | None:
    """The ESG annex of a contract-period from its site-months' partials (None: no traced
    site): exact sums, then one rounding per figure."""
    parts = [p if isinstance(p, CarbonPartial) else CarbonPartial.from_dict(p) for p in partials if p]
    if not parts:
        return None
    fs = factor_set()
    total = combine(parts)
    return annex(total, fs, fs.gwp(total.gwp))


# ------------------------------------------------------------------------ in-process reports
def site_period_carbon(store: ObjectStore, tables: Tables, site_id: str, period: str, data: DataVersions,
                       cache: dict, *, gwp: str | None = None) -> SiteMonthCarbon:
    """The carbon of one site over its local month, as of ``data`` (hourly kept)."""
    sites = load_registry(store, data.sites, cache)
    if site_id not in sites:
        raise UnknownReferenceError(f"unknown site {site_id!r} (site registry version {data.sites})")
    site = sites[site_id]
    config = traced(site, cache)
    if config is None:
        raise UnknownReferenceError(f"site {site_id} is not traced: its registry entry names no "
                                    "balancing_authority")
    b0, b1 = local_month_bounds_us(period, site.timezone)
    vee = validated_month(tables, site, b0, b1, period, as_of=data.meter)
    fs = factor_set()
    return _site_month(store, tables, config, site, period, vee.channels, b0, b1, data, cache, versions=None,
                       fs=fs, gwp=fs.gwp(gwp), keep_hourly=True)


def contract_period_carbon(store: ObjectStore, tables: Tables, stored: list, period: str, data: DataVersions,
                           cache: dict, *, gwp: str | None = None) -> list[tuple[str, SiteMonthCarbon]]:
    """The carbon of each traced site of a contract over its billing month (contract
    zone), with the contract's delivered energy, as of ``data`` (hourly kept)."""
    from .contract_period import contract_sites
    versions = [s.version for s in stored]
    sites = load_registry(store, data.sites, cache)
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    fs = factor_set()
    out = []
    for sid in contract_sites(stored, period):
        site = sites.get(sid)
        config = traced(site, cache) if site is not None else None
        if config is None:
            continue
        vee = validated_month(tables, site, b0, b1, period, as_of=data.meter)
        out.append((sid, _site_month(store, tables, config, site, period, vee.channels, b0, b1, data, cache,
                                     versions=versions, fs=fs, gwp=fs.gwp(gwp), keep_hourly=True)))
    return out


def hourly_arrays(items: list[SiteMonthCarbon]) -> tuple[np.ndarray, list[int], list[int]]:
    """UTC hours and the sites' summed hourly CFE (uWh) and load (Wh), for a heat map."""
    acc: dict[int, list[int]] = {}
    for smc in items:
        assert smc.hourly is not None
        for h, c, ld in zip(smc.hours.hours_us.tolist(), smc.hourly.cfe_uwh, smc.hourly.load_wh):
            a = acc.setdefault(h, [0, 0])
            a[0] += c
            a[1] += ld
    hours = sorted(acc)
    return np.array(hours, dtype=np.int64), [acc[h][0] for h in hours], [acc[h][1] for h in hours]



# ------------------------------------------------------------------------- certificates
def issue_certificates(store: ObjectStore, tables: Tables, site_id: str, period: str, *, now_utc,
                       data: DataVersions | None = None, cache: dict | None = None) -> dict:
    """Issue the granular certificates of a traced site's carbon-free generators for its
    local month, from the validated meter data as of ``data`` (default: the latest):
    one per generator and UTC hour, face value the hour's **actual** (quality A) energy
    rounded down to a whole Wh, the remainder carried (``engine.carbon.certificates``).
    Estimated or missing intervals issue nothing. The same issue again writes nothing;
    a different one (meter data corrected since) is refused (``ConflictError``)."""
    from engine.carbon.certificates import certificate_id, hour_iso, issue_hourly
    from engine.carbon.units import UWH_PER_WH
    from engine.vee.codes import QUALITY_NAMES
    cache = {} if cache is None else cache
    data = data or DataVersions.resolve(tables, store)
    sites = load_registry(store, data.sites, cache)
    if site_id not in sites:
        raise UnknownReferenceError(f"unknown site {site_id!r} (site registry version {data.sites})")
    site = sites[site_id]
    config = traced(site, cache)
    if config is None:
        raise UnknownReferenceError(f"site {site_id} is not traced: its registry entry names no "
                                    "balancing_authority")
    b0, b1 = local_month_bounds_us(period, site.timezone)
    vee = validated_month(tables, site, b0, b1, period, as_of=data.meter)
    hours = HourGrid.of(b0, b1)
    registry = CertificateRegistry(store)
    before = registry.state()
    actual = QUALITY_NAMES == "A"
    certs: list[dict] = []
    carry: dict[str, int] = {}
    for ch in config.carbon_free:
        s = vee.channels[ch.name]
        wh = hours.sums(s.grid_us, np.where(actual[s.quality_code], s.energy_wh, 0))
        device = f"{site_id}/{ch.name}"
        issued, carry[device] = issue_hourly(hours.hours_us.tolist(), (wh * UWH_PER_WH).tolist(),
                                             before.carry_uwh.get(device, 0))
        certs += [{"certificate_id": certificate_id(site_id, ch.name, h), "site_id": site_id,
                   "channel": ch.name, "energy_source": ch.energy_source,
                   "balancing_authority": config.balancing_authority, "hour_utc": hour_iso(h), "face_wh": face,
                   "nameplate_w": None if ch.nameplate_kw is None else int(round(ch.nameplate_kw * 1000))}
                  for h, face in issued]
    seq, created = registry.issue(site_id=site_id, period=period, account=site_id, certificates=certs,
                                  carry_uwh=carry, data_versions={"meter": data.meter, "sites": data.sites},
                                  at_utc=now_utc)
    return {"site_id": site_id, "period": period, "registry_version": seq, "created": created,
            "certificates": len(certs), "energy_wh": sum(c["face_wh"] for c in certs),
            "carry_uwh": carry}


# ------------------------------------------------------------------------------- the report
def esg_report(store: ObjectStore, tables: Tables, *, site: str | None = None, contract: str | None = None,
               period: str | None = None, year: int | None = None, gwp: str | None = None,
               cache: dict | None = None) -> dict:
    """The ESG report document (``engine.carbon.report``) of a site or a contract over a
    billing month or a calendar year of months, computed in this process as of the current
    data versions (stated in the document): the statement, each month's, each site's, and
    the hourly CFE heat map in local time."""
    from engine.carbon.report import heatmap_buckets, report_document
    from engine.errors import InputError
    from engine.timebase import parse_period
    from .settle_inputs import require_contract
    if (site is None) == (contract is None):
        raise InputError("give a site or a contract")
    if (period is None) == (year is None):
        raise InputError("give a period (YYYY-MM) or a year (YYYY)")
    if period is not None:
        try:
            parse_period(period)
        except ValueError as exc:
            raise InputError(f"period: {exc}") from None
        periods = [period]
    else:
        assert year is not None
        if not 1970 <= int(year) <= 2199:
            raise InputError(f"year must be 1970..2199, got {year}")
        periods = [f"{int(year)}-{m:02d}" for m in range(1, 13)]
    cache = {} if cache is None else cache
    data = DataVersions.resolve(tables, store, carbon=True)
    fs = factor_set()
    items: list[tuple[str, str, SiteMonthCarbon]] = []        # (period, site, carbon)
    if site is not None:
        sites = load_registry(store, data.sites, cache)
        if site not in sites:
            raise UnknownReferenceError(f"unknown site {site!r} (site registry version {data.sites})")
        tz = sites[site].timezone
        for p in periods:
            items.append((p, site, site_period_carbon(store, tables, site, p, data, cache, gwp=gwp)))
        subject = {"site": site}
    else:
        assert contract is not None
        from engine.contract import active_in_period
        stored = require_contract(store, contract)
        tz = stored[-1].version.timezone
        for p in periods:
            if active_in_period([s.version for s in stored], p):
                items += [(p, sid, smc) for sid, smc in contract_period_carbon(store, tables, stored, p, data,
                                                                                cache, gwp=gwp)]
        if not items:
            raise UnknownReferenceError(f"contract {contract}: no traced site in {periods[0]}"
                                        f"{'' if len(periods) == 1 else '..' + periods[-1]} (a site is traced when "
                                        "its registry entry names a balancing_authority)")
        subject = {"contract": contract}
    g = fs.gwp(gwp)

    def statement(parts: list[SiteMonthCarbon]) -> dict:
        return annex(combine([x.partial for x in parts]), fs, g)
    hours, cfe_h, load_h = hourly_arrays([x for _, _, x in items])
    return report_document(
        subject=subject, span=period or str(year), statement=statement([x for _, _, x in items]),
        months={p: statement([x for q, _, x in items if q == p]) for p in periods
                if year is not None and any(q == p for q, _, _ in items)},
        sites={s: statement([x for _, t, x in items if t == s]) for s in sorted({t for _, t, _ in items})},
        heat=heatmap_buckets(hours, cfe_h, load_h, tz, by="day" if period else "month"),
        data_versions=data.to_dict())
