"""What VEE returns: ``VeeResult`` (a site's range), ``ChannelVee`` (a channel's grid),
``VeeCounts`` and the columns of the validated grid as a table (``VEE_COLUMNS``).

Counts (the invoice's ``vee`` block): ``intervals_expected`` = grid intervals in
the range; ``actual`` = quality A; ``missing`` = method MISSING; ``estimated`` =
the rest (VEE estimates and source E/S/F rows). ``actual + estimated + missing ==
intervals_expected`` always.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..money import sum_exact
from ..schema import UTC_TS, VEE_COLUMNS, VEE_SCHEMA
from .codes import METHOD_NAMES, QUALITY_NAMES
from .config import VeeConfig
from .findings import Finding


@dataclass(frozen=True)
class VeeCounts:
    """Interval counts; ``actual + estimated + missing == intervals_expected``."""
    intervals_expected: int = 0
    actual: int = 0
    estimated: int = 0
    missing: int = 0

    def __add__(self, other: VeeCounts) -> VeeCounts:
        return VeeCounts(self.intervals_expected + other.intervals_expected,
                         self.actual + other.actual, self.estimated + other.estimated,
                         self.missing + other.missing)

    def to_dict(self) -> dict[str, int]:
        return {"intervals_expected": self.intervals_expected, "actual": self.actual,
                "estimated": self.estimated, "missing": self.missing}


@dataclass(frozen=True, eq=False)
class ChannelVee:
    """The validated grid of one channel over the range (arrays of equal length)."""
    channel: str
    kind: str
    interval_minutes: int
    grid_us: np.ndarray          # int64 UTC interval-beginning instants
    energy_wh: np.ndarray        # int64 validated / estimated energy, Wh
    quality_code: np.ndarray     # uint8 index into ``codes.QUALITY_NAMES``
    method_code: np.ndarray      # uint8 index into ``codes.METHOD_NAMES``
    counts: VeeCounts
    #: intervals VEE itself filled (LIN, FLAT, LIKEDAY or MISSING): the only values
    #: that depend on rows before the range (neighbours and like days)
    filled: int = 0

    @property
    def quality(self) -> np.ndarray:
        """Quality letters (``'<U1'``: A, E, S, F, N)."""
        return QUALITY_NAMES[self.quality_code]

    @property
    def method(self) -> np.ndarray:
        """Method names (``'<U7'``: ACT, SRC, SPLIT, SUM, LIN, FLAT, LIKEDAY, MISSING)."""
        return METHOD_NAMES[self.method_code]

    @property
    def energy_total_wh(self) -> int:
        return sum_exact(self.energy_wh)


@dataclass(frozen=True, eq=False)
class VeeResult:
    site_id: str
    timezone: str
    start_us: int
    end_us: int
    config: VeeConfig
    channels: dict[str, ChannelVee]
    findings: tuple[Finding, ...]
    counts: VeeCounts

    @property
    def filled(self) -> int:
        """Intervals VEE filled in the range, all channels (see ``ChannelVee.filled``)."""
        return sum(c.filled for c in self.channels.values())

    def findings_by_check(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.check] = out.get(f.check, 0) + 1
        return dict(sorted(out.items()))

    def to_arrow(self) -> pa.Table:
        """All channels' grids as one table (``VEE_SCHEMA``), ordered by channel, time."""
        parts = [self.channels[c] for c in sorted(self.channels)]
        n = [p.grid_us.size for p in parts]
        total = sum(n)
        def cat(arrs, dtype):
            return np.concatenate(arrs).astype(dtype) if arrs else np.zeros(0, dtype)
        cols = {
            "site_id": pa.array([self.site_id] * total, pa.string()),
            "channel": pa.array(np.repeat(np.array([p.channel for p in parts] or [""]),
                                          n or [0]).astype(str), pa.string()),
            "interval_start_utc": pa.array(cat([p.grid_us for p in parts], np.int64)
                                           .view("datetime64[us]"), UTC_TS),
            "interval_minutes": pa.array(np.repeat([p.interval_minutes for p in parts] or [0],
                                                   n or [0]).astype(np.int16), pa.int16()),
            "energy_wh": pa.array(cat([p.energy_wh for p in parts], np.int64), pa.int64()),
            "quality": pa.array(QUALITY_NAMES[cat([p.quality_code for p in parts], np.uint8)],
                                pa.string()),
            "method": pa.array(METHOD_NAMES[cat([p.method_code for p in parts], np.uint8)],
                               pa.string()),
        }
        return pa.Table.from_pydict(cols, schema=VEE_SCHEMA)


__all__ = ["VEE_COLUMNS", "VEE_SCHEMA", "VeeCounts", "ChannelVee", "VeeResult"]
