"""Net present value and internal rate of return over a matrix of cash flows (one row
per path), vectorised with numpy. Statistics: floats, not money.

Conventions (numpy-financial's, so its documented examples hold):

* ``cash_flows[p, t]`` is the cash flow of path ``p`` at the end of period ``t``;
  ``t = 0`` is undiscounted: ``npv(r, cf) = sum_t cf[t] / (1 + r)**t``;
* the IRR is the rate ``r > -1`` with ``npv(r, cf) == 0``.

IRR policy, for every row (``IrrResult.status`` says which case it was, per path;
nothing is a silent wrong root). The NPV is evaluated on a grid of rates
(``RATE_LO`` .. ``RATE_HI``, ``GRID`` points evenly spaced in ``log(1 + r)``) and each
sign change between neighbours is a root, polished by Newton steps kept inside its
bracket (a step that would leave it is replaced by bisection) to
``|npv| <= tol x sum|cf|``:

``ok``
    exactly one root in the range: the IRR. A conventional series (one sign change of
    the cash flows) has exactly one root above -100 % (Descartes); a non-conventional
    one with a single root in range gets it too, ``sign_changes > 1`` recorded;
``selected``
    several roots, and the cash flows are an investment (the NPV is negative at
    ``RATE_HI``): the IRR is the **highest** rate at which the NPV falls through zero.
    Above it the NPV is negative at every rate in the range, so it is the highest
    return the flows break even at; the lower roots come from sign changes later in
    the life (a late negative flow, numpy-financial #44: ``[-100, 60, 60, -5]`` has roots
    near -93 % and +10.3 %; the IRR is +10.3 %; a merchant tail losing money after the
    contracts end adds a pair of roots below -40 %). ``roots`` counts them all;
``multiple_roots``
    several roots and not an investment profile (the NPV is positive at ``RATE_HI``,
    e.g. borrowing-type flows): the IRR is not defined (any one root would mislead;
    numpy-financial #98), ``irr`` is NaN;
``no_root``
    the cash flows change sign but the NPV does not cross zero in the range (e.g. a
    return above ``RATE_HI``, or a double root where the NPV only touches zero);
``no_sign_change``
    all cash flows have one sign (or are zero): no IRR exists.

Only ``ok`` and ``selected`` rows have a finite ``irr``. Distributions of IRRs
(``engine.finance.metrics``) are taken over those paths and say how many were left out
and why (``irr_policy`` in the summary counts every case).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["npv", "irr", "IrrResult", "RATE_LO", "RATE_HI", "GRID", "STATUSES"]

RATE_LO = -0.99        # -99 %: below it the discount factor explodes
RATE_HI = 10.0         # +1000 %: above it a "return" means nothing to an investor
GRID = 241             # bracketing grid points in log(1 + r)
NEWTON_STEPS = 60
STATUSES = ("ok", "selected", "multiple_roots", "no_root", "no_sign_change")


def npv(rate: float | np.ndarray, cash_flows: np.ndarray) -> np.ndarray:
    """NPV of each row of ``cash_flows`` at ``rate`` (a scalar, or one rate per row);
    ``t = 0`` undiscounted. A 1-D ``cash_flows`` gives a 0-D array."""
    cf = np.asarray(cash_flows, dtype=np.float64)
    t = np.arange(cf.shape[-1], dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    disc = (1.0 + r[..., None]) ** -t if r.ndim else (1.0 + r) ** -t
    return np.sum(cf * disc, axis=-1)


@dataclass(frozen=True)
class IrrResult:
    """Per-path IRR (NaN unless ``status == "ok"``), the policy case of each path
    (an index into ``STATUSES``), the number of NPV zero crossings found in the range
    and the number of sign changes of the cash flows."""
    irr: np.ndarray
    status: np.ndarray           # int8 index into STATUSES
    roots: np.ndarray            # int32
    sign_changes: np.ndarray     # int32

    def status_names(self) -> np.ndarray:
        return np.asarray(STATUSES, dtype=object)[self.status]

    def counts(self) -> dict[str, int]:
        """How many paths fell in each case (every case listed, zeros included)."""
        return {name: int(np.count_nonzero(self.status == i)) for i, name in enumerate(STATUSES)}


def _sign_changes(cf: np.ndarray) -> np.ndarray:
    """Sign changes along each row, zeros skipped."""
    s = np.sign(cf)
    out = np.zeros(cf.shape[0], dtype=np.int32)
    last = np.zeros(cf.shape[0])
    for t in range(cf.shape[1]):
        st = s[:, t]
        flip = (st != 0) & (last != 0) & (st != last)
        out += flip
        last = np.where(st != 0, st, last)
    return out


def _npv_and_slope(x: np.ndarray, cf: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NPV and d(NPV)/dx at ``x = log(1 + r)`` per row: ``sum cf e^{-xt}`` and
    ``-sum t cf e^{-xt}``."""
    e = np.exp(-x[:, None] * t[None, :]) * cf
    return e.sum(axis=1), -(e * t[None, :]).sum(axis=1)


def irr(cash_flows: np.ndarray, *, tol: float = 1e-13) -> IrrResult:
    """IRR of every row of ``cash_flows`` (shape ``(paths, periods)``, or 1-D for one
    series) under the policy of the module docstring."""
    cf = np.asarray(cash_flows, dtype=np.float64)
    if cf.ndim == 1:
        cf = cf[None, :]
    if cf.ndim != 2 or cf.shape[1] < 2:
        raise ValueError("irr: cash flows must be (paths, periods) with at least 2 periods")
    if not np.all(np.isfinite(cf)):
        raise ValueError("irr: cash flows must be finite")
    n, periods = cf.shape
    t = np.arange(periods, dtype=np.float64)
    changes = _sign_changes(cf)
    status = np.full(n, STATUSES.index("no_root"), dtype=np.int8)
    status[changes == 0] = STATUSES.index("no_sign_change")
    result = np.full(n, np.nan)
    roots = np.zeros(n, dtype=np.int32)
    rows = np.flatnonzero(changes > 0)
    if rows.size == 0:
        return IrrResult(result, status, roots, changes)

    # 1. bracket: NPV on a grid of x = log(1 + r); a sign change between two grid
    #    points is a root (an exact zero counts as positive, so it is seen once)
    xs = np.linspace(np.log1p(RATE_LO), np.log1p(RATE_HI), GRID)
    sub = cf[rows]
    scale = np.abs(sub).sum(axis=1)
    vals = np.exp(-np.outer(xs, t)) @ sub.T           # (GRID, rows)
    sg = vals >= 0.0                                  # an exact zero counts as positive
    cross = sg[:-1] != sg[1:]
    count = cross.sum(axis=0).astype(np.int32)
    falling = cross & sg[:-1]                       # NPV from >= 0 to < 0 as the rate rises
    roots[rows] = count
    investment = ~sg[-1]                            # NPV < 0 at the top of the range
    several = count > 1
    # the bracket kept: the only crossing, or the highest falling one of an investment
    last_fall = GRID - 2 - np.argmax(falling[::-1], axis=0)
    choose = np.where(count == 1, np.argmax(cross, axis=0), last_fall)
    one = np.flatnonzero((count == 1) | (several & investment & falling.any(axis=0)))
    status[rows[several & ~(investment & falling.any(axis=0))]] = STATUSES.index("multiple_roots")
    status[rows[several & investment & falling.any(axis=0)]] = STATUSES.index("selected")
    if one.size == 0:
        return IrrResult(result, status, roots, changes)

    # 2. polish the root kept: Newton in x, inside its bracket (bisect otherwise)
    k = choose[one]
    lo, hi = xs[k].copy(), xs[k + 1].copy()
    c = sub[one]
    f_lo = vals[k, one]
    x = 0.5 * (lo + hi)
    tol_abs = tol * scale[one]
    done = np.zeros(one.size, dtype=bool)
    for _ in range(NEWTON_STEPS):
        f, d = _npv_and_slope(x, c, t)
        done |= np.abs(f) <= tol_abs
        if done.all():
            break
        same = np.sign(f) == np.sign(f_lo)
        lo = np.where(same, x, lo)
        hi = np.where(same, hi, x)
        f_lo = np.where(same, f, f_lo)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - f / d
        inside = np.isfinite(step) & (step > lo) & (step < hi)
        x = np.where(done, x, np.where(inside, step, 0.5 * (lo + hi)))
    result[rows[one]] = np.expm1(x)
    status[rows[one[count[one] == 1]]] = STATUSES.index("ok")
    return IrrResult(result, status, roots, changes)
