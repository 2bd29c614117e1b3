"""Rolling windows of a dispatch horizon, in the site's local time.

A ``day`` window is one local calendar day (23, 24 or 25 hours around DST changes);
a ``week`` window seven local days from Monday; ``perfect`` is the whole horizon
(one window). Labels are non-decreasing integers, one per interval, as
:func:`engine.dispatch.lp.solve` takes them.
"""
from __future__ import annotations

import numpy as np

from ..timebase import local_fields


def local_days(starts_us: np.ndarray, tz: str) -> np.ndarray:
    """Each interval's local day (days since 1970-01-01 in ``tz``)."""
    return local_fields(np.asarray(starts_us, dtype=np.int64), tz).day


def window_labels(days: np.ndarray, window: str) -> np.ndarray | None:
    """Window label of each interval from its local day: the day itself (``day``), its
    Monday-based week (``week``: 1970-01-01 was a Thursday), or None (``perfect``)."""
    if window == "perfect":
        return None
    if window == "day":
        return np.asarray(days, dtype=np.int64)
    if window == "week":
        return (np.asarray(days, dtype=np.int64) + 3) // 7
    raise ValueError(f"window must be perfect, day or week; got {window!r}")


__all__ = ["local_days", "window_labels"]
