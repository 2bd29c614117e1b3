"""Energy yield P-values: the closed forms lenders read next to the simulated paths.

For a normal total uncertainty ``sigma`` (a fraction of P50)::

    P_x = P50 x (1 - z_x sigma)        z90 = 1.2816, z99 = 2.3263, z75 = 0.6745

Only inter-annual variability averages out over ``N`` years; modelling and
measurement uncertainty do not (domain.md §6)::

    sigma_N = sqrt(sigma_iav^2 / N + sigma_model^2)

so the 1-year P90 (one bad year: a DSCR test) is lower than the 10-year P90 (the
average of the loan's life: sizing and equity returns). Statistics: floats.
"""
from __future__ import annotations

import math

__all__ = ["Z", "sigma_n", "p_value", "p_table", "factor"]

#: one-sided standard normal quantiles of the exceedance levels used in the reports
Z = {50: 0.0, 75: 0.6744897501960817, 90: 1.2815515655446004, 95: 1.6448536269514722,
     99: 2.3263478740408408}


def sigma_n(sigma_iav: float, sigma_model: float, years: int) -> float:
    if sigma_iav < 0 or sigma_model < 0:
        raise ValueError("uncertainties are >= 0")
    return math.sqrt(sigma_iav ** 2 / years + sigma_model ** 2)


def factor(level: int, sigma: float) -> float:
    """``P_level / P50`` (floored at 0: a yield is never negative)."""
    return max(0.0, 1.0 - Z[level] * sigma)


def p_value(p50: float, level: int, sigma: float) -> float:
    return p50 * factor(level, sigma)


def p_table(p50_mwh: float, sigma_iav: float, sigma_model: float,
            levels: tuple[int, ...] = (50, 75, 90, 99), horizons: tuple[int, ...] = (1, 10)) -> dict:
    """``{"1-year": {"sigma": ..., "P50": ..., "P90": ...}, "10-year": {...}}``."""
    out = {}
    for n in horizons:
        s = sigma_n(sigma_iav, sigma_model, n)
        out[f"{n}-year"] = {"sigma": s, **{f"P{lv}": p_value(p50_mwh, lv, s) for lv in levels}}
    return out
