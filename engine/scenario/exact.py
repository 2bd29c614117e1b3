"""Exact integer arithmetic of the transformations: one rounding rule, stated once.

Energy is integer Wh, prices integer micro-USD/MWh, index values integer 1e-6 units.
A transformation that multiplies (a scale factor, a capacity ratio, a growth) takes
its factor as a decimal string, exactly (``Fraction``), and rounds each product
**once, half-even, to the unit** (1 Wh, 1 micro-USD/MWh, 1e-6 of an index): the same
rule the contract engine uses to quantise a rate (``engine.terms.base.quantise_micro``).
A shift adds an exact amount (a decimal with at most 6 places, so it is an integer
number of units). Nothing else rounds.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

_SAFE = 2**62


def scale_half_even(values: np.ndarray, factor: Fraction) -> np.ndarray:
    """``round_half_even(v x factor)`` of each integer ``v`` (int64 in, int64 out)."""
    v = np.asarray(values, dtype=np.int64)
    f = Fraction(factor)
    if v.size == 0:
        return v.copy()
    if f.denominator == 1:
        return v * f.numerator
    n, d = f.numerator, f.denominator
    vmax = max(abs(int(v.min())), abs(int(v.max())))
    num: np.ndarray = v * n if abs(n) * vmax < _SAFE else v.astype(object) * n
    q: np.ndarray = num // d
    r: np.ndarray = num - q * d
    up = np.asarray((2 * r > d) | ((2 * r == d) & (q % 2 == 1)), dtype=np.int64)
    return np.asarray(q + up, dtype=np.int64)


def to_units(value: Fraction, scale: int, what: str) -> int:
    """``value x scale`` as an exact integer; ``ValueError`` naming ``what`` if the
    decimal has more places than the unit allows."""
    x = Fraction(value) * scale
    if x.denominator != 1:
        raise ValueError(f"{what}: more decimal places than the unit (1/{scale}) allows")
    return int(x)


def allocate(total: np.ndarray, weights: list[np.ndarray]) -> list[np.ndarray]:
    """Split each integer ``total[i] >= 0`` over the ``weights[j][i] >= 0`` in proportion,
    in integers that add up exactly: the floor of each share, then one more unit to the
    largest remainders (ties to the earlier weight); with all weights 0 nothing is
    allocated (the caller checks that ``total`` was coverable)."""
    t = np.asarray(total, dtype=np.int64)
    w = np.stack([np.asarray(x, dtype=np.int64) for x in weights]) if weights else np.zeros((0, t.size))
    if w.shape[0] == 0:
        return []
    wsum = w.sum(axis=0)
    safe = np.where(wsum > 0, wsum, 1)
    num = w * t                                            # t and w are Wh per interval: no overflow
    share = num // safe
    rem = num - share * safe
    left = np.where(wsum > 0, t - share.sum(axis=0), 0)
    order = np.argsort(-rem, axis=0, kind="stable")        # largest remainder first, ties by index
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(w.shape[0])[:, None], axis=0)
    share = share + (rank < left[None, :]).astype(np.int64)
    return [share[j] for j in range(w.shape[0])]


__all__ = ["scale_half_even", "to_units", "allocate"]
