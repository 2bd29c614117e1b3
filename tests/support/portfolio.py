"""Load the deterministic demo portfolio (and its contracts) into a store, for tests."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jobs.demo import build_portfolio, write_demo_files
from jobs.demo_contracts import demo_contracts
from storage.config import StorageConfig
from storage.contracts import ContractStore
from storage.ingest import ingest_index, ingest_meter, ingest_prices
from storage.objectstore import ObjectStore
from storage.sites import merge_sites

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=timezone.utc)


def load_demo(cfg: StorageConfig, directory: Path, *, sites: int = 2, months: int = 1,
              minutes: int = 5, seed: int = 7, end_period: str = "2026-10",
              with_prices: bool = True) -> ObjectStore:
    store = ObjectStore.from_config(cfg)
    portfolio = build_portfolio(sites, months, minutes, seed, end_period)
    files = write_demo_files(portfolio, directory)
    merge_sites(store, portfolio.sites)
    ingest_meter(store, files["meter"], "csv", sites=portfolio.sites, now_utc=NOW)
    if with_prices:
        ingest_prices(store, files["prices"], now_utc=NOW)
    ingest_index(store, files["index"], now_utc=NOW)
    contracts = ContractStore(store)
    for doc in demo_contracts(sites):
        contracts.add(doc, sites=portfolio.sites)
    return store
