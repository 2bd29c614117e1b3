"""Exact units of the market engine: energy in twelfths of a watt-hour.

ISO quantities come in three shapes that must all stay exact:

* metered energy in Wh (the meter table), on 1-, 5-, 15-, 30- or 60-minute grids;
* awards, schedules and base points as MW held over an interval (stored in W);
* the ISO's settlement intervals of 5, 15 or 60 minutes.

``P`` watts held for 5 minutes is ``P/12`` Wh, which is not a whole number of Wh.
The market engine therefore counts energy in **wh12 = 1/12 Wh** (a watt held for
five minutes): a power of ``P`` W over ``m`` minutes is ``P * m / 5`` wh12 (exact for
every multiple of 5 minutes), and a meter reading of ``E`` Wh over ``m`` minutes
spread evenly over a sub-interval of ``s`` minutes is ``E * 12 * s / m`` wh12 (exact
for every grid pair used here: 5 of 15, 5 or 15 of 60, 5 or 15 of 30).

Amounts are ``energy_wh12 * price_microusd_per_mwh`` in units of **1/12 pico-USD**
(1/12 Wh x 1e-6 USD/MWh = 1/12 x 1e-12 USD). A settlement line's amount is its exact
value rounded **once** to cents, half away from zero: the one rounding rule of
``engine.money``, applied to a line that is a single interval of one charge type.

Products are int64 when their bound allows (two reductions, as ``engine.money``);
otherwise they are computed with Python integers (exact, slower): a 1 GW resource at
a 5,000 USD/MWh cap still settles exactly.
"""
from __future__ import annotations

import numpy as np

from ..units import PICO_PER_CENT

WH12_PER_WH = 12
#: 1/12 pico-USD per cent
AMOUNT12_PER_CENT = WH12_PER_WH * PICO_PER_CENT
_INT64_MAX = np.iinfo(np.int64).max


def power_to_wh12(power_w: np.ndarray, minutes: int) -> np.ndarray:
    """Energy of ``power_w`` held for ``minutes`` (a multiple of 5), in wh12."""
    if minutes % 5:
        raise ValueError(f"market intervals are multiples of 5 minutes, got {minutes}")
    return np.asarray(power_w, dtype=np.int64) * (minutes // 5)


def wh12_to_wh_str(value: int) -> str:
    """Exact decimal MWh of a wh12 count, for display: 6 places, half-even beyond."""
    from decimal import ROUND_HALF_EVEN, Decimal
    mwh = Decimal(int(value)) / Decimal(12_000_000)
    return str(mwh.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def mul_amount(qty_wh12: np.ndarray, price: np.ndarray) -> np.ndarray:
    """``qty * price`` element-wise: int64 when the bound allows, else exact Python ints
    (an object array)."""
    a = np.asarray(qty_wh12, dtype=np.int64)
    b = np.asarray(price, dtype=np.int64)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    amax, bmax = int(np.abs(a).max()), int(np.abs(b).max())
    if amax and bmax and amax > _INT64_MAX // bmax:
        return a.astype(object) * b.astype(object)
    return a * b


def amount_cents(amount12: np.ndarray, sign: int = 1) -> np.ndarray:
    """Cents of each exact line amount (1/12 pico-USD), times ``sign`` (+1 or -1),
    rounded once, half away from zero; int64."""
    x = np.asarray(amount12)
    if x.dtype == object:
        out = np.empty(x.size, dtype=np.int64)
        for i, v in enumerate(x.tolist()):
            iv = int(v) * sign
            qi, ri = divmod(abs(iv), AMOUNT12_PER_CENT)
            ci = qi + (1 if 2 * ri >= AMOUNT12_PER_CENT else 0)
            out[i] = ci if iv >= 0 else -ci
        return out
    signed = x.astype(np.int64) * sign
    q, r = np.divmod(np.abs(signed), AMOUNT12_PER_CENT)
    c = q + (2 * r >= AMOUNT12_PER_CENT)
    return np.where(signed >= 0, c, -c).astype(np.int64)


__all__ = ["WH12_PER_WH", "AMOUNT12_PER_CENT", "power_to_wh12", "wh12_to_wh_str", "mul_amount",
           "amount_cents"]
