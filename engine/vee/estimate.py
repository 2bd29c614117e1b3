"""VEE step 3: estimation methods, in exact integer Wh.

Rounding rule of every estimate
-------------------------------
An estimate is an exact rational number of Wh (a point on a line, or a mean of
like-day values). It is rounded **once, half to even**, to an integer Wh
(``round_half_even_div``). Nothing else is rounded, so an estimate is a pure
function of its inputs: the same gap gives the same Wh whatever the order or the
partitioning of the data, and the sum of the filled values is deterministic
(within ``n / 2`` Wh of the exact trapezoid area for ``n`` filled intervals).

Methods
-------
``LIN``      linear interpolation between the two valid actual intervals around a
             gap of at most ``max_interp_minutes`` (CA DASMMD: gaps of 2 h or less).
             Gap of ``n`` intervals between ``a`` (before) and ``b`` (after):
             ``v_k = a + (b - a) * k / (n + 1)``, ``k = 1..n``. Itron's example
             ``75, _, _, _, _, 100`` gives ``80, 85, 90, 95``.
``FLAT``     only one valid actual neighbour: its value repeated (Oracle
             D2-INTINTEST "flat load").
``LIKEDAY``  interval-by-interval mean of the ``like_days`` nearest like days
             (Itron historical estimation): same day type, where the day type is
             the weekday and holidays count as Sundays; if no day of the same type
             qualifies, days of the same class (Mon-Fri vs Sat/Sun/holiday) are
             used. A day qualifies only if every interval of it is a valid actual
             (no gap, no invalid value, no estimate of any origin). The nearest
             days win; on equal distance the earlier day wins. Intervals are
             matched on local wall-clock time of day, so the repeated hour of a
             25-hour day takes the same like-day value twice.
"""
from __future__ import annotations

import numpy as np


def round_half_even_div(num: np.ndarray | int, den: np.ndarray | int) -> np.ndarray:
    """``num / den`` rounded half to even, for int64 ``num`` and positive ``den``."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    q, r = np.divmod(num, den)          # floor division: 0 <= r < den
    twice = 2 * r
    return q + ((twice > den) | ((twice == den) & (q % 2 == 1)))


def linear_fill(before_wh: int, after_wh: int, n: int) -> np.ndarray:
    """The ``n`` interpolated values strictly between ``before_wh`` and ``after_wh``."""
    k = np.arange(1, n + 1, dtype=np.int64)
    num = before_wh * (n + 1) + (after_wh - before_wh) * k
    return round_half_even_div(num, n + 1)


def day_types(days: np.ndarray, holidays: np.ndarray) -> np.ndarray:
    """Day type of local days (days since 1970-01-01): weekday 0..6, holidays -> 6."""
    days = np.asarray(days, dtype=np.int64)
    types = (days + 3) % 7                  # 1970-01-01 was a Thursday
    if holidays.size:
        types = np.where(np.isin(days, holidays), 6, types)
    return types


class LikeDayTable:
    """Valid actual values of one channel laid out as ``[day, time-of-day slot]``.

    ``values[d, t]`` is the Wh of the interval at local wall-clock slot ``t`` on
    day ``day0 + d``, or -1 when that interval is not a valid actual. Built once per
    channel, in one vectorised pass.
    """

    def __init__(self, day: np.ndarray, tod_slot: np.ndarray, value_wh: np.ndarray,
                 clean_slot: np.ndarray, clean_day: np.ndarray, day0: int,
                 slots_per_day: int, types: np.ndarray):
        n_days = clean_day.size
        self.day0 = day0
        self.clean_day = clean_day
        self.types = types
        self.values = np.full((n_days, slots_per_day), -1, dtype=np.int64)
        d = (day - day0)[clean_slot]
        t = tod_slot[clean_slot]
        v = value_wh[clean_slot]
        # reversed assignment: for a repeated wall-clock slot (25-h day) the first wins
        self.values[d[::-1], t[::-1]] = v[::-1]

    def choose(self, day: int, k: int) -> np.ndarray:
        """Row indices of the ``k`` nearest qualifying like days of ``day`` (may be fewer)."""
        idx = np.flatnonzero(self.clean_day)
        target = day - self.day0
        idx = idx[idx != target]
        if idx.size == 0:
            return idx
        ttype = int(self.types[target])
        same = idx[self.types[idx] == ttype]
        if same.size == 0:
            weekend = ttype >= 5
            same = idx[(self.types[idx] >= 5) == weekend]
        order = np.lexsort((same, np.abs(same - target)))
        return same[order][:k]

    def estimate(self, rows: np.ndarray, tod_slot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean of the chosen days at each slot: ``(value_wh, ok)``.

        ``ok`` is False where none of the chosen days has a value at that slot.
        """
        sub = self.values[rows][:, tod_slot]                   # (k, m)
        have = sub >= 0
        count = have.sum(axis=0)
        total = np.where(have, sub, 0).sum(axis=0)
        ok = count > 0
        value = np.zeros(tod_slot.size, dtype=np.int64)
        value[ok] = round_half_even_div(total[ok], count[ok])
        return value, ok


__all__ = ["round_half_even_div", "linear_fill", "day_types", "LikeDayTable"]
