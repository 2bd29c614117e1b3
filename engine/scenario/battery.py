"""Battery re-dispatch (family ``site``): the battery's charge and discharge channels
recomputed by optimisation on the variant's prices, over the scenario's whole horizon.

Parameters (SoC as a percentage of ``energy_mwh``)::

    site: TX-DC1
    charge_channel: bess_chg          # default: the site's one storage_charge channel
    discharge_channel: bess_dis       # default: its one storage_discharge channel
    power_mw: "50"                    # or charge_mw and discharge_mw
    energy_mwh: "200"
    round_trip_efficiency: "0.88"     # default 1
    soc_min_pct: "10"                 # default 0
    soc_max_pct: "95"                 # default 100
    soc_initial_pct: "50"             # default 50, at the start of the horizon
    soc_final_pct: "50"               # optional: the horizon ends at least this full
    cycles_per_day: "1.5"             # optional: discharge per local day <= 1.5 x usable
    degradation_usd_per_mwh: "2.0"    # optional cost per MWh discharged
    objective: arbitrage              # arbitrage | min_import_cost | max_contract_revenue
    window: week                      # perfect | day | week (local, handing SoC on)
    series: {market_run: RT}          # the price: default the site's node, RT

The LP (``engine.dispatch``) sees the channels' own resolution (5-minute data: a
5-minute LP, no resampling), the site's local days for the cycle limit and the
windows, the variant's prices aligned by the engine's ``align_prices``, and for
``max_contract_revenue`` the contracts' marginal revenue per MWh charged and
discharged in each interval, measured by the contract engine itself: every contract
at the site is settled with the metered channels and with 1 kWh more discharge (then
charge) in every interval (the grid channels rebalanced), and the difference of each
interval's amounts is its marginal revenue (interval-level lines, amounts > 0 paid to
the seller; a period-level term such as take-or-pay or a capacity payment is not in
the marginal). The schedule becomes integer Wh once (``engine.dispatch.to_wh``); the
grid import and export are rebalanced, and the contract engine settles it all as it
would a meter read. An LP without a solution (``soc_final_pct`` out of reach) fails
the variant with HiGHS's status as its reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow.compute as pc

from ..dispatch import OBJECTIVES, WINDOWS, Battery, Objective, solve, to_wh, window_labels
from ..dispatch.windows import local_days
from ..errors import FieldError, InputError
from ..pricing import align_prices
from ..settlement import prepare_site, price_site
from ..terms.base import choice, dec
from .ops import Op, SeriesSelector, selector
from .site import SiteHorizon, SiteMonth, energy, rebalance, with_energy

PERTURB_WH = 1000            # the marginal-revenue probe: 1 kWh per interval


@dataclass(frozen=True)
class BatteryOp:
    site: str
    charge_channel: str | None
    discharge_channel: str | None
    battery: Battery
    objective: str
    window: str
    series: SeriesSelector | None

    def price_key(self, site) -> tuple[str, str, str]:
        s = self.series or SeriesSelector()
        return (s.iso or site.iso or "", s.node or site.node or "", s.market_run or "RT")

    def channels(self, site) -> tuple[str, str]:
        """(charge, discharge) channel names at ``site``; ``FieldError`` if ambiguous."""
        out = []
        for given, kind, fld in ((self.charge_channel, "storage_charge", "charge_channel"),
                                 (self.discharge_channel, "storage_discharge", "discharge_channel")):
            if given is not None:
                ch = site.channels.get(given)
                if ch is None or ch.kind != kind:
                    raise FieldError(fld, f"site {site.site_id} has no {kind} channel {given!r}")
                out.append(given)
                continue
            names = sorted(n for n, c in site.channels.items() if c.kind == kind)
            if len(names) != 1:
                raise FieldError(fld, f"site {site.site_id} has {len(names)} {kind} channels; name one")
            out.append(names[0])
        return out[0], out[1]


def _f(x: Fraction | None, default: float = 0.0) -> float:
    return default if x is None else float(x)


def _parse(raw: dict, where: str) -> BatteryOp:
    power = dec(raw, "power_mw", where)
    charge = dec(raw, "charge_mw", where) if "charge_mw" in raw else power
    discharge = dec(raw, "discharge_mw", where) if "discharge_mw" in raw else power
    if charge is None or discharge is None:
        raise FieldError(f"{where}.power_mw", "required (or charge_mw and discharge_mw)")
    energy_mwh = dec(raw, "energy_mwh", where, required=True)
    pct = {k: dec(raw, k, where, default=d) for k, d in (("soc_min_pct", "0"), ("soc_max_pct", "100"),
                                                         ("soc_initial_pct", "50"))}
    final = dec(raw, "soc_final_pct", where)
    e = float(energy_mwh)
    b = Battery(float(charge), float(discharge), e,
                round_trip_efficiency=_f(dec(raw, "round_trip_efficiency", where, default="1")),
                soc_min_mwh=e * _f(pct["soc_min_pct"]) / 100, soc_max_mwh=e * _f(pct["soc_max_pct"]) / 100,
                soc_initial_mwh=e * _f(pct["soc_initial_pct"]) / 100,
                cycles_per_day=None if raw.get("cycles_per_day") is None
                else float(dec(raw, "cycles_per_day", where, required=True)),
                degradation_usd_per_mwh=_f(dec(raw, "degradation_usd_per_mwh", where, default="0")),
                soc_final_mwh=None if final is None else e * float(final) / 100)
    names = {"charge_mw": "charge_mw" if "charge_mw" in raw else "power_mw",
             "discharge_mw": "discharge_mw" if "discharge_mw" in raw else "power_mw",
             "soc_min": "soc_min_pct", "soc_max": "soc_max_pct", "soc_initial": "soc_initial_pct",
             "soc_final": "soc_final_pct"}
    for fld, msg in b.problems():
        raise FieldError(f"{where}.{names.get(fld, fld)}", msg)
    return BatteryOp(raw["site"], raw.get("charge_channel"), raw.get("discharge_channel"), b,
                     choice(raw, "objective", where, OBJECTIVES, "arbitrage"),
                     choice(raw, "window", where, WINDOWS, "week"),
                     selector(raw["series"]) if "series" in raw else None)


def _interval_minutes(s: Any) -> int:
    return int(getattr(s, "interval_minutes", 0) or getattr(s, "minutes", 0))


def _apply(p: BatteryOp, horizon: SiteHorizon, where: str) -> SiteHorizon:
    site = horizon.site
    if site.site_id != p.site or not horizon.months:
        return horizon
    try:
        chg, dis = p.channels(site)
    except FieldError as exc:
        raise FieldError(f"{where}.{exc.path}", exc.message) from None
    months = [m for m in horizon.months]
    missing = [m.period for m in months if chg not in m.channels or dis not in m.channels]
    if missing:
        raise InputError(f"{where}: site {site.site_id} has no {chg}/{dis} data for {', '.join(missing)}")
    grids = [np.asarray(m.channels[dis].grid_us, dtype=np.int64) for m in months]
    minutes = _interval_minutes(months[0].channels[dis])
    starts = np.concatenate(grids)
    days = local_days(starts, site.timezone)
    hours = minutes / 60
    key = p.price_key(site)
    if p.objective == "max_contract_revenue":
        v_dis, v_chg = contract_marginals(horizon, chg, dis)
        obj = Objective(p.objective, discharge_value=v_dis, charge_value=v_chg)
    else:
        price = np.concatenate([align_prices(m.market.prices.get(key), g, minutes, "/".join(key))
                                for m, g in zip(months, grids)]) / 1e6
        if p.objective == "arbitrage":
            obj = Objective(p.objective, price=price)
        else:
            obj = Objective(p.objective, price=price, net_import_mwh=_net_load(site, months, dis) / 1e6)
    result = solve(p.battery, obj, hours, day=days, windows=window_labels(days, p.window),
                   label=f"{where} ({site.site_id} battery)")
    c_wh, d_wh = to_wh(result.charge_mwh), to_wh(result.discharge_mwh)
    out, at = [], 0
    for m, g in zip(months, grids):
        n = g.size
        after = dict(m.channels)
        after[chg] = with_energy(after[chg], c_wh[at:at + n])
        after[dis] = with_energy(after[dis], d_wh[at:at + n])
        at += n
        out.append(SiteMonth(m.period, m.b0, m.b1, rebalance(site, m.channels, after), m.market))
    return horizon.with_months(out)


def _net_load(site, months: list[SiteMonth], ref: str) -> np.ndarray:
    """The site's net import without the battery, ``load - generation`` (Wh), on the
    battery's grid."""
    out = []
    for m in months:
        g = np.asarray(m.channels[ref].grid_us)
        net = np.zeros(g.size, dtype=np.int64)
        for n, s in m.channels.items():
            kind = site.channels[n].kind if n in site.channels else None
            if kind in ("load", "generation") and np.array_equal(np.asarray(s.grid_us), g):
                net += energy(s) if kind == "load" else -energy(s)
        out.append(net)
    return np.concatenate(out).astype(float)


def contract_marginals(horizon: SiteHorizon, chg: str, dis: str) -> tuple[np.ndarray, np.ndarray]:
    """Each battery interval's marginal contract revenue (USD/MWh) of discharging and
    of charging, from the contract engine: the contracts at the site settled with the
    channels as they are, with ``PERTURB_WH`` more discharge and with as much more
    charge (rebalanced), interval by interval (see the module docstring)."""
    site = horizon.site
    v_dis, v_chg = [], []
    for m in horizon.months:
        base = dict(m.channels)
        g = np.asarray(base[dis].grid_us, dtype=np.int64)
        per = {}
        for name, ch in ((dis, dis), (chg, chg)):
            bumped = dict(base)
            bumped[ch] = with_energy(base[ch], energy(base[ch]) + PERTURB_WH)
            per[name] = rebalance(site, base, bumped)
        d_val = np.zeros(g.size)
        c_val = np.zeros(g.size)
        for versions in horizon.contracts:
            amounts = {}
            for label, channels in (("base", base), ("dis", per[dis]), ("chg", per[chg])):
                partial = price_site(prepare_site(versions, m.period, site, channels, m.market), m.market,
                                     detail=True)
                amounts[label] = _per_interval(partial.detail, g)
            d_val += (amounts["dis"] - amounts["base"]) / PERTURB_WH
            c_val += (amounts["chg"] - amounts["base"]) / PERTURB_WH
        v_dis.append(d_val)
        v_chg.append(c_val)
    # pico-USD per Wh = micro-USD per MWh
    return np.concatenate(v_dis) / 1e6, np.concatenate(v_chg) / 1e6


def _per_interval(detail, grid: np.ndarray) -> np.ndarray:
    """Sum of the detail's interval amounts (pico-USD) on each battery interval: a
    billing interval's amount spread evenly over the battery intervals it holds."""
    out = np.zeros(grid.size)
    if detail.num_rows == 0 or grid.size == 0:
        return out
    starts = detail.column("interval_start_utc").cast("int64").to_numpy()
    amounts = pc.cast(detail.column("amount_picousd"), "double").to_numpy()
    bill, inv = np.unique(starts, return_inverse=True)
    total = np.zeros(bill.size)
    np.add.at(total, inv, amounts)
    idx = np.searchsorted(bill, grid, side="right") - 1
    ok = idx >= 0
    count = np.bincount(idx[ok], minlength=bill.size).astype(float)
    out[ok] = total[idx[ok]] / np.maximum(count[idx[ok]], 1)
    return out


_PCT = {"$ref": "#/$defs/nonneg_decimal"}

OPS = (
    Op("battery_dispatch", "site", {"required": ["site", "energy_mwh"], "properties": {
        "site": {"$ref": "#/$defs/name"}, "charge_channel": {"$ref": "#/$defs/name"},
        "discharge_channel": {"$ref": "#/$defs/name"},
        "power_mw": {"$ref": "#/$defs/decimal"}, "charge_mw": {"$ref": "#/$defs/decimal"},
        "discharge_mw": {"$ref": "#/$defs/decimal"}, "energy_mwh": {"$ref": "#/$defs/decimal"},
        "round_trip_efficiency": {"$ref": "#/$defs/decimal"}, "soc_min_pct": _PCT, "soc_max_pct": _PCT,
        "soc_initial_pct": _PCT, "soc_final_pct": _PCT, "cycles_per_day": {"$ref": "#/$defs/decimal"},
        "degradation_usd_per_mwh": {"$ref": "#/$defs/decimal"},
        "objective": {"enum": list(OBJECTIVES)}, "window": {"enum": list(WINDOWS)},
        "series": {"$ref": "#/$defs/series"}}},
       _parse, _apply, "re-dispatch the site's battery by optimisation (HiGHS LP)"),
)

__all__ = ["OPS", "BatteryOp", "contract_marginals", "PERTURB_WH"]
