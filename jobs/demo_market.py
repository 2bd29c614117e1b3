"""Demo market data: ERCOT-like LMPs (DA hourly, RT 5-min), Henry Hub and CPI-U.

Pure and deterministic: every random stream is a ``numpy`` Generator seeded by
``(seed, stream id)``, where a stream id is a stable CRC-32 of a name, so adding a
site or a node never changes the numbers of another one.

Price model (USD/MWh, cents exact)
----------------------------------
* **Shape.** A 24-value local-hour profile (night trough, morning ramp, midday
  solar dip, evening peak HE19-HE21) scaled by ``(gas / 3.0) ** 0.8`` (the gas
  price sets the marginal heat-rate cost), a log-normal day factor, and a 10 %
  weekend discount.
* **Negative prices.** On windy/solar-heavy days (about 1 in 8) the hours
  10:00-16:00 local clear at -2 to -25 USD/MWh.
* **DA** = the shape per local hour plus noise; hourly intervals.
* **RT** = DA of the hour + AR(1) noise per 5 minutes; a few **scarcity
  events** (15-45 min in the evening) at 3,000-5,000 USD/MWh (ERCOT's cap).
* **Nodes** = hub energy component + congestion (a node basis with occasional
  congestion events) + losses (1 % of energy); ``lmp = energy + congestion +
  loss`` exactly, in cents. The hub carries congestion and loss 0.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from engine.timebase import US_PER_HOUR, US_PER_MINUTE, interval_grid_us, local_fields

ISO_TIMEZONE = {"ERCOT": "America/Chicago", "PJM": "America/New_York"}
ISO_HUB = {"ERCOT": "HB_NORTH", "PJM": "WESTERN_HUB"}
RT_MINUTES = 5
DA_MINUTES = 60

# USD/MWh at Henry Hub $3.00, hour beginning 0..23 local
_SHAPE = np.array([24, 22, 21, 20, 21, 24, 30, 34, 31, 26, 20, 16,
                   14, 13, 14, 17, 25, 38, 55, 62, 50, 40, 32, 27], dtype=np.float64)
_EPOCH = date(1970, 1, 1)


def stream(seed: int, *names: object) -> np.random.Generator:
    """An independent, stable random stream for ``(seed, *names)``."""
    return np.random.default_rng([seed, *(zlib.crc32(str(n).encode()) for n in names)])


@dataclass(frozen=True)
class PriceSeries:
    """One node's prices on one market run; amounts in integer cents per MWh."""
    iso: str
    node: str
    market_run: str                 # DA | RT
    interval_minutes: int
    start_us: np.ndarray            # int64 UTC interval-beginning
    lmp_cents: np.ndarray           # int64 cents/MWh (= energy + congestion + loss)
    energy_cents: np.ndarray
    congestion_cents: np.ndarray
    loss_cents: np.ndarray


def henry_hub(seed: int, first: date, last: date) -> tuple[list[date], np.ndarray]:
    """Daily Henry Hub spot (USD/MMBtu, 4 decimals as an int of 1e-4) for every calendar day.

    Trading days follow a mean-reverting random walk around 3.20 clipped to
    [2.50, 4.00]; Saturday and Sunday carry Friday's value (no trading).
    """
    n = (last - first).days + 1
    days = [first + timedelta(days=i) for i in range(n)]
    rng = stream(seed, "HENRY_HUB")
    shocks = rng.normal(0.0, 0.045, n)
    value = np.empty(n)
    v = 3.2
    for i, d in enumerate(days):                     # one step per day: a few hundred
        if d.weekday() < 5:
            v = float(np.clip(v + 0.05 * (3.2 - v) + shocks[i], 2.5, 4.0))
        value[i] = v
    return days, np.rint(value * 10_000).astype(np.int64)


def cpi_u(seed: int, first: date, months: int) -> tuple[list[date], np.ndarray]:
    """Monthly CPI-U (index, 3 decimals as an int of 1e-3) from month ``first`` on."""
    rng = stream(seed, "CPI_U")
    growth = 1.0 + rng.normal(0.0022, 0.0012, months)
    level = 309.685 * np.cumprod(growth)
    out, y, m = [], first.year, first.month
    for _ in range(months):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out, np.rint(level * 1000).astype(np.int64)


def gas_at(utc_us: np.ndarray, tz: str, gas_days: list[date], gas_1e4: np.ndarray) -> np.ndarray:
    """Henry Hub USD/MMBtu of the local gas day of each instant."""
    day = local_fields(utc_us, tz).day
    first = (gas_days[0] - _EPOCH).days
    return gas_1e4[np.clip(day - first, 0, gas_1e4.size - 1)] / 10_000.0


def hub_prices(seed: int, iso: str, start_us: int, end_us: int, gas_days: list[date],
               gas_1e4: np.ndarray) -> tuple[PriceSeries, PriceSeries]:
    """DA (hourly) and RT (5-min) hub series over UTC ``[start, end)`` (hour-aligned)."""
    tz = ISO_TIMEZONE[iso]
    hub = ISO_HUB[iso]
    rng = stream(seed, iso, hub, "shape")
    da_grid = interval_grid_us(start_us, end_us, DA_MINUTES)
    lf = local_fields(da_grid, tz)
    day_idx = lf.day - lf.day.min()
    n_days = int(day_idx.max()) + 1
    day_factor = np.exp(rng.normal(0.0, 0.15, n_days))
    windy = rng.random(n_days) < 0.125
    neg = -rng.uniform(2.0, 25.0, n_days)
    gas = gas_at(da_grid, tz, gas_days, gas_1e4)
    base = _SHAPE[lf.hour] * (gas / 3.0) ** 0.8 * day_factor[day_idx]
    base = np.where(lf.weekday >= 5, 0.9 * base, base)
    midday = (lf.hour >= 10) & (lf.hour < 16) & windy[day_idx]
    base = np.where(midday, neg[day_idx] + rng.normal(0, 1.0, da_grid.size), base)
    da = base + rng.normal(0.0, 1.5, da_grid.size)

    rt_grid = interval_grid_us(start_us, end_us, RT_MINUTES)
    hour_of = (rt_grid - start_us) // US_PER_HOUR
    eps = rng.normal(0.0, 3.0, rt_grid.size)
    # AR(1) noise, phi = 0.8, as a convolution with the impulse response (0.8**40 < 1e-3)
    ar = np.convolve(eps, 0.8 ** np.arange(40))[:rt_grid.size]
    rt = da[hour_of] + ar
    # scarcity: a few evening events per quarter, 15-45 minutes at 3,000-5,000 USD/MWh
    rt_hour = local_fields(rt_grid, tz).hour
    evening = np.flatnonzero((rt_hour >= 17) & (rt_hour < 21))
    n_events = max(1, int(round(3 * (end_us - start_us) / (92 * 24 * US_PER_HOUR))))
    for first in rng.choice(evening, size=min(n_events, evening.size), replace=False):
        k = int(rng.integers(3, 10))
        rt[first:first + k] = rng.uniform(3000.0, 5000.0, k)
    rt = np.minimum(rt, 5000.0)
    return (_series(iso, hub, "DA", DA_MINUTES, da_grid, da),
            _series(iso, hub, "RT", RT_MINUTES, rt_grid, rt))


def node_prices(seed: int, hub_series: PriceSeries, node: str) -> PriceSeries:
    """A node's series from its hub: energy = hub, plus congestion and losses."""
    rng = stream(seed, hub_series.iso, node, hub_series.market_run)
    n = hub_series.start_us.size
    per_hour = 60 // hub_series.interval_minutes
    hours = -(-n // per_hour)
    basis = rng.normal(0.0, 1.5, hours) + rng.normal(0.0, 1.0)
    events = rng.random(hours) < 0.03
    jump = rng.choice([-1.0, 1.0], hours) * rng.uniform(10, 60, hours)
    basis = basis + np.where(events, jump, 0.0)
    congestion = np.rint(np.repeat(basis, per_hour)[:n] * 100).astype(np.int64)
    energy = hub_series.energy_cents
    loss = np.rint(np.abs(energy) * 0.01).astype(np.int64) * np.sign(energy)
    return PriceSeries(hub_series.iso, node, hub_series.market_run, hub_series.interval_minutes,
                       hub_series.start_us, energy + congestion + loss, energy, congestion, loss)


def _series(iso: str, node: str, run: str, minutes: int, grid: np.ndarray,
            usd: np.ndarray) -> PriceSeries:
    cents = np.rint(usd * 100).astype(np.int64)
    zero = np.zeros_like(cents)
    return PriceSeries(iso, node, run, minutes, grid, cents, cents, zero, zero.copy())


def price_at(series: PriceSeries, utc_us: np.ndarray) -> np.ndarray:
    """USD/MWh of ``series`` at each instant (the interval containing it)."""
    idx = (np.asarray(utc_us) - series.start_us[0]) // (series.interval_minutes * US_PER_MINUTE)
    return series.lmp_cents[np.clip(idx, 0, series.lmp_cents.size - 1)] / 100.0


__all__ = ["ISO_TIMEZONE", "ISO_HUB", "PriceSeries", "stream", "henry_hub", "cpi_u",
           "hub_prices", "node_prices", "price_at", "gas_at"]
