"""A small store for rebill tests: one site, hourly meter data and hourly site-node
prices ingested through the real path (CSV -> storage.ingest), one PPA with a fixed
TOU energy price and an export share, and billed (approved) invoices."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from engine.sites import Site, parse_sites
from jobs.contract_period import settle_contract_period
from jobs.invoicing import publish_invoice
from jobs.settle_inputs import DataVersions
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_meter, ingest_prices
from storage.invoices import InvoiceStore
from storage.objectstore import ObjectStore
from storage.sites import save_sites
from storage.tables import Tables
from tests.support.meter_data import meter_csv_lines, write_meter_csv

CID = "PPA-RB1"
SITE = "RB-1"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
SITES_DOC = {"sites": [{
    "site_id": SITE, "timezone": "America/Chicago", "market": {"iso": "ERCOT", "node": "RB1_NODE"},
    "channels": {"pv1": {"kind": "generation", "resource": "solar", "nameplate_kw": 20000},
                 "dc": {"kind": "load"}, "exp": {"kind": "grid_export"}}}]}
CONTRACT_V1 = {
    "contract_id": CID, "effective_from": "2024-01-01",
    "parties": {"seller": "RB Onsite Power LLC", "buyer": "RB Compute Inc."}, "sites": [SITE],
    "timezone": "America/Chicago", "term": {"start": "2024-01-01", "end": "2043-12-31"},
    "billing_period": "month", "currency": "USD", "delivered": {"add": ["pv1"], "cap_at": ["dc"]},
    "pricing": {"site_node": {"market_run": "RT"}},
    "terms": [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "50.00",
               "tou": {"factors": {"on_peak": "1.10", "off_peak": "0.90"}}},
              {"id": "export", "kind": "export_share", "share_to_buyer": "0.5"}]}


@dataclass
class RebillStore:
    config: StorageConfig
    store: ObjectStore
    tables: Tables
    sites: dict[str, Site]
    files: Path

    def ingest_meter_csv(self, name: str, rows: list[str], now_utc: datetime) -> int:
        path = write_meter_csv(self.files / name, rows)
        return ingest_meter(self.store, [path], "csv", sites=self.sites, now_utc=now_utc).version

    def ingest_prices_csv(self, name: str, rows: list[str], now_utc: datetime) -> int:
        path = self.files / name
        path.write_text("iso,node,market_run,interval_start,interval_minutes,lmp_usd_per_mwh\n"
                        + "\n".join(rows) + "\n")
        return ingest_prices(self.store, [path], now_utc=now_utc).version

    def add_contract(self, doc: dict):
        return ContractStore(self.store).add(copy.deepcopy(doc), sites=self.sites)[0]

    def settle_and_approve(self, periods: list[str], *, run_id: str = "seed-run") -> dict[str, int]:
        """Bill ``periods`` in this process (the settlement job's own map and reduce
        functions) and approve them; returns the approved version per period."""
        stored = ContractStore(self.store).versions(CID)
        data = DataVersions.resolve(self.tables, self.store)
        invoices, cache, out = InvoiceStore(self.store), {}, {}
        for p in periods:
            result = settle_contract_period(self.store, self.tables, stored, p, data, cache=cache)
            version, _ = publish_invoice(self.store, result, stored, run_id=run_id, data=data)
            out[p] = invoices.approve(CID, p, version=version, now_utc=NOW)
        return out


def hours(start: str, end: str) -> np.ndarray:
    return np.arange(np.datetime64(start, "h"), np.datetime64(end, "h"), dtype="datetime64[h]")


def iso(t: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(t.astype("datetime64[s]"), unit="s"), "Z")


def meter_rows(t: np.ndarray, *, pv_scale: float = 1.0) -> list[str]:
    """Hourly pv1 (solar-ish, kWh with 1 decimal), dc load, and exports when pv > load,
    as canonical meter CSV rows."""
    h = (t.astype(np.int64) % 24)
    day = t.astype("datetime64[D]").astype(np.int64)
    sun = np.clip(np.sin((h - 12) / 12 * np.pi + np.pi / 2), 0, None)      # peaks at 12 UTC
    pv = np.round(sun * (14000 + 400 * (day % 7)) * pv_scale, 1)
    dc = np.round(9000 + 250 * (h % 5) + 10 * (day % 11), 1)
    exp = np.round(np.clip(pv - dc, 0, None), 1)
    starts_us = t.astype("datetime64[us]").astype(np.int64)
    rows = []
    for ch, kwh in (("pv1", pv), ("dc", dc), ("exp", exp)):
        rows += meter_csv_lines(SITE, ch, starts_us, np.rint(kwh * 1000).astype(np.int64))
    return rows


def price_rows(t: np.ndarray, *, shift_usd: float = 0.0) -> list[str]:
    h = (t.astype(np.int64) % 24)
    lmp = np.round(18.0 + 1.75 * h - 6.0 * (h == 3) + shift_usd, 2)     # one negative-ish hour
    return [f"ERCOT,RB1_NODE,RT,{s},60,{v:.2f}" for s, v in zip(iso(t), lmp)]


def build_store(config: StorageConfig, files: Path, *, start: str = "2024-01-01T00",
                end: str = "2024-04-01T06") -> RebillStore:
    """Sites, hourly meter and prices over [start, end) UTC, contract v1. Each table
    gets one commit (meter version 0, prices version 0)."""
    files.mkdir(parents=True, exist_ok=True)
    store = ObjectStore.from_config(config)
    sites = parse_sites(SITES_DOC)
    save_sites(store, sites)
    rs = RebillStore(config, store, Tables(store), sites, files)
    t = hours(start, end)
    rs.ingest_meter_csv("meter.csv", meter_rows(t), NOW)
    rs.ingest_prices_csv("prices.csv", price_rows(t), NOW)
    rs.add_contract(CONTRACT_V1)
    return rs


def later(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)
