"""CAISO CC 6470: RTD Instructed Imbalance Energy Settlement, per 5-minute interval.

    IIE_RTD,i = (Q_RTD,i - Q_FMM,f(i)) x 1/12 h
    amount_i  = (-1) x IIE_RTD,i x LMP_RTD,i

``Q_RTD`` the real-time dispatch (``awards.product = rtd``), ``Q_FMM`` the FMM schedule
of the enclosing 15 minutes, ``LMP_RTD`` the 5-minute real-time LMP (prices ``RT``
run). Where no FMM schedule covers the interval the resource's last schedule is its
day-ahead one, so ``Q_FMM`` is the day-ahead position there (each market settles the
change from the schedule before it: IFM, then FMM, then RTD); taking 0 there would pay
a day-ahead schedule twice, at the IFM and again at the RTD price.
Structure per CG CC 6470 / CC 6460 §2 (seen); the §3.6 formula was **not seen**. Only
intervals covered by an RTD dispatch.
"""
from __future__ import annotations

import numpy as np

from ..common import Lines, priced, rule_name
from ..inputs import MarketInputs
from ..series import grid
from .cc6460 import covered

CHARGE_TYPE = "6470"
NAME = "RTD Instructed Imbalance Energy Settlement"
SOURCE = "CAISO CG CC 6470 (§2 structure seen via CC 6460/6477; §3.6 not seen); Tariff §11.5.1"
CONFIRMED = False


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    starts = grid(start_us, end_us, 5)
    starts = starts[covered(inp, "rtd", starts, 5)]
    if starts.size == 0:
        return []
    rtd = inp.award_energy("rtd", starts, 5)
    fmm = np.where(covered(inp, "fmm", starts, 5), inp.award_energy("fmm", starts, 5),
                   inp.da_position(starts, 5))
    p = priced(inp, "RT", r.settlement_point, starts, 5, f"CAISO RTD LMP {r.settlement_point}")
    return [Lines("CAISO", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 5, rtd - fmm, p, sign=-1, instructed_wh12=rtd)]
