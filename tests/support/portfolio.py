"""Load the deterministic demo portfolio (and its contracts) into a store, for tests.

``load_demo`` ingests it through the real path (CSV files -> ``storage.ingest``).
``DemoStores`` (the session fixture ``demo_stores``) does that once per set of options
and gives each test a copy: a local store is a folder, and its Delta tables and objects
name their files relative to it, so a copy is the same store.
"""
from __future__ import annotations

import shutil
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


class DemoStores:
    """The demo portfolio loaded once per set of ``load_demo`` options (under ``root``),
    copied into a test's own folder on request."""

    def __init__(self, root: Path):
        self.root = root
        self._loaded: dict[tuple, Path] = {}

    def copy(self, to: Path, **options) -> tuple[StorageConfig, ObjectStore]:
        """A fresh local store at ``to`` holding the demo portfolio (``options`` as for
        ``load_demo``): its configuration and the store."""
        key = tuple(sorted(options.items()))
        if key not in self._loaded:
            template = self.root / f"demo-{len(self._loaded)}"
            load_demo(StorageConfig(uri=f"file://{template / 'store'}"), template / "files", **options)
            self._loaded[key] = template / "store"
        shutil.copytree(self._loaded[key], to)
        cfg = StorageConfig(uri=f"file://{to}")
        return cfg, ObjectStore.from_config(cfg)
