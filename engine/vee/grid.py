"""VEE step 1: put one channel's meter rows on a regular interval grid.

Pure numpy. The caller (``engine.vee``) picks the grid; this module decides, for
every grid slot, which row (or part of a row) supplies its value, and reports
what it had to resolve on the way:

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
* **Validity** of every row: negative energy, and energy above the physical limit
  ``nameplate_tolerance x nameplate_kw x minutes / 60 x 1000`` Wh, are marked
  invalid (the value is kept for the report but later replaced by an estimate).

Times are int64 microseconds since the epoch, UTC, interval-beginning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..timebase import US_PER_MINUTE

#: quality code -> rank; a higher rank wins a duplicate. Unknown codes rank 0.
QUALITY_RANK = {"A": 4, "F": 3, "S": 2, "E": 1}

#: method codes of values taken from the input
METHOD_ACTUAL = "ACT"        # quality A, as read
METHOD_SOURCE = "SRC"        # quality E/S/F from the source, as read
METHOD_SPLIT = "SPLIT"       # part of a longer interval
METHOD_SUM = "SUM"           # sum of shorter intervals

#: A grid slot's quality and method are small integers (uint8): indices into these
#: names, 0 where no row supplies the slot. Names only appear at the edges
#: (``ChannelVee.quality``/``method``, ``VeeResult.to_arrow``, reports): a
#: 1-minute channel-month's codes take 89 kB instead of 1.4 MB of '<U1'/'<U7'.
QUALITY_NAMES = np.array(["", "A", "E", "S", "F", "N"])
METHOD_NAMES = np.array(["", METHOD_ACTUAL, METHOD_SOURCE, METHOD_SPLIT, METHOD_SUM,
                         "LIN", "FLAT", "LIKEDAY", "MISSING"])
QUALITY_CODE = {str(q): np.uint8(i) for i, q in enumerate(QUALITY_NAMES) if q}
METHOD_CODE = {str(m): np.uint8(i) for i, m in enumerate(METHOD_NAMES) if m}
_Q_ACTUAL = QUALITY_CODE["A"]
#: source letter (code point) -> quality code; an unknown letter counts as estimated
_LETTER_CODES = np.full(128, QUALITY_CODE["E"], dtype=np.uint8)
for _letter, _code in QUALITY_CODE.items():
    _LETTER_CODES[ord(_letter)] = _code
#: quality rank (``QUALITY_RANK``; 0 unknown) -> quality code (unknown: estimated)
_RANK_CODES = np.array([QUALITY_CODE[c] for c in ("E", "E", "S", "F", "A")], dtype=np.uint8)


def quality_codes_of(letters: np.ndarray) -> np.ndarray:
    """Source quality letters (``'<U1'``) as quality codes (uint8)."""
    points = np.asarray(letters, dtype="<U1").view(np.uint32)
    return _LETTER_CODES[np.minimum(points, 127)]


@dataclass(frozen=True)
class ChannelRows:
    """One channel's raw rows (equal-length arrays, any order)."""
    start_us: np.ndarray            # int64, UTC interval-beginning
    minutes: np.ndarray             # int64 interval length
    energy_wh: np.ndarray           # int64
    quality: np.ndarray             # '<U1' source quality code
    ingested_us: np.ndarray         # int64, 0 when unknown

    def __len__(self) -> int:
        return int(self.start_us.size)


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
    def empty(cls, n_slots: int, issues: list[Issue]) -> "PlacedChannel":
        """No slot supplied yet."""
        return cls(value_wh=np.zeros(n_slots, dtype=np.int64), present=np.zeros(n_slots, dtype=bool),
                   quality=np.zeros(n_slots, dtype=np.uint8), method=np.zeros(n_slots, dtype=np.uint8),
                   negative=np.zeros(n_slots, dtype=bool), impossible=np.zeros(n_slots, dtype=bool),
                   issues=issues)


def quality_rank(quality: np.ndarray) -> np.ndarray:
    """Vectorised rank of quality codes (see ``QUALITY_RANK``)."""
    q = np.asarray(quality, dtype="<U1")
    rank = np.zeros(q.shape, dtype=np.int8)
    for code, r in QUALITY_RANK.items():
        rank[q == code] = r
    return rank


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


def ranges_of(starts_us: np.ndarray, ends_us: np.ndarray) -> list[tuple[int, int, int]]:
    """Merge intervals ``[start, end)`` that touch or overlap into ``(start, end, count)``."""
    if starts_us.size == 0:
        return []
    order = np.argsort(starts_us, kind="stable")
    s, e = starts_us[order], ends_us[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > reach[:-1]
    heads = np.flatnonzero(new)
    tails = np.append(heads[1:], s.size)
    return [(int(s[h]), int(reach[t - 1]), int(t - h)) for h, t in zip(heads, tails)]


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
    keep = order[first]
    return _take(rows, keep), issues


def _take(rows: ChannelRows, idx: np.ndarray) -> ChannelRows:
    return ChannelRows(rows.start_us[idx], rows.minutes[idx], rows.energy_wh[idx],
                       rows.quality[idx], rows.ingested_us[idx])


def place_on_grid(rows: ChannelRows, grid_start_us: int, n_slots: int, grid_minutes: int,
                  limit_wh_per_minute: float | None) -> PlacedChannel:
    """Place a channel's rows on the grid ``grid_start_us + i * grid_minutes``, ``i < n_slots``.

    ``limit_wh_per_minute`` is the physical limit (nameplate x tolerance) in Wh per
    minute of interval, or ``None`` when the channel has no nameplate.
    """
    step = grid_minutes * US_PER_MINUTE
    rows, issues = drop_exact_duplicates(rows)
    fast = _place_native_actual(rows, grid_start_us, n_slots, grid_minutes, limit_wh_per_minute,
                                issues)
    if fast is not None:
        return fast

    e = rows.energy_wh
    m = rows.minutes
    negative = e < 0
    impossible = (np.zeros(e.size, dtype=bool) if limit_wh_per_minute is None
                  else e > limit_wh_per_minute * m)
    rank = quality_rank(rows.quality)
    # quality 'N' (null, NEM12) carries no value: treat the interval as absent
    usable = rows.quality != "N"

    offset = rows.start_us - grid_start_us
    unit = np.minimum(m, grid_minutes) * US_PER_MINUTE
    misaligned = (offset % unit) != 0
    if misaligned.any():
        issues += _issues("misaligned", rows.start_us[misaligned],
                          rows.start_us[misaligned] + m[misaligned] * US_PER_MINUTE,
                          f"interval start not on the {grid_minutes}-min grid; row ignored")
    ok = usable & ~misaligned

    # candidate (slot, value, ...) lists from native, long and short rows
    cand: list[tuple[np.ndarray, ...]] = []
    native = ok & (m == grid_minutes)
    if native.any():
        q = quality_codes_of(rows.quality[native])
        meth = np.where(q == _Q_ACTUAL, METHOD_CODE[METHOD_ACTUAL], METHOD_CODE[METHOD_SOURCE])
        cand.append((offset[native] // step, e[native], rank[native], q, meth,
                     negative[native], impossible[native], np.zeros(int(native.sum()), np.int8)))

    long_ = ok & (m > grid_minutes)
    if long_.any():
        k = m[long_] // grid_minutes
        first_slot = offset[long_] // step
        rep = np.repeat(np.arange(k.size), k)
        part = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k)   # 0..k-1 within a row
        base, rem = np.divmod(e[long_], k)
        values = base[rep] + (part < rem[rep])
        cand.append((first_slot[rep] + part, values, rank[long_][rep],
                     quality_codes_of(rows.quality[long_])[rep],
                     np.full(rep.size, METHOD_CODE[METHOD_SPLIT]), negative[long_][rep],
                     impossible[long_][rep], np.ones(rep.size, np.int8)))
        lm = m[long_]
        issues += _issues("interval_length", rows.start_us[long_],
                          rows.start_us[long_] + lm * US_PER_MINUTE,
                          f"longer intervals split into {grid_minutes}-min parts (exact integer "
                          "split, remainder Wh to the earliest parts)", "info")

    short = ok & (m < grid_minutes)
    if short.any():
        slot = offset[short] // step
        order = np.argsort(slot, kind="stable")
        slot_s = slot[order]
        heads = np.flatnonzero(np.r_[True, slot_s[1:] != slot_s[:-1]])
        covered = np.add.reduceat(m[short][order], heads)
        sums = np.add.reduceat(e[short][order], heads)
        min_rank = np.minimum.reduceat(rank[short][order], heads)
        neg = np.logical_or.reduceat(negative[short][order], heads)
        imp = np.logical_or.reduceat(impossible[short][order], heads)
        complete = covered == grid_minutes
        slots = slot_s[heads]
        quality = _RANK_CODES[np.clip(min_rank, 0, 4)]   # unknown codes count as estimated
        cand.append((slots[complete], sums[complete], min_rank[complete], quality[complete],
                     np.full(int(complete.sum()), METHOD_CODE[METHOD_SUM]),
                     neg[complete] | (sums[complete] < 0), imp[complete],
                     np.ones(int(complete.sum()), np.int8)))
        rs = rows.start_us[short]
        issues += _issues("interval_length", rs, rs + m[short] * US_PER_MINUTE,
                          f"shorter intervals summed into {grid_minutes}-min intervals", "info")
        if not complete.all():
            inc = slots[~complete]
            issues += _issues("interval_length", grid_start_us + inc * step,
                              grid_start_us + (inc + 1) * step,
                              f"shorter intervals do not cover the whole {grid_minutes}-min "
                              "interval; treated as a gap")

    placed = PlacedChannel.empty(n_slots, issues)
    if not cand:
        return placed
    slot, value, rnk, qual, meth, neg, imp, prio = (
        np.concatenate(c) if len(cand) > 1 else c[0] for c in zip(*cand))
    inside = (slot >= 0) & (slot < n_slots)
    if not inside.all():
        slot, value, rnk, qual, meth, neg, imp, prio = (
            a[inside] for a in (slot, value, rnk, qual, meth, neg, imp, prio))
    # one winner per slot: grid-length rows first, then the higher quality rank
    if len(cand) == 1 and bool(np.all(slot[1:] > slot[:-1])):
        win: np.ndarray | slice = slice(None)             # one row per slot already
    else:
        order = np.lexsort((-rnk.astype(np.int64), prio, slot))
        slot_o = slot[order]
        first = np.r_[True, slot_o[1:] != slot_o[:-1]]
        if not first.all():
            lost = slot_o[~first]
            placed.issues += _issues("overlap", grid_start_us + lost * step,
                                     grid_start_us + (lost + 1) * step,
                                     "intervals of different lengths overlap; the row of the "
                                     f"{grid_minutes}-min length (then the higher quality) wins")
        win = order[first]
    s = _as_range(slot[win])
    placed.value_wh[s] = value[win]
    placed.present[s] = True
    placed.quality[s] = qual[win]
    placed.method[s] = meth[win]
    placed.negative[s] = neg[win]
    placed.impossible[s] = imp[win]
    return placed


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
    placed.value_wh[s] = e
    placed.present[s] = True
    placed.quality[s] = _Q_ACTUAL
    placed.method[s] = METHOD_CODE[METHOD_ACTUAL]
    placed.negative[s] = e < 0
    if limit_wh_per_minute is not None:
        placed.impossible[s] = e > limit_wh_per_minute * grid_minutes
    return placed


__all__ = ["QUALITY_RANK", "QUALITY_NAMES", "METHOD_NAMES", "QUALITY_CODE", "METHOD_CODE",
           "quality_codes_of", "ChannelRows", "Issue", "PlacedChannel", "quality_rank",
           "target_interval_minutes", "ranges_of", "drop_exact_duplicates", "place_on_grid",
           "METHOD_ACTUAL", "METHOD_SOURCE", "METHOD_SPLIT", "METHOD_SUM"]
