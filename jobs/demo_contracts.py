"""Contracts of the demo portfolio: one behind-the-meter PPA per site, plus a solar
VPPA and a gas tolling agreement on the first sites, so every common term kind is
exercised by ``m2c demo``.

Documents follow the published contract schema (``engine.contract.contract_schema()``); they are plain dicts (the CLI
writes them as YAML files and adds them through ``storage.contracts``).
"""
from __future__ import annotations

from jobs.demo_market import ISO_HUB
from jobs.demo_sites import SiteTemplate, templates

TERM_START = "2024-01-01"      # contract year 3 in 2026: escalators apply
TERM_END = "2048-12-31"
BUYER = "Prairie Compute Inc."


def _ppa(t: SiteTemplate, *, gas_tolled: bool = False) -> dict:
    """The site's PPA; when its gas turbine is sold under a tolling agreement, the PPA
    covers solar and battery only (no energy is billed twice)."""
    terms: list[dict] = [
        {"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "62.50",
         "escalator_pct_per_year": "2.0",
         "tou": {"factors": {"on_peak": "1.12", "off_peak": "0.88"}}},
    ]
    if not gas_tolled:
        terms.append({"id": "capacity", "kind": "capacity",
                      "contracted_kw": str(int(t.gt_mw * 1000 * 0.9)), "price_usd_per_kw_month": "8.75",
                      "availability": {"channels": ["gt1"], "target": "0.95"}})
    terms += [
        {"id": "min_delivery", "kind": "min_delivery",       # GEP = 85 % of the contract quantity,
         "contract_quantity_mwh": str(int(t.load_mw * 24 * 30 * 0.6)), "guarantee_pct": "85",
         "period": "month", "ld_pct_of_price": "25", "price_term": "energy"},   # LD = 25 % of the price
        {"id": "export_share", "kind": "export_share", "share_to_buyer": "0.5"},
    ]
    return {
        "contract_id": f"PPA-{t.site_id}", "effective_from": TERM_START,
        "description": f"Onsite power purchase agreement, {t.site_id}",
        "parties": {"seller": f"{t.site_id} Onsite Power LLC", "buyer": BUYER},
        "sites": [t.site_id], "timezone": t.timezone,
        "term": {"start": TERM_START, "end": TERM_END}, "billing_period": "month", "currency": "USD",
        "delivered": {"add": (["pv1", "kind:storage_discharge"] if gas_tolled
                              else ["kind:generation", "kind:storage_discharge"]),
                      "subtract": (["kind:storage_charge"] if gas_tolled
                                   else ["kind:storage_charge", "kind:grid_export"]),
                      "cap_at": ["kind:load"]},
        "pricing": {"site_node": {"market_run": "RT"}},
        "terms": terms,
    }


def _vppa(t: SiteTemplate) -> dict:
    return {
        "contract_id": f"VPPA-{t.site_id}-SOLAR", "effective_from": TERM_START,
        "description": f"Virtual PPA on the solar output of {t.site_id}",
        "parties": {"seller": f"{t.site_id} Solar LLC", "buyer": BUYER},
        "sites": [t.site_id], "timezone": t.timezone,
        "term": {"start": TERM_START, "end": "2038-12-31"}, "billing_period": "month",
        "currency": "USD", "delivered": {"add": ["pv1"]},
        "pricing": {"hub": {"iso": t.iso, "node": ISO_HUB[t.iso], "market_run": "RT"}},
        "terms": [{"id": "vppa", "kind": "vppa", "strike_usd_per_mwh": "34.00", "hedge_share": "0.75",
                   "negative_price_rule": "zero_floor", "volume": ["pv1"],
                   "basis": {"mode": "adjusted_strike", "usd_per_mwh": "-1.25"}}],   # hub-to-node discount
    }


def _tolling(t: SiteTemplate) -> dict:
    return {
        "contract_id": f"GAS-{t.site_id}", "effective_from": TERM_START,
        "description": f"Heat-rate indexed supply from the gas turbine of {t.site_id}",
        "parties": {"seller": f"{t.site_id} Gas Partners LP", "buyer": BUYER},
        "sites": [t.site_id], "timezone": t.timezone,
        "term": {"start": TERM_START, "end": "2053-12-31"}, "billing_period": "month",
        "currency": "USD", "delivered": {"add": ["gt1"]},
        "terms": [
            {"id": "fuel_energy", "kind": "energy_indexed", "formula": "heat_rate",
             "index": "HENRY_HUB", "heat_rate_mmbtu_per_mwh": str(t.gt_heat_rate),
             "adder_usd_per_mwh": "4.50", "carry_forward_days": 4,
             "floor_usd_per_mwh": "12.00", "cap_usd_per_mwh": "150.00"},
            {"id": "take_or_pay", "kind": "take_or_pay",
             "contracted_mwh_per_month": str(int(t.gt_mw * 24 * 30 * 0.8)), "take_share": "0.85",
             "price_usd_per_mwh": "28.00", "bill_delivered": False},
        ],
    }


def demo_contracts(n_sites: int) -> list[dict]:
    """The demo contracts for the first ``n_sites`` demo sites, sorted by id."""
    ts = templates(n_sites)
    tolled = ts[1].site_id if len(ts) > 1 else None
    docs = [_ppa(t, gas_tolled=t.site_id == tolled) for t in ts]
    if tolled:
        docs.append(_tolling(ts[1]))
    solar = [t for t in ts if t.pv_mw > 0 and t.iso in ISO_HUB]
    if solar:
        docs.append(_vppa(solar[0]))
    return sorted(docs, key=lambda d: d["contract_id"])
