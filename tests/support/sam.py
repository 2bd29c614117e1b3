"""The SAM single-owner regression cases (``tests/data/sam``) and their translation into
meter2cash's cash-flow parameters, for the PySAM reference test and the benchmark.

One set of inputs configures both models: PySAM's ``Singleowner`` takes the SSC input
document as it is; :func:`finance_params` and :func:`operating_inputs` read the same
document into :class:`engine.finance.params.FinanceParams` and the per-year revenue,
energy and fuel (SAM's own definitions: energy = the hourly generation summed over an
8,760-hour year and degraded, revenue = PPA price x escalation x energy, fuel = fuel
price x heat rate x annual fuel use, escalated with inflation).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from engine.finance.params import (Costs, DebtTerms, FinanceParams, MajorMaintenance, SizingCase,
                                   TaxTerms)
from engine.finance.tax import DepreciationPlan
from engine.finance.waterfall import OperatingInputs

SAM_DIR = Path(__file__).resolve().parents[1] / "data" / "sam"
CASES = ("Generic_System", "PVWatts")
CLASSES = ("macrs_5", "macrs_15", "sl_5", "sl_15", "sl_20", "sl_39")


def load_case(name: str) -> tuple[dict, dict]:
    """(the SSC input document, the outputs SSC's regression test expects)."""
    stem = SAM_DIR / f"{name}_Single_Owner_cmod_singleowner"
    inputs = json.loads(gzip.decompress(stem.with_suffix(".json.gz").read_bytes()))
    outputs = json.loads((SAM_DIR / f"{name}_Single_Owner_cmod_singleowner_outputs.json").read_text())
    return inputs, outputs


def pysam_model(inputs: dict):
    """A PySAM ``Singleowner`` configured with ``inputs`` (not executed)."""
    import PySAM.Singleowner as singleowner
    model = singleowner.new()
    for key, value in inputs.items():
        try:
            model.value(key, value)
        except Exception:         # inputs of other compute modules in the same document
            pass
    return model


def finance_params(d: dict) -> FinanceParams:
    alloc = {c: d[f"depr_alloc_{c}_percent"] / 100 for c in CLASSES}
    mm = tuple(MajorMaintenance(d[f"equip{k}_reserve_cost"] * 1000, int(d[f"equip{k}_reserve_freq"]))
               for k in (1, 2, 3) if d[f"equip{k}_reserve_cost"])
    costs = Costs(installed_usd=d["total_installed_cost"],
                  construction_financing_usd=d["construction_financing_cost"],
                  other_financing_usd=d["cost_other_financing"],
                  om_fixed_usd_per_year=d["om_fixed"][0], om_fixed_escalation=d["om_fixed_escal"] / 100,
                  om_capacity_usd_per_kw_year=d["om_capacity"][0],
                  om_capacity_escalation=d["om_capacity_escal"] / 100,
                  om_variable_usd_per_mwh=d["om_production"][0],
                  om_variable_escalation=d["om_production_escal"] / 100,
                  fuel_escalation=d.get("om_fuel_cost_escal", 0) / 100,
                  insurance_fraction=d["insurance_rate"] / 100,
                  property_tax_fraction=d["property_tax_rate"] / 100,
                  property_assessed_fraction=d["prop_tax_cost_assessed_percent"] / 100,
                  property_assessed_decline=d["prop_tax_assessed_decline"] / 100,
                  working_capital_months=d["months_working_reserve"],
                  salvage_fraction=d["salvage_percentage"] / 100, major_maintenance=mm)
    debt = DebtTerms(sizing="dscr", tenor_years=int(d["term_tenor"]), rate=d["term_int_rate"] / 100,
                     fee_fraction=d["cost_debt_fee"] / 100, closing_usd=d["cost_debt_closing"],
                     dsra_months=d["dscr_reserve_months"], cases=(SizingCase("P50", d["dscr"]),))
    tax = TaxTerms(federal_rate=d["federal_tax_rate"][0] / 100, state_rate=d["state_tax_rate"][0] / 100,
                   depreciation=DepreciationPlan(alloc), itc_fraction=d["itc_fed_percent"][0] / 100,
                   ptc_usd_per_kwh=d["ptc_fed_amount"][0], ptc_escalation=d["ptc_fed_escal"] / 100,
                   ptc_years=int(d["ptc_fed_term"]))
    return FinanceParams(years=int(d["analysis_period"]), nameplate_kw=d["system_capacity"],
                         inflation=d["inflation_rate"] / 100,
                         real_discount_rate=d["real_discount_rate"] / 100, costs=costs, debt=debt,
                         tax=tax, reserves_interest=d["reserves_interest"] / 100)


def year1_energy_mwh(d: dict) -> float:
    return float(np.sum(d["gen"])) / 1000.0


def operating_inputs(d: dict, p: FinanceParams, energy_year1_mwh: float | None = None,
                     revenue_usd: np.ndarray | None = None) -> OperatingInputs:
    """SAM's yearly energy, PPA revenue and fuel for one path (``revenue_usd`` replaces
    SAM's revenue, e.g. by the contract engine's)."""
    y = np.arange(p.years)
    e1 = year1_energy_mwh(d) if energy_year1_mwh is None else energy_year1_mwh
    energy = e1 * (1 - d["degradation"][0] / 100) ** y
    price = d["ppa_price_input"][0] * 1000 * (1 + d["ppa_escalation"] / 100) ** y   # USD/MWh
    fuel = np.zeros(p.years)
    if d.get("annual_fuel_usage"):
        fuel = (d["om_fuel_cost"][0] * d["system_heat_rate"] * 0.001 * d["annual_fuel_usage"]
                * (1 + p.inflation + d["om_fuel_cost_escal"] / 100) ** y)
    revenue = energy * price if revenue_usd is None else np.asarray(revenue_usd, dtype=np.float64)
    return OperatingInputs(revenue[None], energy[None], fuel[None])
