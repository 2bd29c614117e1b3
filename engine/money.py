"""Exact money: integer pico-dollars inside, cents on the invoice.

The rounding rule (the only one in meter2cash)
----------------------------------------------
Every interval amount is an exact integer number of pico-dollars
(``energy_wh * rate_microusd_per_mwh``). An invoice line's amount is the exact
sum of its interval amounts, rounded **once** to cents, half away from zero
(ROUND_HALF_UP in ``decimal`` terms). The invoice total is the sum of the rounded
line amounts, so lines always sum to the total to the cent. Nothing is rounded
between the interval and the line, so the result does not depend on how the
intervals were partitioned, ordered or summed.
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np

from .units import PICO_PER_CENT

_INT64_MAX = np.iinfo(np.int64).max


def mul_exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise ``a * b`` of int64 arrays, raising instead of overflowing.

    The bound check is on the maxima, so it costs two reductions, not a loop.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size and b.size:
        # magnitudes from the extremes as Python ints: np.abs(INT64_MIN) is INT64_MIN
        amax = max(-int(a.min()), int(a.max()))
        bmax = max(-int(b.min()), int(b.max()))
        if amax and bmax and amax > _INT64_MAX // bmax:
            raise OverflowError(
                f"interval amount would overflow int64: max |a|={amax}, max |b|={bmax}")
    return a * b


def sum_exact(values: np.ndarray) -> int:
    """Exact sum of an int64 array as a Python int, whatever its length.

    Splits each value into a high and a low 32-bit half so neither partial sum can
    overflow for arrays of up to 2**31 elements.
    """
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return 0
    hi = v >> 32                 # arithmetic shift: floor division by 2**32
    lo = v & 0xFFFFFFFF          # always in [0, 2**32)
    return (int(hi.sum(dtype=np.int64)) << 32) + int(lo.sum(dtype=np.int64))


def picousd_to_cents(amount_picousd: int) -> int:
    """Round an exact pico-dollar amount to cents, half away from zero."""
    q, r = divmod(abs(int(amount_picousd)), PICO_PER_CENT)
    cents = q + (1 if 2 * r >= PICO_PER_CENT else 0)
    return cents if amount_picousd >= 0 else -cents


def cents_to_str(cents: int) -> str:
    """Cents -> ``"1234.56"`` (two places, sign in front)."""
    sign = "-" if cents < 0 else ""
    q, r = divmod(abs(int(cents)), 100)
    return f"{sign}{q}.{r:02d}"


def picousd_to_decimal(amount_picousd: int) -> Decimal:
    """Exact USD value of a pico-dollar amount (for display of unrounded figures)."""
    return Decimal(int(amount_picousd)) / Decimal(10**12)


__all__ = ["mul_exact", "sum_exact", "picousd_to_cents", "cents_to_str", "picousd_to_decimal"]
