"""The bankability model document: its published JSON Schema, validation and the
parsed model.

The document (YAML or JSON; ``m2c bankability schema`` prints the schema)::

    name: Texas BTM portfolio
    project:
      contracts: [PPA-TX-DC1, VPPA-TX-DC1-SOLAR]
      cod: 2027-01                     # commercial operation: operating year 1 starts here
      horizon_years: 25                # <= 40
      currency: USD
      merchant_tail: {share: 0.9, market_run: RT, channels: [kind:generation]}   # after the terms end
    operations:
      profile: {periods: [2025-11, ..., 2026-10], prices: typical}   # a typical year from history
      as_of: {meter: 7, prices: 3, index: 2}                            # pinned data versions
      degradation_pct_per_year: 0.5
      availability_pct: 98
      load_growth_pct_per_year: 1.0
    uncertainty:
      paths: 10000
      seed: 42
      generation: {iav_pct: 5, model_pct: 4, resources: [solar, wind]}
      prices: {process: calibrated, escalation_pct_per_year: 2, long_term_sigma_pct: 10}
      fuel: {index: HENRY_HUB, process: calibrated, escalation_pct_per_year: 2}
    costs:
      capital_usd: 450000000
      fixed_om_usd_per_kw_year: 25
      variable_om_usd_per_mwh: 2.5
      fuel: {index: HENRY_HUB}          # heat rates from the site registry's channels
      insurance_pct: 0.5
      major_maintenance: [{usd_per_kw: 15, every_years: 6}]
      working_capital_months: 6
    tax: {federal_pct: 21, state_pct: 7, depreciation: {macrs_5: 0.9, sl_20: 0.1}, itc_pct: 0}
    debt:
      sizing: dscr
      cases: [{case: P50, dscr: 1.30}, {case: P99, dscr: 1.00}]
      tenor_years: 18
      rate_pct: 7
      fee_pct: 2.75
      dsra_months: 6
      max_debt_fraction_pct: 80
      covenant_dscr: 1.20
    equity: {discount_rate_real_pct: 6.4, inflation_pct: 2.5, target_irr_pct: 11}

Numbers are plain numbers (these are model assumptions; the money of the P50 case is
the contract engine's, in cents). Percentages are percent (``2.5`` = 2.5 %). Errors
name the field (``debt.cases[0].dscr: must be > 0; got 0``); every problem is listed.
Checks that need the stored contracts and sites (an unknown contract or channel, a
horizon beyond a contract's term without a merchant tail) are :func:`check_references`.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jsonschema

from ..canonical import canonical_json
from ..contract import _fmt_path, _messages, _normalise        # the house's wording of schema errors
from ..errors import ValidationError
from ..timebase import next_period, parse_period
from .forecast import Operations
from .params import Costs, DebtTerms, FinanceParams, MajorMaintenance, SizingCase, TaxTerms
from .paths import MeanRevertingJump
from .tax import SCHEDULES, DepreciationPlan
from .uncertainty import Z

__all__ = ["model_schema", "parse_model", "BankabilityModel", "PriceAssumptions", "FuelAssumptions",
           "MerchantTail", "check_references", "model_hash", "MAX_HORIZON_YEARS", "DEFAULT_MAX_PATHS",
           "HARD_MAX_PATHS"]

MAX_HORIZON_YEARS = 40
DEFAULT_MAX_PATHS = 100_000       # the default configured limit (M2C_BANKABILITY_MAX_PATHS)
HARD_MAX_PATHS = 1_000_000        # what a job accepts whatever the configuration
_PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"
_CLASSES = (*SCHEDULES, "custom")


def _num(lo: float | None = None, hi: float | None = None, *, exclusive_lo: bool = False,
         desc: str = "") -> dict:
    s: dict[str, Any] = {"type": "number"}
    if lo is not None:
        s["exclusiveMinimum" if exclusive_lo else "minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    if desc:
        s["description"] = desc
    return s


def _obj(props: dict, required: tuple[str, ...] = (), desc: str = "") -> dict:
    s: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        s["required"] = list(required)
    if desc:
        s["description"] = desc
    return s


_PCT = _num(0, 100)
_MONEY = _num(0, desc="USD, >= 0")
_PROCESS = {
    "process": {"enum": ["calibrated", "given", "curves", "none"],
                "description": "calibrated to the stored daily history (default), given "
                               "parameters, supplied monthly curves, or none (P50 only)"},
    "escalation_pct_per_year": _num(-50, 100, desc="P50 curve escalation"),
    "kappa_per_year": _num(0, exclusive_lo=True, desc="mean reversion"),
    "sigma_pct": _num(0, desc="diffusion volatility, % per sqrt(year)"),
    "jumps_per_year": _num(0),
    "jump_mean_pct": _num(-500, 500, desc="mean log jump size, %"),
    "jump_sd_pct": _num(0),
    "long_term_sigma_pct": _num(0, desc="random walk of the long-term level, % per sqrt(year)"),
    "curves": {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1,
                                                          "items": _num(0, exclusive_lo=True)},
               "description": "monthly factors (1 = P50), one list per curve; path p takes curve p mod n"},
}


def _build_schema() -> dict:
    refs = {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://meter2cash.dev/schemas/bankability-model-v1.json",
        "title": "meter2cash bankability model",
        "type": "object", "additionalProperties": False,
        "required": ["project", "costs", "debt"],
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "project": _obj({
                "contracts": {"type": "array", "minItems": 1, "uniqueItems": True,
                              "items": {"type": "string", "minLength": 1}},
                "cod": {"type": "string", "pattern": _PERIOD,
                        "description": "YYYY-MM: operating year 1 starts on its first day"},
                "horizon_years": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_YEARS},
                "currency": {"const": "USD"},
                "nameplate_kw": _num(0, exclusive_lo=True,
                                     desc="for O&M per kW; default: the generation nameplates"),
                "merchant_tail": _obj({
                    "channels": refs, "share": _num(0, 1, desc="share of the node price received"),
                    "market_run": {"enum": ["DA", "RT"]}},
                    desc="after a site's last contract term: its energy sold at its node"),
            }, ("contracts", "cod", "horizon_years")),
            "operations": _obj({
                "profile": _obj({
                    "periods": {"type": "array", "minItems": 1, "maxItems": 12, "uniqueItems": True,
                                "items": {"type": "string", "pattern": _PERIOD}},
                    "prices": {"enum": ["typical", "actual"]},
                }, ("periods",), "the typical year: one billed month per month of the year"),
                "as_of": _obj({k: {"type": "integer", "minimum": 0}
                               for k in ("meter", "prices", "index", "sites")}),
                "degradation_pct_per_year": _PCT,
                "availability_pct": _PCT,
                "load_growth_pct_per_year": _num(-100, 100),
            }, ("profile",)),
            "uncertainty": _obj({
                "paths": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer", "minimum": 0},
                "generation": _obj({"iav_pct": _num(0, desc="inter-annual variability, 1 sigma"),
                                    "model_pct": _num(0, desc="model and measurement, 1 sigma"),
                                    "resources": {"type": "array",
                                                  "items": {"type": "string", "minLength": 1}}}),
                "prices": _obj(dict(_PROCESS)),
                "fuel": _obj({"index": {"type": "string", "minLength": 1},
                              "p50_usd_per_mmbtu": _num(0, exclusive_lo=True),
                              "correlation": _num(-0.99, 0.99, desc="with power price shocks"),
                              **_PROCESS}),
            }),
            "costs": _obj({
                "capital_usd": _MONEY,
                "construction_financing_usd": _MONEY,
                "other_financing_usd": _MONEY,
                "fixed_om_usd_per_kw_year": _MONEY,
                "fixed_om_usd_per_year": _MONEY,
                "variable_om_usd_per_mwh": _MONEY,
                "om_escalation_pct_per_year": _num(-50, 100, desc="above inflation"),
                "fuel": _obj({"index": {"type": "string", "minLength": 1}, "channels": refs,
                              "heat_rate_mmbtu_per_mwh": _num(0)}),
                "insurance_pct": _PCT,
                "property_tax_pct": _PCT,
                "working_capital_months": _num(0, 24),
                "salvage_pct": _PCT,
                "major_maintenance": {"type": "array", "items": _obj({
                    "usd_per_kw": _MONEY, "every_years": {"type": "integer", "minimum": 1}},
                    ("usd_per_kw", "every_years"))},
            }, ("capital_usd",)),
            "tax": _obj({
                "federal_pct": _PCT, "state_pct": _PCT,
                "depreciation": _obj({c: _num(0, 1) for c in _CLASSES},
                                     desc="fraction of the depreciable basis per class"),
                "bonus": _obj({c: _num(0, 1) for c in _CLASSES}),
                "custom_schedule": {"type": "array", "items": _num(0, 1)},
                "itc_pct": _PCT,
                "ptc_usd_per_kwh": _num(0),
                "ptc_years": {"type": "integer", "minimum": 0, "maximum": MAX_HORIZON_YEARS},
                "ptc_escalation_pct": _num(-50, 100),
            }),
            "debt": _obj({
                "sizing": {"enum": ["dscr", "fraction"]},
                "cases": {"type": "array", "minItems": 1, "items": _obj({
                    "case": {"type": "string", "pattern": r"^P(50|75|90|95|99)$"},
                    "dscr": _num(0, exclusive_lo=True)}, ("case", "dscr"))},
                "tenor_years": {"type": "integer", "minimum": 1, "maximum": MAX_HORIZON_YEARS},
                "rate_pct": _num(0, 100),
                "fee_pct": _PCT,
                "closing_usd": _MONEY,
                "dsra_months": _num(0, 24),
                "max_debt_fraction_pct": _num(0, 100),
                "fraction_pct": _num(0, 100),
                "covenant_dscr": _num(0, exclusive_lo=True),
            }, ("tenor_years", "rate_pct")),
            "equity": _obj({
                "discount_rate_real_pct": _num(-50, 100),
                "inflation_pct": _num(-50, 100),
                "target_irr_pct": _num(-100, 1000),
                "reserves_interest_pct": _num(0, 100),
            }),
        },
    }


@lru_cache(maxsize=1)
def _schema() -> dict:
    schema = _build_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def model_schema() -> dict:
    """The published JSON Schema (draft 2020-12) of a bankability model document."""
    return copy.deepcopy(_schema())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema())


# --------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class MerchantTail:
    channels: tuple[str, ...] = ("kind:generation",)
    share: float = 1.0
    market_run: str = "RT"


@dataclass(frozen=True)
class PriceAssumptions:
    """A stochastic factor's assumptions (power prices, or the fuel index)."""
    process: str = "calibrated"             # calibrated | given | curves | none
    escalation: float = 0.0
    given: MeanRevertingJump | None = None  # the parameters (given), or overrides of a calibration
    long_term_sigma: float = 0.0
    curves: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class FuelAssumptions(PriceAssumptions):
    index: str | None = None
    p50_usd_per_mmbtu: float | None = None
    correlation: float | None = None        # None: calibrated


@dataclass(frozen=True)
class BankabilityModel:
    doc: dict                                # the normalised document (hashed)
    name: str
    contracts: tuple[str, ...]
    cod: str
    horizon_years: int
    nameplate_kw: float | None
    merchant_tail: MerchantTail | None
    profile_periods: tuple[str, ...]
    price_shape: str
    as_of: dict[str, int]
    ops: Operations
    paths: int
    seed: int
    gen_iav: float
    gen_model: float
    prices: PriceAssumptions
    fuel: FuelAssumptions
    fuel_index: str | None
    fuel_channels: tuple[str, ...] | None
    fuel_heat_rate: float | None
    target_irr: float | None
    finance: dict = field(repr=False, default_factory=dict)   # the raw finance sections

    @property
    def months(self) -> list[str]:
        """The forecast months, COD first."""
        return [next_period(self.cod, i) for i in range(12 * self.horizon_years)]

    @property
    def last_period(self) -> str:
        return next_period(self.cod, 12 * self.horizon_years - 1)

    def sizing_factor(self, case: str) -> float:
        """The P-case's generation factor (1-year sigma: one bad year is what a lender
        sizes and tests on)."""
        level = int(case[1:])
        return max(0.0, 1.0 - Z[level] * (self.gen_iav ** 2 + self.gen_model ** 2) ** 0.5)

    def finance_params(self, nameplate_kw: float) -> FinanceParams:
        return _finance_params(self.finance, self.horizon_years, nameplate_kw)


def _pct(d: dict, key: str, default: float = 0.0) -> float:
    return float(d.get(key, default)) / 100.0


def _assumptions(d: dict, cls: type[PriceAssumptions], **extra) -> Any:
    given = None
    keys = ("kappa_per_year", "sigma_pct", "jumps_per_year", "jump_mean_pct", "jump_sd_pct")
    if any(k in d for k in keys):
        given = MeanRevertingJump(kappa=float(d.get("kappa_per_year", 2.0)), sigma=_pct(d, "sigma_pct", 30),
                                  jump_rate=float(d.get("jumps_per_year", 0.0)),
                                  jump_mean=_pct(d, "jump_mean_pct"), jump_sd=_pct(d, "jump_sd_pct"),
                                  long_term_sigma=_pct(d, "long_term_sigma_pct"))
    return cls(process=d.get("process", "calibrated"), escalation=_pct(d, "escalation_pct_per_year"),
               given=given, long_term_sigma=_pct(d, "long_term_sigma_pct"),
               curves=tuple(tuple(float(x) for x in c) for c in d.get("curves", ())), **extra)


def _finance_params(doc: dict, years: int, nameplate_kw: float) -> FinanceParams:
    c, t, dbt, eq = (doc.get(k, {}) for k in ("costs", "tax", "debt", "equity"))
    esc = _pct(c, "om_escalation_pct_per_year")
    costs = Costs(installed_usd=float(c["capital_usd"]),
                  construction_financing_usd=float(c.get("construction_financing_usd", 0)),
                  other_financing_usd=float(c.get("other_financing_usd", 0)),
                  om_fixed_usd_per_year=float(c.get("fixed_om_usd_per_year", 0)), om_fixed_escalation=esc,
                  om_capacity_usd_per_kw_year=float(c.get("fixed_om_usd_per_kw_year", 0)),
                  om_capacity_escalation=esc,
                  om_variable_usd_per_mwh=float(c.get("variable_om_usd_per_mwh", 0)),
                  om_variable_escalation=esc,
                  insurance_fraction=_pct(c, "insurance_pct"),
                  property_tax_fraction=_pct(c, "property_tax_pct"),
                  working_capital_months=float(c.get("working_capital_months", 0)),
                  salvage_fraction=_pct(c, "salvage_pct"),
                  major_maintenance=tuple(MajorMaintenance(float(m["usd_per_kw"]), int(m["every_years"]))
                                          for m in c.get("major_maintenance", ())))
    cases = tuple(SizingCase(x["case"], float(x["dscr"])) for x in dbt.get("cases", ({"case": "P50", "dscr": 1.3},)))
    debt = DebtTerms(sizing=dbt.get("sizing", "dscr"), tenor_years=int(dbt["tenor_years"]),
                     rate=_pct(dbt, "rate_pct"), fee_fraction=_pct(dbt, "fee_pct"),
                     closing_usd=float(dbt.get("closing_usd", 0)), dsra_months=float(dbt.get("dsra_months", 6)),
                     cases=cases,
                     fraction=_pct(dbt, "fraction_pct") if "fraction_pct" in dbt else None,
                     max_debt_fraction=_pct(dbt, "max_debt_fraction_pct") if "max_debt_fraction_pct" in dbt else None,
                     covenant_dscr=float(dbt.get("covenant_dscr", 1.20)))
    dep = t.get("depreciation", {"macrs_5": 1.0})
    tax = TaxTerms(federal_rate=_pct(t, "federal_pct", 21), state_rate=_pct(t, "state_pct", 7),
                   depreciation=DepreciationPlan({k: float(v) for k, v in dep.items()},
                                                 {k: float(v) for k, v in t.get("bonus", {}).items()},
                                                 tuple(float(x) for x in t.get("custom_schedule", ()))),
                   itc_fraction=_pct(t, "itc_pct"), ptc_usd_per_kwh=float(t.get("ptc_usd_per_kwh", 0)),
                   ptc_escalation=_pct(t, "ptc_escalation_pct"), ptc_years=int(t.get("ptc_years", 10)))
    return FinanceParams(years=years, nameplate_kw=nameplate_kw, inflation=_pct(eq, "inflation_pct", 2.5),
                         real_discount_rate=_pct(eq, "discount_rate_real_pct", 6.4), costs=costs, debt=debt,
                         tax=tax, reserves_interest=_pct(eq, "reserves_interest_pct"))


def _schema_messages(err: jsonschema.ValidationError) -> list[tuple[tuple, str]]:
    if err.validator == "exclusiveMinimum":
        return [(tuple(err.absolute_path), f"must be > {err.validator_value}; got {err.instance}")]
    return _messages(err)


def _problems(doc: dict, max_paths: int) -> list[tuple[str, str]]:
    """Schema problems, then the checks JSON Schema cannot say."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    out = [(_fmt_path(p), m) for e in errors for p, m in _schema_messages(e)]
    if out:
        return out
    proj, ops, unc = doc["project"], doc.get("operations", {}), doc.get("uncertainty", {})
    dbt, tax = doc["debt"], doc.get("tax", {})
    paths = unc.get("paths", 1000)
    if paths > max_paths:
        out.append(("uncertainty.paths", f"must be <= {max_paths} (the configured limit); got {paths}"))
    months = [parse_period(p)[1] for p in ops.get("profile", {}).get("periods", [])]
    if len(set(months)) != len(months):
        out.append(("operations.profile.periods", "two periods fall in the same month of the year"))
    elif len(months) != 12:
        missing = sorted(set(range(1, 13)) - set(months))
        out.append(("operations.profile.periods",
                    f"needs one period for every month of the year; missing month(s) {missing}"))
    if dbt["tenor_years"] > proj["horizon_years"]:
        out.append(("debt.tenor_years", f"must be <= project.horizon_years ({proj['horizon_years']}); "
                                        f"got {dbt['tenor_years']}"))
    if dbt.get("sizing", "dscr") == "fraction" and "fraction_pct" not in dbt:
        out.append(("debt.fraction_pct", "required with sizing: fraction"))
    names = [c["case"] for c in dbt.get("cases", [])]
    if len(set(names)) != len(names):
        out.append(("debt.cases", "each case at most once"))
    alloc = sum(float(v) for v in tax.get("depreciation", {}).values())
    if alloc > 1.0 + 1e-9:
        out.append(("tax.depreciation", f"fractions add up to {alloc:g}, more than 1"))
    if "custom" in tax.get("depreciation", {}) and not tax.get("custom_schedule"):
        out.append(("tax.custom_schedule", "required with a custom depreciation class"))
    for section in ("prices", "fuel"):
        a = unc.get(section, {})
        if a.get("process") == "curves" and not a.get("curves"):
            out.append((f"uncertainty.{section}.curves", "required with process: curves"))
        if a.get("process") == "given" and "sigma_pct" not in a:
            out.append((f"uncertainty.{section}.sigma_pct", "required with process: given"))
    fuel_cost = doc["costs"].get("fuel")
    if fuel_cost is not None and "index" not in fuel_cost and "index" not in unc.get("fuel", {}):
        out.append(("costs.fuel.index", "required (the gas index the fuel is bought at)"))
    return out


def parse_model(doc: Any, source: str = "model", *, max_paths: int = DEFAULT_MAX_PATHS,
                paths: int | None = None, seed: int | None = None) -> BankabilityModel:
    """Validate a model document and build the model; ``paths``/``seed`` override the
    document's (the command line's ``--paths``/``--seed``). Raises ``ValidationError``
    naming the first bad field, with every problem in ``.problems``."""
    if not isinstance(doc, dict):
        raise ValidationError("a bankability model is a mapping", file=source, field="(document)")
    doc = _normalise(copy.deepcopy(doc))
    unc = doc.setdefault("uncertainty", {}) if isinstance(doc.get("uncertainty", {}), dict) else doc.get("uncertainty")
    if isinstance(unc, dict):
        if paths is not None:
            unc["paths"] = paths
        if seed is not None:
            unc["seed"] = seed
    problems = _problems(doc, max_paths)
    if problems:
        raise ValidationError(problems[0][1], file=source, field=problems[0][0],
                              problems=[f"{p}: {m}" for p, m in problems])
    proj, ops, unc = doc["project"], doc.get("operations", {}), doc.get("uncertainty", {})
    gen = unc.get("generation", {})
    tail = proj.get("merchant_tail")
    fuel_u = unc.get("fuel", {})
    fuel_c = doc["costs"].get("fuel")
    fuel_index = (fuel_c or {}).get("index") or fuel_u.get("index")
    eq = doc.get("equity", {})
    return BankabilityModel(
        doc=doc, name=doc.get("name", ""), contracts=tuple(sorted(proj["contracts"])), cod=proj["cod"],
        horizon_years=int(proj["horizon_years"]),
        nameplate_kw=float(proj["nameplate_kw"]) if "nameplate_kw" in proj else None,
        merchant_tail=(MerchantTail(tuple(tail.get("channels", ("kind:generation",))), float(tail.get("share", 1.0)),
                                    tail.get("market_run", "RT")) if tail is not None else None),
        profile_periods=tuple(sorted(ops["profile"]["periods"])), price_shape=ops["profile"].get("prices", "typical"),
        as_of=dict(ops.get("as_of", {})),
        ops=Operations(degradation=_pct(ops, "degradation_pct_per_year"),
                       availability=_pct(ops, "availability_pct", 100),
                       load_growth=_pct(ops, "load_growth_pct_per_year"),
                       uncertain_resources=tuple(gen.get("resources", ()))),
        paths=int(unc.get("paths", 1000)), seed=int(unc.get("seed", 0)),
        gen_iav=_pct(gen, "iav_pct"), gen_model=_pct(gen, "model_pct"),
        prices=_assumptions(unc.get("prices", {}), PriceAssumptions),
        fuel=_assumptions(fuel_u, FuelAssumptions, index=fuel_index,
                          p50_usd_per_mmbtu=fuel_u.get("p50_usd_per_mmbtu"),
                          correlation=fuel_u.get("correlation")),
        fuel_index=fuel_index if fuel_c is not None else None,
        fuel_channels=tuple(fuel_c["channels"]) if fuel_c and "channels" in fuel_c else None,
        fuel_heat_rate=(float(fuel_c["heat_rate_mmbtu_per_mwh"])
                        if fuel_c and "heat_rate_mmbtu_per_mwh" in fuel_c else None),
        target_irr=_pct(eq, "target_irr_pct") if "target_irr_pct" in eq else None,
        finance={k: doc.get(k, {}) for k in ("costs", "tax", "debt", "equity")})


def model_hash(model: BankabilityModel) -> str:
    """SHA-256 of the normalised document's canonical JSON (with the effective paths
    and seed): the lineage of a result."""
    return hashlib.sha256(canonical_json(model.doc)).hexdigest()


def check_references(model: BankabilityModel, contracts: dict[str, Any], sites: dict[str, Any],
                     source: str = "model") -> None:
    """The checks that need stored data: every contract exists; every channel the model
    names exists at a site of the project; the horizon is covered by a contract term at
    every site, or a merchant tail says what happens after it. ``contracts`` maps id ->
    list of ``ContractVersion`` (None if unknown); ``sites`` the registry's sites."""
    problems: list[tuple[str, str]] = []
    for i, cid in enumerate(model.doc["project"]["contracts"]):
        if not contracts.get(cid):
            problems.append((f"project.contracts[{i}]", f"unknown contract {cid!r}"))
    if problems:
        raise ValidationError(problems[0][1], file=source, field=problems[0][0],
                              problems=[f"{p}: {m}" for p, m in problems])
    project_sites = sorted({s for cid in model.contracts for cv in contracts[cid] for s in cv.sites})
    for sid in project_sites:
        if sid not in sites:
            problems.append(("project.contracts", f"site {sid!r} of the contracts is not in the site registry"))
    named = []
    if model.fuel_channels:
        named += [("costs.fuel.channels", i, r) for i, r in enumerate(model.fuel_channels)]
    if model.merchant_tail:
        named += [("project.merchant_tail.channels", i, r) for i, r in enumerate(model.merchant_tail.channels)]
    for where, i, ref in named:
        if ref.startswith("kind:"):
            continue
        if not any(ref in sites[s].channels for s in project_sites if s in sites):
            problems.append((f"{where}[{i}]", f"unknown channel {ref!r} at the project's sites "
                                              f"({', '.join(project_sites)})"))
    last_day = _last_day(model.last_period)
    if model.merchant_tail is None:
        for sid in project_sites:
            ends = [cv.term_end for cid in model.contracts for cv in contracts[cid] if sid in cv.sites]
            if ends and max(ends) < last_day:
                problems.append(("project.horizon_years",
                                 f"the horizon ends {last_day}, after the last contract term at site "
                                 f"{sid} ({max(ends)}): shorten it or add project.merchant_tail"))
    if problems:
        raise ValidationError(problems[0][1], file=source, field=problems[0][0],
                              problems=[f"{p}: {m}" for p, m in problems])


def _last_day(period: str):
    from datetime import date, timedelta
    y, m = parse_period(next_period(period))
    return date(y, m, 1) - timedelta(days=1)
