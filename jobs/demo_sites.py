"""Demo sites: behind-the-meter data centres and the metered energy of their channels.

Pure and deterministic (seeded streams from ``jobs.demo_market.stream``). Every
channel is computed in integer Wh per interval, and the grid channels close the
energy balance **exactly**::

    load + storage_charge + grid_export == generation + storage_discharge + grid_import

(``imp = max(net, 0)``, ``exp = max(-net, 0)`` of the integer net), all >= 0.

Channel models (power in MW, then Wh = MW x 1e6 x minutes / 60, rounded once)
-----------------------------------------------------------------------------
``dc``       data-centre load: ~flat, +-3 % diurnal (cooling peaks mid-afternoon),
             smoothed noise.
``gt1``      gas combined cycle: baseload 86-94 % of nameplate, turned down to
             55 % when the node's RT price is negative; 1-2 forced outages a month
             of 2-8 hours at 0 MW.
``recip1``   reciprocating engines (peakers): 90 % of nameplate in the hours whose
             DA price at the node exceeds the engine's marginal cost
             (heat rate x Henry Hub + 15 USD/MWh VOM), else off.
``pv1``      solar: clear-sky bell from the solar zenith angle (local solar time,
             latitude, declination), ``cos(zenith) ** 1.2`` x 0.85 x a day
             weather factor (1 day in 5 is cloudy).
``bess_*``   battery: charges 10:00-14:00 local at 90 % of its power, discharges
             17:00-21:00 at 88 % round-trip efficiency.
``imp/exp``  grid import / export from the balance above.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.timebase import US_PER_DAY, US_PER_HOUR, local_fields

from .demo_market import PriceSeries, price_at, stream


@dataclass(frozen=True)
class SiteTemplate:
    """Size and place of one demo site (MW, MWh, degrees)."""
    site_id: str
    timezone: str
    iso: str
    node: str
    lat: float
    lon: float
    load_mw: float
    gt_mw: float
    recip_mw: float
    pv_mw: float
    bess_mw: float
    bess_mwh: float
    gt_heat_rate: float = 6.8
    recip_heat_rate: float = 8.9


TEMPLATES = (
    SiteTemplate("TX-DC1", "America/Chicago", "ERCOT", "LZ_NORTH", 32.8, -96.8,
                 180, 250, 40, 80, 50, 200),
    SiteTemplate("TX-DC2", "America/Chicago", "ERCOT", "LZ_WEST", 32.4, -99.7,
                 120, 150, 0, 200, 100, 400),
    SiteTemplate("VA-DC1", "America/New_York", "PJM", "DOM", 39.0, -77.5,
                 250, 200, 60, 50, 40, 160),
    SiteTemplate("TX-DC3", "America/Chicago", "ERCOT", "LZ_HOUSTON", 29.8, -95.4,
                 90, 120, 30, 60, 25, 100),
)


def templates(n: int) -> list[SiteTemplate]:
    """The first ``n`` demo sites; beyond the four templates, numbered copies."""
    out = []
    for i in range(n):
        t = TEMPLATES[i % len(TEMPLATES)]
        if i >= len(TEMPLATES):                       # TX-DC1 -> TX-DC5, TX-DC9, ...
            prefix, num = t.site_id.rsplit("DC", 1)
            number = int(num) + len(TEMPLATES) * (i // len(TEMPLATES))
            t = replace(t, site_id=f"{prefix}DC{number}")
        out.append(t)
    return out


def registry_entry(t: SiteTemplate) -> dict:
    """The site's entry in the registry document (``engine.sites`` format)."""
    ch: dict[str, dict] = {"dc": {"kind": "load"},
                           "gt1": {"kind": "generation", "resource": "gas_cc",
                                   "nameplate_kw": t.gt_mw * 1000,
                                   "heat_rate_mmbtu_per_mwh": t.gt_heat_rate}}
    if t.recip_mw:
        ch["recip1"] = {"kind": "generation", "resource": "recip",
                        "nameplate_kw": t.recip_mw * 1000,
                        "heat_rate_mmbtu_per_mwh": t.recip_heat_rate}
    ch["pv1"] = {"kind": "generation", "resource": "solar", "nameplate_kw": t.pv_mw * 1000}
    bess_kw = t.bess_mw * 1000
    ch["bess_dis"] = {"kind": "storage_discharge", "resource": "bess", "nameplate_kw": bess_kw}
    ch["bess_chg"] = {"kind": "storage_charge", "resource": "bess", "nameplate_kw": bess_kw}
    ch["imp"] = {"kind": "grid_import"}
    ch["exp"] = {"kind": "grid_export"}
    return {"site_id": t.site_id, "timezone": t.timezone,
            "market": {"iso": t.iso, "node": t.node}, "channels": ch}


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    return np.convolve(x, np.ones(width) / width, mode="same")


def _cos_zenith(utc_us: np.ndarray, lat: float, lon: float) -> np.ndarray:
    days = utc_us / US_PER_DAY
    doy = (days - 10957.5) % 365.25                         # days since 2000-01-01 12:00, mod year
    decl = np.radians(23.45) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    solar_hour = ((utc_us % US_PER_DAY) / US_PER_HOUR + lon / 15.0) % 24.0
    hour_angle = np.radians(15.0 * (solar_hour - 12.0))
    phi = np.radians(lat)
    return np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)


def site_energy_wh(t: SiteTemplate, grid_us: np.ndarray, minutes: int, seed: int,
                   node_rt: PriceSeries, node_da: PriceSeries,
                   gas_usd_per_mmbtu: np.ndarray) -> dict[str, np.ndarray]:
    """Integer Wh per interval of every channel of site ``t`` on ``grid_us``.

    ``gas_usd_per_mmbtu`` is the Henry Hub price at each interval.
    """
    n = grid_us.size
    lf = local_fields(grid_us, t.timezone)
    hour = lf.hour + (lf.local_us % US_PER_HOUR) / US_PER_HOUR
    day = lf.day - lf.day.min()
    n_days = int(day.max()) + 1
    per_hour = max(1, 60 // minutes)
    mw_to_wh = 1e6 * minutes / 60.0

    rng = stream(seed, t.site_id, "load")
    load = t.load_mw * (0.94 + 0.03 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
                        + _smooth(rng.normal(0, 0.02, n), 2 * per_hour))

    rng = stream(seed, t.site_id, "pv1")
    cloudy = rng.random(n_days) < 0.2
    weather = np.where(cloudy, rng.uniform(0.2, 0.6, n_days), rng.uniform(0.88, 1.0, n_days))
    flicker = np.where(cloudy[day], _smooth(rng.uniform(0.6, 1.2, n), per_hour), 1.0)
    pv = t.pv_mw * 0.85 * np.clip(_cos_zenith(grid_us, t.lat, t.lon), 0, None) ** 1.2 \
        * np.clip(weather[day] * flicker, 0, 1)

    rt = price_at(node_rt, grid_us)
    rng = stream(seed, t.site_id, "gt1")
    gt = t.gt_mw * (0.90 + _smooth(rng.normal(0, 0.03, n), 6 * per_hour))
    gt = np.where(rt < 0, 0.55 * t.gt_mw, np.clip(gt, 0.86 * t.gt_mw, 0.94 * t.gt_mw))
    months = max(1, round(n_days / 30.4))
    for _ in range(int(rng.integers(months, 2 * months + 1))):     # forced outages
        begin = int(rng.integers(0, n))
        gt[begin:begin + int(rng.integers(2, 9)) * per_hour] = 0.0

    recip = np.zeros(n)
    if t.recip_mw:
        da = price_at(node_da, grid_us)
        marginal = t.recip_heat_rate * gas_usd_per_mmbtu + 15.0
        recip = np.where(da > marginal, 0.9 * t.recip_mw, 0.0)

    charging = (hour >= 10) & (hour < 14)
    discharging = (hour >= 17) & (hour < 21)
    chg = np.where(charging, 0.9 * t.bess_mw, 0.0)
    dis = np.where(discharging, 0.9 * t.bess_mw * 0.88, 0.0)

    wh = {name: np.rint(np.clip(mw, 0, None) * mw_to_wh).astype(np.int64)
          for name, mw in (("dc", load), ("gt1", gt), ("recip1", recip), ("pv1", pv),
                           ("bess_dis", dis), ("bess_chg", chg))}
    if not t.recip_mw:
        del wh["recip1"]
    net = (wh["dc"] + wh["bess_chg"]) - (wh["gt1"] + wh.get("recip1", 0) + wh["pv1"]
                                         + wh["bess_dis"])
    wh["imp"] = np.maximum(net, 0)
    wh["exp"] = np.maximum(-net, 0)
    return wh


__all__ = ["SiteTemplate", "TEMPLATES", "templates", "registry_entry", "site_energy_wh"]
