"""Compiled single passes for the settlement's hot path, each the exact equal of the
NumPy code it stands in for.

A 1-minute site-month is ~270 k meter rows and ~45 k billing intervals per channel;
the NumPy path walks those arrays a dozen times per step (a mask, a ``where``, a
gather, an overflow check ...), each walk a fresh temporary. The passes here do one
walk each, compiled by numba (:mod:`engine.kernels.passes`):

==============================  ================================================  =====================================
pass                            stands in for                                     applies when
==============================  ================================================  =====================================
:func:`clean_channel`           ``engine.vee`` placement, validity, counts of     the channel's rows are actuals of the
                                one channel (``run_vee`` with ``findings=False``)  grid length covering the range, valid
:func:`site_codes_into`         ``SiteIntervals.build``: VEE codes -> site codes,  a channel already on the billing grid
                                energy of missing intervals zeroed
:func:`delivered_and_quality`   ``delivered_wh`` (checked sums, floor, cap) and    the site's channels are on one grid
                                ``SiteIntervals.quality_of``                       (a sum leaving int64 raises through
                                                                                   the NumPy path, with its message)
:func:`local_fields`            ``engine.timebase.local_fields``                   always
:func:`exact_sum`               ``engine.money.sum_exact``                         always
==============================  ================================================  =====================================

Every pass is tested element for element against its NumPy reference
(``tests/engine/test_kernels.py``, property-based), and the settlement built on them
publishes the same bytes (the job and invoice tests; ``bench/settle.py`` checks the
money against DuckDB). Integers only: nothing here computes in floating point.

numba is imported on the first call, not with this module (``m2c --help`` and the
API's start-up never pay for it), and compiles with ``cache=True``: the machine code
is written once per code version next to :mod:`engine.kernels.passes` (numba's
user cache when that folder is read-only) and loaded by every later process, so
warm workers and later test sessions do not compile (``bench/settle.py`` prints the
cold and warm cost).
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

_module: ModuleType | None = None

#: arrays shorter than this stay on the NumPy path (the same values). A fresh process
#: pays ~0.4 CPU-s to import numba and load the passes from the cache; on a 1-minute
#: site-month (44,640 intervals a channel) they save ~3 ms, on a 5-minute one (8,928)
#: well under 1 ms, which never pays for the load in a job's short-lived worker (the
#: demo's month-end on a running cluster: 2.8-3.0 s on NumPy, 3.6-4.1 s with the
#: passes). So 1-minute data take the passes and coarser data stay on NumPy; the
#: command line's small computations never import numba.
MIN_SIZE = 20_000


def _jit() -> ModuleType:
    """:mod:`engine.kernels.passes` (numba imported, and each pass compiled or loaded
    from the cache, on first use)."""
    global _module
    if _module is None:
        from . import passes
        _module = passes
    return _module


def clean_channel(start_us: np.ndarray, minutes: np.ndarray, quality: np.ndarray,
                  energy_wh: np.ndarray, origin_us: int, n: int, step_us: int, p0: int,
                  grid_minutes: int, limit_wh: float | None) -> np.ndarray | None:
    """The range ``[p0, n)`` of a clean channel's grid (a copy of its rows' energy), or
    None when the channel is not clean (see :func:`engine.kernels.passes.clean_channel`):
    then the general placement decides. ``quality``: the rows' letters (``'<U1'``);
    ``limit_wh``: the nameplate limit of one grid interval (None: no nameplate)."""
    q = np.ascontiguousarray(quality, dtype="<U1").view(np.uint32)
    a = _jit().clean_channel(
        np.ascontiguousarray(start_us, dtype=np.int64), np.ascontiguousarray(minutes, dtype=np.int64),
        q, np.ascontiguousarray(energy_wh, dtype=np.int64), int(origin_us), int(n), int(step_us),
        int(p0), int(grid_minutes), limit_wh is not None, float(limit_wh or 0.0))
    if a < 0:
        return None
    return np.array(energy_wh[p0 - a:n - a], dtype=np.int64)


def site_codes_into(vee_code: np.ndarray, energy_wh: np.ndarray, lut: np.ndarray,
                    out_energy: np.ndarray, out_code: np.ndarray) -> None:
    """Site codes (``lut[vee_code]``) and energy (0 where missing), written into the
    given rows."""
    _jit().site_codes_into(np.ascontiguousarray(vee_code, dtype=np.uint8),
                               np.ascontiguousarray(energy_wh, dtype=np.int64), lut, out_energy,
                               out_code)


def delivered_and_quality(energy: np.ndarray, add_rows: list[int], sub_rows: list[int],
                          cap_rows: list[int] | None, floor_zero: bool, codes: np.ndarray,
                          quality_rows: list[int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Delivered Wh and worst site quality per interval from the channel matrix
    ``energy`` (rows: channels) and ``codes``: ``max(0, sum(add) - sum(sub))`` (floored
    if ``floor_zero``), capped at ``sum(cap)`` unless ``cap_rows`` is None. None if a
    sum would leave int64 (the caller raises through the checked path, which names
    the interval)."""
    n = energy.shape[1]
    out = np.empty(n, dtype=np.int64)
    quality = np.empty(n, dtype=np.int8)
    rows = [np.asarray(r, dtype=np.int64) for r in (add_rows, sub_rows, cap_rows or [], quality_rows)]
    ok = _jit().delivered_into(energy, rows[0], rows[1], cap_rows is not None, rows[2],
                               bool(floor_zero), codes, rows[3], out, quality)
    return (out, quality) if ok else None


def local_fields(utc_us: np.ndarray, instants: np.ndarray, offsets: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(local_us, day, hour, weekday, month)`` of ``utc_us`` given the zone's offset
    schedule (``engine.timebase.offset_transitions``, starting before every instant)."""
    u = np.ascontiguousarray(utc_us, dtype=np.int64)
    out = [np.empty(u.size, dtype=np.int64) for _ in range(5)]
    _jit().local_fields_into(u, instants, offsets, *out)
    return out[0], out[1], out[2], out[3], out[4]


def exact_sum(values: np.ndarray) -> int:
    """Exact sum of int64 values as a Python int (below 2**31 values)."""
    hi, lo = _jit().exact_sum_parts(np.ascontiguousarray(values, dtype=np.int64))
    return (int(hi) << 32) + int(lo)


def warm_up() -> None:
    """Compile (or load from the cache) every pass now, on tiny inputs. Workers do not
    call it: each pass is loaded on its first use (a worker's first partition pays
    ~0.4 s once the cache is filled); ``bench/settle.py`` times it."""
    z = np.zeros(2, dtype=np.int64)
    clean_channel(z, z, np.array(["A", "A"]), z, 0, 2, 1, 0, 1, None)
    e = np.zeros((1, 2), dtype=np.int64)
    c = np.zeros((1, 2), dtype=np.int8)
    site_codes_into(np.zeros(2, np.uint8), z, np.zeros(6, np.int8), e[0], c[0])
    delivered_and_quality(e, [0], [0], [0], True, c, [0])
    local_fields(z, np.array([-1], np.int64), np.array([0], np.int64))
    exact_sum(z)


__all__: list[Any] = ["MIN_SIZE", "clean_channel", "site_codes_into", "delivered_and_quality",
                      "local_fields", "exact_sum", "warm_up"]
