"""Per-interval determinants of one site: channel energy on the billing grid, delivered.

Input is the VEE output per channel (``ChannelSeries``: a regular UTC grid of
interval starts with exact Wh, a quality code and a method per interval). It is
placed on the billing month's grid (``SiteIntervals``); a grid interval with no
row, or with a quality outside A/E/S/F (VEE's ``N``), counts as *missing* (energy 0).

Channel references are a channel name (``gt1``) or ``kind:<kind>`` (the sum of
every channel of that kind at the site, in name order). ``delivered_wh`` implements
the contract's ``delivered`` definition, per interval, exactly in int64::

    delivered = max(0, sum(add) - sum(subtract))    (floor_zero: true, the default)
    delivered = min(delivered, sum(cap_at))          (if cap_at is given)

Every sum and difference is checked (``engine.money.add_exact``/``sub_exact``): a sum
beyond int64 raises a ``ValueRangeError`` naming the site, the channels and the
interval (UTC) instead of wrapping (two channels of 5e18 Wh once summed to a negative
number that ``max(0, ...)`` billed as 0 Wh).

Quality of an interval for the site (used in VEE counts and the detail table) is
the worst of the referenced channels: ``N`` (missing) > ``E`` (estimated,
substituted or final substitute) > ``A`` (actual). VEE counts are therefore per
site interval over the channels the contract reads (not per channel).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from .errors import DataMissingError, InputError, ValueRangeError
from .money import add_exact, sub_exact
from . import kernels
from .sites import Site
from .timebase import US_PER_MINUTE, from_us, interval_grid_us
from .vee.codes import QUALITY_NAMES

ACTUAL = ("A",)
ESTIMATED = ("E", "S", "F")


@dataclass(frozen=True)
class ChannelSeries:
    """VEE output of one channel: regular grid, exact Wh, quality and method codes.

    Any object with these attributes is accepted, e.g. ``engine.vee.ChannelVee``
    (``minutes`` or ``interval_minutes`` optional: inferred from the grid spacing;
    a ``quality_code`` array of VEE's codes, if present, is used instead of
    ``quality``).
    """
    grid_us: np.ndarray          # int64 UTC interval starts
    energy_wh: np.ndarray        # int64 Wh, >= 0
    quality: np.ndarray          # str codes: A, E, S, F (anything else = missing)
    method: np.ndarray           # str method codes ('' if none)
    minutes: int | None = None


def series_minutes(s) -> int:
    m = getattr(s, "minutes", None) or getattr(s, "interval_minutes", None)
    if m:
        return int(m)
    g = np.asarray(s.grid_us, dtype=np.int64)
    if g.size < 2:
        raise InputError("cannot infer the interval length of a series with fewer than 2 intervals; "
                         "set ChannelSeries.minutes")
    return int(np.diff(g).min() // US_PER_MINUTE)


def resolve_refs(refs: Iterable[str], site: Site) -> list[str]:
    """Channel names behind references (``kind:<kind>`` expands in name order)."""
    out: list[str] = []
    for r in refs:
        if r.startswith("kind:"):
            out += sorted(n for n, c in site.channels.items() if c.kind == r[5:])
        else:
            out.append(r)
    return out


@dataclass
class SiteIntervals:
    """A site's channels on the billing grid ``grid_us`` (one interval length)."""
    site: Site
    grid_us: np.ndarray
    minutes: int
    energy: dict[str, np.ndarray]            # channel -> int64 Wh on the grid
    quality: dict[str, np.ndarray]           # channel -> 0 actual (A), 1 estimated (E/S/F), 2 missing (N)
    _cache: dict = field(default_factory=dict)
    #: channel -> row of ``_matrix`` (energy, site codes: ``energy``/``quality`` are views of its rows)
    _rows: dict[str, int] = field(default_factory=dict)
    _matrix: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, site: Site, series: dict, channels: Iterable[str], start_us: int, end_us: int
              ) -> "SiteIntervals":
        """Place each channel's series on one grid over ``[start_us, end_us)``.

        The grid has the longest interval length among the channels; finer channels
        are summed onto it exactly (a coarse interval is missing unless all of its
        fine intervals are present, and takes the worst of their qualities).
        """
        names = sorted(set(channels))
        missing = [n for n in names if n not in series]
        if missing:
            raise DataMissingError(f"site {site.site_id}: no VEE series for channel(s) {', '.join(missing)}")
        mins = {n: series_minutes(series[n]) for n in names}
        minutes = max(mins.values()) if mins else 60
        bad = sorted(n for n, m in mins.items() if minutes % m)
        if bad:
            raise InputError(f"site {site.site_id}: channel interval lengths do not nest "
                             f"({', '.join(f'{n}={m} min' for n, m in sorted(mins.items()))})")
        grid = interval_grid_us(start_us, end_us, minutes)
        step = minutes * US_PER_MINUTE
        # the channels as the rows of one matrix (energy, site codes), so a compiled pass
        # can read them all per interval (``delivered_and_quality``)
        matrix = np.empty((len(names), grid.size), dtype=np.int64)
        codes = np.empty((len(names), grid.size), dtype=np.int8)
        energy, quality = {}, {}
        for r, n in enumerate(names):
            energy[n], quality[n] = matrix[r], codes[r]
            s = series[n]
            g = np.asarray(s.grid_us, dtype=np.int64)
            e = np.asarray(s.energy_wh, dtype=np.int64)
            vee_code = getattr(s, "quality_code", None)        # a ChannelVee: its codes
            on_grid = mins[n] == minutes and g.size == grid.size and np.array_equal(g, grid)
            if on_grid and vee_code is not None and grid.size >= kernels.MIN_SIZE:
                kernels.site_codes_into(vee_code, e, _VEE_SITE_CODES, matrix[r], codes[r])
                continue
            code = (_VEE_SITE_CODES[vee_code] if vee_code is not None
                    else quality_codes(s.quality))
            if on_grid:                                          # already on the grid
                matrix[r], codes[r] = np.where(code == 2, 0, e), code
                continue
            fine_step = mins[n] * US_PER_MINUTE
            inside = (g >= start_us) & (g < end_us) & ((g - start_us) % fine_step == 0)
            pos = (g[inside] - start_us) // step
            en = np.zeros(grid.size, dtype=np.int64)
            qc = np.zeros(grid.size, dtype=np.int8)
            seen = np.zeros(grid.size, dtype=np.int64)
            _add_at_exact(en, pos, e[inside], minutes // mins[n],
                          functools.partial(_where, site, (n,), grid))
            np.maximum.at(qc, pos, code[inside])
            np.add.at(seen, pos, 1)
            qc[seen < minutes // mins[n]] = 2
            en[qc == 2] = 0
            matrix[r], codes[r] = en, qc
        return cls(site, grid, minutes, energy, quality, _rows={n: r for r, n in enumerate(names)},
                   _matrix=(matrix, codes))

    def energy_of(self, refs: Iterable[str]) -> np.ndarray:
        """Sum of the referenced channels' Wh per interval (int64, exact)."""
        key = ("E",) + tuple(refs)
        if key not in self._cache:
            total = np.zeros(self.grid_us.size, dtype=np.int64)
            names = resolve_refs(refs, self.site)
            for n in names:
                total = add_exact(total, self.energy[n], self.describe(names), "energy_wh")
            self._cache[key] = total
        return self._cache[key]

    def describe(self, channels) -> Callable[[int], str]:
        """``i -> 'site S channel(s) a+b interval <UTC start>'`` for error messages."""
        return lambda i: _where(self.site, tuple(channels), self.grid_us, i)

    def quality_of(self, refs: Iterable[str]) -> np.ndarray:
        """Worst quality code over the referenced channels (0 A, 1 E, 2 N)."""
        q = np.zeros(self.grid_us.size, dtype=np.int8)
        for n in resolve_refs(refs, self.site):
            q = np.maximum(q, self.quality[n])
        return q


QUALITY_LETTERS = np.array(["A", "E", "N"])   # site quality code -> letter (VEE codes)


_ASCII_CODES = np.full(128, 2, dtype=np.int8)          # one-letter code point -> site code
_ASCII_CODES[[ord(c) for c in ESTIMATED]] = 1
_ASCII_CODES[[ord(c) for c in ACTUAL]] = 0


def quality_codes(quality: np.ndarray) -> np.ndarray:
    """Per interval: 0 actual (A), 1 estimated (E, S, F), 2 missing (anything else); int8."""
    q = np.asarray(quality)
    if q.dtype.kind != "U":
        q = q.astype(str)
    if q.dtype.itemsize == 4:             # one letter each (VEE's '<U1'): a table lookup
        points = q.view(np.uint32)
        return np.where(points < 128, _ASCII_CODES[np.minimum(points, 127)], 2).astype(np.int8)
    code = np.full(q.shape, 2, dtype=np.int8)
    for letter in ESTIMATED:
        code[q == letter] = 1
    for letter in ACTUAL:
        code[q == letter] = 0
    return code


#: VEE quality code (``engine.vee.codes.QUALITY_NAMES``) -> site quality code
_VEE_SITE_CODES = quality_codes(QUALITY_NAMES)


def _where(site: Site, channels: tuple[str, ...], grid_us: np.ndarray, i: int) -> str:
    at = from_us(int(grid_us[i])).isoformat().replace("+00:00", "Z") if i < grid_us.size else "?"
    return f"site {site.site_id} channel(s) {'+'.join(channels)} interval {at}"


def _add_at_exact(out: np.ndarray, pos: np.ndarray, values: np.ndarray, per: int,
                  describe) -> None:
    """``np.add.at(out, pos, values)`` (``per`` fine values at most per position),
    raising instead of wrapping. No check is needed when ``per`` times the largest
    magnitude fits; otherwise the sums are redone in 32-bit halves to find the first
    position beyond int64."""
    v = np.asarray(values, dtype=np.int64)
    peak = int(np.abs(v).max()) if v.size else 0
    if peak <= np.iinfo(np.int64).max // max(per, 1):
        np.add.at(out, pos, v)
        return
    hi = np.zeros(out.size, dtype=np.int64)
    lo = np.zeros(out.size, dtype=np.int64)
    np.add.at(hi, pos, v >> 32)                  # |hi| <= 2**31 per value
    np.add.at(lo, pos, v & 0xFFFFFFFF)           # 0 <= lo < 2**32 per value
    high = hi + (lo >> 32)                       # exact sum = high * 2**32 + (lo mod 2**32)
    bad = np.flatnonzero((high < -(2**31)) | (high >= 2**31))
    if bad.size:
        i = int(bad[0])
        exact = (int(hi[i]) << 32) + int(lo[i])
        raise ValueRangeError(f"{describe(i)}: the fine intervals sum to {exact} Wh, which "
                              "would overflow int64; a value this large cannot be billed",
                              field="energy_wh")
    out += (high << 32) + (lo & 0xFFFFFFFF)


def delivered_wh(si: SiteIntervals, add: tuple[str, ...], subtract: tuple[str, ...] = (),
                 cap_at: tuple[str, ...] = (), floor_zero: bool = True) -> np.ndarray:
    """Delivered energy per interval (int64 Wh) per the contract's definition (every
    sum and difference checked: ``ValueRangeError`` naming site, channels, interval)."""
    d = si.energy_of(add)
    if subtract:
        names = resolve_refs(add, si.site) + [f"-{n}" for n in resolve_refs(subtract, si.site)]
        d = sub_exact(d, si.energy_of(subtract), si.describe(names), "energy_wh")
    if floor_zero:
        d = np.maximum(d, 0)
    if cap_at:
        d = np.minimum(d, si.energy_of(cap_at))
    return np.asarray(d, dtype=np.int64)


def delivered_and_quality(si: SiteIntervals, add: tuple[str, ...], subtract: tuple[str, ...] = (),
                          cap_at: tuple[str, ...] = (), floor_zero: bool = True,
                          quality_refs: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """``(delivered_wh(si, add, subtract, cap_at, floor_zero), si.quality_of(quality_refs))``
    in one compiled pass over the site's channel matrix (``engine.kernels``); the same
    arrays, and the same ``ValueRangeError`` when a sum leaves int64 (raised by the
    checked NumPy path)."""
    names = [resolve_refs(r, si.site) for r in (add, subtract, cap_at, quality_refs)]
    if si._matrix is not None and si.grid_us.size >= kernels.MIN_SIZE and all(
            n in si._rows for group in names for n in group):
        rows = [[si._rows[n] for n in group] for group in names]
        out = kernels.delivered_and_quality(si._matrix[0], rows[0], rows[1],
                                            rows[2] if cap_at else None, floor_zero,
                                            si._matrix[1], rows[3])
        if out is not None:
            return out
    return delivered_wh(si, add, subtract, cap_at, floor_zero), si.quality_of(quality_refs)


def vee_counts(quality: np.ndarray) -> dict[str, int]:
    """Interval counts by site quality code: expected, actual, estimated, missing."""
    q = np.asarray(quality)
    return {"intervals_expected": int(q.size), "actual": int((q == 0).sum()),
            "estimated": int((q == 1).sum()), "missing": int((q == 2).sum())}


__all__ = ["ChannelSeries", "SiteIntervals", "resolve_refs", "delivered_wh", "delivered_and_quality",
           "vee_counts",
           "series_minutes", "quality_codes", "QUALITY_LETTERS"]
