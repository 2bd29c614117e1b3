"""VEE step 1: a channel's grid, and which row (or part of a row) supplies each slot.

Pure numpy. **The grid.** A channel's interval is its most common
``interval_minutes`` in the range (ties: the shorter; a channel without rows takes
the site's, then ``default_interval_minutes``). The grid starts at the range
start, or, when rows before it are given as history, at the local midnight of the
first history day, on the same step (``channel_grid``).

**Placement** (``place_on_grid``) decides for every grid slot which row supplies
it, and reports what it had to resolve on the way (``Issue``, turned into findings
by ``engine.vee.findings``):

* **Exact duplicates** (same ``interval_start`` and ``interval_minutes`` twice):
  the row with the higher quality rank wins (A > F > S > E > other); ties go to
  the later ``ingested_at_utc``, then the larger ``energy_wh``, so the choice never
  depends on the input order.
* **Interval-length change**: a row longer than the grid interval is split into
  ``k = minutes / grid_minutes`` equal parts with an exact integer split: every
  part gets ``energy_wh // k`` and the remainder ``energy_wh % k`` goes 1 Wh at a
  time to the earliest parts (method ``SPLIT``). Rows shorter than the grid
  interval are summed into their slot (method ``SUM``) when they cover it
  completely; an incompletely covered slot is left empty (a gap). Every allowed
  length (1, 5, 15, 30, 60 min) divides the longer ones, so no slot is ever split
  across two rows.
* **Overlaps**: when a row of the grid length and a split/summed row land in the
  same slot, the row of the grid length wins.
* **Misaligned** rows (a start that is not on the grid) are dropped and reported.
* **Validity** of every row (``engine.vee.checks``): negative energy and energy
  above the nameplate limit are marked invalid (the value is kept for the report
  but later replaced by an estimate). Quality ``N`` (a null reading) supplies
  nothing: its slot is a gap.

Times are int64 microseconds since the epoch, UTC, interval-beginning.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..timebase import US_PER_MINUTE, local_midnight_us
from .checks import impossible, negative
from .codes import (METHOD_ACTUAL, METHOD_CODE, METHOD_SOURCE, METHOD_SPLIT, METHOD_SUM, Q_ACTUAL,
                    quality_codes_of, quality_codes_of_rank, quality_rank)
from .localdays import local_date
from .rows import ChannelRows, MeterRows
from .spans import ranges_of


# ------------------------------------------------------------------------------ the grid

@dataclass(frozen=True)
class Grid:
    """A channel's grid ``origin_us + i * minutes`` (``i < n``); the range is ``p0 ..``."""
    origin_us: int
    n: int
    minutes: int
    p0: int                   # first slot of the range; the slots before it are history

    @property
    def step_us(self) -> int:
        return self.minutes * US_PER_MINUTE

    def instants_us(self) -> np.ndarray:
        return self.origin_us + np.arange(self.n, dtype=np.int64) * self.step_us


def target_interval_minutes(minutes: np.ndarray, default: int) -> int:
    """The most common interval length; ties go to the shorter length."""
    m = np.asarray(minutes, dtype=np.int64)
    if m.size == 0:
        return int(default)
    lo, hi = int(m.min()), int(m.max())
    if lo == hi:                                          # one length (the common case)
        return lo
    if 0 <= lo and hi <= 1440:                            # counting, not sorting
        counts = np.bincount(m, minlength=hi + 1)
        return int(np.argmax(counts))                      # first (shortest) of the tied
    values, counts = np.unique(m, return_counts=True)   # values ascending
    return int(values[int(np.argmax(counts))])          # argmax: first (shortest) of the tied


def all_within(starts_us: np.ndarray, start_us: int, end_us: int) -> bool:
    """Are there rows, all of them starting in ``[start_us, end_us)``? (Then no row
    needs a range mask.)"""
    return (bool(starts_us.size) and int(starts_us.min()) >= start_us
            and int(starts_us.max()) < end_us)


def site_grid_defaults(data: MeterRows, channels: Collection[str], start_us: int, end_us: int,
                       default_minutes: int) -> tuple[int, int]:
    """``(interval, history start)`` of a site: the interval of a channel without rows
    (the most common length of the site's known channels in the range, else of all
    their rows, else ``default_minutes``) and the first instant of the known
    channels' rows before ``start_us`` (``start_us`` when there are none)."""
    names, codes = data.channel_index()
    known_name = np.isin(names, list(channels))          # per channel name
    st = data.start_us
    if known_name.all() and all_within(st, start_us, end_us):
        # every row a known channel's, in the range (a month read on its own): no masks
        return target_interval_minutes(data.minutes, default_minutes), start_us
    known = known_name[codes] if names.size else np.zeros(0, bool)
    in_range = known & (st >= start_us) & (st < end_us)
    site_default = target_interval_minutes(
        data.minutes[in_range] if in_range.any() else data.minutes[known], default_minutes)
    before = known & (st < start_us)
    return site_default, (int(st[before].min()) if before.any() else start_us)


def channel_grid(rows: ChannelRows, start_us: int, end_us: int, history_start_us: int,
                 site_default: int, tz: str) -> Grid:
    """The grid of one channel over ``[start_us, end_us)`` and its history."""
    st = rows.start_us
    if st.size == 0 or all_within(st, start_us, end_us):
        lengths = rows.minutes                              # every row in the range
    else:
        in_range = (st >= start_us) & (st < end_us)
        lengths = rows.minutes[in_range] if in_range.any() else rows.minutes
    minutes = target_interval_minutes(lengths, site_default)
    step = minutes * US_PER_MINUTE
    origin = start_us
    if history_start_us < start_us:      # back to the local midnight of the first history day
        midnight = local_midnight_us(local_date(history_start_us, tz), tz)
        origin = start_us - -(-(start_us - midnight) // step) * step
    n = -(-(end_us - origin) // step)
    return Grid(origin, n, minutes, (start_us - origin) // step)


# ------------------------------------------------------------------------- placement

@dataclass(frozen=True)
class Issue:
    """A range of rows that needed a decision; turned into a Finding by the caller."""
    check: str
    start_us: int
    end_us: int
    count: int
    detail: str
    severity: str = "warning"


@dataclass
class PlacedChannel:
    """The grid view of one channel before estimation (arrays of the grid length)."""
    value_wh: np.ndarray            # int64, 0 where absent
    present: np.ndarray             # bool: a row supplies this slot
    quality: np.ndarray             # uint8 code (``QUALITY_NAMES``), 0 where absent
    method: np.ndarray              # uint8 code (``METHOD_NAMES``), 0 where absent
    negative: np.ndarray            # bool: present and < 0
    impossible: np.ndarray          # bool: present and above the nameplate limit
    issues: list[Issue] = field(default_factory=list)

    @classmethod
    def empty(cls, n_slots: int, issues: list[Issue]) -> PlacedChannel:
        """No slot supplied yet."""
        return cls(value_wh=np.zeros(n_slots, dtype=np.int64),
                   present=np.zeros(n_slots, dtype=bool),
                   quality=np.zeros(n_slots, dtype=np.uint8),
                   method=np.zeros(n_slots, dtype=np.uint8),
                   negative=np.zeros(n_slots, dtype=bool),
                   impossible=np.zeros(n_slots, dtype=bool), issues=issues)

    def put(self, slots: np.ndarray | slice, value_wh, quality, method, negative,
            impossible) -> None:
        """Slots ``slots`` supplied with these values, codes and validity flags."""
        self.value_wh[slots] = value_wh
        self.present[slots] = True
        self.quality[slots] = quality
        self.method[slots] = method
        self.negative[slots] = negative
        self.impossible[slots] = impossible


def _issues(check: str, starts: np.ndarray, ends: np.ndarray, detail: str,
            severity: str = "warning") -> list[Issue]:
    return [Issue(check, a, b, n, detail, severity) for a, b, n in ranges_of(starts, ends)]


def drop_exact_duplicates(rows: ChannelRows) -> tuple[ChannelRows, list[Issue]]:
    """Keep one row per (start, minutes); see the module docstring for the winner."""
    if len(rows) < 2:
        return rows, []
    if bool(np.all(rows.start_us[1:] > rows.start_us[:-1])):     # sorted, so no duplicate
        return rows, []
    rank = quality_rank(rows.quality)
    # lexsort: the last key is the primary one
    order = np.lexsort((-rows.energy_wh, -rows.ingested_us, -rank.astype(np.int64),
                        rows.minutes, rows.start_us))
    s, m = rows.start_us[order], rows.minutes[order]
    first = np.ones(s.size, dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (m[1:] != m[:-1])
    if first.all():
        return rows, []
    dup = ~first
    issues = _issues("duplicate", s[dup], s[dup] + m[dup] * US_PER_MINUTE,
                     "same channel and interval more than once; kept the row with the "
                     "higher quality rank (then the later ingested, then the larger value)")
    return rows.take(order[first]), issues


class _Candidates(NamedTuple):
    """Values offered to grid slots (equal-length arrays); one per slot wins."""
    slot: np.ndarray
    value: np.ndarray
    rank: np.ndarray
    quality: np.ndarray
    method: np.ndarray
    negative: np.ndarray
    impossible: np.ndarray
    prio: np.ndarray          # int8: 0 a row of the grid length, 1 split or summed (loses)


@dataclass(frozen=True, eq=False)
class _GridRows:
    """A channel's (duplicate-free) rows as placement sees them, per row."""
    rows: ChannelRows
    offset: np.ndarray        # start - grid start, us
    rank: np.ndarray          # quality rank (``QUALITY_RANK``)
    negative: np.ndarray
    impossible: np.ndarray


def place_on_grid(rows: ChannelRows, grid_start_us: int, n_slots: int, grid_minutes: int,
                  limit_wh_per_minute: float | None) -> PlacedChannel:
    """Place a channel's rows on the grid ``grid_start_us + i * grid_minutes``, ``i < n_slots``.

    ``limit_wh_per_minute`` is the physical limit (nameplate x tolerance) in Wh per
    minute of interval, or ``None`` when the channel has no nameplate.
    """
    rows, issues = drop_exact_duplicates(rows)
    fast = _place_native_actual(rows, grid_start_us, n_slots, grid_minutes, limit_wh_per_minute,
                                issues)
    if fast is not None:
        return fast

    m = rows.minutes
    r = _GridRows(rows, rows.start_us - grid_start_us, quality_rank(rows.quality),
                  negative(rows.energy_wh), impossible(rows.energy_wh, m, limit_wh_per_minute))
    unit = np.minimum(m, grid_minutes) * US_PER_MINUTE
    misaligned = (r.offset % unit) != 0
    if misaligned.any():
        issues += _issues("misaligned", rows.start_us[misaligned],
                          rows.start_us[misaligned] + m[misaligned] * US_PER_MINUTE,
                          f"interval start not on the {grid_minutes}-min grid; row ignored")
    # quality 'N' (null, NEM12) carries no value: treat the interval as absent
    ok = (rows.quality != "N") & ~misaligned

    cand: list[_Candidates] = []
    native, long_, short = (ok & (m == grid_minutes), ok & (m > grid_minutes),
                            ok & (m < grid_minutes))
    if native.any():
        cand.append(_native_candidates(r, native, grid_minutes))
    if long_.any():
        cand.append(_split_candidates(r, long_, grid_minutes, issues))
    if short.any():
        cand.append(_summed_candidates(r, short, grid_start_us, grid_minutes, issues))

    placed = PlacedChannel.empty(n_slots, issues)
    if not cand:
        return placed
    c = _Candidates(*(np.concatenate(a) if len(cand) > 1 else a[0] for a in zip(*cand)))
    inside = (c.slot >= 0) & (c.slot < n_slots)
    if not inside.all():
        c = _Candidates(*(a[inside] for a in c))
    win, lost = _winners(c, len(cand) == 1)
    if lost.size:
        step = grid_minutes * US_PER_MINUTE
        placed.issues += _issues("overlap", grid_start_us + lost * step,
                                 grid_start_us + (lost + 1) * step,
                                 "intervals of different lengths overlap; the row of the "
                                 f"{grid_minutes}-min length (then the higher quality) wins")
    placed.put(_as_range(c.slot[win]), c.value[win], c.quality[win], c.method[win],
               c.negative[win], c.impossible[win])
    return placed


def _native_candidates(r: _GridRows, sel: np.ndarray, grid_minutes: int) -> _Candidates:
    """Rows of the grid length: each supplies its own slot (``ACT`` or ``SRC``)."""
    q = quality_codes_of(r.rows.quality[sel])
    meth = np.where(q == Q_ACTUAL, METHOD_CODE[METHOD_ACTUAL], METHOD_CODE[METHOD_SOURCE])
    return _Candidates(r.offset[sel] // (grid_minutes * US_PER_MINUTE), r.rows.energy_wh[sel],
                       r.rank[sel], q, meth, r.negative[sel], r.impossible[sel],
                       np.zeros(int(sel.sum()), np.int8))


def _split_candidates(r: _GridRows, sel: np.ndarray, grid_minutes: int,
                      issues: list[Issue]) -> _Candidates:
    """Rows longer than the grid interval, split exactly into its parts (``SPLIT``)."""
    m = r.rows.minutes[sel]
    k = m // grid_minutes
    first_slot = r.offset[sel] // (grid_minutes * US_PER_MINUTE)
    rep = np.repeat(np.arange(k.size), k)
    part = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)   # 0..k-1 within a row
    base, rem = np.divmod(r.rows.energy_wh[sel], k)
    values = base[rep] + (part < rem[rep])
    starts = r.rows.start_us[sel]
    issues += _issues("interval_length", starts, starts + m * US_PER_MINUTE,
                      f"longer intervals split into {grid_minutes}-min parts (exact integer "
                      "split, remainder Wh to the earliest parts)", "info")
    return _Candidates(first_slot[rep] + part, values, r.rank[sel][rep],
                       quality_codes_of(r.rows.quality[sel])[rep],
                       np.full(rep.size, METHOD_CODE[METHOD_SPLIT]), r.negative[sel][rep],
                       r.impossible[sel][rep], np.ones(rep.size, np.int8))


def _summed_candidates(r: _GridRows, sel: np.ndarray, grid_start_us: int, grid_minutes: int,
                       issues: list[Issue]) -> _Candidates:
    """Rows shorter than the grid interval, summed into the slots they cover completely
    (``SUM``; the lowest quality of the parts)."""
    step = grid_minutes * US_PER_MINUTE
    m = r.rows.minutes[sel]
    slot = r.offset[sel] // step
    order = np.argsort(slot, kind="stable")
    slot_s = slot[order]
    heads = np.flatnonzero(np.r_[True, slot_s[1:] != slot_s[:-1]])
    covered = np.add.reduceat(m[order], heads)
    sums = np.add.reduceat(r.rows.energy_wh[sel][order], heads)
    min_rank = np.minimum.reduceat(r.rank[sel][order], heads)
    neg = np.logical_or.reduceat(r.negative[sel][order], heads)
    imp = np.logical_or.reduceat(r.impossible[sel][order], heads)
    complete = covered == grid_minutes
    slots = slot_s[heads]
    quality = quality_codes_of_rank(min_rank)      # unknown codes count as estimated
    starts = r.rows.start_us[sel]
    issues += _issues("interval_length", starts, starts + m * US_PER_MINUTE,
                      f"shorter intervals summed into {grid_minutes}-min intervals", "info")
    if not complete.all():
        inc = slots[~complete]
        issues += _issues("interval_length", grid_start_us + inc * step,
                          grid_start_us + (inc + 1) * step,
                          f"shorter intervals do not cover the whole {grid_minutes}-min "
                          "interval; treated as a gap")
    n = int(complete.sum())
    return _Candidates(slots[complete], sums[complete], min_rank[complete], quality[complete],
                       np.full(n, METHOD_CODE[METHOD_SUM]),
                       neg[complete] | negative(sums[complete]), imp[complete],
                       np.ones(n, np.int8))


def _winners(c: _Candidates, one_source: bool) -> tuple[np.ndarray | slice, np.ndarray]:
    """One candidate per slot (a row of the grid length first, then the higher quality
    rank), and the slots where others lost."""
    if one_source and bool(np.all(c.slot[1:] > c.slot[:-1])):
        return slice(None), c.slot[:0]                    # one candidate per slot already
    order = np.lexsort((-c.rank.astype(np.int64), c.prio, c.slot))
    slot_o = c.slot[order]
    first = np.r_[True, slot_o[1:] != slot_o[:-1]]
    return order[first], slot_o[~first]


def _as_range(slots: np.ndarray) -> np.ndarray | slice:
    """Distinct slots that run consecutively upwards as a slice (assigned without a
    scatter); otherwise the slots as given."""
    if slots.size and int(slots[-1]) - int(slots[0]) == slots.size - 1 and bool(
            np.all(slots[1:] > slots[:-1])):
        return slice(int(slots[0]), int(slots[-1]) + 1)
    return slots


def _place_native_actual(rows: ChannelRows, grid_start_us: int, n_slots: int, grid_minutes: int,
                         limit_wh_per_minute: float | None,
                         issues: list[Issue]) -> PlacedChannel | None:
    """The common case of :func:`place_on_grid` in one pass, or None when it does not
    apply: every (duplicate-free) row is an actual of the grid length on the grid, so
    each supplies its own slot and nothing competes (the general path gives the same)."""
    m, q = rows.minutes, rows.quality
    if m.size == 0 or not (bool((m == grid_minutes).all()) and bool((q == "A").all())):
        return None
    step = grid_minutes * US_PER_MINUTE
    e = rows.energy_wh
    st = rows.start_us
    first = int(st[0]) - grid_start_us
    if first % step == 0 and bool((st[1:] - st[:-1] == step).all()):
        a = first // step                  # consecutive grid slots a .. a + n - 1: no division
        lo, hi = max(a, 0), min(a + st.size, n_slots)
        if hi <= lo:
            return PlacedChannel.empty(n_slots, issues)
        s: np.ndarray | slice = slice(lo, hi)
        e = e[lo - a:hi - a]
    else:
        offset = st - grid_start_us
        if np.any(offset % step):
            return None
        slot = offset // step
        inside = (slot >= 0) & (slot < n_slots)
        if not inside.all():
            slot, e = slot[inside], e[inside]
        s = _as_range(slot)
    placed = PlacedChannel.empty(n_slots, issues)
    placed.put(s, e, Q_ACTUAL, METHOD_CODE[METHOD_ACTUAL], negative(e),
               impossible(e, grid_minutes, limit_wh_per_minute))
    return placed


__all__ = ["Grid", "target_interval_minutes", "all_within", "site_grid_defaults", "channel_grid",
           "Issue", "PlacedChannel", "drop_exact_duplicates", "place_on_grid"]
