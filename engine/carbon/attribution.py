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
   (``storage_discharge_unknown_origin_wh``). Round-trip losses stay in the pool (its
   ``Q`` counts charged Wh), so carbon that charged the battery is released in proportion
   as it discharges.
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

from .cfe import hourly_cfe_uwh
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
          "hours_residual_mix_fallback", "storage_discharge_unknown_origin_wh")


def attribute(flows: HourlyFlows, co2e_mg_per_mwh: np.ndarray, residual_mg_per_mwh: np.ndarray,
              cfe_ppm: np.ndarray) -> HourlyCarbon:
    """Rules 1-6 of the module docstring over the hours, in order (the pool is sequential)."""
    gc, gf, s1 = flows.gen_clean_wh.tolist(), flows.gen_fossil_wh.tolist(), flows.scope1_co2e.tolist()
    dis, chg, imp = flows.discharge_wh.tolist(), flows.charge_wh.tolist(), flows.import_wh.tolist()
    exp, load, dlv = flows.export_wh.tolist(), flows.load_wh.tolist(), flows.delivered_wh.tolist()
    cin, sold = flows.certificates_in_wh.tolist(), flows.own_sold_wh.tolist()
    fl, fr, sp = co2e_mg_per_mwh.tolist(), residual_mg_per_mwh.tolist(), cfe_ppm.tolist()
    out = HourlyCarbon()
    t = dict.fromkeys(TOTALS, 0)
    q = c = m = 0                                   # the pool: Wh, carbon-free Wh, mass
    for h in range(len(load)):
        f, s, r = fl[h], sp[h], fr[h]
        missing = f < 0 or s < 0
        t["hours_without_grid_factor"] += missing
        # 1. discharge from the pool
        d = dis[h]
        clean_d = mass_d = 0
        if d:
            take = min(d, q)
            if take:
                clean_d, mass_d = share(c, take, q), share(m, take, q)
                q, c, m = q - take, c - clean_d, m - mass_d
            u = d - take
            if u:
                t["storage_discharge_unknown_origin_wh"] += u
                if not missing:
                    clean_d += share(u, s, PPM)
                    mass_d += u * f * K
        # 2. the hour's supply mix
        g_mass = imp[h] * f * K if f >= 0 else 0
        g_clean = share(imp[h], s, PPM) if s >= 0 else 0
        onsite_clean = max(0, gc[h] - sold[h]) + clean_d
        mix_mass = s1[h] + mass_d + g_mass
        mix_clean = onsite_clean + g_clean
        # 3. sinks in proportion; the load takes the remainder
        sinks = load[h] + chg[h] + exp[h]
        if sinks:
            chg_mass, exp_mass = share(mix_mass, chg[h], sinks), share(mix_mass, exp[h], sinks)
            load_mass = mix_mass - chg_mass - exp_mass
            if chg[h]:
                q += chg[h]
                c += share(mix_clean, chg[h], sinks)
                m += chg_mass
            onsite_to_chg = share(onsite_clean, chg[h], sinks)
            grid_to_chg = share(imp[h], chg[h], sinks)
        else:
            load_mass = onsite_to_chg = grid_to_chg = 0
        # 4. hourly CFE
        cfe_c = onsite_clean - onsite_to_chg + cin[h]
        cfe = hourly_cfe_uwh(cfe_c, load[h], s, imp[h] - grid_to_chg)
        # 5. Scope 2
        t["scope2_location_co2e"] += g_mass
        matched = min(imp[h], cin[h])
        t["certificates_matched_wh"] += matched
        factor = r if r >= 0 else f
        if r < 0 and f >= 0 and imp[h] > matched:
            t["hours_residual_mix_fallback"] += 1
        if factor >= 0:
            t["scope2_market_co2e"] += (imp[h] - matched) * factor * K
        # 6. delivered energy takes the on-site supply's mix
        onsite_wh = gc[h] + gf[h] + d
        if onsite_wh and dlv[h]:
            t["delivered_co2e"] += share(s1[h] + mass_d, dlv[h], onsite_wh)
        t["load_co2e"] += load_mass
        t["cfe_uwh"] += cfe
        t["cfe_clean_wh"] += cfe_c
        t["cfe_matched_wh"] += min(cfe_c, load[h])
        out.cfe_uwh.append(cfe)
        out.clean_wh.append(cfe_c)
        out.load_wh.append(load[h])
        out.load_co2e.append(load_mass)
    out.totals = t
    return out


__all__ = ["HourlyFlows", "HourlyCarbon", "attribute", "TOTALS"]
