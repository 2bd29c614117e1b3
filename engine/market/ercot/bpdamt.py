"""ERCOT ``BPDAMT``: Base Point Deviation Charge of a Generation Resource, per 15-minute
Settlement Interval, where base points exist.

Formulas (Nodal Protocols §6.6.5.1.1 over-generation, §6.6.5.1.2 under-generation, as
revised by NPRR 377; **seen** in ERCOT's Settlement and Extracts Working Group slides
"Base Point Deviation - NPRR377", 2011-06-20), per 5-minute clock interval ``y``::

    OGEN5M y = Max[0, AVGTG5M y - Max((1 + K1) x AABP5M y, AABP5M y + Q1)]
    UGEN5M y = Max[0, Min((1 - K2) x AABP5M y, AABP5M y - Q2) - AVGTG5M y]
    K1 = K2 = 5 %,  Q1 = Q2 = 5 MW

and per Settlement Interval ``i`` (OGEN, UGEN = the sums over its three clocks)::

    over:   BPDAMT = Max(PR1, RTSPP) x OGEN x 1/12
    under:  BPDAMT = (-1) x Min(PR2, RTSPP) x Min(1, KP) x UGEN x 1/12

What is implemented and what is assumed:

* ``AABP5M`` = the 5-minute base point (``awards.product = base_point``); Regulation
  deployments (``AVGREG5M``) are not modelled (0).
* ``AVGTG5M`` (telemetered output) is taken from the 5-minute metered net injection
  (W = wh12 per 5 minutes). Resources metered coarser than 5 minutes get no BPDAMT.
* The tolerance band ``(1 +/- 5 %) x AABP`` is computed in whole watts (half-even).
* ``PR1 = 20 USD/MWh``, ``PR2 = -20 USD/MWh`` and ``KP = 1`` are **not confirmed**
  (the slide names them without values); they are parameters of this module.
* Only ``generator`` and ``storage`` resources; a line only for intervals whose three
  clocks all have a base point. One line per interval: quantity = OGEN + UGEN, price
  = RTSPP, amount = over + under (exact, then rounded once).
"""
from __future__ import annotations

import numpy as np

from ..common import Lines, rule_name
from ..inputs import MarketInputs
from ..series import grid
from ..units import mul_amount
from .rtspp import rtspp

CHARGE_TYPE = "BPDAMT"
NAME = "Base Point Deviation Charge"
SOURCE = "ERCOT Nodal Protocols §6.6.5.1 (NPRR 377, SEWG slides 2011-06-20); PR1/PR2/KP unconfirmed"
CONFIRMED = False
K_PCT, Q_W = 5, 5_000_000
PR1_MICRO, PR2_MICRO, KP = 20_000_000, -20_000_000, 1


def _pct(x: np.ndarray, pct: int) -> np.ndarray:
    """``x * pct / 100`` rounded half-even to whole units."""
    num = x * pct
    q, r = np.divmod(num, 100)
    up = (2 * r > 100) | ((2 * r == 100) & (q % 2 == 1))
    return q + up


def compute(inp: MarketInputs, start_us: int, end_us: int) -> list[Lines]:
    r = inp.resource
    if r.kind not in ("generator", "storage") or not inp.has_award("base_point"):
        return []
    chans = r.inject + r.withdraw
    if any(len(inp.meter.get(c, ())) and int(inp.meter[c].minutes.max()) > 5 for c in chans):
        return []
    starts = grid(start_us, end_us, 15)
    bp_s = inp.award("base_point")
    clocks = starts[:, None] + np.arange(3)[None, :] * 300_000_000
    flat = clocks.ravel()
    idx = np.searchsorted(bp_s.start_us, flat, side="right") - 1
    safe = np.maximum(idx, 0)
    has = (idx >= 0) & (flat < bp_s.start_us[safe] + bp_s.minutes[safe] * 60_000_000)
    whole = has.reshape(-1, 3).all(axis=1)
    if not whole.any():
        return []
    starts, clocks = starts[whole], clocks[whole].ravel()
    aabp = inp.award_energy("base_point", clocks, 5)          # W (wh12 over 5 minutes)
    tg = inp.net_injection(clocks, 5)
    upper = np.maximum(aabp + _pct(aabp, K_PCT), aabp + Q_W)
    lower = np.minimum(aabp - _pct(aabp, K_PCT), aabp - Q_W)
    ogen = np.maximum(0, tg - upper).reshape(-1, 3).sum(axis=1)
    ugen = np.maximum(0, lower - tg).reshape(-1, 3).sum(axis=1)
    price = rtspp(inp, r.settlement_point, starts)
    over = mul_amount(ogen, np.maximum(PR1_MICRO, price))
    under = mul_amount(ugen, np.minimum(PR2_MICRO, price) * min(1, KP))
    amount = np.asarray(over, dtype=object) - np.asarray(under, dtype=object) \
        if over.dtype == object or under.dtype == object else over - under
    return [Lines("ERCOT", r.resource_id, r.settlement_point, CHARGE_TYPE, rule_name(__name__),
                  starts, 15, ogen + ugen, price, metered_wh12=tg.reshape(-1, 3).sum(axis=1),
                  instructed_wh12=aabp.reshape(-1, 3).sum(axis=1), amount12=amount)]
