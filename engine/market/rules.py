"""The rule sets: which module settles which charge type of which ISO on which
operating days. Rules change (PJM moved real-time settlement from hourly to 5 minutes
on 2018-04-01; ERCOT's RTC+B took effect for the 2025-12-05 operating day), so every
row carries the operating-date range it applies to, ``[valid_from, valid_to)``.

A shadow settlement of a range of days cuts it at these dates and runs each piece
with the module in force; a statement's charge types are checked against
:func:`charge_types` (an unknown charge type is a bad statement line).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib import import_module
from types import ModuleType

from ..errors import InputError

RTC_B = date(2025, 12, 5)
PJM_FIVE_MINUTE = date(2018, 4, 1)


@dataclass(frozen=True)
class Rule:
    iso: str
    module: str                     # under engine.market, e.g. "ercot.rteiamt"
    charge_types: tuple[str, ...]
    valid_from: date | None = None
    valid_to: date | None = None    # exclusive

    def applies(self, day: date) -> bool:
        return ((self.valid_from is None or day >= self.valid_from)
                and (self.valid_to is None or day < self.valid_to))

    def load(self) -> ModuleType:
        return import_module(f"engine.market.{self.module}")


RULES: tuple[Rule, ...] = (
    Rule("ERCOT", "ercot.daesamt", ("DAESAMT",)),
    Rule("ERCOT", "ercot.daepamt", ("DAEPAMT",)),
    Rule("ERCOT", "ercot.rteiamt", ("RTEIAMT",), valid_to=RTC_B),
    Rule("ERCOT", "ercot.rteiamt_rtcb", ("RTEIAMT",), valid_from=RTC_B),
    Rule("ERCOT", "ercot.bpdamt", ("BPDAMT",)),
    Rule("PJM", "pjm.da_energy", ("1200", "1210", "1220")),
    Rule("PJM", "pjm.balancing_hourly", ("1205", "1215", "1225"), valid_to=PJM_FIVE_MINUTE),
    Rule("PJM", "pjm.balancing_5min", ("1205", "1215", "1225"), valid_from=PJM_FIVE_MINUTE),
    Rule("CAISO", "caiso.cc6011", ("6011",)),
    Rule("CAISO", "caiso.cc6460", ("6460",)),
    Rule("CAISO", "caiso.cc6470", ("6470",)),
    Rule("CAISO", "caiso.cc6475", ("6475",)),
)


def rules_for(iso: str) -> list[Rule]:
    out = [r for r in RULES if r.iso == iso]
    if not out:
        raise InputError(f"no settlement rules for ISO {iso!r}; known: "
                         f"{', '.join(sorted({r.iso for r in RULES}))}")
    return out


def charge_types(iso: str) -> tuple[str, ...]:
    """Every charge type some rule of ``iso`` settles, sorted."""
    return tuple(sorted({c for r in rules_for(iso) for c in r.charge_types}))


def boundaries(iso: str) -> list[date]:
    """The dates at which some rule of ``iso`` starts or stops applying, sorted."""
    out = set()
    for r in rules_for(iso):
        out |= {d for d in (r.valid_from, r.valid_to) if d is not None}
    return sorted(out)


def in_force(iso: str, day: date) -> list[Rule]:
    return [r for r in rules_for(iso) if r.applies(day)]


def describe(iso: str) -> list[dict]:
    """The rule table of ``iso`` for reports: module, charge types, dates, source, and
    whether its formula was confirmed from a source read."""
    out = []
    for r in rules_for(iso):
        m = r.load()
        out.append({"module": r.module, "charge_types": list(r.charge_types),
                    "valid_from": r.valid_from.isoformat() if r.valid_from else None,
                    "valid_to": r.valid_to.isoformat() if r.valid_to else None,
                    "name": getattr(m, "NAME", ""), "source": getattr(m, "SOURCE", ""),
                    "confirmed": bool(getattr(m, "CONFIRMED", False))})
    return out


__all__ = ["Rule", "RULES", "RTC_B", "PJM_FIVE_MINUTE", "rules_for", "charge_types", "boundaries",
           "in_force", "describe"]
