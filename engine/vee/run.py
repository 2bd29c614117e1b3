"""``run_vee``: VEE of one site's range, channel by channel, step by step.

Per channel: choose the grid and place the rows on it (``grid``), mark invalid
values (``checks``), estimate every gap and invalid value in the range
(``estimate``), count, and (``findings=True``) report what was found
(``findings``). Then, once per site: unknown channels and DST days. Pure: no I/O,
no clock; the rows are never changed.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np
import pyarrow as pa

from .. import kernels
from ..sites import Channel, Site
from .checks import limit_wh_per_minute
from .codes import M_MISSING, METHOD_ACTUAL, METHOD_CODE, Q_ACTUAL
from .config import VeeConfig
from .estimate import Edits, LikeDayTable, fill_runs, likeday_budget
from .findings import (ChannelRange, Finding, channel_findings, dst_findings, no_data_finding,
                       unknown_channel_findings)
from .grid import Grid, channel_grid, place_on_grid, site_grid_defaults
from .localdays import LocalCalendar, epoch_days
from .result import ChannelVee, VeeCounts, VeeResult
from .rows import ChannelRows, MeterRows


def run_vee(rows: MeterRows | pa.Table, site: Site, start_us: int, end_us: int, *,
            history: MeterRows | pa.Table | None = None, config: VeeConfig | None = None,
            holidays: Iterable[date] = (), findings: bool = True) -> VeeResult:
    """Validate and estimate every channel of ``site`` over UTC ``[start_us, end_us)``.

    ``rows`` may already contain history before ``start_us``; ``history`` adds more.
    ``holidays`` (local dates) are treated as Sundays when choosing like days.
    ``findings=False`` skips the findings (spikes, gaps, DST days ...: reports that
    never change a value) for callers that only need the channels and counts, which
    are the same either way.
    """
    if end_us <= start_us:
        raise ValueError("end_us must be after start_us")
    config = config or VeeConfig()
    data = MeterRows.coerce(rows, site.site_id)
    if history is not None:
        data = data.concat(MeterRows.coerce(history, site.site_id))
    hol = epoch_days(holidays)
    with_findings = findings

    by_channel = data.channel_rows()
    found: list[Finding] = unknown_channel_findings(site, by_channel) if with_findings else []
    site_default, history_start = site_grid_defaults(data, site.channels, start_us, end_us,
                                                     config.default_interval_minutes)
    calendar = LocalCalendar(site.timezone)
    channels: dict[str, ChannelVee] = {}
    for name in sorted(site.channels):
        rows = (by_channel[name] if name in by_channel
                else data.select(np.zeros(data.start_us.size, dtype=bool)))
        channels[name], ch_found = _channel_vee(site.channels[name], rows, start_us, end_us,
                                                history_start, site_default, config, hol,
                                                calendar, with_findings)
        found += ch_found
    if with_findings:
        found += dst_findings(site.timezone, start_us, end_us,
                              sorted({c.interval_minutes for c in channels.values()}))
    found.sort(key=lambda f: (f.start_utc, f.channel or "", f.check, f.end_utc))
    counts = sum((c.counts for c in channels.values()), VeeCounts())
    return VeeResult(site.site_id, site.timezone, start_us, end_us, config, channels,
                     tuple(found), counts)


def _channel_vee(ch: Channel, rows: ChannelRows, start_us: int, end_us: int,
                 history_start_us: int, site_default: int, config: VeeConfig,
                 holidays: np.ndarray, calendar: LocalCalendar,
                 with_findings: bool = True) -> tuple[ChannelVee, list[Finding]]:
    """VEE of one channel: grid, validation, estimation, counts and findings."""
    g = channel_grid(rows, start_us, end_us, history_start_us, site_default, calendar.tz)
    limit = limit_wh_per_minute(ch, config)
    if not with_findings and rows.start_us.size >= kernels.MIN_SIZE:
        clean = _clean_channel(ch, rows, g, limit)
        if clean is not None:
            return clean, []
    placed = place_on_grid(rows, g.origin_us, g.n, g.minutes, limit)
    valid = placed.present & ~placed.negative & ~placed.impossible
    actual = valid & (placed.quality == Q_ACTUAL)

    out = Edits(np.where(valid, placed.value_wh, 0), placed.quality, placed.method)
    filled = int(valid.size - g.p0 - np.count_nonzero(valid[g.p0:]))
    if filled:                          # something in the range to estimate
        out = Edits(out.energy_wh, out.quality.copy(), out.method.copy())
        days = calendar.grid_days(g.origin_us, g.n, g.minutes)
        like = LikeDayTable.of_grid(days, calendar.slots_per_local_day(days), placed.value_wh,
                                    actual, holidays)
        fill_runs(out, placed.value_wh, ~valid, actual, g.p0, days, like,
                  config.max_interp_minutes // g.minutes, config.like_days,
                  likeday_budget(config.max_likeday_share, g.n - g.p0))

    p = slice(g.p0, g.n)
    n_exp = g.n - g.p0
    n_act = int(np.count_nonzero(out.quality[p] == Q_ACTUAL))
    n_mis = int(np.count_nonzero(out.method[p] == M_MISSING))
    counts = VeeCounts(n_exp, n_act, n_exp - n_act - n_mis, n_mis)
    found: list[Finding] = []
    if with_findings:
        found = channel_findings(ChannelRange(ch, g, out.method), placed, valid, limit, config,
                                 start_us, end_us)
        if not placed.present[p].any():
            found.append(no_data_finding(ch.name, start_us, end_us, n_exp, counts.estimated,
                                         n_mis))

    def own(a: np.ndarray) -> np.ndarray:          # the range only, not a view of the history
        return a[p].copy() if g.p0 else a
    cv = ChannelVee(ch.name, ch.kind, g.minutes, own(g.instants_us()), own(out.energy_wh),
                    own(out.quality), own(out.method), counts, filled)
    return cv, found


def _clean_channel(ch: Channel, rows: ChannelRows, g: Grid, limit: float | None) -> ChannelVee | None:
    """The common case in one compiled pass (``engine.kernels.clean_channel``): every
    row an actual of the grid length, on consecutive slots covering the range, every
    value in the range valid. Then nothing is placed, checked or estimated slot by
    slot: the range is the rows' energy, all actual (what the general path gives,
    tested). None when the channel is not clean."""
    energy = kernels.clean_channel(rows.start_us, rows.minutes, rows.quality, rows.energy_wh,
                                   g.origin_us, g.n, g.step_us, g.p0, g.minutes,
                                   None if limit is None else limit * g.minutes)
    if energy is None:
        return None
    n = g.n - g.p0
    first = g.origin_us + g.p0 * g.step_us
    return ChannelVee(ch.name, ch.kind, g.minutes,
                      first + np.arange(n, dtype=np.int64) * g.step_us, energy,
                      np.full(n, Q_ACTUAL, dtype=np.uint8),
                      np.full(n, METHOD_CODE[METHOD_ACTUAL], dtype=np.uint8),
                      VeeCounts(n, n, 0, 0), 0)


__all__ = ["run_vee"]
