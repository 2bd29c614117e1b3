"""Hour by hour: where each Wh of a site came from, its carbon and its carbon-free share.

Inputs per UTC hour (``HourlyFlows``): on-site carbon-free generation, combustion
generation and its Scope 1 CO2e, battery charge and discharge, grid import and export,
load, the contract's delivered energy, the grid's factors (location-based, residual mix,
carbon-free share: ``engine.carbon.hourly.GridFactors``) and granular certificates
(cancelled for the site against that hour; the site's own certificates sold). Everything
is exact integers; each proportional draw is rounded half-even to the unit and the
remainder kept, so no Wh and no 1e-13 kg is created or lost. The rules, in order, each hour:

1. **Storage: a pool.** The batteries of a site are one pool holding energy ``Q`` (Wh
   charged, not yet discharged), carbon-free energy ``C`` (Wh) and mass ``M``. A
   discharge of ``d`` Wh takes the pool's average mix: ``C x min(d, Q) / Q`` carbon-free
   Wh and ``M x min(d, Q) / Q`` of mass (the running average of the state of charge's
   mix). So a battery charged from gas is not clean, and one charged from the grid at night
   discharges the night's grid factor at noon (tested). Energy discharged beyond the pool
   (charged before the site-month began: every site-month starts with an empty pool, so
   months are independent partitions) is of unknown origin: it carries the grid's
   location-based factor and carbon-free share of its hour, and is reported
   (``storage_discharge_unknown_origin_wh``). ``Q`` counts charged Wh, so round-trip
   losses stay in the pool and dilute nothing: each discharged Wh carries the average
   charged Wh's mix. What the pool holds when the site-month ends (losses, and charge not
   yet discharged) is attributed to no delivered energy of that month and reported
   (``storage_pool_left_wh``); Scope 1 and 2 do not depend on the pool (they count all
   fuel burnt and all grid energy bought), only the attribution and the CFE score do.
2. **The hour's supply mix** is on-site generation + discharge + grid import (at the
   location-based factor and the grid's carbon-free share); on-site carbon-free energy
   whose own certificates were sold (transferred out, or cancelled for someone else) is
   not carbon-free for the site (no double claim).
3. **Sinks draw in proportion**: charge, export and load take ``mix x sink / (load +
   charge + export)`` each; the load takes the remainder (so nothing is lost). The charge's
   draw enters the pool.
4. **24/7 CFE** (Google, "24/7 Carbon-Free Energy: Methodologies and Metrics", 2021; the
   formula as in ``shared/notes/domain.md`` section 5 and PyPSA/247-cfe):
   ``CFE_h = min(C_h, L_h) + s_h x G_h`` with ``C_h`` the carbon-free energy available to
   the load (on-site carbon-free supply, incl. the clean share of the discharge, minus the
   charge's share of it, plus certificates of other generators cancelled for the site
   against hour h), ``L_h`` the load, ``s_h`` the grid's carbon-free share and ``G_h =
   min(grid import not stored, L_h - min(C_h, L_h))`` the grid-supplied remainder (an
   on-site fossil remainder counts 0). With no on-site fossil and no storage ``G_h =
   L_h - min(C_h, L_h)``: the textbook formula. Excess carbon-free energy in an hour
   (``C_h > L_h``) is not carried to another hour.
5. **Scope 2** (GHG Protocol Scope 2 Guidance, 2015: dual reporting): location-based =
   import x the grid-average factor of the hour; market-based = (import - certificates
   cancelled for the site against the hour, at most the import) x the residual-mix factor
   of the hour, or the grid-average factor where no residual mix is given (the Guidance's
   fallback, counted in ``hours_residual_mix_fallback``).
6. **Delivered energy** (the contract's ``delivered``) carries the mix of the on-site supply
   (generation + discharge) of its hour: that is the intensity of what the seller delivers.

An hour without a grid-factor row counts no grid carbon and no grid carbon-free share and
is reported (``hours_without_grid_factor``): never silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..money import add_exact, mul_exact, sum_exact
from .units import MASS_UNITS_PER_WH_MG_PER_MWH as K, PPM, share


@dataclass(frozen=True)
class HourlyFlows:
    """Per UTC hour, int64 arrays of equal length."""
    gen_clean_wh: np.ndarray
    gen_fossil_wh: np.ndarray
    scope1_co2e: np.ndarray            # 1e-13 kg
    discharge_wh: np.ndarray
    charge_wh: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    load_wh: np.ndarray
    delivered_wh: np.ndarray
    certificates_in_wh: np.ndarray     # other generators' certificates cancelled for the site
    own_sold_wh: np.ndarray            # the site's own certificates transferred out / claimed by others


@dataclass
class HourlyCarbon:
    """The hour-by-hour results (lists of Python ints) and their exact totals."""
    cfe_uwh: list[int] = field(default_factory=list)
    clean_wh: list[int] = field(default_factory=list)       # C_h
    load_wh: list[int] = field(default_factory=list)
    load_co2e: list[int] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


TOTALS = ("scope2_location_co2e", "scope2_market_co2e", "certificates_matched_wh", "load_co2e",
          "delivered_co2e", "cfe_uwh", "cfe_clean_wh", "cfe_matched_wh", "hours_without_grid_factor",
          "hours_residual_mix_fallback", "storage_discharge_unknown_origin_wh", "storage_pool_left_wh")


def _half_even_div(num: np.ndarray, den: int) -> np.ndarray:
    """``num / den`` rounded half-even, element-wise, exact (int64, ``num`` >= 0)."""
    q, r = np.divmod(num, den)
    return q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1)))


def _shares(total: np.ndarray, part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Per hour ``share(total, part, whole)`` (exact Python ints where ``part`` > 0: the
    products may exceed int64), zeros elsewhere."""
    out = np.zeros(total.size, dtype=np.int64)
    idx = np.flatnonzero(part)
    if idx.size:
        t, p, w = total[idx].tolist(), part[idx].tolist(), whole[idx].tolist()
        out[idx] = [share(a, b, c) for a, b, c in zip(t, p, w)]
    return out


def attribute(flows: HourlyFlows, co2e_mg_per_mwh: np.ndarray, residual_mg_per_mwh: np.ndarray,
              cfe_ppm: np.ndarray) -> HourlyCarbon:
    """Rules 1-6 of the module docstring over the hours. Only the pool is sequential, and
    only the hours where a battery charges or discharges change it: those are walked in
    order (Python ints); everything else is exact int64 array arithmetic, checked
    (``engine.money``), with the proportional draws in Python ints where a product could
    pass int64."""
    f, r, s = (np.asarray(x, dtype=np.int64) for x in (co2e_mg_per_mwh, residual_mg_per_mwh, cfe_ppm))
    gc, gf, s1 = flows.gen_clean_wh, flows.gen_fossil_wh, flows.scope1_co2e
    dis, chg, imp, exp, load = (flows.discharge_wh, flows.charge_wh, flows.import_wh, flows.export_wh,
                                flows.load_wh)
    n = load.size
    f_ok, s_ok = f >= 0, s >= 0
    missing = ~(f_ok & s_ok)
    g_mass = mul_exact(mul_exact(imp, np.where(f_ok, f, 0), field="co2e_100pg"), np.asarray(K), field="co2e_100pg")
    g_clean = _half_even_div(imp * np.where(s_ok, s, 0), PPM)
    onsite_gen = np.maximum(0, gc - flows.own_sold_wh)      # own certificates sold: not carbon-free here
    sinks = load + chg + exp
    # 1-3 where the pool moves: discharge draws, the charge's draw of the hour's mix
    clean_d = np.zeros(n, dtype=np.int64)
    mass_d = np.zeros(n, dtype=np.int64)
    chg_mass = np.zeros(n, dtype=np.int64)
    onsite_to_chg = np.zeros(n, dtype=np.int64)
    grid_to_chg = np.zeros(n, dtype=np.int64)
    unknown = 0
    q = c = m = 0                                   # the pool: Wh, carbon-free Wh, mass
    for h in np.flatnonzero((dis > 0) | (chg > 0)).tolist():
        d, ch = int(dis[h]), int(chg[h])
        cd = md = 0
        if d:
            take = min(d, q)
            if take:
                cd, md = share(c, take, q), share(m, take, q)
                q, c, m = q - take, c - cd, m - md
            u = d - take
            if u:
                unknown += u
                if not missing[h]:
                    cd += share(u, int(s[h]), PPM)
                    md += u * int(f[h]) * K
            clean_d[h], mass_d[h] = cd, md
        if ch:
            w = int(sinks[h])
            onsite = int(onsite_gen[h]) + cd
            mix_mass = int(s1[h]) + md + int(g_mass[h])
            cm = share(mix_mass, ch, w)
            chg_mass[h] = cm
            onsite_to_chg[h] = share(onsite, ch, w)
            grid_to_chg[h] = share(int(imp[h]), ch, w)
            q += ch
            c += share(onsite + int(g_clean[h]), ch, w)
            m += cm
    # 3. the load takes the mix minus what charge and export took
    mix = add_exact(add_exact(s1, mass_d, field="co2e_100pg"), g_mass, field="co2e_100pg")
    load_mass = mix - chg_mass - _shares(mix, exp, sinks)
    load_mass[sinks == 0] = 0
    # 4. hourly CFE (cfe.hourly_cfe_uwh, vectorised)
    cfe_c = onsite_gen + clean_d - onsite_to_chg + flows.certificates_in_wh
    matched_load = np.minimum(cfe_c, load)
    grid_part = np.maximum(0, np.minimum(imp - grid_to_chg, load - matched_load))
    cfe = matched_load * PPM + np.where(s_ok, grid_part * s, 0)
    # 5. Scope 2
    matched = np.minimum(imp, flows.certificates_in_wh)
    r_ok = r >= 0
    factor = np.where(r_ok, r, f)
    market = mul_exact(imp - matched, np.where(factor >= 0, factor, 0), field="co2e_100pg")
    # 6. delivered energy takes the on-site supply's mix
    onsite_wh = gc + gf + dis
    delivered = _shares(s1 + mass_d, np.where(onsite_wh > 0, flows.delivered_wh, 0), np.maximum(onsite_wh, 1))
    t = {"scope2_location_co2e": sum_exact(g_mass), "scope2_market_co2e": sum_exact(market) * K,
         "certificates_matched_wh": sum_exact(matched), "load_co2e": sum_exact(load_mass),
         "delivered_co2e": sum_exact(delivered), "cfe_uwh": sum_exact(cfe), "cfe_clean_wh": sum_exact(cfe_c),
         "cfe_matched_wh": sum_exact(matched_load), "hours_without_grid_factor": int(missing.sum()),
         "hours_residual_mix_fallback": int((~r_ok & f_ok & (imp > matched)).sum()),
         "storage_discharge_unknown_origin_wh": unknown, "storage_pool_left_wh": q}
    return HourlyCarbon(cfe.tolist(), cfe_c.tolist(), load.tolist(), load_mass.tolist(), t)


__all__ = ["HourlyFlows", "HourlyCarbon", "attribute", "TOTALS"]
