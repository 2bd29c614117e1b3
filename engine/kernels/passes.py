"""The compiled passes themselves (numba ``njit``), imported only through
:mod:`engine.kernels`, which says what each one replaces and when it applies.

Integers only: every value read or written is an int64, int8 or uint8; the one
float (a channel's nameplate limit, a validation threshold) is compared, never
stored. Each function is one pass over its arrays, with no allocation it does not
return. ``cache=True``: the machine code is written next to this file (or, when that
is read-only, to numba's user cache) on the first call and loaded by every later
process, so a worker pays the compile once per code version, not per job.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, boundscheck=False)

#: values whose int64 -> float64 conversion is exact (a nameplate comparison is then
#: the same whichever way a library converts)
_EXACT_FLOAT = 2**53


@_jit
def clean_channel(start_us, minutes, quality_u32, energy_wh, origin_us, n, step_us, p0,
                  grid_minutes, has_limit, limit_wh):
    """The first slot ``a`` of a clean channel, or -1.

    Clean: every row an actual (``'A'``) of the grid length, the rows on consecutive
    grid slots ``a, a + 1, ...`` covering the range ``[p0, n)``, every value placed in
    the range valid (``0 <= e``, and ``e <= limit_wh`` with a limit). Then the
    channel's range is ``energy_wh[p0 - a : n - a]``, all actual, nothing to fill."""
    m = start_us.size
    if m == 0:
        return -1
    first = start_us[0] - origin_us
    if first % step_us != 0:
        return -1
    a = first // step_us
    if a > p0 or a + m < n:
        return -1
    expect = start_us[0]
    for i in range(m):
        if start_us[i] != expect or minutes[i] != grid_minutes or quality_u32[i] != 65:
            return -1
        expect += step_us
        slot = a + i
        if p0 <= slot < n:
            e = energy_wh[i]
            if e < 0:
                return -1
            if has_limit:
                if e >= _EXACT_FLOAT:
                    return -1
                if e > limit_wh:
                    return -1
    return a


@_jit
def site_codes_into(vee_code, energy_wh, lut, out_energy, out_code):
    """``out_code[i] = lut[vee_code[i]]`` (VEE quality code -> site code 0/1/2) and
    ``out_energy[i]`` = the energy, 0 where the site code is 2 (missing)."""
    for i in range(vee_code.size):
        c = lut[vee_code[i]]
        out_code[i] = c
        out_energy[i] = 0 if c == 2 else energy_wh[i]


@_jit
def _sum_rows_into(energy, rows, out):
    """``out[i] = sum of energy[r, i] over rows`` (a row at a time, so the loop over
    intervals vectorises); returns a value whose sign bit is set iff a sum wrapped."""
    n = out.size
    wrapped = np.int64(0)
    for i in range(n):
        out[i] = 0
    for k in range(rows.size):
        row = energy[rows[k]]
        for i in range(n):
            s = out[i]
            v = row[i]
            t = s + v
            wrapped |= (s ^ t) & (v ^ t)
            out[i] = t
    return wrapped


@_jit
def delivered_into(energy, add_rows, sub_rows, has_cap, cap_rows, floor_zero, codes, quality_rows,
                   out_delivered, out_quality):
    """Per interval ``i``: ``max(0, sum(add) - sum(subtract))`` (the floor if
    ``floor_zero``), capped at ``sum(cap)`` if ``has_cap`` (0 when no row), into
    ``out_delivered``; the worst site code of ``quality_rows`` into ``out_quality``.
    Returns False if a sum or the difference would leave int64 anywhere (the caller
    then raises through the checked NumPy path, naming the interval)."""
    n = out_delivered.size
    wrapped = _sum_rows_into(energy, add_rows, out_delivered)
    if sub_rows.size:
        sub = np.empty(n, dtype=np.int64)
        wrapped |= _sum_rows_into(energy, sub_rows, sub)
        for i in range(n):
            s = out_delivered[i]
            u = sub[i]
            t = s - u
            wrapped |= (s ^ u) & (s ^ t)
            out_delivered[i] = t
    if wrapped < 0:
        return False
    if floor_zero:
        for i in range(n):
            if out_delivered[i] < 0:
                out_delivered[i] = 0
    if has_cap:
        cap = np.empty(n, dtype=np.int64)
        if _sum_rows_into(energy, cap_rows, cap) < 0:
            return False
        for i in range(n):
            if cap[i] < out_delivered[i]:
                out_delivered[i] = cap[i]
    for i in range(n):
        out_quality[i] = 0
    for k in range(quality_rows.size):
        row = codes[quality_rows[k]]
        for i in range(n):
            if row[i] > out_quality[i]:
                out_quality[i] = row[i]
    return True


@_jit
def local_fields_into(utc_us, instants, offsets, local, day, hour, weekday, month):
    """Local wall clock, day, hour, weekday and month of UTC instants, given the zone's
    offset schedule (``offsets[k]`` applies from ``instants[k]`` on; the first instant
    is before every ``utc_us``). Months by the proleptic Gregorian calendar (H.
    Hinnant's ``civil_from_days``, once per distinct day), as months since 1970-01."""
    k = 0
    nk = instants.size
    last_day = np.int64(-(2**62))
    wd = np.int64(0)
    mon = np.int64(0)
    for i in range(utc_us.size):
        u = utc_us[i]
        if u < instants[k]:
            k = 0
        while k + 1 < nk and instants[k + 1] <= u:
            k += 1
        x = u + offsets[k]
        local[i] = x
        d = x // 86_400_000_000
        day[i] = d
        hour[i] = (x - d * 86_400_000_000) // 3_600_000_000
        if d != last_day:
            last_day = d
            wd = (d + 3) % 7
            z = d + 719_468
            era = z // 146_097
            doe = z - era * 146_097
            yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
            doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
            mp = (5 * doy + 2) // 153
            mo = mp + 3 if mp < 10 else mp - 9
            y = yoe + era * 400 + (1 if mo <= 2 else 0)
            mon = (y - 1970) * 12 + mo - 1
        weekday[i] = wd
        month[i] = mon


@_jit
def exact_sum_parts(values):
    """``(sum of the high 32-bit halves, sum of the low halves)`` of int64 values:
    neither can overflow below 2**31 values; the exact sum is ``hi * 2**32 + lo``."""
    hi = np.int64(0)
    lo = np.int64(0)
    for i in range(values.size):
        v = values[i]
        hi += v >> 32
        lo += v & 0xFFFFFFFF
    return hi, lo
