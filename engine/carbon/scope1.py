"""Scope 1: the fuel a combustion channel burns, per hour, exactly; its CO2, CH4 and N2O.

Fuel (heat input, HHV) of a combustion channel (``engine.carbon.classify``), per UTC hour,
in millibtu (``engine.carbon.units``):

* **metered**: its ``fuel_channel`` (heat input in Wh) when the meter has every interval
  of the hour (VEE quality not missing), converted once per hour, half-even;
* else **heat rate**: energy (Wh) x heat rate (MMBtu/MWh x 1000) = millibtu, exact, per
  interval; with a ``heat_rate_curve``, the heat rate of the load band of each interval
  (load = energy / (nameplate x interval hours); a band's heat rate applies from its
  ``min_load_pct`` up to the next one's: integer thresholds, no interpolation);
* an hour whose fuel meter is incomplete and which has no heat rate to fall back on counts
  the metered part only and is reported in ``fuel_hours_incomplete``.

Mass per gas = fuel x factor (``engine.carbon.factors``: 40 CFR 98 Tables C-1, C-2), an
exact integer of 1e-13 kg; CO2e = CO2 + GWP_CH4 x CH4 + GWP_N2O x N2O (Table A-1). Heat
rate 9.0 MMBtu/MWh x 53.06 kg/MMBtu = 477.54 kg CO2 per MWh (tested).

Vectorised: a product per interval and exact hourly sums (``engine.carbon.hourly``);
products are checked (``engine.money.mul_exact``), so nothing wraps.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np

from ..money import mul_exact
from ..timebase import US_PER_MINUTE
from ..vee.codes import QUALITY_NAMES
from .classify import CombustionChannel
from .hourly import HourGrid
from .units import wh_thermal_to_millibtu

#: VEE quality code -> present (any quality but N, missing)
_PRESENT = np.array([q != "N" for q in QUALITY_NAMES.tolist()], dtype=bool)


def present(series) -> np.ndarray:
    """Per interval: the reading exists (VEE quality other than missing)."""
    code = getattr(series, "quality_code", None)
    if code is not None:
        return _PRESENT[np.asarray(code)]
    q = np.asarray(series.quality)
    return np.isin(q, ["A", "E", "S", "F"])


def interval_minutes(series) -> int:
    m = getattr(series, "interval_minutes", None) or getattr(series, "minutes", None)
    if m:
        return int(m)
    g = np.asarray(series.grid_us, dtype=np.int64)
    return int(np.diff(g).min() // US_PER_MINUTE) if g.size > 1 else 60


def interval_heat_rate_milli(ch: CombustionChannel, energy_wh: np.ndarray, minutes: int) -> np.ndarray:
    """The heat rate (x 1000) of each interval: the channel's, or its curve's band."""
    if ch.curve is None:
        assert ch.heat_rate_milli is not None
        return np.full(energy_wh.size, ch.heat_rate_milli, dtype=np.int64)
    assert ch.nameplate_kw
    # load % >= p  <=>  Wh x 6000 >= p x nameplate_W x minutes (exact: integer left side)
    nameplate_w = Decimal(repr(ch.nameplate_kw)) * 1000
    thresholds = np.array([int((s.min_load_pct * nameplate_w * minutes).to_integral_value(ROUND_CEILING))
                           for s in ch.curve], dtype=np.int64)
    band = np.searchsorted(thresholds, np.asarray(energy_wh, dtype=np.int64) * 6000, side="right") - 1
    rates = np.array([s.heat_rate_milli for s in ch.curve], dtype=np.int64)
    return rates[np.maximum(band, 0)]


@dataclass(frozen=True)
class ChannelFuel:
    channel: str
    fuel: str
    fuel_millibtu: np.ndarray          # per hour
    metered_hours: int                 # hours taken from the fuel meter
    incomplete_hours: int              # hours with neither a complete meter nor a heat rate


def channel_fuel(ch: CombustionChannel, hours: HourGrid, series: dict, site_id: str) -> ChannelFuel:
    """Hourly fuel (millibtu) of one combustion channel from its VEE series."""
    gen = series[ch.name]
    g = np.asarray(gen.grid_us, dtype=np.int64)
    e = np.asarray(gen.energy_wh, dtype=np.int64)
    by_rate = None
    if ch.heat_rate_milli is not None or ch.curve is not None:
        minutes = interval_minutes(gen)
        rate = interval_heat_rate_milli(ch, e, minutes)
        fuel_i = mul_exact(e, rate, lambda i: f"site {site_id} channel {ch.name} interval {int(g[i])}",
                           field="fuel_millibtu")
        by_rate = hours.sums(g, fuel_i, "fuel_millibtu")
    if ch.fuel_channel is None:
        assert by_rate is not None
        return ChannelFuel(ch.name, ch.fuel, by_rate, 0, 0)
    meter = series[ch.fuel_channel]
    mg = np.asarray(meter.grid_us, dtype=np.int64)
    ok = present(meter)
    wh_th = hours.sums(mg, np.where(ok, np.asarray(meter.energy_wh, dtype=np.int64), 0), "energy_wh")
    expected = hours.sums(mg, np.ones(mg.size, dtype=np.int64), "intervals")
    have = hours.sums(mg, ok.astype(np.int64), "intervals")
    complete = (expected > 0) & (have == expected)
    out = np.zeros(hours.n, dtype=np.int64)
    metered = 0
    incomplete = 0
    for i in range(hours.n):
        if complete[i] or by_rate is None:
            out[i] = wh_thermal_to_millibtu(int(wh_th[i]))
            metered += int(complete[i])
            incomplete += int(not complete[i] and expected[i] > 0)
        else:
            out[i] = by_rate[i]
    return ChannelFuel(ch.name, ch.fuel, out, metered, incomplete)


__all__ = ["present", "interval_minutes", "interval_heat_rate_milli", "ChannelFuel", "channel_fuel"]
