"""ERCOT ``RTEIAMT``: Real-Time Energy Imbalance Amount at a Resource Node, per QSE,
settlement point and 15-minute Settlement Interval (rule before RTC+B).

Formula (Nodal Protocols §6.6.3.1 as revised by NPRR 419, which added the volumetric
determinants; **the protocol text was not seen here**: the equation is the one in
``shared/notes/domain.md`` §2 [R], consistent with the confirmed DAESAMT sign)::

    RTEIAMT q,p,i = (-1) x RTSPP p,i x (RTMG q,p,i + DAEP q,p,i - DAES q,p,i
                                        + RTQQEP q,p,i - RTQQES q,p,i)

``RTMG`` metered generation at the resource node in the interval (MWh); ``DAES``,
``DAEP`` the day-ahead sale and purchase, the hourly MW applied to each quarter hour
(MW x 1/4 h); ``RTSPP`` the interval's price (``ercot.rtspp``). QSE-to-QSE trades
(``RTQQEP``, ``RTQQES``) are not modelled (taken as 0). One line every interval, 92,
96 or 100 a day, even when it is 0.

Searched again (issue 17 follow-up): the §6.6.3.1 text is not in the corpus (the NPRR 419
summary is); a third-party repository quotes ERCOT's training "Settlement: Energy and
PTP Obligations" (2024, slides 32-34 and 44) as ``RTEIAMT = (-1) x RTSPP x (DAM/trade
energy) + (-1) x RTSPPEW x (SOG - AdjMeteredLoad)``: the same structure (day-ahead and
trade positions liquidated at the RTSPP, metered energy at the real-time price; at a
Load Zone the metered load at the energy-weighted RTSPPEW of NPRR 355), but second hand,
so still **not confirmed**. Public settlement-data code negates DAESAMT, DAEPAMT and
RTEIAMT to show revenue, which agrees with the sign used here.

Before RTC+B (operating days before 2025-12-05) a battery was two ERCOT resources, a
Generation Resource for discharge and a Controllable Load Resource for charging;
this module therefore counts a ``storage`` resource's injection only (its charging
is the Load Resource's, settled outside this resource's RTEIAMT and not shadowed
here). Other resources are metered net (inject - withdraw). See ``rteiamt_rtcb``.
"""
from __future__ import annotations

import numpy as np

from ..common import Lines, rule_name
from ..inputs import MarketInputs
from ..series import grid
from .rtspp import rtspp

CHARGE_TYPE = "RTEIAMT"
NAME = "Real-Time Energy Imbalance Amount"
SOURCE = ("ERCOT Nodal Protocols §6.6.3.1, NPRR 419 (formula recalled; structure quoted second hand "
          "from ERCOT training 'Settlement: Energy and PTP Obligations' 2024, slides 32-34, 44)")
CONFIRMED = False


def metered(inp: MarketInputs, starts: np.ndarray, *, single_esr: bool) -> np.ndarray:
    r = inp.resource
    if not r.metered:
        return np.zeros(starts.size, dtype=np.int64)
    if r.kind == "storage" and not single_esr:
        return inp.channels_energy(r.inject, starts, 15)
    return inp.net_injection(starts, 15)


def imbalance(inp: MarketInputs, start_us: int, end_us: int, rule: str, *,
              single_esr: bool) -> list[Lines]:
    r = inp.resource
    starts = grid(start_us, end_us, 15)
    rtmg = metered(inp, starts, single_esr=single_esr)
    daes = inp.award_energy("da_sale", starts, 15)
    daep = inp.award_energy("da_purchase", starts, 15)
    qty = rtmg + daep - daes
    return [Lines("ERCOT", r.resource_id, r.settlement_point, CHARGE_TYPE, rule, starts, 15, qty,
                  rtspp(inp, r.settlement_point, starts), sign=-1, metered_wh12=rtmg,
                  da_wh12=daes - daep)]


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    return imbalance(inp, start_us, end_us, rule_name(__name__), single_esr=False)
