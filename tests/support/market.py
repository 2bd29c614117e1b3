"""Synthetic ISO market data in the real layouts: a site registry with market resources,
meter, prices, awards and statements, as engine inputs or as files to ingest."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np

from engine.money import cents_to_str
from engine.market.inputs import MarketInputs, PriceCurve
from engine.market.resources import MarketResource
from engine.market.series import Series
from engine.market.shadow import day_bounds_us
from engine.timebase import US_PER_HOUR, US_PER_MINUTE, from_us

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)

SITES_YAML = """\
sites:
  - site_id: TX-DC1
    timezone: America/Chicago
    market:
      iso: ERCOT
      node: TXDC1_RN
      resources:
        TXDC1_CC1: {settlement_point: TXDC1_RN, hub: HB_NORTH, qse: QTEXAS}
        TXDC1_HUB: {settlement_point: HB_NORTH, kind: settlement_point}
    channels:
      gt1: {kind: generation, nameplate_kw: 250000}
      dc: {kind: load}
      exp: {kind: grid_export}
      imp: {kind: grid_import}
  - site_id: PA-DC2
    timezone: America/New_York
    market:
      iso: PJM
      node: PJM_PNODE_1
      resources:
        PJM_UNIT1: {settlement_point: PJM_PNODE_1}
    channels:
      exp: {kind: grid_export}
  - site_id: CA-DC3
    timezone: America/Los_Angeles
    market:
      iso: CAISO
      node: CA_PNODE_1
      resources:
        CA_UNIT1: {settlement_point: CA_PNODE_1}
    channels:
      exp: {kind: grid_export}
"""


def resource(iso: str = "ERCOT", rid: str = "TXDC1_CC1", sp: str = "TXDC1_RN",
             kind: str = "generator", inject=("exp",), withdraw=("imp",)) -> MarketResource:
    return MarketResource(rid, iso, "S", sp, kind, inject=tuple(inject), withdraw=tuple(withdraw))


def grid_of(iso: str, day: date, minutes: int) -> np.ndarray:
    s, e = day_bounds_us(iso, day, day)
    return np.arange(s, e, minutes * US_PER_MINUTE, dtype=np.int64)


def flat(starts: np.ndarray, minutes: int, values) -> Series:
    v = np.broadcast_to(np.asarray(values, dtype=np.int64), starts.shape)
    return Series.of(starts, np.full(starts.size, minutes), v)


def ercot_day(day: date, *, rng: np.random.Generator | None = None, sp: str = "TXDC1_RN",
              base_points: bool = False) -> MarketInputs:
    """One ERCOT day: a 5-minute export meter, DA hourly and 5-minute SCED prices at the
    resource node, a DA sale in some hours (and 5-minute base points if asked)."""
    rng = rng or np.random.default_rng(7)
    hours, fives = grid_of("ERCOT", day, 60), grid_of("ERCOT", day, 5)
    export_wh = rng.integers(0, 60_000_000 // 12, fives.size)         # up to 60 MW
    da = rng.integers(-5_000_000, 90_000_000, hours.size)              # micro-USD/MWh
    rt = rng.integers(-20_000_000, 200_000_000, fives.size)
    sale = np.where(rng.random(hours.size) < 0.6, rng.integers(1, 60, hours.size) * 1_000_000, 0)
    awards = {"da_sale": flat(hours, 60, sale)}
    if base_points:
        awards["base_point"] = flat(fives, 5, export_wh * 12 + rng.integers(-8_000_000, 8_000_000,
                                                                             fives.size))
    return MarketInputs(resource(sp=sp), {"exp": flat(fives, 5, export_wh), "imp": flat(fives, 5, 0)},
                        awards, {("DA", sp): PriceCurve(flat(hours, 60, da)),
                                 ("RT", sp): PriceCurve(flat(fives, 5, rt))})


def iso_z(us: int) -> str:
    return from_us(int(us)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_ercot_files(folder: Path, first: date, days: int, seed: int = 3) -> dict[str, Path]:
    """Meter, prices and awards CSVs for TXDC1_CC1 over ``days`` operating days."""
    rng = np.random.default_rng(seed)
    meter = ["site_id,channel,interval_start,interval_minutes,kwh,quality"]
    prices = ["iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh"]
    awards = ["iso,resource_id,product,interval_start,interval_minutes,mw,price_usd_per_mwh"]
    for k in range(days):
        d = first + timedelta(days=k)
        for t in grid_of("ERCOT", d, 5):
            kwh = int(rng.integers(0, 5000))
            meter.append(f"TX-DC1,exp,{iso_z(t)},5,{kwh},A")
            meter.append(f"TX-DC1,imp,{iso_z(t)},5,0,A")
            prices.append(f"ERCOT,TXDC1_RN,RT,{iso_z(t)},5,{rng.integers(-2000, 20000) / 100:.2f}")
        for t in grid_of("ERCOT", d, 60):
            p = rng.integers(500, 9000) / 100
            prices.append(f"ERCOT,TXDC1_RN,DA,{iso_z(t)},60,{p:.2f}")
            if rng.random() < 0.7:
                awards.append(f"ERCOT,TXDC1_CC1,da_sale,{iso_z(t)},60,{int(rng.integers(1, 50))},{p:.2f}")
    out = {}
    for name, rows in (("meter", meter), ("prices", prices), ("awards", awards)):
        out[name] = folder / f"{name}.csv"
        out[name].write_text("\n".join(rows) + "\n")
    return out


def statement_csv_from(lines, statement_id: str, version: str = "initial") -> str:
    """A canonical statement CSV that agrees with shadow ``lines`` (the shadow table)."""
    rows = ["iso,statement_id,version,operating_date,charge_type,resource_id,interval_start,"
            "interval_minutes,quantity_mwh,price_usd_per_mwh,amount_usd"]
    for r in lines.to_pylist():
        q = r["quantity_wh12"]
        qty = str(Decimal(q // 12) / Decimal(10**6)) if q % 12 == 0 else ""
        rows.append(f"{r['iso']},{statement_id},{version},{r['operating_date'].isoformat()},"
                    f"{r['charge_type']},{r['resource_id']},"
                    f"{r['interval_start_utc'].strftime('%Y-%m-%dT%H:%M:%SZ')},"
                    f"{r['interval_minutes']},{qty},{Decimal(r['price_microusd_per_mwh']) / Decimal(10**6)},"
                    f"{cents_to_str(r['amount_cents'])}")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------ a bid-to-bill portfolio
CHAIN_SITE = "TX-BB1"
CHAIN_RESOURCE = "BB1_CC1"
CHAIN_NODE = "BB1_RN"
CHAIN_SITES_YAML = f"""\
sites:
  - site_id: {CHAIN_SITE}
    timezone: America/Chicago
    market:
      iso: ERCOT
      node: {CHAIN_NODE}
      resources:
        {CHAIN_RESOURCE}: {{settlement_point: {CHAIN_NODE}, hub: HB_NORTH, qse: QBB}}
    channels:
      gt1: {{kind: generation, nameplate_kw: 250000}}
      dc: {{kind: load}}
      exp: {{kind: grid_export}}
      imp: {{kind: grid_import}}
"""


def chain_contract(cid: str, *, market_run: str = "RT", share: str = "0.5") -> dict:
    """A PPA of the chain site: fixed energy and an export share at the site node."""
    return {
        "contract_id": cid, "effective_from": "2026-01-01",
        "parties": {"seller": "BB Onsite Power LLC", "buyer": "BB Compute Inc."},
        "sites": [CHAIN_SITE], "timezone": "America/Chicago",
        "term": {"start": "2026-01-01", "end": "2035-12-31"}, "billing_period": "month",
        "currency": "USD", "delivered": {"add": ["gt1"], "cap_at": ["dc"]},
        "pricing": {"site_node": {"market_run": market_run}},
        "terms": [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "55.00"},
                  {"id": "export", "kind": "export_share", "share_to_buyer": share}]}


def write_chain_files(folder: Path, first: date, days: int, seed: int = 11) -> dict[str, Path]:
    """Meter (15-minute gt1, dc, exp, imp), prices (5-minute RT and hourly DA at the
    node, RT at the hub) and day-ahead awards of the chain site's resource."""
    rng = np.random.default_rng(seed)
    meter = ["site_id,channel,interval_start,interval_minutes,kwh,quality"]
    prices = ["iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh"]
    awards = ["iso,resource_id,product,interval_start,interval_minutes,mw,price_usd_per_mwh"]
    for k in range(days):
        d = first + timedelta(days=k)
        for t in grid_of("ERCOT", d, 15):
            gen, load = int(rng.integers(40_000, 60_000)), int(rng.integers(30_000, 50_000))
            exp, imp = max(gen - load, 0) // 4, max(load - gen, 0) // 4
            z = iso_z(t)
            meter += [f"{CHAIN_SITE},gt1,{z},15,{gen // 4},A", f"{CHAIN_SITE},dc,{z},15,{load // 4},A",
                      f"{CHAIN_SITE},exp,{z},15,{exp},A", f"{CHAIN_SITE},imp,{z},15,{imp},A"]
        for t in grid_of("ERCOT", d, 5):
            p = rng.integers(-1500, 15000)
            prices.append(f"ERCOT,{CHAIN_NODE},RT,{iso_z(t)},5,{p / 100:.2f}")
            prices.append(f"ERCOT,HB_NORTH,RT,{iso_z(t)},5,{(p + rng.integers(-300, 300)) / 100:.2f}")
        for t in grid_of("ERCOT", d, 60):
            p = rng.integers(500, 9000) / 100
            prices.append(f"ERCOT,{CHAIN_NODE},DA,{iso_z(t)},60,{p:.2f}")
            if rng.random() < 0.5:
                awards.append(f"ERCOT,{CHAIN_RESOURCE},da_sale,{iso_z(t)},60,"
                              f"{int(rng.integers(1, 20))},{p:.2f}")
    out = {}
    for name, rows in (("meter", meter), ("prices", prices), ("awards", awards)):
        out[name] = folder / f"chain_{name}.csv"
        out[name].write_text("\n".join(rows) + "\n")
    return out


__all__ = ["NOW", "SITES_YAML", "resource", "grid_of", "flat", "ercot_day", "write_ercot_files",
           "statement_csv_from", "US_PER_HOUR", "CHAIN_SITE", "CHAIN_RESOURCE", "CHAIN_NODE",
           "CHAIN_SITES_YAML", "chain_contract", "write_chain_files"]
