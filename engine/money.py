"""Exact money: integer pico-dollars inside, cents on the invoice.

Checked integer arithmetic
--------------------------
numpy's int64 arithmetic wraps silently (two channels of 5e18 Wh add to a negative
number, which ``max(0, ...)`` then bills as 0). Channel sums (``engine.delivered``),
interval amounts (``engine.terms.base.line``) and line totals go through
:func:`add_exact`, :func:`sub_exact`, :func:`mul_exact` and :func:`sum_exact` (exact
Python ints, whatever the length). The first three raise a ``ValueRangeError`` (an
input error, and an ``OverflowError``) naming the element (``describe(i)``, e.g. the
site, channels and interval) and its operands instead of wrapping; the checks are
vectorised (a few array operations, no Python loop).

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

from collections.abc import Callable
from decimal import Decimal

import numpy as np

from . import kernels
from .errors import ValueRangeError
from .units import PICO_PER_CENT

_INT64_MAX = np.iinfo(np.int64).max

Describe = Callable[[int], str]


def _overflow(i: int, a: int, op: str, b: int, exact: int, describe: Describe | None,
              field: str | None) -> ValueRangeError:
    where = describe(i) if describe is not None else f"element {i}"
    return ValueRangeError(f"{where}: {a} {op} {b} = {exact} would overflow int64 (the exact "
                           "range of meter2cash's arithmetic); a value this large cannot be "
                           "billed", field=field)


def _magnitude(x: np.ndarray) -> np.ndarray:
    """``|x|`` of an int64 array as uint64, exact for INT64_MIN (2**63)."""
    u = x.astype(np.uint64)                      # two's complement: negatives wrap
    return np.where(x < 0, ~u + np.uint64(1), u)


def add_exact(a: np.ndarray, b: np.ndarray, describe: Describe | None = None,
              field: str | None = None) -> np.ndarray:
    """Element-wise ``a + b`` of int64 arrays (or an array and a scalar), raising a
    ``ValidationError`` (naming ``describe(i)`` and ``field``) instead of wrapping."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    with np.errstate(over="ignore"):
        out = a + b
    wrapped = ((a ^ out) & (b ^ out)) < 0       # same-sign operands, result of the other sign
    if wrapped.any():
        i = int(np.flatnonzero(np.broadcast_to(wrapped, out.shape))[0])
        x, y = int(np.broadcast_to(a, out.shape)[i]), int(np.broadcast_to(b, out.shape)[i])
        raise _overflow(i, x, "+", y, x + y, describe, field)
    return out


def sub_exact(a: np.ndarray, b: np.ndarray, describe: Describe | None = None,
              field: str | None = None) -> np.ndarray:
    """Element-wise ``a - b`` of int64 arrays, raising instead of wrapping."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    with np.errstate(over="ignore"):
        out = a - b
    wrapped = ((a ^ b) & (a ^ out)) < 0         # operands of different signs, sign flipped
    if wrapped.any():
        i = int(np.flatnonzero(np.broadcast_to(wrapped, out.shape))[0])
        x, y = int(np.broadcast_to(a, out.shape)[i]), int(np.broadcast_to(b, out.shape)[i])
        raise _overflow(i, x, "-", y, x - y, describe, field)
    return out


def mul_exact(a: np.ndarray, b: np.ndarray, describe: Describe | None = None,
              field: str | None = "amount_picousd") -> np.ndarray:
    """Element-wise ``a * b`` of int64 arrays, raising a ``ValidationError`` naming
    the first element whose product does not fit (``describe(i)`` if given) instead of
    overflowing.

    The bound check is on the maxima, so it costs two reductions, not a loop; only
    when it fails are the products checked element by element (vectorised).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.size and b.size:
        # magnitudes from the extremes as Python ints: np.abs(INT64_MIN) is INT64_MIN
        amax = max(-int(a.min()), int(a.max()))
        bmax = max(-int(b.min()), int(b.max()))
        if amax and bmax and amax > _INT64_MAX // bmax:
            aa, bb = (np.ravel(x) for x in np.broadcast_arrays(a, b))
            ua, ub = _magnitude(aa), _magnitude(bb)
            # |a x b| may reach 2**63 when the product is negative, 2**63 - 1 otherwise
            limit = np.where((aa < 0) != (bb < 0), np.uint64(2**63), np.uint64(_INT64_MAX))
            big = np.flatnonzero((ub != 0) & (ua > limit // np.maximum(ub, np.uint64(1))))
            if big.size:
                i = int(big[0])
                x, y = int(aa[i]), int(bb[i])
                raise _overflow(i, x, "x", y, x * y, describe, field)
    return a * b


def sum_exact(values: np.ndarray) -> int:
    """Exact sum of an int64 array as a Python int, whatever its length.

    Splits each value into a high and a low 32-bit half so neither partial sum can
    overflow for arrays of up to 2**31 elements.
    """
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return 0
    if v.ndim == 1 and kernels.MIN_SIZE <= v.size < 2**31:        # one compiled pass, same sum
        return kernels.exact_sum(v)
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


__all__ = ["add_exact", "sub_exact", "mul_exact", "sum_exact", "picousd_to_cents", "cents_to_str", "picousd_to_decimal"]
