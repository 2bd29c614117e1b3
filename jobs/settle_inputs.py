"""Inputs of a settlement, read as of pinned versions, and the per-site map step.

Everything a settlement reads is pinned when the job is planned, so a job (or a
rebill, or the reproduction of an old invoice) sees one consistent snapshot even
while new data lands:

* ``DataVersions``: the Delta versions of the ``meter``, ``prices`` and ``index``
  tables, and the site-registry version; with carbon tracing on (``carbon``), also the
  ``grid_factors`` table version and the certificate registry's sequence number
  (``certificates``), so the carbon of a period is versioned with its money;
* the contract versions up to a cap (amendments added later are not seen).

A job pins them **once**, when its first attempt plans (:func:`pin_inputs`): the
pins are written create-only to ``runs/<job_id>/pins-<spec>.json``, next to the partition
results they govern, and every later attempt (a resume after the runner died)
plans from them instead of from the versions current at the resume. So partitions
committed by a dead attempt and those computed after it read one snapshot, and the
invoice's lineage names it. The object store rather than a catalog column: the
pins live and die with the partition results (same prefix, same store, same
create-only discipline), a resume on any runner or cluster reads them where it
reads the committed partitions, and an auditor finds them next to the results.

``site_partial`` is the map step of one (contract, site, billing month): read the
site's meter rows (plus a week before the month, for like-day estimation), run VEE,
read only the market series the contract's terms need, and call
``engine.settlement.settle_site``. Reference data (registry, contracts, price
series) is cached in the worker's ``cache`` dict so a warm worker reads it once.

:class:`CompletenessRecorder` is the transform that counts, per billed site-month,
the actual, estimated and missing intervals the contract reads
(``engine.completeness``), for the completeness gate of the job's reduce.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pyarrow as pa
from pydantic import BaseModel

from engine.calendar import nerc_holidays
from engine.canonical import canonical_json
from engine.completeness import (SiteMonthCompleteness, contract_limits, resolve_limits,
                                 site_month_completeness)
from engine.contract import ContractVersion, version_at_period_end
from engine.errors import DataMissingError, InputError, JobError, NotFoundError, UnknownReferenceError
from engine.pricing import IndexSeries, PriceSeries
from engine.settlement import DETAIL_SCHEMA, LineSum, MarketData, SitePartial, required_market_data, settle_site
from engine.sites import Site
from engine.timebase import US_PER_DAY, local_month_bounds_us, parse_period
from engine.vee import VeeResult, run_vee
from storage.contracts import ContractStore, StoredContract
from storage.sites import load_sites, registry_versions

from .specs import spec_fingerprint

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

VEE_HISTORY_DAYS = 8          # like-day estimation looks back a week (+1 day of margin)
DATA_TABLES = ("meter", "prices", "index")
#: the meter columns VEE uses (``engine.vee.MeterRows.from_table``). Provenance is not
#: read: ``ingested_at_utc`` only breaks ties between exact duplicates, and rows read
#: through ``Tables.read_meter`` are already one per (channel, interval).
VEE_COLUMNS_READ = ["channel", "interval_start_utc", "interval_minutes", "energy_wh", "quality"]
#: ... of which these are read dictionary-encoded, as stored: VEE wants their codes,
#: never a string per row (a fifth of a 1-minute site-month's settlement time).
VEE_DICTIONARY_READ = ("channel", "quality")


#: the carbon inputs a settlement with carbon tracing pins (``jobs.carbon``)
CARBON_INPUTS = ("grid_factors", "certificates")


@dataclass(frozen=True)
class DataVersions:
    """Pinned input versions of one settlement run (``None``: the table is empty).

    ``carbon``: carbon tracing is on, and ``grid_factors`` / ``certificates`` are pinned
    (``None``: nothing stored yet). Off, they are not part of the pins at all
    (:meth:`to_dict` leaves them out), which is the form every invoice published before
    carbon tracing records: its reproduction stays without carbon, byte for byte."""
    meter: int | None
    prices: int | None
    index: int | None
    sites: int | None
    grid_factors: int | None = None
    certificates: int | None = None
    carbon: bool = False

    def to_dict(self) -> dict[str, int | None]:
        d = asdict(self)
        d.pop("carbon")
        if not self.carbon:
            for k in CARBON_INPUTS:
                d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataVersions":
        return cls(d.get("meter"), d.get("prices"), d.get("index"), d.get("sites"),
                   d.get("grid_factors"), d.get("certificates"), carbon="grid_factors" in d)

    def without_carbon(self) -> "DataVersions":
        return DataVersions(self.meter, self.prices, self.index, self.sites)

    @classmethod
    def resolve(cls, tables: Tables, store: ObjectStore, as_of: dict[str, Any] | None = None, *,
                carbon: bool = False) -> "DataVersions":
        """Current versions, or those given in ``as_of`` (a version or an aware time per
        table). ``carbon``: also pin the carbon inputs (``grid_factors``, and
        ``certificates``: a registry sequence number); the kinds that trace carbon ask."""
        as_of = as_of or {}
        vs = {t: tables.resolve_as_of(t, as_of.get(t)) for t in DATA_TABLES}
        reg = registry_versions(store)
        sites = as_of.get("sites", reg[-1] if reg else None)
        if sites is not None and sites not in reg:
            raise UnknownReferenceError(f"site registry version {sites} does not exist "
                                        f"(versions: {reg or 'none'})")
        if not carbon:
            return cls(vs["meter"], vs["prices"], vs["index"], sites)
        from storage.certificates import CertificateRegistry
        latest = CertificateRegistry(store).version()
        certs = as_of.get("certificates", latest)
        if certs is not None and (latest is None or not 0 <= int(certs) <= latest):
            raise UnknownReferenceError(f"certificate registry version {certs} does not exist "
                                        f"(latest: {latest or 'none'})")
        return cls(vs["meter"], vs["prices"], vs["index"], sites,
                   tables.resolve_as_of("grid_factors", as_of.get("grid_factors")), certs, carbon=True)


def pins_key(job_id: str, spec: BaseModel) -> str:
    """``runs/<job_id>/pins-<spec SHA-256, 16 hex>.json``: a job has one spec; naming
    it keeps a job id reused with another spec (a test, a hand-made context) from
    reading pins that are not its own."""
    return f"runs/{job_id}/pins-{spec_fingerprint(spec)[:16]}.json"


def pin_inputs(store: ObjectStore, job_id: str, spec: BaseModel, resolve: Callable[[], dict]) -> dict:
    """The inputs pinned for job ``job_id`` (a JSON-able dict): those stored by its
    first attempt to plan, or, if none did yet, ``resolve()`` stored now, create-only.
    Two attempts racing get the same pins (the first write wins; the other reads it).
    ``resolve`` raising (bad input) stores nothing."""
    key = pins_key(job_id, spec)
    try:
        return json.loads(store.get(key))
    except NotFoundError:
        pass
    pins = resolve()
    if store.put_if_absent(key, canonical_json(pins)):
        logger.info("job %s: inputs pinned in %s: %s", job_id, key, pins)
        return pins
    return json.loads(store.get(key))


def load_pins(store: ObjectStore, job_id: str, spec: BaseModel) -> dict:
    """The pins of a job that has planned (``JobError`` if it has none)."""
    key = pins_key(job_id, spec)
    try:
        return json.loads(store.get(key))
    except NotFoundError:
        raise JobError(f"job {job_id} has no pinned inputs ({key})") from None


def cached(cache: dict, key: tuple, load):
    if key not in cache:
        cache[key] = load()
    return cache[key]


def load_registry(store: ObjectStore, version: int | None, cache: dict) -> dict[str, Site]:
    return cached(cache, ("sites", version),
                  lambda: load_sites(store, version) if version is not None else {})


def load_contract(store: ObjectStore, contract_id: str, cap: int | None, cache: dict) -> list[StoredContract]:
    return cached(cache, ("contract", contract_id, cap),
                  lambda: ContractStore(store).versions(contract_id, up_to=cap))


def read_market(tables: Tables, versions: list[ContractVersion], period: str, sites: dict[str, Site],
                data: DataVersions, cache: dict) -> MarketData:
    """Only the price and index series the contract's terms need, as of ``data``."""
    needs = required_market_data(versions, period, sites)
    prices: dict[tuple[str, str, str], PriceSeries] = {}
    for key, (lo, hi) in sorted(needs.prices.items()):
        def load(key=key, lo=lo, hi=hi):
            t = tables.read_prices(*key, lo, hi, as_of=data.prices)
            return PriceSeries(_us(t.column("interval_start_utc")),
                               t.column("interval_minutes").to_numpy().astype(np.int64),
                               t.column("lmp_microusd_per_mwh").to_numpy())
        prices[key] = cached(cache, ("prices", key, lo, hi, data.prices), load)
    indices: dict[str, IndexSeries] = {}
    for name, (d0, d1) in sorted(needs.indices.items()):
        def load(name=name, d0=d0, d1=d1):
            t = tables.read_index(name, d0, d1 + timedelta(days=1), as_of=data.index)
            days = t.column("period_start").cast(pa.int32()).to_numpy().astype(np.int64)
            return IndexSeries(days, t.column("value_micro").to_numpy())
        indices[name] = cached(cache, ("index", name, d0, d1, data.index), load)
    return MarketData(prices, indices)


def _us(col: pa.ChunkedArray) -> np.ndarray:
    return col.cast(pa.int64()).to_numpy()


def validated_month(tables: Tables, site: Site, b0: int, b1: int, period: str, *,
                    as_of: int | None, findings: bool = False) -> VeeResult:
    """VEE of one site over ``[b0, b1)`` as of meter version ``as_of``: exactly what a
    settlement bills (``m2c vee`` shows this same result, with ``findings=True``).

    The week before the range only matters to VEE's own estimates (LIN/FLAT
    neighbours, like days) and to a row reaching across ``b0``. So, unless findings
    are wanted, the range is read and validated alone first; only when VEE had to fill
    an interval, or the log's statistics cannot rule out a row crossing ``b0``, is it
    read and validated again with the history. Both ways give the same channels
    (tested), and the common case (a complete month) reads a fifth fewer rows and no
    second file. ``findings`` adds the spike, gap and DST reports (they never change a
    value) and always reads the history."""
    y, _ = parse_period(period)
    holidays = [d for yr in (y - 1, y) for d in nerc_holidays(yr)]
    h0 = b0 - VEE_HISTORY_DAYS * US_PER_DAY
    if not findings and not tables.meter_rows_cross(site.site_id, site.timezone, h0, b0, b1,
                                                    as_of=as_of):
        rows = tables.read_meter(site.site_id, site.timezone, b0, b1, columns=VEE_COLUMNS_READ,
                                 dictionary=VEE_DICTIONARY_READ, as_of=as_of)
        vee = run_vee(rows, site, b0, b1, holidays=holidays, findings=False)
        if vee.filled == 0:
            return vee
    rows = tables.read_meter(site.site_id, site.timezone, h0, b1, columns=VEE_COLUMNS_READ,
                             dictionary=VEE_DICTIONARY_READ, as_of=as_of)
    return run_vee(rows, site, b0, b1, holidays=holidays, findings=findings)


def validate_site_month(tables: Tables, site: Site, period: str, *, as_of: int | None) -> VeeResult:
    """VEE of one site-local month with its findings: what ``m2c vee`` reports, and the
    channels a settlement of the month bills (:func:`validated_month`)."""
    try:
        b0, b1 = local_month_bounds_us(period, site.timezone)
    except ValueError as exc:
        raise InputError(f"period: {exc}") from None
    return validated_month(tables, site, b0, b1, period, as_of=as_of, findings=True)


@dataclass(frozen=True)
class SiteMonthInputs:
    """What the settlement of one contract x site x month reads, as of pinned versions:
    the site, its VEE'd channels on the billing grid and the market series the
    contract's terms need."""
    site: Site
    channels: dict[str, Any]              # channel name -> engine.vee.ChannelVee
    market: MarketData


#: rewrites a site-month's inputs between reading and settling (a what-if variant);
#: receives the contract versions and the period being settled
InputsTransform = Callable[[SiteMonthInputs, list[ContractVersion], str], SiteMonthInputs]


def chain(*transforms: InputsTransform | None) -> InputsTransform | None:
    """One transform applying each given one in order (None: none given)."""
    given = [t for t in transforms if t is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def apply(inputs: SiteMonthInputs, versions: list[ContractVersion], period: str) -> SiteMonthInputs:
        for t in given:
            inputs = t(inputs, versions, period)
        return inputs
    return apply


def read_site_month(store: ObjectStore, tables: Tables, versions: list[ContractVersion], *,
                    contract_id: str, site_id: str, period: str, data: DataVersions,
                    cache: dict) -> SiteMonthInputs:
    """Read and validate one site-month for one contract's versions (pure apart from
    reads; reference data cached in ``cache``)."""
    sites = load_registry(store, data.sites, cache)
    if site_id not in sites:
        raise UnknownReferenceError(f"contract {contract_id}: site {site_id!r} is not in the "
                                    f"site registry (version {data.sites})")
    site = sites[site_id]
    b0, b1 = local_month_bounds_us(period, versions[-1].timezone)
    vee = validated_month(tables, site, b0, b1, period, as_of=data.meter)
    market = read_market(tables, versions, period, {site_id: site}, data, cache)
    return SiteMonthInputs(site, vee.channels, market)


def site_partial(store: ObjectStore, tables: Tables, *, contract_id: str, contract_cap: int | None,
                 site_id: str, period: str, data: DataVersions, cache: dict,
                 stored: list[StoredContract] | None = None,
                 transform: InputsTransform | None = None) -> SitePartial:
    """The map step of one contract x site x billing month (pure apart from reads).

    ``stored`` (default: the contract's versions up to ``contract_cap``, read once per
    worker) and ``transform`` let an in-process caller settle other terms or inputs
    (:mod:`jobs.contract_period`)."""
    if stored is None:
        stored = load_contract(store, contract_id, contract_cap, cache)
    versions = [s.version for s in stored]
    inputs = read_site_month(store, tables, versions, contract_id=contract_id, site_id=site_id,
                             period=period, data=data, cache=cache)
    if transform is not None:
        inputs = transform(inputs, versions, period)
    return settle_site(versions, period, inputs.site, inputs.channels, inputs.market)


class CompletenessRecorder:
    """An :data:`InputsTransform` that changes nothing and records the completeness
    (``engine.completeness.SiteMonthCompleteness``) of every site-month of the
    billing ``period`` it sees, by site (look-back months are not billed: not
    counted). The limits: the contract version in force at the period's end, then
    the site's (registry), then the defaults. Pass it as ``transform`` to
    :func:`site_partial` or ``jobs.contract_period.contract_partials``."""

    def __init__(self, stored: list[StoredContract], period: str):
        at_end = version_at_period_end([s.version for s in stored], period).version
        self.period = period
        self.contract = contract_limits(next(s for s in stored if s.version.version == at_end).document)
        self.entries: dict[str, SiteMonthCompleteness] = {}

    def __call__(self, inputs: SiteMonthInputs, versions: list[ContractVersion],
                 period: str) -> SiteMonthInputs:
        if period == self.period:
            limits = resolve_limits(self.contract, inputs.site.completeness)
            self.entries[inputs.site.site_id] = site_month_completeness(
                versions, period, inputs.site, inputs.channels, limits)
        return inputs


# ----------------------------------------------------------------- partial <-> JSON
def partial_to_dict(p: SitePartial) -> dict:
    """The small, exact JSON form of a partial (detail excluded: it is stored apart)."""
    return {"contract_id": p.contract_id, "period": p.period, "site_ids": list(p.site_ids),
            "lines": [asdict(ls) for ls in p.lines], "determinants": dict(p.determinants),
            "delivered_wh": p.delivered_wh, "vee": dict(p.vee)}


def partial_from_dict(d: dict, detail: pa.Table | None = None) -> SitePartial:
    return SitePartial(d["contract_id"], d["period"], tuple(d["site_ids"]),
                       tuple(LineSum(**ls) for ls in d["lines"]), dict(d["determinants"]),
                       int(d["delivered_wh"]), dict(d["vee"]),
                       detail if detail is not None else DETAIL_SCHEMA.empty_table())


def require_contract(store: ObjectStore, contract_id: str) -> list[StoredContract]:
    try:
        return ContractStore(store).versions(contract_id)
    except NotFoundError:
        raise UnknownReferenceError(f"unknown contract {contract_id!r}") from None


def require_data(data: DataVersions) -> None:
    missing = [t for t in ("meter", "sites") if getattr(data, t) is None]
    if missing:
        raise DataMissingError(f"nothing to settle: no {' and no '.join(missing)} data stored yet")

