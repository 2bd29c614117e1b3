"""Benchmark portfolio for ``bench/settle.py``: behind-the-meter sites, their 1- or
5-minute meter data and one fixed-price PPA per site, loaded through the real
storage path (``merge_sites``, ``Tables.append``, ``ContractStore.add``).

Deterministic: every series comes from ``numpy.random.default_rng(seed + site
index)``, so the same arguments give the same rows, bytes and invoices.

Site model (power in MW; energy is integer Wh per interval, ``MW x 1e6 x min / 60``)
---------------------------------------------------------------------------------
``gt1``       generation: gas turbine at 86-94 % of 40 MW, two 2-8 h outages a month
``pv1``       generation: 20 MW solar bell 06:00-20:00 local, a cloudy day in five
``bess_dis``  storage_discharge: 10 MW, 17:00-21:00 local
``bess_chg``  storage_charge: 11 MW, 10:00-14:00 local
``dc``        load: 50 MW data centre, +-3 % diurnal, 1 % noise
``exp``       grid_export: 90 % of the surplus (supply - charge - load) when positive

Carbon (``engine.carbon``): every site is traced (``balancing_authority`` ERCO for the
Chicago sites, PJM for New York), ``gt1`` is a gas combined cycle at 7.0 MMBtu/MWh and
``pv1`` solar; ``grid_factor_rows`` makes the hourly grid factors of the range.

so the contract's delivered energy ``max(0, gen + discharge - charge - export)``
capped at the load exercises both the cap (surplus hours) and the floor (an outage
while the battery charges). Sites alternate between America/Chicago and
America/New_York.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa

from engine.schema import METER_SCHEMA
from engine.sites import Channel, Site
from engine.timebase import (US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, local_fields,
                             local_month_bounds_us, local_month_labels, next_period)
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.objectstore import ObjectStore
from storage.sites import merge_sites
from storage.tables import Tables

ZONES = ("America/Chicago", "America/New_York")
CHANNELS = {"bess_chg": "storage_charge", "bess_dis": "storage_discharge", "dc": "load",
            "exp": "grid_export", "gt1": "generation", "pv1": "generation"}
TERM_START = "2023-07-01"     # contract years step on 1 July: the escalator applies mid-range
PRICE_USD_PER_MWH = "62.50"
ESCALATOR_PCT = "2.0"
TOU_FACTORS = {"on_peak": "1.12", "off_peak": "0.88"}
INGESTED_AT = datetime(2026, 11, 1, tzinfo=timezone.utc)
MANIFEST = "bench/portfolio.json"


@dataclass(frozen=True)
class Portfolio:
    """What was generated: enough to rebuild the SQL reference and count rows."""
    sites: dict[str, Site]
    periods: list[str]          # site-local billing months, oldest first
    minutes: int
    seed: int
    rows: dict[str, int]        # period -> meter rows stored for that month (all sites)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict:
        return {"sites": {s: site.timezone for s, site in sorted(self.sites.items())},
                "periods": self.periods, "minutes": self.minutes, "seed": self.seed,
                "rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict) -> "Portfolio":
        return cls(make_sites_with_zones(d["sites"]), list(d["periods"]), int(d["minutes"]),
                   int(d["seed"]), {k: int(v) for k, v in d["rows"].items()})


#: carbon: each channel's resource (and the gas unit's heat rate), each zone's balancing authority
RESOURCES = {"gt1": "gas_cc", "pv1": "solar", "bess_chg": "bess", "bess_dis": "bess"}
GT_HEAT_RATE = 7.0
BALANCING_AUTHORITY = {"America/Chicago": "ERCO", "America/New_York": "PJM"}


def make_sites_with_zones(zones: dict[str, str]) -> dict[str, Site]:
    return {sid: Site(sid, tz, {c: Channel(c, k, RESOURCES.get(c), None,
                                           GT_HEAT_RATE if c == "gt1" else None)
                                for c, k in CHANNELS.items()},
                      balancing_authority=BALANCING_AUTHORITY[tz])
            for sid, tz in zones.items()}


def grid_factor_rows(first_period: str, months: int) -> list[str]:
    """CSV rows (``storage.readers.grid_factors``) of deterministic hourly factors for every
    balancing authority of the portfolio over ``months`` from ``first_period`` (UTC, with a
    day of margin on each side)."""
    y, m = (int(x) for x in first_period.split("-"))
    start = datetime(y, m, 1, tzinfo=timezone.utc) - timedelta(days=1)
    end_period = next_period(first_period, months)
    y2, m2 = (int(x) for x in end_period.split("-"))
    hours = int((datetime(y2, m2, 1, tzinfo=timezone.utc) + timedelta(days=1) - start).total_seconds()) // 3600
    rows = []
    for ba in sorted(set(BALANCING_AUTHORITY.values())):
        for i in range(hours):
            t = start + timedelta(hours=i)
            phase = np.cos(2 * np.pi * ((t.hour - 18) % 24) / 24)
            rows.append(f"{ba},{t:%Y-%m-%dT%H:00:00Z},{420 + 110 * phase:.3f},{0.33 - 0.18 * phase:.4f},"
                        f"{470 + 110 * phase:.3f}")
    return rows


def make_sites(n: int) -> dict[str, Site]:
    return make_sites_with_zones({f"BTM-{i:03d}": ZONES[i % len(ZONES)] for i in range(n)})


def contract_doc(site: Site) -> dict:
    """One simple but real PPA: delivered energy at a fixed, escalating, TOU-shaped price."""
    return {
        "contract_id": f"PPA-{site.site_id}", "effective_from": TERM_START,
        "description": f"Behind-the-meter PPA, {site.site_id} (benchmark)",
        "parties": {"seller": f"{site.site_id} Onsite Power LLC", "buyer": "Bench Compute Inc."},
        "sites": [site.site_id], "timezone": site.timezone,
        "term": {"start": TERM_START, "end": "2045-06-30"}, "billing_period": "month",
        "currency": "USD",
        "delivered": {"add": ["kind:generation", "kind:storage_discharge"],
                      "subtract": ["kind:storage_charge", "kind:grid_export"],
                      "cap_at": ["kind:load"]},
        "terms": [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": PRICE_USD_PER_MWH,
                   "escalator_pct_per_year": ESCALATOR_PCT,
                   "tou": {"factors": dict(TOU_FACTORS), "holidays": "nerc"}}],
    }


def _wh(mw: np.ndarray, minutes: int) -> np.ndarray:
    """MW over an interval -> integer Wh (rounded once, >= 0)."""
    return np.rint(np.maximum(mw, 0.0) * 1e6 * minutes / 60.0).astype(np.int64)


def site_series(start_us: int, n: int, minutes: int, tz: str, rng: np.random.Generator
                ) -> dict[str, np.ndarray]:
    """Integer Wh per interval of every channel over ``n`` intervals from ``start_us``."""
    grid = start_us + np.arange(n, dtype=np.int64) * (minutes * US_PER_MINUTE)
    lf = local_fields(grid, tz)
    hour = (lf.local_us - lf.day * US_PER_DAY) / US_PER_HOUR        # local hour, fractional
    day = lf.day - lf.day[0]
    n_days = int(day[-1]) + 1
    per_hour = 60 // minutes

    gt = 40.0 * rng.uniform(0.86, 0.94, n_days)[day] * (1 + 0.01 * rng.standard_normal(n))
    for _ in range(max(1, 2 * n_days // 30)):                        # forced outages
        at = int(rng.integers(0, n))
        gt[at:at + int(rng.integers(2, 9)) * per_hour] = 0.0
    cloud = np.where(rng.random(n_days) < 0.2, rng.uniform(0.2, 0.5, n_days), 1.0)[day]
    sun = np.clip(np.sin(np.pi * (hour - 6.0) / 14.0), 0.0, None) ** 1.5
    pv = 20.0 * sun * cloud * (1 + 0.02 * rng.standard_normal(n))
    dis = np.where((hour >= 17) & (hour < 21), 10.0, 0.0)
    chg = np.where((hour >= 10) & (hour < 14), 11.0, 0.0)
    load = 50.0 * (1 + 0.03 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
                   + 0.01 * rng.standard_normal(n))
    out = {"gt1": _wh(gt, minutes), "pv1": _wh(pv, minutes), "bess_dis": _wh(dis, minutes),
           "bess_chg": _wh(chg, minutes), "dc": _wh(load, minutes)}
    surplus = out["gt1"] + out["pv1"] + out["bess_dis"] - out["bess_chg"] - out["dc"]
    out["exp"] = np.maximum(surplus, 0) * 9 // 10
    return out


def site_table(site: Site, periods: list[str], minutes: int, seed: int) -> tuple[pa.Table, dict]:
    """All meter rows of one site, already in the table's write order
    (month, channel, interval_start_utc), METER_SCHEMA; and rows per period."""
    start = local_month_bounds_us(periods[0], site.timezone)[0]
    end = local_month_bounds_us(periods[-1], site.timezone)[1]
    step = minutes * US_PER_MINUTE
    n = (end - start) // step
    series = site_series(start, n, minutes, site.timezone, np.random.default_rng(seed))
    names = sorted(CHANNELS)
    energy = np.stack([series[c] for c in names])
    month_of = local_month_labels(start + np.arange(0, n * step, step, dtype=np.int64),
                                  site.timezone)
    # month boundaries on the grid (months are contiguous runs)
    cuts = np.flatnonzero(month_of[1:] != month_of[:-1]) + 1
    bounds = list(zip(np.r_[0, cuts].tolist(), np.r_[cuts, n].tolist()))
    idx, ch, mo = [], [], []
    rows = {}
    for m, (a, b) in enumerate(bounds):
        for c in range(len(names)):
            idx.append(np.arange(a, b, dtype=np.int64))
            ch.append(np.full(b - a, c, dtype=np.int32))
            mo.append(np.full(b - a, m, dtype=np.int32))
        rows[str(month_of[a])] = (b - a) * len(names)
    idx, ch, mo = np.concatenate(idx), np.concatenate(ch), np.concatenate(mo)
    total = idx.size
    labels = pa.array([str(month_of[a]) for a, _ in bounds], pa.string())

    def const(value: str) -> pa.Array:
        return pa.repeat(pa.scalar(value, pa.string()), total)

    table = pa.table({
        "site_id": const(site.site_id),
        "channel": pa.DictionaryArray.from_arrays(pa.array(ch), pa.array(names)).cast(pa.string()),
        "interval_start_utc": pa.array((start + idx * step).view("datetime64[us]"),
                                       METER_SCHEMA.field("interval_start_utc").type),
        "interval_minutes": pa.array(np.full(total, minutes, dtype=np.int16)),
        "energy_wh": pa.array(energy[ch, idx]),
        "quality": const("A"),
        "method": pa.nulls(total, pa.string()),
        "source_file": const(f"bench-{site.site_id}.parquet"),
        "source_sha256": const(f"{seed:064x}"),
        "ingested_at_utc": pa.repeat(pa.scalar(INGESTED_AT, METER_SCHEMA.field(
            "ingested_at_utc").type), total),
        "month": pa.DictionaryArray.from_arrays(pa.array(mo), labels).cast(pa.string()),
    })
    return table, rows


def build_store(cfg: StorageConfig, *, sites: int, first_period: str, months: int, minutes: int,
                seed: int = 20261128) -> Portfolio:
    """Generate the portfolio into the store ``cfg`` (one Delta commit per site)."""
    store = ObjectStore.from_config(cfg)
    site_map = make_sites(sites)
    periods = [next_period(first_period, k) for k in range(months)]
    merge_sites(store, site_map)
    tables = Tables(store)
    rows: dict[str, int] = {p: 0 for p in periods}
    for i, sid in enumerate(sorted(site_map)):
        table, per_month = site_table(site_map[sid], periods, minutes, seed + i)
        tables.append("meter", table, metadata={"source": "bench/settle_data.py", "site": sid})
        for p, r in per_month.items():
            rows[p] += r
    contracts = ContractStore(store)
    for sid in sorted(site_map):
        contracts.add(contract_doc(site_map[sid]), sites=site_map)
    portfolio = Portfolio(site_map, periods, minutes, seed, rows)
    store.put(MANIFEST, json.dumps(portfolio.to_dict(), indent=1, sort_keys=True).encode())
    return portfolio


def load_or_build(cfg: StorageConfig, **kwargs) -> tuple[Portfolio, bool]:
    """The portfolio already in the store if it was built with the same arguments,
    else a new one (the store must then be empty). Returns ``(portfolio, built)``."""
    store = ObjectStore.from_config(cfg)
    raw = store.get_or_none(MANIFEST)
    if raw is not None:
        p = Portfolio.from_dict(json.loads(raw))
        want = [next_period(kwargs["first_period"], k) for k in range(kwargs["months"])]
        if (len(p.sites), p.periods, p.minutes) == (kwargs["sites"], want, kwargs["minutes"]):
            return p, False
        raise SystemExit(f"{cfg.uri} holds another benchmark portfolio "
                         f"({len(p.sites)} sites, {p.periods[0]}..{p.periods[-1]}, "
                         f"{p.minutes}-min); use another --data directory")
    return build_store(cfg, **kwargs), True


__all__ = ["Portfolio", "CHANNELS", "make_sites", "contract_doc", "site_series", "site_table",
           "build_store", "load_or_build", "grid_factor_rows", "TERM_START", "PRICE_USD_PER_MWH",
           "ESCALATOR_PCT", "TOU_FACTORS"]
