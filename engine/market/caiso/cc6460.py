"""CAISO CC 6460: FMM Instructed Imbalance Energy Settlement, per 15-minute interval.

    IIE_FMM,i = (Q_FMM,i - Q_DA,h(i)) x 1/4 h
    amount_i  = (-1) x IIE_FMM,i x LMP_FMM,i

``Q_FMM`` the fifteen-minute market schedule (``awards.product = fmm``), ``Q_DA`` the
IFM schedule of the hour, ``LMP_FMM`` the FMM LMP at the PNode (prices ``FMM`` run).
Structure per the configuration guide CC 6460 §2 (seen); the §3.6 formula was **not
seen**. Only intervals covered by an FMM schedule.
"""
from __future__ import annotations

import numpy as np

from ..common import Lines, priced, rule_name
from ..inputs import MarketInputs
from ..series import grid

CHARGE_TYPE = "6460"
NAME = "FMM Instructed Imbalance Energy Settlement"
SOURCE = "CAISO CG CC 6460 §2 (seen), §3.6 (not seen); Tariff §11.5.1"
CONFIRMED = False


def covered(inp: MarketInputs, product: str, starts: np.ndarray, minutes: int) -> np.ndarray:
    s = inp.award(product)
    if len(s) == 0:
        return np.zeros(starts.size, dtype=bool)
    idx = np.searchsorted(s.start_us, starts, side="right") - 1
    safe = np.maximum(idx, 0)
    return (idx >= 0) & (starts + minutes * 60_000_000 <= s.start_us[safe] + s.minutes[safe] * 60_000_000)


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts = grid(start_us, end_us, 15)
    starts = starts[covered(inp, "fmm", starts, 15)]
    if starts.size == 0:
        return []
    fmm = inp.award_energy("fmm", starts, 15)
    da = inp.da_position(starts, 15)
    p = priced(inp, "FMM", r.settlement_point, starts, 15, f"CAISO FMM LMP {r.settlement_point}")
    return [Lines("CAISO", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 15, fmm - da, p, sign=-1, da_wh12=da, instructed_wh12=fmm)]
