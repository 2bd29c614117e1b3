"""The carbon of a site-month (the map), summed over sites and months (the reduce), as a statement.

Shape, like the money (``engine.settlement``)::

    partial   = site_month_carbon(config, period, series, ...)   # one site-month: exact integers
    total     = combine(partials)                                # sums: any grouping, any order
    statement = annex(total)                                     # figures rounded once (units.py)

A :class:`CarbonPartial` holds only **additive exact integers** (energies in Wh, fuel in
millibtu, masses in 1e-13 kg per gas, sums of hourly CFE in uWh, hour counts), so the
statement of a contract-period, a site-year or a portfolio is the same whatever the number
of workers or the order of the partitions (tested). CO2e of Scope 1 is formed at the end
from the gas sums (linear, so exactly what the hours add to). Hourly series (for the heat
map) are kept only when asked (:attr:`SiteMonthCarbon.hourly`).

The statement (:func:`annex`) is the invoice's ESG annex and the body of ``m2c esg report``:
energy (MWh) by resource, Scope 1 (t CO2, CH4, N2O, CO2e), Scope 2 location- and
market-based (t CO2e), intensities (kg CO2e/MWh delivered and consumed), the 24/7 CFE score
beside volumetric matching, certificates used, and coverage (hours without grid factors,
residual-mix fallbacks, incomplete fuel hours, discharge of unknown origin).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..money import add_exact, mul_exact, sum_exact
from ..timebase import US_PER_MINUTE
from .attribution import HourlyCarbon, HourlyFlows, attribute
from .cfe import cfe_pct, volumetric_pct
from .classify import SiteCarbon
from .factors import GASES, FactorSet, GwpSet
from .hourly import GridFactors, HourGrid
from .scope1 import channel_fuel, present
from .units import intensity_str, mass_str, mmbtu_str, mwh_str, pct_str

ENERGY_KEYS = ("storage_charge", "storage_discharge", "grid_import", "grid_export", "load", "delivered")


@dataclass(frozen=True)
class CarbonPartial:
    """Exact, additive carbon sums of one or more site-months."""
    factor_set: str
    gwp: str
    sites: tuple[str, ...]
    periods: tuple[str, ...]
    energy_wh: dict[str, int]
    fuel_millibtu: dict[str, int]
    scope1_100pg: dict[str, int]              # CO2, CH4, N2O
    sums: dict[str, int]                      # attribution totals, certificates, coverage

    def to_dict(self) -> dict:
        return {"factor_set": self.factor_set, "gwp": self.gwp, "sites": list(self.sites),
                "periods": list(self.periods), "energy_wh": dict(self.energy_wh),
                "fuel_millibtu": dict(self.fuel_millibtu), "scope1_100pg": dict(self.scope1_100pg),
                "sums": dict(self.sums)}

    @classmethod
    def from_dict(cls, d: dict) -> "CarbonPartial":
        return cls(d["factor_set"], d["gwp"], tuple(d["sites"]), tuple(d["periods"]),
                   {k: int(v) for k, v in d["energy_wh"].items()},
                   {k: int(v) for k, v in d["fuel_millibtu"].items()},
                   {k: int(v) for k, v in d["scope1_100pg"].items()},
                   {k: int(v) for k, v in d["sums"].items()})

    def scope1_co2e(self, gwp: GwpSet) -> int:
        s = self.scope1_100pg
        return s["CO2"] * gwp.co2 + s["CH4"] * gwp.ch4 + s["N2O"] * gwp.n2o


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}


def combine(partials: Iterable[CarbonPartial]) -> CarbonPartial:
    """The exact sum of partials (associative, commutative; same factor set and GWP)."""
    parts = list(partials)
    if not parts:
        raise ValueError("combine: no carbon partials")
    first = parts[0]
    for p in parts[1:]:
        if (p.factor_set, p.gwp) != (first.factor_set, first.gwp):
            raise InputError(f"carbon: cannot add {p.factor_set}/{p.gwp} to {first.factor_set}/{first.gwp}")
    out = first
    for p in parts[1:]:
        out = CarbonPartial(out.factor_set, out.gwp, tuple(sorted({*out.sites, *p.sites})),
                            tuple(sorted({*out.periods, *p.periods})), _add(out.energy_wh, p.energy_wh),
                            _add(out.fuel_millibtu, p.fuel_millibtu), _add(out.scope1_100pg, p.scope1_100pg),
                            _add(out.sums, p.sums))
    return out


@dataclass(frozen=True)
class SiteMonthCarbon:
    partial: CarbonPartial
    hours: HourGrid
    hourly: HourlyCarbon | None = field(default=None)


def present_energy(series) -> np.ndarray:
    """A channel's interval energy with missing intervals (VEE quality N) as 0."""
    e = np.asarray(series.energy_wh, dtype=np.int64)
    ok = present(series)
    return e if ok.all() else np.where(ok, e, 0)


class _Hourly:
    """Each channel's hourly sums, computed once (a running sum over its interval grid)."""

    def __init__(self, hours: HourGrid, series: dict):
        self.hours, self.series = hours, series
        self.done: dict[str, np.ndarray] = {}

    def of(self, names: Iterable[str]) -> np.ndarray:
        total = np.zeros(self.hours.n, dtype=np.int64)
        for n in names:
            if n not in self.done:
                s = self.series[n]
                self.done[n] = self.hours.sums(s.grid_us, present_energy(s))
            total = add_exact(total, self.done[n], field="energy_wh")
        return total


def _describer(site_id: str, channel: str, hours: HourGrid):
    return lambda i: f"site {site_id} channel {channel} hour {int(hours.hours_us[i])}"


def _per_hour(hours: HourGrid, items: Iterable[tuple[int, int]] | None) -> np.ndarray:
    out = np.zeros(hours.n, dtype=np.int64)
    for hour_us, wh in items or ():
        i = int(hours.index_of(np.array([hour_us]))[0])
        if 0 <= i < hours.n:
            out[i] += int(wh)
    return out


def site_month_carbon(config: SiteCarbon, period: str, start_us: int, end_us: int, series: dict, *,
                      grid: GridFactors | None, fs: FactorSet, gwp: GwpSet,
                      delivered: tuple[np.ndarray, np.ndarray] | None = None,
                      certificates_in: Iterable[tuple[int, int]] | None = None,
                      own_sold: Iterable[tuple[int, int]] | None = None,
                      keep_hourly: bool = False) -> SiteMonthCarbon:
    """The carbon of one site over ``[start_us, end_us)`` (its local month ``period``).

    ``series``: the VEE channels the settlement holds (``engine.vee.ChannelVee``: only the
    channels of ``config`` are read, each interval once). ``grid``: the balancing
    authority's factors aligned on the month's hours (None: none stored). ``delivered``:
    the contract's delivered energy per interval (grid, Wh). ``certificates_in`` /
    ``own_sold``: (UTC hour start, Wh) of certificates of other generators cancelled for
    the site, and of the site's own certificates sold (``engine.carbon.attribution``)."""
    hours = HourGrid.of(start_us, end_us)
    fuels = [channel_fuel(ch, hours, series, config.site_id) for ch in config.combustion]
    scope1_h = np.zeros(hours.n, dtype=np.int64)
    fuel_by: dict[str, int] = {}
    gases = dict.fromkeys(GASES, 0)
    for cf in fuels:
        ff = fs.fuel(cf.fuel)
        where = _describer(config.site_id, cf.channel, hours)
        scope1_h = add_exact(scope1_h, mul_exact(cf.fuel_millibtu, np.asarray(ff.co2e(gwp), dtype=np.int64), where,
                                                 field="co2e_100pg"), field="co2e_100pg")
        total = sum_exact(cf.fuel_millibtu)
        fuel_by[cf.fuel] = fuel_by.get(cf.fuel, 0) + total
        for g in GASES:
            gases[g] += total * ff.gas(g)
    energy: dict[str, int] = {}
    hourly = _Hourly(hours, series)
    gen_fossil = hourly.of(c.name for c in config.combustion)
    gen_clean = hourly.of(c.name for c in config.carbon_free)
    for name, resource in [(c.name, c.resource) for c in config.combustion] + [
            (c.name, c.resource) for c in config.carbon_free]:
        key = f"generation:{resource}"
        energy[key] = energy.get(key, 0) + sum_exact(hourly.of([name]))
    flows_by_kind = {k: hourly.of(getattr(config, k)) for k in ENERGY_KEYS[:-1]}
    dlv = (hours.sums(delivered[0], delivered[1], "delivered_wh") if delivered is not None
           else np.zeros(hours.n, dtype=np.int64))
    for k in ENERGY_KEYS[:-1]:
        energy[k] = sum_exact(flows_by_kind[k])
    energy["delivered"] = sum_exact(dlv)
    flows = HourlyFlows(gen_clean, gen_fossil, scope1_h, flows_by_kind["storage_discharge"],
                        flows_by_kind["storage_charge"], flows_by_kind["grid_import"],
                        flows_by_kind["grid_export"], flows_by_kind["load"], dlv,
                        _per_hour(hours, certificates_in), _per_hour(hours, own_sold))
    gf = grid if grid is not None else GridFactors.missing(config.balancing_authority, hours.n)
    hc = attribute(flows, gf.co2e_mg_per_mwh, gf.residual_mg_per_mwh, gf.cfe_ppm)
    sums = dict(hc.totals)
    sums["hours"] = hours.n
    sums["fuel_hours_incomplete"] = sum(cf.incomplete_hours for cf in fuels)
    sums["fuel_hours_metered"] = sum(cf.metered_hours for cf in fuels)
    sums["certificates_in_wh"] = int(flows.certificates_in_wh.sum())
    sums["own_certificates_sold_wh"] = int(flows.own_sold_wh.sum())
    partial = CarbonPartial(fs.ref, gwp.name, (config.site_id,), (period,), dict(sorted(energy.items())),
                            dict(sorted(fuel_by.items())), gases, dict(sorted(sums.items())))
    return SiteMonthCarbon(partial, hours, hc if keep_hourly else None)


def delivered_intervals(versions: list, site, series: dict, start_us: int, end_us: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The contract's delivered energy at ``site`` per interval over ``[start_us, end_us)``
    (``engine.delivered``, each version over the days it is in force): what the money bills
    as delivered, recomputed from the same channels (a few array operations)."""
    from ..contract import versions_in_force
    from ..delivered import SiteIntervals, delivered_wh, resolve_refs
    vif = [(cv, s, e) for cv, s, e in versions_in_force(versions, start_us, end_us) if site.site_id in cv.sites]
    if not vif:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    needed = sorted({n for cv, _, _ in vif for n in resolve_refs(cv.delivered.refs(), site)})
    grids = [np.asarray(series[n].grid_us, dtype=np.int64) for n in needed if n in series]
    g0 = grids[0] if grids else None
    step = int(g0[1] - g0[0]) if g0 is not None and g0.size > 1 else 0
    if (g0 is not None and len(grids) == len(needed) and step and g0[0] == start_us
            and g0[-1] + step == end_us and all(g is g0 or np.array_equal(g, g0) for g in grids[1:])):
        # every channel on one grid over the month (the common case): no re-placement needed
        si = SiteIntervals(site, g0, step // US_PER_MINUTE, {n: present_energy(series[n]) for n in needed}, {})
    else:
        si = SiteIntervals.build(site, series, needed, start_us, end_us)
    grids, values = [], []
    for cv, s, e in vif:
        i0, i1 = np.searchsorted(si.grid_us, [s, e])
        d = cv.delivered
        grids.append(si.grid_us[i0:i1])
        values.append(delivered_wh(si, d.add, d.subtract, d.cap_at, d.floor_zero)[i0:i1])
    return np.concatenate(grids), np.concatenate(values)


# ------------------------------------------------------------------------------ the statement
def annex(p: CarbonPartial, fs: FactorSet, gwp: GwpSet) -> dict:
    """The ESG statement of ``p`` (figures rounded once, ``engine.carbon.units``)."""
    s = p.sums
    s1 = p.scope1_co2e(gwp)
    s2l, s2m = s.get("scope2_location_co2e", 0), s.get("scope2_market_co2e", 0)
    load = p.energy_wh.get("load", 0)
    generation = {k.split(":", 1)[1]: mwh_str(v) for k, v in sorted(p.energy_wh.items())
                  if k.startswith("generation:")}
    return {
        "method": {
            "factor_set": fs.ref, "factor_set_sha256": fs.sha256, "gwp": gwp.name,
            "scope1": "40 CFR 98 Subpart C (Tables C-1, C-2) x metered fuel or heat rate; CO2e by "
                      f"Table A-1 ({gwp.name})",
            "scope2": "GHG Protocol Scope 2 Guidance (2015): location-based (hourly grid average) and "
                      "market-based (granular certificates, then residual mix)",
            "cfe": "hourly (24/7): sum_h [min(C_h, L_h) + s_h x grid-supplied remainder] / sum_h L_h; "
                   "hourly matched: sum_h min(C_h, L_h) / sum_h L_h; volumetric: min(sum C, sum L) / sum L",
        },
        "sites": list(p.sites),
        "periods": list(p.periods),
        "energy_mwh": {"generation": generation,
                       **{k: mwh_str(p.energy_wh.get(k, 0)) for k in ENERGY_KEYS}},
        "fuel_mmbtu": {f: mmbtu_str(v) for f, v in p.fuel_millibtu.items()},
        "scope1_t": {**{g.lower(): mass_str(p.scope1_100pg[g]) for g in GASES}, "co2e": mass_str(s1)},
        "scope2_t": {"location_based_co2e": mass_str(s2l), "market_based_co2e": mass_str(s2m)},
        "total_t": {"location_based_co2e": mass_str(s1 + s2l), "market_based_co2e": mass_str(s1 + s2m)},
        "intensity_kg_co2e_per_mwh": {"delivered": intensity_str(s.get("delivered_co2e", 0),
                                                                 p.energy_wh.get("delivered", 0)),
                                      "load": intensity_str(s.get("load_co2e", 0), load)},
        "cfe_pct": {"hourly": cfe_pct(s.get("cfe_uwh", 0), load),
                    "hourly_matched": pct_str(s.get("cfe_matched_wh", 0), load),
                    "volumetric": volumetric_pct(s.get("cfe_clean_wh", 0), load)},
        "certificates_mwh": {"cancelled_for_sites": mwh_str(s.get("certificates_in_wh", 0)),
                             "matched_to_grid_import": mwh_str(s.get("certificates_matched_wh", 0)),
                             "own_sold": mwh_str(s.get("own_certificates_sold_wh", 0))},
        "coverage": {"hours": s.get("hours", 0),
                     "hours_without_grid_factor": s.get("hours_without_grid_factor", 0),
                     "hours_residual_mix_fallback": s.get("hours_residual_mix_fallback", 0),
                     "fuel_hours_metered": s.get("fuel_hours_metered", 0),
                     "fuel_hours_incomplete": s.get("fuel_hours_incomplete", 0),
                     "storage_discharge_unknown_origin_mwh":
                         mwh_str(s.get("storage_discharge_unknown_origin_wh", 0)),
                     "storage_pool_left_mwh": mwh_str(s.get("storage_pool_left_wh", 0))},
    }


def _numbers(doc, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.update(_numbers(v, f"{prefix}{k}."))
    elif isinstance(doc, str) and prefix and not prefix.startswith(("method.", "sites.", "periods.")):
        out[prefix[:-1]] = doc
    elif isinstance(doc, int) and not isinstance(doc, bool):
        out[prefix[:-1]] = str(doc)
    return out


def annex_delta(billed: dict | None, now: dict) -> dict[str, str]:
    """Per figure (dotted path), ``now - billed`` where they differ, as signed decimal text
    in the figure's own precision (a figure absent from ``billed`` counts from 0)."""
    from decimal import Decimal, InvalidOperation
    a, b = _numbers(billed or {}), _numbers(now)
    out = {}
    for k in sorted({*a, *b}):
        try:
            x, y = Decimal(a.get(k) or "0"), Decimal(b.get(k) or "0")
        except InvalidOperation:
            continue
        if x != y:
            d = y - x
            out[k] = f"+{d}" if d > 0 else str(d)
    return out


__all__ = ["CarbonPartial", "combine", "SiteMonthCarbon", "site_month_carbon", "delivered_intervals", "annex",
           "annex_delta", "ENERGY_KEYS"]
