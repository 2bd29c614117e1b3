"""Emission factors as a versioned reference document, and the selectable GWP sets.

The factors are data, not code: ``factor_sets/us-epa-40cfr98-2024.json`` is the document
(loaded once, with ``importlib.resources`` like ``contract_schema.json``), each row with
its value, unit and citation. A statement names the set it used (:attr:`FactorSet.ref`,
``us-epa-40cfr98@2024.1``) and its SHA-256, so a changed document is a changed input.

Sources (read for this module):

* 40 CFR 98 Subpart C, Table C-1: natural gas 53.06 kg CO2/MMBtu (weighted U.S. average,
  1.026E-03 MMBtu/scf); distillate No. 2 73.96; propane 62.87 (docest copy of Tables C-1/C-2
  "last updated 81 FR 89188"; govregs/casetext copies of Table NN-1 give natural gas 53.06).
* 40 CFR 98 Subpart C, Table C-2 (govregs, "as amended at ... 89 FR 42220, May 14, 2024"):
  natural gas 1.0E-03 kg CH4/MMBtu and 1.0E-04 kg N2O/MMBtu; petroleum products 3.0E-03 and
  6.0E-04. Its footnote 1: subpart W reporters with natural gas-fired reciprocating engines
  or gas turbines must use a CH4 factor per 98.233(z)(4) instead. meter2cash uses the
  default; a subpart W reporter must override it (not supported: stated, not guessed).
* 40 CFR 98 Subpart A, Table A-1 (100-year GWPs). **Regulatory default: AR5** (CH4 28,
  N2O 265), since the final rule of April 25, 2024 (89 FR 31802, Table A-1 at 89 FR 31894),
  effective January 1, 2025; before it AR4 (CH4 25, N2O 298; the 2013 revisions, effective January 1, 2014). Not
  confirmed from a primary text read here: the amended table's entries themselves (28 and
  265 are the IPCC AR5 values) and whether they first apply to reporting year 2024 (a
  secondary source says so) or 2025. Both sets are selectable (:func:`gwp_set`).

Exactness. A factor's kg/MMBtu must have at most 4 decimals (Table C-2's 1.0E-04), so
``millibtu x factor`` is an exact integer of 1e-13 kg (``engine.carbon.units``): the
loader refuses a row that is not.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from ..errors import ValidationError

#: the factor set meter2cash uses by default
DEFAULT_FACTOR_SET = "us-epa-40cfr98-2024.json"
GASES = ("CO2", "CH4", "N2O")
#: kg/MMBtu -> 1e-13 kg per millibtu: x 1e13 / 1e9
_UNITS_PER_MILLIBTU = 10**4


@dataclass(frozen=True)
class FuelFactors:
    """One fuel's factors in 1e-13 kg per millibtu (integers), with their citations."""
    fuel: str
    name: str
    co2: int
    ch4: int
    n2o: int
    sources: tuple[str, ...]

    def gas(self, gas: str) -> int:
        return {"CO2": self.co2, "CH4": self.ch4, "N2O": self.n2o}[gas]

    def co2e(self, gwp: "GwpSet") -> int:
        """CO2e per millibtu under ``gwp`` (exact integer)."""
        return self.co2 * gwp.co2 + self.ch4 * gwp.ch4 + self.n2o * gwp.n2o


@dataclass(frozen=True)
class GwpSet:
    name: str
    co2: int
    ch4: int
    n2o: int
    source: str


@dataclass(frozen=True)
class FactorSet:
    factor_set: str
    version: str
    sha256: str
    default_gwp: str
    fuels: dict[str, FuelFactors]
    gwp_sets: dict[str, GwpSet]
    document: dict

    @property
    def ref(self) -> str:
        return f"{self.factor_set}@{self.version}"

    def fuel(self, name: str, *, where: str = "fuel") -> FuelFactors:
        try:
            return self.fuels[name]
        except KeyError:
            raise ValidationError(f"unknown fuel {name!r}; the factor set {self.ref} has "
                                  f"{', '.join(sorted(self.fuels))}", field=where) from None

    def gwp(self, name: str | None = None) -> GwpSet:
        name = name or self.default_gwp
        try:
            return self.gwp_sets[name]
        except KeyError:
            raise ValidationError(f"unknown GWP set {name!r}; one of {', '.join(sorted(self.gwp_sets))}",
                                  field="gwp") from None


def _units_per_millibtu(text: str, where: str) -> int:
    scaled = Decimal(text) * _UNITS_PER_MILLIBTU
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise ValueError(f"{where}: {text} kg/MMBtu is not a non-negative multiple of 1e-4 "
                         "(the exact resolution of engine.carbon.units)")
    return int(scaled)


def parse_factor_set(raw: bytes) -> FactorSet:
    """Build a :class:`FactorSet` from the document's bytes (checks every row)."""
    doc = json.loads(raw)
    rows: dict[str, dict[str, tuple[int, str]]] = {}
    for i, row in enumerate(doc["factors"]):
        where = f"factors[{i}]"
        if row["fuel"] not in doc["fuels"] or row["gas"] not in GASES or not row.get("source"):
            raise ValueError(f"{where}: a known fuel, a gas of {GASES} and a source are required")
        rows.setdefault(row["fuel"], {})[row["gas"]] = (
            _units_per_millibtu(row["kg_per_mmbtu"], where), row["source"])
    fuels = {}
    for fuel, meta in doc["fuels"].items():
        gases = rows.get(fuel, {})
        if set(gases) != set(GASES):
            raise ValueError(f"fuel {fuel}: needs a CO2, CH4 and N2O row")
        fuels[fuel] = FuelFactors(fuel, meta["name"], gases["CO2"][0], gases["CH4"][0], gases["N2O"][0],
                                  tuple(gases[g][1] for g in GASES))
    gwps = {name: GwpSet(name, int(g["CO2"]), int(g["CH4"]), int(g["N2O"]), g["source"])
            for name, g in doc["gwp_sets"].items()}
    if doc["default_gwp"] not in gwps:
        raise ValueError(f"default_gwp {doc['default_gwp']} is not a GWP set of the document")
    return FactorSet(doc["factor_set"], doc["version"], hashlib.sha256(raw).hexdigest(),
                     doc["default_gwp"], fuels, gwps, doc)


@functools.cache
def factor_set(name: str = DEFAULT_FACTOR_SET) -> FactorSet:
    """The factor set shipped with meter2cash (read once per process)."""
    raw = resources.files("engine.carbon").joinpath("factor_sets", name).read_bytes()
    return parse_factor_set(raw)


def fuel_names() -> tuple[str, ...]:
    return tuple(sorted(factor_set().fuels))


__all__ = ["DEFAULT_FACTOR_SET", "GASES", "FuelFactors", "GwpSet", "FactorSet", "parse_factor_set",
           "factor_set", "fuel_names"]
