"""VEE step 2, validation: the rules that make a value invalid or suspect.

* ``negative``: energy below 0 Wh. Invalid: replaced by an estimate.
* ``impossible``: energy above the physical limit of the channel,
  ``nameplate_tolerance x nameplate_kw x minutes / 60 x 1000`` Wh
  (:func:`limit_wh_per_minute`; no limit without a nameplate). Invalid: replaced.
* ``spike``: a value more than ``spike_ratio`` times the last valid interval, when
  that one is at least ``spike_floor_fraction`` of the channel's reference level
  (the nameplate interval energy, or the median of the channel's positive values).
  Flagged, never changed; by default only on load, generation and storage channels
  (grid import/export are net flows that step with on-site dispatch).

Gaps (grid slots no row supplies), duplicates, overlaps, misaligned rows and
interval-length changes are found while placing rows on the grid
(``engine.vee.grid``); DST days and unknown channels are only reported
(``engine.vee.findings``, which turns every check into findings).
"""
from __future__ import annotations

import numpy as np

from ..sites import Channel
from .config import VeeConfig


def limit_wh_per_minute(ch: Channel, config: VeeConfig) -> float | None:
    """The channel's physical limit in Wh per minute of interval (None: no nameplate)."""
    return (None if ch.nameplate_kw is None
            else config.nameplate_tolerance * ch.nameplate_kw * 1000.0 / 60.0)


def negative(energy_wh: np.ndarray) -> np.ndarray:
    """Mask of negative energies."""
    return energy_wh < 0


def impossible(energy_wh: np.ndarray, minutes: np.ndarray | int,
               limit: float | None) -> np.ndarray:
    """Mask of energies above ``limit`` (Wh per minute) times their interval's minutes."""
    if limit is None:
        return np.zeros(np.shape(energy_wh), dtype=bool)
    return energy_wh > limit * minutes


def spikes(ch: Channel, minutes: int, value: np.ndarray, valid: np.ndarray,
           config: VeeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Spike mask and, per slot, the value of the last valid slot before it (0 if none)."""
    n = value.size
    idx = np.where(valid, np.arange(n), -1)
    prev = np.concatenate(([-1], np.maximum.accumulate(idx)[:-1]))
    prev_val = np.where(prev >= 0, value[np.maximum(prev, 0)], 0)
    if ch.kind not in config.spike_kinds:
        return np.zeros(n, dtype=bool), prev_val
    positive = valid & (value > 0)
    if ch.nameplate_kw is not None:
        ref = ch.nameplate_kw * minutes / 60.0 * 1000.0   # nameplate energy of one interval
    else:
        ref = float(np.median(value[positive])) if positive.any() else 0.0
    floor = config.spike_floor_fraction * ref
    spike = valid & (prev_val > 0) & (prev_val >= floor) & (value > config.spike_ratio * prev_val)
    return spike, prev_val


__all__ = ["limit_wh_per_minute", "negative", "impossible", "spikes"]
