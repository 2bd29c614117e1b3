"""Battery re-dispatch: a linear programme built as sparse arrays, solved with HiGHS.

:class:`Battery` holds the limits (:mod:`engine.dispatch.battery`), :class:`Objective`
what to optimise, :func:`solve` the schedule over a horizon, in one window (perfect
foresight) or rolling windows that hand the state of charge on
(:mod:`engine.dispatch.lp`); :func:`window_labels` the day or week windows of a
horizon in local time (:mod:`engine.dispatch.windows`). Pure: arrays in, arrays out.
"""
from __future__ import annotations

from .battery import OBJECTIVES, WINDOWS, Battery
from .lp import Dispatch, Objective, new_solver, solve, solver_version, to_wh
from .windows import window_labels

__all__ = ["Battery", "OBJECTIVES", "WINDOWS", "Objective", "Dispatch", "solve", "new_solver", "to_wh",
           "solver_version", "window_labels"]
