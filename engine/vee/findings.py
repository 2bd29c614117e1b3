"""VEE's findings: what it found, one ``Finding`` per run of intervals and check.

One function per named check turns what validation and placement found into
findings over the range; none of them changes a value.

* ``gap``: grid slots no row supplies (``engine.vee.grid``), with the methods that
  filled them;
* ``negative``, ``impossible``: invalid values (``engine.vee.checks``), with the
  methods that replaced them;
* ``spike``: suspect jumps (``engine.vee.checks.spikes``), flagged, not changed;
* ``duplicate``, ``overlap``, ``misaligned``, ``interval_length``: rows that
  placement resolved (``engine.vee.grid.Issue``);
* ``no_data``: a channel without a usable row in the range;
* ``unknown_channel``: rows of a channel the site registry does not name (ignored);
* ``dst_day``: a local day of 23 or 25 hours (the UTC grid simply has fewer or more
  intervals that day).

Severity: ``error`` where an interval is left ``MISSING`` (and for ``no_data``),
``info`` for ``dst_day`` and length changes resolved exactly, else ``warning``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from ..sites import Channel, Site
from ..timebase import US_PER_HOUR, US_PER_MINUTE, from_us, local_day_bounds_us
from .checks import spikes
from .codes import METHOD_MISSING, METHOD_NAMES
from .config import VeeConfig
from .grid import Grid, Issue, PlacedChannel
from .localdays import local_date
from .rows import ChannelRows
from .spans import runs


@dataclass(frozen=True)
class Finding:
    """Something VEE found, for one channel (``None``: the whole site) and UTC range."""
    check: str              # gap, duplicate, overlap, misaligned, negative, impossible, spike,
                            # interval_length, dst_day, unknown_channel, no_data
    channel: str | None
    start_utc: datetime     # aware UTC, inclusive
    end_utc: datetime       # aware UTC, exclusive
    detail: str
    severity: str = "warning"   # info | warning | error
    intervals: int = 0          # grid intervals (or rows) concerned

    def to_dict(self) -> dict:
        return {"check": self.check, "channel": self.channel, "severity": self.severity,
                "start_utc": _iso(self.start_utc), "end_utc": _iso(self.end_utc),
                "intervals": self.intervals, "detail": self.detail}


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, eq=False)
class ChannelRange:
    """One channel's grid, as its findings see it: runs of slots in the range."""
    channel: Channel
    grid: Grid
    method: np.ndarray          # uint8 method code of every slot, after estimation

    def runs(self, mask: np.ndarray) -> Iterator[tuple[int, int, datetime, datetime]]:
        """``(first slot, end slot, start, end)`` of each run of ``mask`` in the range."""
        p0, origin, step = self.grid.p0, self.grid.origin_us, self.grid.step_us
        starts, ends = runs(mask[p0:])
        for a, b in zip((starts + p0).tolist(), (ends + p0).tolist()):
            yield a, b, from_us(origin + a * step), from_us(origin + (b - 1) * step + step)

    def methods(self, a: int, b: int) -> tuple[str, bool]:
        """The methods that filled slots ``a .. b - 1`` (``LIN+LIKEDAY``), and whether
        one of them is ``MISSING``."""
        used = sorted(METHOD_NAMES[np.unique(self.method[a:b])].tolist())
        return "+".join(used), METHOD_MISSING in used


def channel_findings(r: ChannelRange, placed: PlacedChannel, valid: np.ndarray,
                     limit: float | None, config: VeeConfig, start_us: int,
                     end_us: int) -> list[Finding]:
    """Findings of one channel inside the range, one per run of consecutive intervals
    and check (``no_data`` apart: :func:`no_data_finding`)."""
    spike, prev_val = spikes(r.channel, r.grid.minutes, placed.value_wh, valid, config)
    return [*gap_findings(r, placed), *negative_findings(r, placed),
            *impossible_findings(r, placed, limit, config),
            *spike_findings(r, spike, prev_val, placed.value_wh, config),
            *placement_findings(r.channel.name, placed.issues, start_us, end_us)]


def gap_findings(r: ChannelRange, placed: PlacedChannel) -> list[Finding]:
    """``gap``: runs of slots without a row, and how they were filled."""
    if not placed.present[r.grid.p0:].any():      # reported once, as no_data
        return []
    out = []
    for a, b, t0, t1 in r.runs(~placed.present):
        used, missing = r.methods(a, b)
        what = ("not estimable (no valid neighbour or like day): energy set to 0"
                if used == METHOD_MISSING else f"estimated by {used}")
        out.append(Finding("gap", r.channel.name, t0, t1,
                           f"{b - a} intervals ({(b - a) * r.grid.minutes} min) without data; "
                           f"{what}", "error" if missing else "warning", b - a))
    return out


def negative_findings(r: ChannelRange, placed: PlacedChannel) -> list[Finding]:
    """``negative``: runs of negative values, and what replaced them."""
    out = []
    for a, b, t0, t1 in r.runs(placed.present & placed.negative):
        used, missing = r.methods(a, b)
        out.append(Finding("negative", r.channel.name, t0, t1,
                           f"negative energy (min {int(placed.value_wh[a:b].min())} Wh); "
                           f"replaced by {used}", "error" if missing else "warning", b - a))
    return out


def impossible_findings(r: ChannelRange, placed: PlacedChannel, limit: float | None,
                        config: VeeConfig) -> list[Finding]:
    """``impossible``: runs of values above the nameplate limit, and what replaced them."""
    out: list[Finding] = []
    if limit is None:                       # no nameplate: nothing is flagged impossible
        return out
    minutes, ch = r.grid.minutes, r.channel
    for a, b, t0, t1 in r.runs(placed.present & placed.impossible & ~placed.negative):
        used, missing = r.methods(a, b)
        out.append(Finding(
            "impossible", ch.name, t0, t1,
            f"above the physical limit of {limit * minutes:.0f} Wh per {minutes} min "
            f"({config.nameplate_tolerance} x nameplate {ch.nameplate_kw:g} kW; "
            f"max {int(placed.value_wh[a:b].max())} Wh); "
            f"replaced by {used}", "error" if missing else "warning", b - a))
    return out


def spike_findings(r: ChannelRange, spike: np.ndarray, prev_val: np.ndarray,
                   value_wh: np.ndarray, config: VeeConfig) -> list[Finding]:
    """``spike``: runs of jumps above ``spike_ratio`` x the last valid value (kept)."""
    return [Finding("spike", r.channel.name, t0, t1,
                    f"jump above {config.spike_ratio:g}x the last valid interval "
                    f"({int(prev_val[a])} Wh -> {int(value_wh[a])} Wh); flagged, not changed",
                    "warning", b - a)
            for a, b, t0, t1 in r.runs(spike)]


def placement_findings(channel: str, issues: list[Issue], start_us: int,
                       end_us: int) -> list[Finding]:
    """``duplicate``, ``overlap``, ``misaligned``, ``interval_length``: the rows placement
    resolved, where they touch the range."""
    return [Finding(i.check, channel, from_us(i.start_us), from_us(i.end_us),
                    f"{i.count} rows: {i.detail}", i.severity, i.count)
            for i in issues if i.end_us > start_us and i.start_us < end_us]


def no_data_finding(channel: str, start_us: int, end_us: int, expected: int, estimated: int,
                    missing: int) -> Finding:
    """``no_data``: a channel without a usable row in the range."""
    return Finding("no_data", channel, from_us(start_us), from_us(end_us),
                   f"no usable rows for this channel in the range; "
                   f"{missing} intervals missing, {estimated} estimated", "error", expected)


def unknown_channel_findings(site: Site, by_channel: Mapping[str, ChannelRows]) -> list[Finding]:
    """``unknown_channel``: rows of channels the site's registry does not name (ignored)."""
    out = []
    for name in sorted(set(by_channel) - set(site.channels)):
        starts = by_channel[name].start_us
        out.append(Finding(
            "unknown_channel", name, from_us(int(starts.min())), from_us(int(starts.max())),
            f"{starts.size} rows for a channel that is not in the registry of site "
            f"{site.site_id}; ignored", "warning", int(starts.size)))
    return out


def dst_findings(tz: str, start_us: int, end_us: int, minutes: list[int]) -> list[Finding]:
    """``dst_day``: local days of 23 or 25 hours in the range (information only)."""
    out = []
    d, last = local_date(start_us, tz), local_date(end_us - 1, tz)
    while d <= last:
        s, e = local_day_bounds_us(d, tz)
        if e - s != 24 * US_PER_HOUR:
            per = ", ".join(f"{(e - s) // (m * US_PER_MINUTE)} intervals of {m} min"
                            for m in minutes)
            out.append(Finding("dst_day", None, from_us(s), from_us(e),
                               f"local day {d.isoformat()} in {tz} has {(e - s) // US_PER_HOUR} "
                               f"hours ({per}); not an error", "info", 0))
        d += timedelta(days=1)
    return out


__all__ = ["Finding", "ChannelRange", "channel_findings", "gap_findings", "negative_findings",
           "impossible_findings", "spike_findings", "placement_findings", "no_data_finding",
           "unknown_channel_findings", "dst_findings"]
