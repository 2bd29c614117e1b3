"""A battery as the re-dispatch LP sees it, and what it is asked to do.

Units: power in MW, energy in MWh, money in USD, floats (an LP is solved in floating
point; its result becomes integer Wh channels once, see :mod:`engine.dispatch.lp`).

Efficiency. Charge ``c`` and discharge ``d`` are the energies metered at the
battery's terminals (its ``storage_charge`` and ``storage_discharge`` channels). A
round-trip efficiency ``eta`` is split evenly, ``eta_c = eta_d = sqrt(eta)``, so the
state of charge moves by ``eta_c x c - d / eta_d`` per interval and a full cycle gives
back ``eta`` of what it took.

Cycle limit. ``cycles_per_day`` bounds the energy discharged in each local day (the
site's time zone: 23, 24 or 25 hours) to ``cycles_per_day x (soc_max - soc_min)``:
one cycle is one full usable depth discharged.

Objectives (the LP maximises revenue or minimises cost over each window):

``arbitrage``
    ``sum p_i x (d_i - c_i)`` at the site's market price ``p``, minus the degradation
    cost of the energy discharged.
``min_import_cost``
    the cost of the site's grid imports: with the site's net import without the
    battery ``g_i``, the import is ``max(0, g_i + c_i - d_i)``, paid at ``p_i``; exports
    earn nothing at a non-negative price, and at a negative price the net flow is paid
    as it is (``p_i x (g_i + c_i - d_i)``: importing is paid for, exporting costs), so
    the cost stays convex.
``max_contract_revenue``
    ``sum v_i x d_i + w_i x c_i``: the contracts' marginal revenue of a MWh discharged
    or charged in each interval, ``v`` and ``w``, which the caller takes from the
    contract engine itself (``engine.scenario.battery``), minus degradation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

OBJECTIVES = ("arbitrage", "min_import_cost", "max_contract_revenue")
WINDOWS = ("perfect", "day", "week")


@dataclass(frozen=True)
class Battery:
    """Power, energy and efficiency limits of one battery."""
    charge_mw: float
    discharge_mw: float
    energy_mwh: float
    round_trip_efficiency: float = 1.0
    soc_min_mwh: float = 0.0
    soc_max_mwh: float | None = None           # default: energy_mwh
    soc_initial_mwh: float = 0.0
    cycles_per_day: float | None = None
    degradation_usd_per_mwh: float = 0.0       # per MWh discharged
    soc_final_mwh: float | None = None         # the horizon ends at >= this (None: free)

    @property
    def soc_max(self) -> float:
        return self.energy_mwh if self.soc_max_mwh is None else self.soc_max_mwh

    @property
    def eta_charge(self) -> float:
        return math.sqrt(self.round_trip_efficiency)

    @property
    def eta_discharge(self) -> float:
        return math.sqrt(self.round_trip_efficiency)

    def problems(self) -> list[tuple[str, str]]:
        """Every (field, message) that makes the battery infeasible before any
        optimisation (the scenario refuses such a variant before any work)."""
        out: list[tuple[str, str]] = []
        for name in ("charge_mw", "discharge_mw", "energy_mwh"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                out.append((name, f"must be > 0; got {v:g}"))
        if not (0 < self.round_trip_efficiency <= 1):
            out.append(("round_trip_efficiency", f"must be in (0, 1]; got {self.round_trip_efficiency:g}"))
        if self.soc_min_mwh < 0:
            out.append(("soc_min", f"must be >= 0; got {self.soc_min_mwh:g} MWh"))
        if self.soc_max > self.energy_mwh + 1e-12:
            out.append(("soc_max", f"{self.soc_max:g} MWh is above the energy capacity "
                                   f"{self.energy_mwh:g} MWh"))
        if self.soc_min_mwh > self.soc_max:
            out.append(("soc_min", f"minimum state of charge {self.soc_min_mwh:g} MWh is above "
                                   f"the maximum {self.soc_max:g} MWh"))
        elif not (self.soc_min_mwh - 1e-12 <= self.soc_initial_mwh <= self.soc_max + 1e-12):
            out.append(("soc_initial", f"{self.soc_initial_mwh:g} MWh is outside the state-of-charge "
                                       f"bounds [{self.soc_min_mwh:g}, {self.soc_max:g}] MWh"))
        if self.cycles_per_day is not None and not self.cycles_per_day > 0:
            out.append(("cycles_per_day", f"must be > 0; got {self.cycles_per_day:g}"))
        if self.degradation_usd_per_mwh < 0:
            out.append(("degradation_usd_per_mwh", "must be >= 0"))
        if self.soc_final_mwh is not None and not (
                self.soc_min_mwh - 1e-12 <= self.soc_final_mwh <= self.soc_max + 1e-12):
            out.append(("soc_final", f"{self.soc_final_mwh:g} MWh is outside the state-of-charge "
                                     f"bounds [{self.soc_min_mwh:g}, {self.soc_max:g}] MWh"))
        return out


__all__ = ["Battery", "OBJECTIVES", "WINDOWS"]
