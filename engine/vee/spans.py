"""Runs of grid slots and merged ranges of rows: how VEE groups what it reports."""
from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in ``mask``."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


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


__all__ = ["runs", "ranges_of"]
