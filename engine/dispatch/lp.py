"""Battery re-dispatch as a linear programme, built as sparse arrays and solved by HiGHS.

One window of ``n`` intervals of ``h`` hours has, per interval ``i``, the variables
(MWh per interval, at the battery's terminals)::

    c_i  charge         0 <= c_i <= P_c h
    d_i  discharge      0 <= d_i <= P_d h
    s_i  state of charge at the end of interval i     s_min <= s_i <= s_max
    m_i  grid import    (``min_import_cost`` only, intervals priced >= 0)   m_i >= 0

and the rows::

    s_i - s_(i-1) - eta_c c_i + d_i / eta_d = 0          (s_(-1) = the window's initial SoC)
    c_i / (P_c h) + d_i / (P_d h) <= 1                    (one interval's time is shared)
    sum over a local day of d_i <= cycles x (s_max - s_min)                    (cycle limit)
    m_i - c_i + d_i >= g_i                                (``min_import_cost``: m >= import)
    s_(n-1) >= the battery's final SoC                    (``soc_final_mwh``, last window only)

The objective is a minimisation: ``arbitrage`` costs ``p_i c_i - p_i d_i``,
``max_contract_revenue`` ``-w_i c_i - v_i d_i``, ``min_import_cost`` ``p_i m_i`` where
``p_i >= 0`` and ``p_i (c_i - d_i)`` where ``p_i < 0``; each adds ``degradation x d_i``.
Two tie-breakers, kept below any economic meaning (``TIE_BREAK``, a millionth): each
interval's prices are weighted by ``1 + 1e-6 x (n - i) / n``, so among equally good
dispatches the LP discharges earliest and charges latest; and a MWh charged or
discharged costs a millionth of the window's largest absolute price, so it never moves
energy for nothing (charging and discharging in one interval, or into an unpaid
export). Results then do not depend on the solver's pivoting: from full, the prices
``[20, 10, 10]`` discharge ``[4, 2, 0]``, not ``[4, 0, 2]``, nor ``[4, 3, 0]`` while
charging 1. The reported value is the objective itself, without tie-breakers,
computed from the schedule.

The matrix is assembled in coordinate form with numpy and compressed by column once
per window; nothing goes through a modelling layer (at these sizes model building
would dominate, ``shared/notes/capabilities.md`` section 2). One ``highspy.Highs``
object is reused across the windows of a horizon (``clearModel`` + ``passModel``):
its options and allocations stay. Windows run in time order and hand the state of
charge on.

Determinism: HiGHS runs single-threaded with fixed options, so the same inputs give
the same dispatch (the scenario's bytes do not depend on the number of workers).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from ..errors import InfeasibleError
from .battery import Battery

TIE_BREAK = 1e-6            # relative weight of the tie-breakers (see the module docstring)


@dataclass(frozen=True)
class Objective:
    """What the LP optimises, per interval (arrays of the horizon's length).

    ``kind`` is one of ``engine.dispatch.battery.OBJECTIVES``; ``price`` (USD/MWh) is
    used by ``arbitrage`` and ``min_import_cost``; ``net_import_mwh`` (the site's net
    grid import without the battery) by ``min_import_cost``; ``discharge_value`` and
    ``charge_value`` (USD per MWh) by ``max_contract_revenue``."""
    kind: str
    price: np.ndarray | None = None
    net_import_mwh: np.ndarray | None = None
    discharge_value: np.ndarray | None = None
    charge_value: np.ndarray | None = None


@dataclass(frozen=True)
class Dispatch:
    """The optimal schedule over the horizon (MWh per interval) and its objective
    (USD: the revenue for ``arbitrage`` and ``max_contract_revenue``, minus the cost
    for ``min_import_cost``; degradation included, tie-breakers excluded)."""
    charge_mwh: np.ndarray
    discharge_mwh: np.ndarray
    soc_mwh: np.ndarray
    value_usd: float
    windows: int


def _window_lp(b: Battery, obj: Objective, sl: slice, hours: float, day: np.ndarray, soc0: float,
               final_soc: float | None) -> tuple[highspy.HighsLp, int]:
    """The LP of one window; returns it and its interval count."""
    n = sl.stop - sl.start
    i = np.arange(n)
    eta_c, eta_d = b.eta_charge, b.eta_discharge
    pc, pd = b.charge_mw * hours, b.discharge_mw * hours
    kind = obj.kind
    weight = 1 + TIE_BREAK * (n - i) / n                # earlier intervals count a little more
    if kind == "max_contract_revenue":
        assert obj.discharge_value is not None and obj.charge_value is not None
        cost_c = -np.asarray(obj.charge_value[sl], dtype=float) * weight
        cost_d = -np.asarray(obj.discharge_value[sl], dtype=float) * weight
        scale = float(max(np.abs(cost_c).max(initial=0), np.abs(cost_d).max(initial=0)))
        priced = np.zeros(0, dtype=np.int64)
    else:
        assert obj.price is not None
        p = np.asarray(obj.price[sl], dtype=float)
        scale = float(np.abs(p).max(initial=0))
        if kind == "arbitrage":
            cost_c, cost_d = p * weight, -p * weight
            priced = np.zeros(0, dtype=np.int64)
        else:                                          # min_import_cost
            neg = p < 0
            cost_c, cost_d = np.where(neg, p * weight, 0.0), np.where(neg, -p * weight, 0.0)
            priced = np.flatnonzero(~neg)
    move = TIE_BREAK * max(scale, 1.0)                  # per MWh charged or discharged
    cost_c = cost_c + move
    cost_d = cost_d + b.degradation_usd_per_mwh + move
    k = priced.size
    # columns: c (0..n-1), d (n..2n-1), s (2n..3n-1), m (3n..3n+k-1)
    ncol = 3 * n + k
    cost = np.concatenate([cost_c, cost_d, np.zeros(n), p[priced] * weight[priced] if k else np.zeros(0)])
    lower = np.concatenate([np.zeros(2 * n), np.full(n, b.soc_min_mwh), np.zeros(k)])
    upper = np.concatenate([np.full(n, pc), np.full(n, pd), np.full(n, b.soc_max), np.full(k, np.inf)])
    rows, cols, vals = [], [], []
    r_lo, r_hi = [], []
    # balance rows 0..n-1
    rows += [i, i, i, i[1:]]
    cols += [i, n + i, 2 * n + i, 2 * n + i[:-1]]
    vals += [np.full(n, -eta_c), np.full(n, 1.0 / eta_d), np.ones(n), -np.ones(n - 1)]
    rhs = np.zeros(n)
    rhs[0] = soc0
    r_lo.append(rhs)
    r_hi.append(rhs)
    # time-share rows n..2n-1
    rows += [n + i, n + i]
    cols += [i, n + i]
    vals += [np.full(n, 1.0 / pc), np.full(n, 1.0 / pd)]
    r_lo.append(np.full(n, -np.inf))
    r_hi.append(np.ones(n))
    nrow = 2 * n
    if b.cycles_per_day is not None:                   # one row per local day in the window
        days, day_row = np.unique(day[sl], return_inverse=True)
        rows.append(nrow + day_row)
        cols.append(n + i)
        vals.append(np.ones(n))
        r_lo.append(np.full(days.size, -np.inf))
        r_hi.append(np.full(days.size, b.cycles_per_day * (b.soc_max - b.soc_min_mwh)))
        nrow += days.size
    if k:                                              # m_i - c_i + d_i >= g_i
        assert obj.net_import_mwh is not None
        g = np.asarray(obj.net_import_mwh[sl], dtype=float)
        rk = nrow + np.arange(k)
        rows += [rk, rk, rk]
        cols += [3 * n + np.arange(k), priced, n + priced]
        vals += [np.ones(k), -np.ones(k), np.ones(k)]
        r_lo.append(g[priced])
        r_hi.append(np.full(k, np.inf))
        nrow += k
    if final_soc is not None:
        rows.append(np.array([nrow]))
        cols.append(np.array([3 * n - 1]))
        vals.append(np.ones(1))
        r_lo.append(np.array([final_soc]))
        r_hi.append(np.array([np.inf]))
        nrow += 1
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    order = np.lexsort((r, c))                          # column-major: by column, then row
    r, c, v = r[order], c[order], v[order]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(ncol), int(nrow)
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = lower, upper
    lp.row_lower_, lp.row_upper_ = np.concatenate(r_lo), np.concatenate(r_hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(c, np.arange(ncol + 1)).astype(np.int32)
    lp.a_matrix_.index_ = r.astype(np.int32)
    lp.a_matrix_.value_ = v
    return lp, n


#: the binding of the C++ solver class (see :func:`new_solver`)
_HighsCore: Any = highspy._Highs  # type: ignore[attr-defined]


def new_solver() -> Any:
    """A quiet, single-threaded, deterministic HiGHS instance (reused across windows).

    ``highspy._Highs`` is the binding of the C++ class that ``highspy.Highs`` extends
    with Python callbacks; this code uses none, and the subclass prints HiGHS's banner
    on stdout when constructed, before ``output_flag`` can be turned off (a CLI's
    ``--format json`` output must stay one JSON document)."""
    h = _HighsCore()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


def solve(battery: Battery, objective: Objective, hours: float, *, day: np.ndarray,
          windows: np.ndarray | None = None, solver: Any = None,
          label: str = "battery") -> Dispatch:
    """The battery's optimal schedule over a horizon of ``len(day)`` intervals of
    ``hours`` hours each.

    ``day`` is each interval's local day (any integer label, for the cycle limit);
    ``windows`` each interval's window label, non-decreasing (``None``: one window,
    perfect foresight). Windows are solved in order, each starting from the state of
    charge the previous one ended with. Raises ``InfeasibleError`` naming the window
    when one has no feasible or no bounded solution."""
    n = int(day.size)
    if n == 0:
        empty = np.zeros(0)
        return Dispatch(empty, empty, empty, 0.0, 0)
    if windows is None:
        bounds = [(0, n)]
    else:
        w = np.asarray(windows)
        cuts = np.flatnonzero(w[1:] != w[:-1]) + 1
        edges = np.concatenate([[0], cuts, [n]])
        bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    h = solver or new_solver()
    charge, discharge, soc = np.zeros(n), np.zeros(n), np.zeros(n)
    s0 = battery.soc_initial_mwh
    for k, (a, z) in enumerate(bounds):
        final = battery.soc_final_mwh if k == len(bounds) - 1 else None
        lp, m = _window_lp(battery, objective, slice(a, z), hours, day, s0, final)
        h.clearModel()
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise InfeasibleError(f"{label}: window {k + 1} of {len(bounds)} (intervals {a}..{z - 1}): "
                                  f"{h.modelStatusToString(status)}")
        x = np.asarray(h.getSolution().col_value)
        charge[a:z], discharge[a:z], soc[a:z] = np.clip(x[:m], 0, None), np.clip(x[m:2 * m], 0, None), x[2 * m:3 * m]
        s0 = float(soc[z - 1])
    return Dispatch(charge, discharge, soc, _value(battery, objective, charge, discharge), len(bounds))


def _value(b: Battery, obj: Objective, c: np.ndarray, d: np.ndarray) -> float:
    """The objective of a schedule in USD (revenue; minus the cost for
    ``min_import_cost``), degradation included."""
    deg = b.degradation_usd_per_mwh * float(d.sum())
    if obj.kind == "max_contract_revenue":
        assert obj.discharge_value is not None and obj.charge_value is not None
        return float(np.dot(obj.discharge_value, d) + np.dot(obj.charge_value, c)) - deg
    assert obj.price is not None
    p = np.asarray(obj.price, dtype=float)
    if obj.kind == "arbitrage":
        return float(np.dot(p, d - c)) - deg
    assert obj.net_import_mwh is not None
    net = np.asarray(obj.net_import_mwh, dtype=float) + c - d
    paid = np.where(p < 0, net, np.maximum(net, 0))
    return -float(np.dot(p, paid)) - deg


def solver_version() -> str:
    """The solver recorded in a result's lineage (``HiGHS 1.16.0``)."""
    return f"HiGHS {highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"


def to_wh(mwh: np.ndarray) -> np.ndarray:
    """MWh per interval (LP floats) -> integer Wh, rounded half-even once: where the
    schedule becomes exact channel energy."""
    return np.rint(np.asarray(mwh, dtype=float) * 1e6).astype(np.int64)


__all__ = ["Objective", "Dispatch", "solve", "new_solver", "to_wh", "solver_version", "TIE_BREAK"]
