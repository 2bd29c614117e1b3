"""``bankability``: P50/P90/P99, DSCR, debt sizing, IRR, NPV and LCOE over thousands of
paths, with revenue from the project's actual contracts.

Plan (job runner). Parses the model document (:mod:`engine.finance.model`) and refuses,
as ``InputError`` before any work: an unknown contract, site or channel, a horizon
beyond a site's last contract term without a merchant tail, a typical-year month with
no stored meter data. Pins ONE set of inputs (data versions from ``operations.as_of``
or the latest, the contract-version caps) and reads the small amount of history the
stochastic processes are calibrated on (daily prices and index values over the
typical year), so every partition simulates the same processes. Partitions:

* ``site|<site>``: the site's P50 monthly generation per channel (typical year laid on
  every forecast month, degradation and availability applied): energy and fuel;
* ``revenue|<contract>|<block>``: one contract over a block of ``YEARS_PER_BLOCK``
  operating years: each forecast month settled by the contract engine on its lattice
  (:mod:`engine.finance.revenue`), then every path's revenue, summed per operating
  year, computed in chunks of ``PATH_CHUNK`` paths. A merchant tail is a synthetic
  ``TAIL-<site>`` contract (an ``export_share`` of the site's energy at its node price),
  priced the same way.

Each revenue partition returns the exact P50 case (integer cents per month and line,
from the lattice centre) and the sizing cases' revenue, and stages the per-path annual
revenue (``float64``, ``.npy``) next to its result.

Reduce (job runner): per-path revenue (summed over partitions in key order), energy and
fuel cost (regenerated from the seed), the loan sized once on the deterministic cases,
every path's waterfall, IRRs and metrics (:mod:`engine.finance`), distributions, the
P50 cash-flow table and the HTML report; published once with
``storage.results.ResultStore(store, "bankability")`` under the job id, with the lineage
(data versions, contract SHA-256s, model hash, seed, paths, code version). The same
inputs and seed give the same bytes whatever the number of workers: partitions are
deterministic and the reduce reads them in key order.

Exact money: the P50 case's contract revenue (cents, each month an invoice's total:
one rounding per line). Everything per path is a statistic (floats).
"""
from __future__ import annotations

import hashlib
import io
import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.canonical import canonical_json
from engine.contract import active_in_period, parse_contract
from engine.errors import DataMissingError, InputError, JobError, ValidationError
from engine.finance import report as fin_report
from engine.finance.cashflow import run_cash_flows
from engine.finance.forecast import Operations, operating_year, site_month
from engine.finance.model import (HARD_MAX_PATHS, BankabilityModel, check_references, model_hash,
                                  parse_model)
from engine.finance.paths import MeanRevertingJump, calibrate, correlation, generation_factors, process_factors
from engine.finance.profile import MonthChannels, PriceProfile, SiteProfile, typical_price_shape
from engine.finance.revenue import (GEN, ContractForecast, IndexForecast, PriceForecast,
                                    month_lattice)
from engine.finance.uncertainty import p_table
from engine.finance.waterfall import OperatingInputs
from engine.pricing import PriceSeries
from engine.settlement import required_market_data
from engine.timebase import US_PER_HOUR, local_month_bounds_us, next_period, parse_period
from storage.results import ResultStore

from .invoicing import code_version
from .planning import partition_key, split_key
from .settle_inputs import DataVersions, load_contract, load_registry, require_contract, validated_month
from .specs import BankabilitySpec
from .tasks import JobContext, JobKind, Partition, WorkerContext

if TYPE_CHECKING:  # pragma: no cover
    from engine.sites import Site
    from storage.objectstore import ObjectStore
    from storage.tables import Tables

logger = logging.getLogger(__name__)

__all__ = ["plan", "run_partition", "reduce", "KIND", "YEARS_PER_BLOCK", "PATH_CHUNK", "RESULT_KIND",
           "tail_contract", "typical_year", "price_forecasts", "billed_month_forecast", "market_factors"]

RESULT_KIND = "bankability"
YEARS_PER_BLOCK = 5
PATH_CHUNK = 2048
NODE_SIGMAS = 2.5            # market lattice points at exp(+-2.5 sd) of the month's log factor
MIN_NODE_SPREAD = 0.05


# ------------------------------------------------------------------------------ inputs
def tail_contract(site: Site, start: date, end: date, tail: Any) -> dict:
    """The merchant tail of a site as a contract document: its energy (``tail.channels``)
    sold at its node price, ``tail.share`` of it received (an ``export_share`` term with
    the project as seller), from ``start`` to ``end``."""
    return {
        "contract_id": f"TAIL-{site.site_id}", "version": 1, "effective_from": start.isoformat(),
        "description": f"Merchant tail of {site.site_id} (bankability model)",
        "parties": {"seller": f"{site.site_id} project", "buyer": "the market"},
        "sites": [site.site_id], "timezone": site.timezone,
        "term": {"start": start.isoformat(), "end": end.isoformat()}, "billing_period": "month",
        "currency": "USD", "delivered": {"add": list(tail.channels)},
        "pricing": {"site_node": {"market_run": tail.market_run}},
        "terms": [{"id": "merchant", "kind": "export_share", "share_to_buyer": f"{1 - tail.share:.6f}",
                   "revenue_received_by": "buyer", "export": list(tail.channels),
                   "market_run": tail.market_run}],
    }


def typical_year(tables: Tables, site: Site, periods: tuple[str, ...], data: DataVersions,
                 cache: dict) -> SiteProfile:
    """A site's typical year from its VEE'd metered months (what their bills read)."""
    key = ("bankability-profile", site.site_id, periods, data.meter)
    if key not in cache:
        months = {}
        for period in periods:
            b0, b1 = local_month_bounds_us(period, site.timezone)
            vee = validated_month(tables, site, b0, b1, period, as_of=data.meter)
            if not vee.channels:
                raise DataMissingError(f"site {site.site_id}: no meter data in {period} (typical year)")
            ch = vee.channels
            first = next(iter(ch.values()))
            months[parse_period(period)[1]] = MonthChannels(
                period, np.asarray(first.grid_us), int(first.interval_minutes),
                {n: np.asarray(c.energy_wh, dtype=np.int64) for n, c in ch.items()},
                {n: np.asarray(c.quality) for n, c in ch.items()})
        cache[key] = SiteProfile(site, months)
    return cache[key]


def _read_prices(tables: Tables, key: tuple[str, str, str], period: str, tz: str, as_of: int | None
                 ) -> PriceSeries:
    b0, b1 = local_month_bounds_us(period, tz)
    t = tables.read_prices(*key, b0 - US_PER_HOUR, b1, as_of=as_of)
    if t.num_rows == 0:
        raise DataMissingError(f"no {'/'.join(key)} prices stored for {period} (typical year)")
    return PriceSeries(t.column("interval_start_utc").cast("int64").to_numpy(),
                       t.column("interval_minutes").to_numpy().astype(np.int64),
                       t.column("lmp_microusd_per_mwh").to_numpy()).sorted()


def price_forecasts(tables: Tables, keys: dict[tuple[str, str, str], str], model: BankabilityModel,
                    data: DataVersions, dims: dict[str, Any], cache: dict
                    ) -> dict[tuple[str, str, str], PriceForecast]:
    """Each needed price series' typical year (``keys``: key -> the zone its months are
    local to), escalated, scaled by its ISO's factor when that is stochastic."""
    out = {}
    for key, tz in sorted(keys.items()):
        ck = ("bankability-prices", key, tz, model.profile_periods, model.price_shape, data.prices)
        if ck not in cache:
            months = {}
            for period in model.profile_periods:
                s = _read_prices(tables, key, period, tz, data.prices)
                months[parse_period(period)[1]] = (period, typical_price_shape(s, period, tz)
                                                   if model.price_shape == "typical" else s)
            cache[ck] = PriceProfile(key, tz, months)
        dim = f"price:{key[0]}"
        out[key] = PriceForecast(cache[ck], model.prices.escalation, dim if dim in dims else None)
    return out


def _daily_index(tables: Tables, name: str, first: str, last: str, as_of: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    y0, m0 = parse_period(first)
    y1, m1 = parse_period(next_period(last))
    t = tables.read_index(name, date(y0, m0, 1), date(y1, m1, 1), as_of=as_of)
    days = t.column("period_start").cast("int32").to_numpy().astype(np.int64)
    return days, t.column("value_micro").to_numpy().astype(np.float64) / 1e6


def _daily_prices(tables: Tables, key: tuple[str, str, str], periods: tuple[str, ...], tz: str,
                  as_of: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Daily time-weighted average price (USD/MWh) by local day over ``periods``."""
    from engine.timebase import local_fields
    days_all, vals_all = [], []
    for period in periods:
        s = _read_prices(tables, key, period, tz, as_of)
        b0, b1 = local_month_bounds_us(period, tz)
        keep = (s.start_us >= b0) & (s.start_us < b1)
        day = local_fields(s.start_us[keep], tz).day
        w = s.minutes[keep].astype(np.float64)
        num = np.bincount(day - day.min(), weights=s.lmp_microusd_per_mwh[keep] * w)
        den = np.bincount(day - day.min(), weights=w)
        ok = den > 0
        days_all.append(np.flatnonzero(ok) + day.min())
        vals_all.append(num[ok] / den[ok] / 1e6)
    return np.concatenate(days_all), np.concatenate(vals_all)


def billed_month_forecast(store: ObjectStore, tables: Tables, contract_id: str, period: str,
                          data: DataVersions, cache: dict) -> ContractForecast:
    """A forecast of ``period`` built from that billed month's own inputs: its VEE'd
    intervals as the typical month, its stored prices and indices as they are, every
    factor 1 (operating year 1 starting that month). Its P50 settlement is that month's
    invoice, to the cent (``tests/jobs/test_bankability_job.py``): the revenue stage
    prices a forecast exactly as billing prices a month."""
    from .settle_inputs import read_market
    stored = require_contract(store, contract_id)
    versions = [s.version for s in stored]
    registry = load_registry(store, data.sites, cache)
    site_ids = sorted({s for cv in versions for s in cv.sites})
    profiles = {sid: typical_year(tables, registry[sid], (period,), data, cache) for sid in site_ids}
    market = read_market(tables, versions, period, {sid: registry[sid] for sid in site_ids}, data, cache)
    tz = versions[-1].timezone
    prices = {key: PriceForecast(PriceProfile(key, tz, {parse_period(period)[1]: (period, series)}))
              for key, series in market.prices.items()}
    return ContractForecast(versions, profiles, prices, {}, Operations(), period,
                            actual_indices=dict(market.indices))


# ------------------------------------------------------------------------------ plan
def _project(store: ObjectStore, tables: Tables, model: BankabilityModel, data: DataVersions,
             cache: dict) -> dict:
    """Contracts (with tails), sites and the needs of the whole project."""
    contracts: dict[str, list] = {}
    stored = {}
    for cid in model.contracts:
        try:
            s = require_contract(store, cid)
        except InputError:
            contracts[cid] = []
            continue
        stored[cid] = s
        contracts[cid] = [x.version for x in s]
    sites = load_registry(store, data.sites, cache)
    check_references(model, contracts, sites)
    project_sites = sorted({s for v in contracts.values() for cv in v for s in cv.sites})
    tails: dict[str, dict] = {}
    if model.merchant_tail is not None:
        y, m = parse_period(next_period(model.last_period))
        horizon_end = date(y, m, 1) - timedelta(days=1)
        for sid in project_sites:
            end = max(cv.term_end for v in contracts.values() for cv in v if sid in cv.sites)
            if end < horizon_end:
                site = sites[sid]
                if not (site.iso and site.node):
                    raise ValidationError(f"site {sid} has no market node for its merchant tail",
                                          file="model", field="project.merchant_tail")
                tails[f"TAIL-{sid}"] = tail_contract(site, end + timedelta(days=1), horizon_end,
                                                     model.merchant_tail)
    return {"stored": stored, "contracts": contracts, "sites": sites, "project_sites": project_sites,
            "tails": tails}


def _needs(model: BankabilityModel, versions_by_id: dict[str, list], sites: dict) -> tuple[dict, set]:
    """Price keys (-> the zone their months are local to) and index names the project's
    contracts read over the typical year and the horizon's first year."""
    keys: dict[tuple[str, str, str], str] = {}
    indices: set[str] = set()
    probe = list(model.profile_periods) + model.months[:12] + [model.last_period]
    for cid in sorted(versions_by_id):
        versions = versions_by_id[cid]
        for period in probe:
            if not active_in_period(versions, period):
                continue
            needs = required_market_data(versions, period, sites)
            for k in needs.prices:
                keys.setdefault(k, versions[0].timezone)
            indices |= set(needs.indices)
    return keys, indices


def _calibrations(tables: Tables, model: BankabilityModel, data: DataVersions, keys: dict,
                  fuel_index: str | None) -> tuple[dict[str, dict], dict[str, float]]:
    """The stochastic factors: ``dim -> {"kind": "process"|"curves", ...}`` and the
    correlations of the fuel factor's shocks with a power factor."""
    dims: dict[str, dict] = {}
    first = model.profile_periods[0]
    last = model.profile_periods[-1]
    if model.prices.process != "none":
        for iso in sorted({k[0] for k in keys}):
            dim = f"price:{iso}"
            if model.prices.process == "curves":
                dims[dim] = {"kind": "curves", "curves": [list(c) for c in model.prices.curves]}
                continue
            if model.prices.process == "given" and model.prices.given is not None:
                proc = model.prices.given
            else:
                key = sorted(k for k in keys if k[0] == iso)[0]
                _, daily = _daily_prices(tables, key, model.profile_periods, keys[key], data.prices)
                try:
                    proc = calibrate(daily, long_term_sigma=model.prices.long_term_sigma)
                except ValueError as exc:
                    raise ValidationError(str(exc), file="model", field="uncertainty.prices") from None
            dims[dim] = {"kind": "process", "stream": dim, **proc.to_dict()}
    corr: dict[str, float] = {}
    if fuel_index and model.fuel.process != "none":
        dim = f"index:{fuel_index}"
        if model.fuel.process == "curves":
            dims[dim] = {"kind": "curves", "curves": [list(c) for c in model.fuel.curves]}
        else:
            days, vals = _daily_index(tables, fuel_index, first, last, data.index)
            if model.fuel.process == "given" and model.fuel.given is not None:
                proc = model.fuel.given
            else:
                try:
                    proc = calibrate(vals, floor=0.01, long_term_sigma=model.fuel.long_term_sigma)
                except ValueError as exc:
                    raise ValidationError(str(exc), file="model", field="uncertainty.fuel") from None
            power = sorted(d for d in dims if d.startswith("price:") and dims[d]["kind"] == "process")
            rho = model.fuel.correlation
            if power and rho is None:
                iso_key = sorted(k for k in keys if f"price:{k[0]}" == power[0])[0]
                pdays, pvals = _daily_prices(tables, iso_key, model.profile_periods, keys[iso_key], data.prices)
                common, ia, ib = np.intersect1d(pdays, days, return_indices=True)
                rho = correlation(pvals[ia], vals[ib], floor=1.0) if common.size > 2 else 0.0
            dims[dim] = {"kind": "process", "stream": dim, **proc.to_dict(),
                         "shocks_from": power[0] if power else None, "rho": float(rho or 0.0)}
            if power:
                corr[dim] = float(rho or 0.0)
    return dims, corr


def _process(d: dict) -> MeanRevertingJump:
    return MeanRevertingJump(kappa=d["kappa_per_year"], sigma=d["sigma_per_sqrt_year"],
                             jump_rate=d["jumps_per_year"], jump_mean=d["jump_mean_log"],
                             jump_sd=d["jump_sd_log"], long_term_sigma=d["long_term_sigma_per_sqrt_year"])


def _index_forecasts(tables: Tables, model: BankabilityModel, data: DataVersions, names: set[str],
                     fuel_index: str | None, dims: dict) -> dict[str, dict]:
    """P50 of every index read: the fuel index at its history mean over the typical year
    (or the model's P50) escalated; any other index (CPI) from its last value, at
    inflation."""
    out = {}
    infl = model.finance_params(1.0).inflation
    for name in sorted(names | ({fuel_index} if fuel_index else set())):
        days, vals = _daily_index(tables, name, model.profile_periods[0], model.profile_periods[-1],
                                  data.index)
        if vals.size == 0:
            raise DataMissingError(f"no {name} index values stored over the typical year "
                                   f"({model.profile_periods[0]}..{model.profile_periods[-1]})")
        if name == fuel_index:
            base = float(model.fuel.p50_usd_per_mmbtu or vals.mean())
            esc = model.fuel.escalation
        else:
            base, esc = float(vals[-1]), infl
        dim = f"index:{name}"
        out[name] = {"base": base, "base_period": model.profile_periods[-1], "escalation": esc,
                     "dim": dim if dim in dims else None}
    return out


def plan(spec: BankabilitySpec, ctx: JobContext) -> list[Partition]:
    model = parse_model(spec.model, "model", paths=spec.paths, seed=spec.seed)
    data = DataVersions.resolve(ctx.tables, ctx.store, model.as_of or None)
    if data.meter is None or data.sites is None:
        raise DataMissingError("no meter data or site registry stored yet")
    cache: dict = {}
    proj = _project(ctx.store, ctx.tables, model, data, cache)
    inventory = set(ctx.tables.meter_partitions(as_of=data.meter))
    missing = [(s, p) for s in proj["project_sites"] for p in model.profile_periods if (s, p) not in inventory]
    if missing:
        raise ValidationError(f"no meter data stored for {', '.join(f'{s} {p}' for s, p in missing[:5])}"
                              + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""),
                              file="model", field="operations.profile.periods")
    versions = dict(proj["contracts"])
    for cid, doc in proj["tails"].items():
        versions[cid] = [parse_contract(doc, cid)]
    keys, indices = _needs(model, versions, proj["sites"])
    fuel_index = model.fuel_index or model.fuel.index
    dims, _ = _calibrations(ctx.tables, model, data, keys, fuel_index)
    idx = _index_forecasts(ctx.tables, model, data, indices, fuel_index, dims)
    fuel = _fuel_channels(model, proj["sites"], proj["project_sites"]) if model.fuel_index else {}
    common = {"model": model.doc, "data": data.to_dict(), "dims": dims, "indices": idx,
              "price_keys": [[list(k), tz] for k, tz in sorted(keys.items())]}
    parts = [Partition(partition_key("site", sid), {**common, "site_id": sid, "fuel": fuel.get(sid, {})}, 1)
             for sid in proj["project_sites"]]
    blocks = (model.horizon_years + YEARS_PER_BLOCK - 1) // YEARS_PER_BLOCK
    for cid in sorted(versions):
        months = model.months
        for b in range(blocks):
            block = months[b * 12 * YEARS_PER_BLOCK:(b + 1) * 12 * YEARS_PER_BLOCK]
            if not any(active_in_period(versions[cid], p) for p in block):
                continue
            params = {**common, "contract_id": cid, "block": b,
                      "contract_cap": proj["stored"][cid][-1].version.version if cid in proj["stored"] else None,
                      "tail": proj["tails"].get(cid)}
            parts.append(Partition(partition_key("revenue", cid, f"{b:02d}"), params, 10))
    return parts


def _fuel_channels(model: BankabilityModel, sites: dict, project_sites: list[str]) -> dict[str, dict[str, float]]:
    """site -> channel -> heat rate (MMBtu/MWh) of the channels that burn fuel."""
    from engine.delivered import resolve_refs
    out: dict[str, dict[str, float]] = {}
    for sid in project_sites:
        site = sites[sid]
        refs = model.fuel_channels or [n for n, c in site.channels.items()
                                       if c.kind == "generation" and c.heat_rate_mmbtu_per_mwh]
        chans = [n for n in resolve_refs(refs, site) if n in site.channels]
        for n in chans:
            hr = model.fuel_heat_rate or site.channels[n].heat_rate_mmbtu_per_mwh
            if not hr:
                raise ValidationError(f"channel {n} of site {sid} has no heat rate in the site registry",
                                      file="model", field="costs.fuel.heat_rate_mmbtu_per_mwh")
            out.setdefault(sid, {})[n] = float(hr)
    return out


# ------------------------------------------------------------------------------ paths
def market_factors(dims: dict, dim: str, seed: int, paths: int, months: int) -> np.ndarray:
    """``(paths, months)`` factors of one stochastic dimension (the same in every
    partition and in the reduce)."""
    d = dims[dim]
    if d["kind"] == "curves":
        curves = [np.asarray(c, dtype=np.float64) for c in d["curves"]]
        out = np.empty((paths, months))
        for p in range(paths):
            c = curves[p % len(curves)]
            out[p] = c[:months] if c.size >= months else np.concatenate([c, np.full(months - c.size, c[-1])])
        return out
    other = d.get("shocks_from")
    return process_factors(seed, d["stream"], _process(d), paths, months, shocks_from=other,
                           rho=float(d.get("rho", 0.0)))


def _market_nodes(dims: dict, dim: str, month_index: int) -> tuple[float, float, float]:
    """Lattice points of a market factor in a month: exp(+-2.5 sd of its log), sd from
    the process (OU moments + jumps + long-term walk) or the curves' range."""
    d = dims[dim]
    if d["kind"] == "curves":
        vals = [c[min(month_index, len(c) - 1)] for c in d["curves"]]
        lo, hi = min(min(vals), 1 - MIN_NODE_SPREAD), max(max(vals), 1 + MIN_NODE_SPREAD)
        return (float(lo), 1.0, float(hi))
    k = max(d["kappa_per_year"], 1e-9)
    t = (month_index + 1) / 12.0
    settle = (1 - np.exp(-2 * k * t)) / (2 * k)
    jumps = d["jumps_per_year"] * (d["jump_mean_log"] ** 2 + d["jump_sd_log"] ** 2)
    var = (d["sigma_per_sqrt_year"] ** 2 + jumps) * settle + d["long_term_sigma_per_sqrt_year"] ** 2 * t
    s = max(NODE_SIGMAS * float(np.sqrt(var)), MIN_NODE_SPREAD)
    return (float(np.exp(-s)), 1.0, float(np.exp(s)))


def _gen_nodes(model: BankabilityModel) -> tuple[float, float, float] | None:
    if model.gen_iav == 0 and model.gen_model == 0:
        return None
    cases = [c["case"] for c in model.doc["debt"].get("cases", [])] or ["P99"]
    lo = min([model.sizing_factor(c) for c in cases] + [model.sizing_factor("P99")])
    lo = min(lo, 1 - MIN_NODE_SPREAD)
    return (lo, 1.0, 2.0 - lo)


# ------------------------------------------------------------------------------ map
def _contract_forecast(ctx: WorkerContext, p: dict, model: BankabilityModel, data: DataVersions
                       ) -> tuple[ContractForecast, str]:
    """The contract's forecast context and the SHA-256 of what it settles with (the
    stored version at the cap, or the synthetic tail's document)."""
    cid = p["contract_id"]
    if p.get("tail"):
        versions = [parse_contract(p["tail"], cid)]
        sha = hashlib.sha256(canonical_json(p["tail"])).hexdigest()
    else:
        stored = load_contract(ctx.store, cid, p["contract_cap"], ctx.cache)
        versions, sha = [s.version for s in stored], stored[-1].sha256
    registry = load_registry(ctx.store, data.sites, ctx.cache)
    site_ids = sorted({s for cv in versions for s in cv.sites})
    profiles = {sid: typical_year(ctx.tables, registry[sid], model.profile_periods, data, ctx.cache)
                for sid in site_ids}
    keys = {(k[0], k[1], k[2]): tz for k, tz in p["price_keys"]}
    prices = price_forecasts(ctx.tables, keys, model, data, p["dims"], ctx.cache)
    indices = {name: IndexForecast(name, d["base"], d["base_period"], d["escalation"], d["dim"])
               for name, d in p["indices"].items()}
    months = ctx.cache.setdefault(("bankability-months", model_hash(model), data.meter), {})
    return ContractForecast(versions, profiles, prices, indices, model.ops, model.cod, _months=months), sha


def _revenue(partition: Partition, ctx: WorkerContext) -> dict:
    p = dict(partition.params)
    model = parse_model(p["model"], "model", max_paths=HARD_MAX_PATHS)
    data = DataVersions.from_dict(p["data"])
    fc, sha = _contract_forecast(ctx, p, model, data)
    months = model.months
    b = int(p["block"])
    first_month = b * 12 * YEARS_PER_BLOCK
    block = months[first_month:first_month + 12 * YEARS_PER_BLOCK]
    years = len(block) // 12
    gen_nodes = _gen_nodes(model)
    dims = p["dims"]
    cases = {c["case"]: model.sizing_factor(c["case"]) for c in model.doc["debt"].get("cases", [])}
    cases.setdefault("P50", 1.0)

    lattices = []
    for j, period in enumerate(block):
        ctx.check_cancelled()
        if not active_in_period(fc.versions, period):
            lattices.append(None)
            continue
        nodes = {d: _market_nodes(dims, d, first_month + j) for d in dims}
        if gen_nodes:
            nodes[GEN] = gen_nodes
        lattices.append(month_lattice(fc, period, nodes))

    # every path's revenue per operating year, in chunks of paths
    need = sorted({d for lat in lattices if lat is not None for d in lat.dims if d != GEN})
    revenue = np.zeros((model.paths, years))
    gen = _generation(ctx, model) if gen_nodes else None
    market = {d: _market(ctx, model, dims, d) for d in need}
    for c0 in range(0, model.paths, PATH_CHUNK):
        c1 = min(c0 + PATH_CHUNK, model.paths)
        ctx.check_cancelled()
        for j, lat in enumerate(lattices):
            if lat is None:
                continue
            f = {d: market[d][c0:c1, first_month + j] for d in need}
            if gen is not None:
                f[GEN] = gen[c0:c1, (first_month + j) // 12]
            revenue[c0:c1, j // 12] += lat.revenue(f, c1 - c0)

    # the deterministic cases: P50 the lattice centre (exact cents), the others at
    # their generation factor with every market factor at its P50 (the lowest case is
    # the low generation point: exact; one between is interpolated)
    case_usd = {name: [0.0] * years for name in sorted(cases)}
    p50_months = []
    for j, lat in enumerate(lattices):
        if lat is None:
            continue
        for name, g in cases.items():
            if name == "P50":
                case_usd[name][j // 12] += lat.center.total_cents / 100
                continue
            pt = {d: np.ones(1) for d in lat.dims}
            if GEN in pt:
                pt[GEN] = np.array([g])
            case_usd[name][j // 12] += float(lat.revenue(pt, 1)[0])
        p50_months.append({"period": lat.period, "total_cents": lat.center.total_cents,
                           "gen_low_cents": lat.gen_low_total_cents,
                           "lines": {ln.line_id: ln.amount_cents for ln in lat.center.lines},
                           "dims": list(lat.dims), "settlements": lat.settlements,
                           "settled_corner_lines": list(lat.settled_corner_lines)})
    key = ctx.part_prefix(partition) + "revenue.npy"
    buf = io.BytesIO()
    np.save(buf, revenue, allow_pickle=False)
    ctx.stage(key, buf.getvalue())
    return {"contract_id": p["contract_id"], "contract_sha256": sha, "block": b,
            "first_year": first_month // 12, "years": years, "revenue_npy": key, "cases_usd": case_usd,
            "p50_months": p50_months, "settlements": int(sum(m["settlements"] for m in p50_months))}


def _paths_cache(ctx: WorkerContext, key: tuple, make: Any) -> np.ndarray:
    """A path array of this run, computed once per worker: the cache keeps the current
    run's arrays only (a warm worker moving to another run drops the previous one's)."""
    slot = ctx.cache.get("bankability-paths")
    run = key[:2]
    if slot is None or slot[0] != run:
        slot = (run, {})
        ctx.cache["bankability-paths"] = slot
    if key not in slot[1]:
        slot[1][key] = make()
    return slot[1][key]


def _generation(ctx: WorkerContext, model: BankabilityModel) -> np.ndarray:
    return _paths_cache(ctx, (model_hash(model), model.seed, "gen"),
                        lambda: generation_factors(model.seed, model.paths, model.horizon_years,
                                                   model.gen_iav, model.gen_model))


def _market(ctx: WorkerContext, model: BankabilityModel, dims: dict, dim: str) -> np.ndarray:
    """Every path's factors of ``dim`` over the whole horizon (the same in every
    partition and in the reduce: a path's numbers depend on the seed, stream and index)."""
    return _paths_cache(ctx, (model_hash(model), model.seed, dim, canonical_json(dims[dim])),
                        lambda: market_factors(dims, dim, model.seed, model.paths, 12 * model.horizon_years))


def _site(partition: Partition, ctx: WorkerContext) -> dict:
    """A site's P50 monthly generation per channel (MWh, deterministic factors applied)
    and its nameplate; echoes the plan's pinned inputs for the reduce."""
    p = dict(partition.params)
    model = parse_model(p["model"], "model", max_paths=HARD_MAX_PATHS)
    data = DataVersions.from_dict(p["data"])
    site = load_registry(ctx.store, data.sites, ctx.cache)[p["site_id"]]
    profile = typical_year(ctx.tables, site, model.profile_periods, data, ctx.cache)
    channels: dict[str, dict] = {}
    for period in model.months:
        ctx.check_cancelled()
        sm = site_month(profile, period, model.ops, operating_year(period, model.cod))
        for n, ch in sorted(site.channels.items()):
            if ch.kind != "generation" or n not in sm.base_wh:
                continue
            c = channels.setdefault(n, {"uncertain": n in sm.uncertain, "heat_rate": p["fuel"].get(n),
                                        "mwh": []})
            c["mwh"].append(sm.channel_mwh(n))
    nameplate = sum(float(c.nameplate_kw or 0) for c in site.channels.values() if c.kind == "generation")
    return {"site_id": site.site_id, "channels": channels, "nameplate_kw": nameplate,
            "plan": {"data": p["data"], "dims": p["dims"], "indices": p["indices"]}}


def run_partition(partition: Partition, ctx: WorkerContext) -> dict:
    if split_key(partition.key)[0] == "site":
        return _site(partition, ctx)
    return _revenue(partition, ctx)


# ------------------------------------------------------------------------------ reduce
def _load_npy(store: ObjectStore, key: str) -> np.ndarray:
    return np.load(io.BytesIO(store.get(key)), allow_pickle=False)


def _plan_echo(results: dict[str, dict]) -> dict:
    echoes = [results[k]["plan"] for k in sorted(results) if k.startswith("site")]
    if not echoes or any(e != echoes[0] for e in echoes):
        raise JobError("bankability: the site partitions read different pinned inputs")
    return echoes[0]


def _operating_inputs(store: ObjectStore, model: BankabilityModel, results: dict[str, dict], plan: dict
                      ) -> tuple[OperatingInputs, dict[str, OperatingInputs], dict]:
    """Per path and year: revenue (the partitions' sums, in key order), energy and fuel;
    and the deterministic sizing cases."""
    Y, P = model.horizon_years, model.paths
    revenue = np.zeros((P, Y))
    cases: dict[str, np.ndarray] = {}
    p50_cents = [0] * Y
    by_contract: dict[str, list[int]] = {}
    settlements = 0
    for key in sorted(k for k in results if k.startswith("revenue")):
        r = results[key]
        y0, n = r["first_year"], r["years"]
        revenue[:, y0:y0 + n] += _load_npy(store, r["revenue_npy"])
        for name, vals in r["cases_usd"].items():
            cases.setdefault(name, np.zeros(Y))[y0:y0 + n] += np.asarray(vals)
        row = by_contract.setdefault(r["contract_id"], [0] * Y)
        for m in r["p50_months"]:
            y = operating_year(m["period"], model.cod) - 1
            p50_cents[y] += int(m["total_cents"])
            row[y] += int(m["total_cents"])
        settlements += int(r["settlements"])
    months = Y * 12
    e_fix, e_unc, f_fix, f_unc = (np.zeros(months) for _ in range(4))
    for key in sorted(k for k in results if k.startswith("site")):
        for _, c in sorted(results[key]["channels"].items()):
            mwh = np.asarray(c["mwh"], dtype=np.float64)
            (e_unc if c["uncertain"] else e_fix)[:] += mwh
            if c.get("heat_rate"):
                (f_unc if c["uncertain"] else f_fix)[:] += mwh * float(c["heat_rate"])
    gen_on = _gen_nodes(model) is not None
    g = generation_factors(model.seed, P, Y, model.gen_iav, model.gen_model) if gen_on else np.ones((P, Y))
    gm = np.repeat(g, 12, axis=1)
    gas_p50, gas_f = np.zeros(months), np.ones((P, months))
    if model.fuel_index:
        ix = plan["indices"][model.fuel_index]
        fc = IndexForecast(model.fuel_index, ix["base"], ix["base_period"], ix["escalation"], ix["dim"])
        gas_p50 = np.array([fc.p50(m) for m in model.months])
        if ix["dim"]:
            gas_f = market_factors(plan["dims"], ix["dim"], model.seed, P, months)

    def yearly(x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], Y, 12).sum(axis=2)

    energy = yearly(e_fix[None, :] + e_unc[None, :] * gm)
    fuel = yearly((f_fix[None, :] + f_unc[None, :] * gm) * gas_p50[None, :] * gas_f)
    paths = OperatingInputs(revenue, energy, fuel)
    case_ops = {}
    names = [c["case"] for c in model.doc["debt"].get("cases", [])] or ["P50"]
    for name in sorted(set(names) | {"P50"}):
        gf = model.sizing_factor(name) if gen_on else 1.0
        e = yearly((e_fix + e_unc * gf)[None, :])
        fu = yearly(((f_fix + f_unc * gf) * gas_p50)[None, :])
        case_ops[name] = OperatingInputs(cases.get(name, np.zeros(Y))[None, :], e, fu)
    extra = {"p50_cents": p50_cents, "by_contract": by_contract, "settlements": settlements}
    return paths, case_ops, extra


def _lineage(spec: BankabilitySpec, model: BankabilityModel, results: dict[str, dict], plan: dict) -> dict:
    contracts = {}
    for key in sorted(k for k in results if k.startswith("revenue")):
        r = results[key]
        contracts[r["contract_id"]] = r["contract_sha256"]
    return {"data_versions": plan["data"], "contract_sha256": dict(sorted(contracts.items())),
            "model_sha256": model_hash(model), "seed": model.seed, "paths": model.paths,
            "code_version": code_version(), "kind": RESULT_KIND}


def reduce(spec: BankabilitySpec, results: dict[str, dict], ctx: JobContext) -> dict:
    model = parse_model(spec.model, "model", paths=spec.paths, seed=spec.seed, max_paths=HARD_MAX_PATHS)
    plan = _plan_echo(results)
    paths, cases, extra = _operating_inputs(ctx.store, model, results, plan)
    nameplate = model.nameplate_kw or sum(float(results[k]["nameplate_kw"]) for k in sorted(results)
                                          if k.startswith("site"))
    params = model.finance_params(nameplate)
    run = run_cash_flows(params, paths, cases)
    lineage = _lineage(spec, model, results, plan)
    summary = fin_report.summary_document(
        model, params, run, p50_cents=extra["p50_cents"], p50_by_contract=extra["by_contract"],
        energy_table=p_table(float(cases["P50"].energy_mwh[0, 0]), model.gen_iav, model.gen_model),
        settlements=extra["settlements"], processes=plan["dims"], lineage=lineage)
    ResultStore(ctx.store, RESULT_KIND).publish(ctx.job_id, fin_report.result_parts(summary, run), lineage)
    return fin_report.job_result(summary, ctx.job_id)


KIND = JobKind(name="bankability", spec_type=BankabilitySpec, plan=plan, run_partition=run_partition,
               reduce=reduce, description="P50/P90/P99, DSCR, debt sizing, IRR, NPV and LCOE over "
                                          "stochastic paths, revenue from the contract engine")
