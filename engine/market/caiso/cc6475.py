"""CAISO CC 6475: Real Time Uninstructed Imbalance Energy Settlement, per 5-minute interval.

    UIE_i    = E_meter,i - EE_i
    amount_i = (-1) x UIE_i x LMP_RTD,i

``E_meter`` the resource's metered energy (settlement-quality meter data; 15-minute
or hourly readings spread evenly over 5 minutes), ``EE`` its expected energy: the
instructed energy of the interval, here the RTD dispatch x 1/12 h, else the FMM
schedule, else the day-ahead schedule (the standard and derate energies of the
real Expected Energy calculation are not modelled). Tariff §11.5.2 (title seen);
CG CC 6475 §3.6 **not seen**. One line per interval of a metered resource.
"""
from __future__ import annotations

import numpy as np

from ..common import Lines, priced, rule_name
from ..inputs import MarketInputs
from ..series import grid
from .cc6460 import covered

CHARGE_TYPE = "6475"
NAME = "Real Time Uninstructed Imbalance Energy Settlement"
SOURCE = "CAISO Tariff §11.5.2; CG CC 6475 (draft BPM 2009 seen to §2; formula not seen)"
CONFIRMED = False


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    if not r.metered:
        return []
    starts = grid(start_us, end_us, 5)
    meter = inp.net_injection(starts, 5)
    expected = np.where(covered(inp, "rtd", starts, 5), inp.award_energy("rtd", starts, 5),
                        np.where(covered(inp, "fmm", starts, 5), inp.award_energy("fmm", starts, 5),
                                 inp.da_position(starts, 5)))
    p = priced(inp, "RT", r.settlement_point, starts, 5, f"CAISO RTD LMP {r.settlement_point}")
    return [Lines("CAISO", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 5, meter - expected, p, sign=-1, metered_wh12=meter,
                  instructed_wh12=expected)]
