"""VEE step 3: estimation of gaps and invalid values, in exact integer Wh.

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
``FLAT``     a gap short enough for ``LIN`` with only one valid actual neighbour:
             its value repeated (Oracle D2-INTINTEST "flat load").
``LIKEDAY``  interval-by-interval mean of the ``like_days`` nearest like days
             (Itron historical estimation): same day type, where the day type is
             the weekday and holidays count as Sundays; if no day of the same type
             qualifies, days of the same class (Mon-Fri vs Sat/Sun/holiday) are
             used. A day qualifies only if every interval of it is a valid actual
             (no gap, no invalid value, no estimate of any origin). The nearest
             days win; on equal distance the earlier day wins. Intervals are
             matched on local wall-clock time of day, so the repeated hour of a
             25-hour day takes the same like-day value twice.
``MISSING``  none of these applies: energy 0, quality ``N`` (a finding of severity
             ``error``).

Like-day share. LIKEDAY rebuilds intervals from other days, so it is bounded: if
the intervals of a channel's range that would need it exceed
``VeeConfig.max_likeday_share`` of the range (default 10 %), LIKEDAY fills none of
them and they stay ``MISSING`` (:func:`likeday_budget`). All or nothing, so the
result does not depend on which gap comes first: three days of data never become
a month, and a settlement's completeness gate (``engine.completeness``) sees the
gap for what it is. LIN and FLAT are not bounded (each fills at most
``max_interp_minutes`` between or next to real readings).

Every gap or invalid interval in the range is filled (``fill_runs``), a run at a
time, by the first method that applies. Gaps in the history before the range are
not estimated: history only supplies neighbours and like days.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .codes import (M_MISSING, METHOD_CODE, METHOD_FLAT, METHOD_LIKEDAY, METHOD_LIN, Q_ESTIMATED,
                    Q_MISSING)
from .localdays import GridDays
from .spans import runs


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

    @classmethod
    def of_grid(cls, days: GridDays, slots_per_local_day: np.ndarray, value_wh: np.ndarray,
                actual: np.ndarray, holidays: np.ndarray) -> LikeDayTable:
        """The like-day material of a grid: whole local days whose every interval is a
        valid actual (``slots_per_local_day``: the grid intervals of each local day)."""
        day0, n_days = days.day0, days.n_days
        clean_count = np.bincount(days.day[actual] - day0, minlength=n_days)
        clean_day = clean_count == slots_per_local_day
        return cls(days.day, days.tod, value_wh, actual, clean_day, day0, days.slots_per_day,
                   day_types(day0 + np.arange(n_days), holidays))

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


@dataclass(frozen=True, eq=False)
class Edits:
    """A channel's grid as VEE edits it: Wh, quality code and method code per slot."""
    energy_wh: np.ndarray        # int64
    quality: np.ndarray          # uint8 (``QUALITY_NAMES``)
    method: np.ndarray           # uint8 (``METHOD_NAMES``)

    def assign(self, where, vals: np.ndarray, code: np.uint8) -> None:
        """Estimates ``vals`` of method ``code`` at ``where`` (quality E; N if MISSING)."""
        self.energy_wh[where] = vals
        self.quality[where] = Q_MISSING if code == M_MISSING else Q_ESTIMATED
        self.method[where] = code


def likeday_budget(share: float, range_slots: int) -> int:
    """The most slots LIKEDAY may fill in a range of ``range_slots`` slots:
    ``floor(share * range_slots)``, exactly (``share`` read as the decimal it prints as)."""
    return int(Fraction(str(share)) * range_slots)


def fill_runs(out: Edits, raw_wh: np.ndarray, needs: np.ndarray, actual: np.ndarray, p0: int,
              days: GridDays, like: LikeDayTable, max_slots: int, like_days: int,
              max_likeday_slots: int | None = None) -> None:
    """Fill every run of ``needs`` from slot ``p0`` on, in place (LIN, FLAT, LIKEDAY, MISSING).

    ``raw_wh`` holds the values as read: neighbours are taken from it and only where
    ``actual``. Runs that end before ``p0`` are history and are left alone.
    ``max_slots`` is ``max_interp_minutes`` in grid intervals. ``max_likeday_slots``
    (None: unbounded) caps LIKEDAY: if the runs that need it cover more slots of the
    range, none of them is estimated and all stay MISSING (:func:`likeday_budget`).
    """
    n = raw_wh.size
    starts, ends = runs(needs)
    like_segments: list[np.ndarray] = []
    for s, e in zip(starts.tolist(), ends.tolist()):      # a loop over gaps, not rows
        if e <= p0:
            continue
        length, lo = e - s, max(s, p0)
        left = s - 1 if s > 0 and actual[s - 1] else None
        right = e if e < n and actual[e] else None
        if length <= max_slots and left is not None and right is not None:
            vals = linear_fill(int(raw_wh[left]), int(raw_wh[right]), length)[lo - s:]
            out.assign(slice(lo, e), vals, METHOD_CODE[METHOD_LIN])
        elif length <= max_slots and (left is not None or right is not None):
            v = int(raw_wh[left if left is not None else right])
            out.assign(slice(lo, e), np.full(e - lo, v, np.int64), METHOD_CODE[METHOD_FLAT])
        else:
            like_segments.append(np.arange(lo, e))
    wanted = sum(seg.size for seg in like_segments)
    if max_likeday_slots is not None and wanted > max_likeday_slots:
        for seg in like_segments:            # refused: the gap stays a gap
            out.assign(seg, np.zeros(seg.size, np.int64), M_MISSING)
        return
    for seg in like_segments:
        _fill_like_days(out, seg, days, like, like_days)


def _fill_like_days(out: Edits, seg: np.ndarray, days: GridDays, like: LikeDayTable,
                    like_days: int) -> None:
    """``LIKEDAY`` for the slots ``seg``, one like-day choice per local day; ``MISSING``
    where no chosen like day has a value."""
    for d in np.unique(days.day[seg]).tolist():
        part = seg[days.day[seg] == d]
        chosen = like.choose(d, like_days)
        ok = np.zeros(part.size, dtype=bool)
        if chosen.size:
            vals, ok = like.estimate(chosen, days.tod[part])
            out.assign(part[ok], vals[ok], METHOD_CODE[METHOD_LIKEDAY])
        out.assign(part[~ok], np.zeros(int((~ok).sum()), np.int64), M_MISSING)


__all__ = ["round_half_even_div", "linear_fill", "day_types", "LikeDayTable", "Edits",
           "likeday_budget", "fill_runs"]
