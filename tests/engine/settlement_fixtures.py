"""Shared builders for the contract / settlement / invoice tests (pure, no I/O beyond test data)."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

from engine.contract import parse_contract
from engine.delivered import ChannelSeries
from engine.pricing import IndexSeries, PriceSeries
from engine.sites import parse_sites
from engine.timebase import US_PER_MINUTE, interval_grid_us, local_month_bounds_us

CONTRACTS = Path(__file__).resolve().parents[1] / "data" / "contracts"

SITES_DOC = {"sites": [
    {"site_id": "TX-DC1", "timezone": "America/Chicago", "market": {"iso": "ERCOT", "node": "DC1_NODE"},
     "channels": {
         "gt1": {"kind": "generation", "resource": "gas_cc", "nameplate_kw": 250000},
         "pv1": {"kind": "generation", "resource": "solar", "nameplate_kw": 80000},
         "pv1_potential": {"kind": "generation", "resource": "solar_model", "nameplate_kw": 80000},
         "bess_dis": {"kind": "storage_discharge", "resource": "bess", "nameplate_kw": 50000},
         "bess_chg": {"kind": "storage_charge", "resource": "bess", "nameplate_kw": 50000},
         "dc": {"kind": "load"}, "imp": {"kind": "grid_import"}, "exp": {"kind": "grid_export"}}},
    {"site_id": "TX-DC2", "timezone": "America/Chicago", "market": {"iso": "ERCOT", "node": "DC2_NODE"},
     "channels": {"pv1": {"kind": "generation", "resource": "solar", "nameplate_kw": 40000},
                  "dc": {"kind": "load"}, "exp": {"kind": "grid_export"}}},
]}
SITES = parse_sites(SITES_DOC)


def contract_doc(name: str) -> dict:
    return yaml.safe_load((CONTRACTS / name).read_text())


def contract(name: str, **overrides):
    doc = copy.deepcopy(contract_doc(name))
    doc.update(overrides)
    return parse_contract(doc, name)


def minimal_doc(terms: list[dict], **over) -> dict:
    """A one-site contract with ``delivered = pv1`` (easy hand arithmetic)."""
    doc = {"contract_id": "T-1", "version": 1, "effective_from": "2026-01-01",
           "parties": {"seller": "Seller LLC", "buyer": "Buyer Inc."}, "sites": ["TX-DC1"],
           "timezone": "America/Chicago", "term": {"start": "2026-01-01", "end": "2045-12-31"},
           "billing_period": "month", "currency": "USD", "delivered": {"add": ["pv1"]},
           "pricing": {"hub": {"iso": "ERCOT", "node": "HB_NORTH", "market_run": "RT"},
                       "site_node": {"market_run": "RT"}},
           "terms": terms}
    doc.update(over)
    return doc


def series_for(site_id: str, period: str, minutes: int, values: dict[str, object], tz="America/Chicago",
               quality: dict[str, np.ndarray] | None = None) -> dict[str, ChannelSeries]:
    """Channel series over the local month; ``values[ch]`` is a constant Wh or an array/callable(grid)."""
    b0, b1 = local_month_bounds_us(period, tz)
    grid = interval_grid_us(b0, b1, minutes)
    out = {}
    for ch in SITES[site_id].channels:
        v = values.get(ch, 0)
        e = v(grid) if callable(v) else (np.full(grid.size, v, dtype=np.int64) if np.isscalar(v) else v)
        q = (quality or {}).get(ch, np.full(grid.size, "A"))
        out[ch] = ChannelSeries(grid, np.asarray(e, dtype=np.int64), np.asarray(q), np.full(grid.size, "ACT"),
                                minutes)
    return out


def flat_prices(start_us: int, end_us: int, minutes: int, usd_micro) -> PriceSeries:
    starts = interval_grid_us(start_us, end_us, minutes)
    p = usd_micro(starts) if callable(usd_micro) else np.full(starts.size, usd_micro, dtype=np.int64)
    return PriceSeries(starts, np.full(starts.size, minutes), np.asarray(p, dtype=np.int64))


def daily_index(first_day: int, last_day: int, value_micro) -> IndexSeries:
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    v = value_micro(days) if callable(value_micro) else np.full(days.size, value_micro, dtype=np.int64)
    return IndexSeries(days, np.asarray(v, dtype=np.int64))


__all__ = ["CONTRACTS", "SITES_DOC", "SITES", "contract_doc", "contract", "minimal_doc", "series_for",
           "flat_prices", "daily_index", "US_PER_MINUTE"]
