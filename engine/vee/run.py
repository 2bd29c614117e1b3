"""Validation, estimation and editing (VEE) of one site's interval meter data.

``run_vee(rows, site, start_us, end_us)`` takes the canonical meter rows of one
site (``engine.schema.METER_SCHEMA`` columns, or ``MeterRows`` arrays) and returns,
for every channel of the site, a **regular grid** over ``[start_us, end_us)`` of
validated and estimated interval energy, plus findings and counts. It is pure:
no I/O, no clock; the raw rows are never changed (storage keeps them as read).

Steps per channel
-----------------
1. **Grid.** The channel's interval is its most common ``interval_minutes`` in the
   range (ties: the shorter). Rows of other lengths are split or summed onto it
   (``engine.vee_grid``: exact integer split, remainder Wh to the earliest parts).
   Exact duplicates keep the row of the higher quality rank (A > F > S > E).
2. **Validation.** ``negative`` (Wh < 0) and ``impossible`` (Wh above
   ``nameplate_tolerance x nameplate_kw x minutes / 60 x 1000``) values are
   invalid and replaced by estimates. ``spike``: a value more than
   ``spike_ratio`` times the last valid interval (when that one is at least
   ``spike_floor_fraction`` of the channel's reference level: the nameplate
   interval energy, or the median of the channel's positive values) is flagged
   but kept; by default only on load, generation and storage channels (grid
   import/export are net flows that step with on-site dispatch). ``gap``: intervals without a row.
3. **Estimation** of every gap or invalid interval (``engine.vee_estimate``):
   ``LIN`` when the run is at most ``max_interp_minutes`` long and both neighbours
   are valid actuals; ``FLAT`` when it is that short but only one neighbour is a
   valid actual; else ``LIKEDAY`` (mean of the ``like_days`` nearest like days
   that are complete, valid and unestimated); else ``MISSING`` (energy 0, quality
   ``N``, a finding of severity ``error``). Estimates are exact integers, rounded
   once half-even. Gaps in the history before ``start_us`` are not estimated;
   history only supplies neighbours and like days.
4. **DST.** Local days of 23 or 25 hours are reported as ``info`` findings; the
   grid is in UTC, so such a day simply has fewer or more intervals.

Output codes
------------
quality: ``A`` actual, ``E`` estimated (by VEE or by the source), ``S``
substituted and ``F`` final substitute (source flags, kept), ``N`` missing.
method: ``ACT`` actual as read, ``SRC`` source-estimated as read, ``SPLIT`` part
of a longer interval, ``SUM`` sum of shorter ones, ``LIN``, ``FLAT``, ``LIKEDAY``,
``MISSING``.

Counts (the invoice's ``vee`` block): ``intervals_expected`` = grid intervals in
the range; ``actual`` = quality A; ``missing`` = method MISSING; ``estimated`` =
the rest (VEE estimates and source E/S/F rows). ``actual + estimated + missing ==
intervals_expected`` always.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..money import sum_exact
from ..schema import UTC_TS, Column
from ..sites import Channel, Site
from ..timebase import (US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, from_us, local_day_bounds_us,
                       local_fields, local_midnight_us)
from .estimate import LikeDayTable, day_types, linear_fill
from .grid import (METHOD_CODE, METHOD_NAMES, QUALITY_CODE, QUALITY_NAMES, ChannelRows, Issue,
                       PlacedChannel, place_on_grid, target_interval_minutes)
from .reporting import format_report, report

METHOD_LIN = "LIN"
METHOD_FLAT = "FLAT"
METHOD_LIKEDAY = "LIKEDAY"
METHOD_MISSING = "MISSING"
QUALITY_ESTIMATED = "E"
QUALITY_MISSING = "N"
_Q_ACTUAL, _Q_ESTIMATED, _Q_MISSING = (QUALITY_CODE[q] for q in ("A", QUALITY_ESTIMATED,
                                                                 QUALITY_MISSING))
_M_MISSING = METHOD_CODE[METHOD_MISSING]
_EPOCH_DATE = date(1970, 1, 1)

#: Columns of ``VeeResult.to_arrow()`` (the validated grid of every channel).
VEE_COLUMNS = [
    Column("site_id", pa.string(), "site identifier from the site registry"),
    Column("channel", pa.string(), "channel name within the site"),
    Column("interval_start_utc", UTC_TS, "interval-beginning instant, UTC, on the channel's grid"),
    Column("interval_minutes", pa.int16(), "grid interval length in minutes"),
    Column("energy_wh", pa.int64(), "validated or estimated energy in the interval, Wh (>= 0)"),
    Column("quality", pa.string(),
           "A actual, E estimated, S substituted, F final substitute, N missing"),
    Column("method", pa.string(), "ACT, SRC, SPLIT, SUM, LIN, FLAT, LIKEDAY or MISSING"),
]
VEE_SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=c.nullable,
                                 metadata={"description": c.description}) for c in VEE_COLUMNS])


@dataclass(frozen=True)
class VeeConfig:
    """VEE parameters (defaults follow CA DASMMD / Itron practice; see the module doc)."""
    max_interp_minutes: int = 120        # longest run filled by linear interpolation
    like_days: int = 3                   # like days averaged by LIKEDAY
    spike_ratio: float = 3.0             # value / last valid value above this -> spike
    spike_floor_fraction: float = 0.05   # ignore jumps from below this share of the reference level
    nameplate_tolerance: float = 1.05    # impossible above tolerance x nameplate energy
    default_interval_minutes: int = 60   # grid of a channel with no rows at all
    #: channel kinds the spike check applies to; grid import/export are net flows that
    #: step whenever on-site units start, stop or a battery switches, so not by default
    spike_kinds: tuple[str, ...] = ("load", "generation", "storage_discharge", "storage_charge")

    def __post_init__(self) -> None:
        if self.max_interp_minutes < 0:
            raise ValueError("max_interp_minutes must be >= 0")
        if self.like_days < 1:
            raise ValueError("like_days must be >= 1")
        if self.spike_ratio <= 1:
            raise ValueError("spike_ratio must be > 1")
        if self.spike_floor_fraction < 0:
            raise ValueError("spike_floor_fraction must be >= 0")
        if self.nameplate_tolerance < 1:
            raise ValueError("nameplate_tolerance must be >= 1")
        if self.default_interval_minutes not in (1, 5, 15, 30, 60):
            raise ValueError("default_interval_minutes must be 1, 5, 15, 30 or 60")


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
    quality_code: np.ndarray     # uint8 index into ``vee_grid.QUALITY_NAMES``
    method_code: np.ndarray      # uint8 index into ``vee_grid.METHOD_NAMES``
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


@dataclass(frozen=True, eq=False)
class MeterRows:
    """Canonical meter rows as plain arrays (equal length, any order)."""
    channel: np.ndarray | None   # str; None when only ``channel_codes`` are kept
    start_us: np.ndarray         # int64 UTC interval-beginning
    minutes: np.ndarray          # int64
    energy_wh: np.ndarray        # int64
    quality: np.ndarray          # '<U1'
    ingested_us: np.ndarray      # int64, 0 when unknown
    #: ``(names, codes)``: the sorted distinct channel names and each row's index into
    #: them, when already known (``from_table`` gets them from Arrow's dictionary
    #: encoding); else computed by :meth:`channel_index`.
    channel_codes: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.channel is None and self.channel_codes is None:
            raise ValueError("MeterRows needs channel names or channel codes")

    def channel_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct channel names and, per row, the index of its channel."""
        if self.channel_codes is not None:
            return self.channel_codes
        names, codes = np.unique(self.channel, return_inverse=True)
        return names, codes.reshape(-1)

    def channel_names(self) -> np.ndarray:
        """Each row's channel name (built from the codes when only those are kept)."""
        if self.channel is not None:
            return self.channel
        names, codes = self.channel_codes
        return names[codes]

    def channel_rows(self) -> dict[str, ChannelRows]:
        """Rows of each channel present. Rows grouped by channel (as read from storage,
        sorted by channel and time) are taken as slices, without copying."""
        names, codes = self.channel_index()
        out: dict[str, ChannelRows] = {}
        if codes.size and bool(np.all(codes[1:] >= codes[:-1])):
            bounds = np.searchsorted(codes, np.arange(names.size + 1))
            for k, name in enumerate(names.tolist()):
                a, b = int(bounds[k]), int(bounds[k + 1])
                if b > a:
                    out[name] = self.select(slice(a, b))
            return out
        for k, name in enumerate(names.tolist()):
            sel = codes == k
            if sel.any():
                out[name] = self.select(sel)
        return out

    @classmethod
    def from_arrays(cls, channel, start_us, minutes, energy_wh, quality=None,
                    ingested_us=None) -> MeterRows:
        n = len(start_us)
        return cls(np.asarray(channel).astype(str), np.asarray(start_us, dtype=np.int64),
                   np.asarray(minutes, dtype=np.int64), np.asarray(energy_wh, dtype=np.int64),
                   (np.full(n, "A", "<U1") if quality is None
                    else np.asarray(quality).astype("<U1")),
                   (np.zeros(n, np.int64) if ingested_us is None
                    else np.asarray(ingested_us, dtype=np.int64)))

    @classmethod
    def from_table(cls, table: pa.Table, site_id: str | None = None) -> MeterRows:
        """From a table with ``METER_SCHEMA`` columns (provenance columns optional)."""
        if site_id is not None and "site_id" in table.column_names and table.num_rows:
            other = set(table.column("site_id").unique().to_pylist()) - {site_id}
            if other:
                raise ValueError(f"rows of other sites {sorted(other)} passed to VEE of {site_id}")

        def ts(name: str) -> np.ndarray:
            return table.column(name).cast(pa.int64()).to_numpy()
        quality = table.column("quality") if "quality" in table.column_names else None
        if quality is not None:                   # all actual (a null counts as A): no codes
            quality = None if _all_actual(quality) else quality.fill_null("A")
        ingested = ts("ingested_at_utc") if "ingested_at_utc" in table.column_names else None
        channel = _run_codes(table.column("channel")) or _dictionary_codes(table.column("channel"))
        q = _dictionary_codes(quality) if quality is not None else None
        if channel is None or (quality is not None and q is None):     # nulls: the plain way
            return cls.from_arrays(table.column("channel").to_numpy(zero_copy_only=False),
                                   ts("interval_start_utc"),
                                   table.column("interval_minutes").to_numpy(),
                                   table.column("energy_wh").to_numpy(),
                                   None if quality is None else
                                   quality.to_numpy(zero_copy_only=False), ingested)
        n = table.num_rows
        return cls(None, ts("interval_start_utc"),
                   table.column("interval_minutes").to_numpy().astype(np.int64),
                   table.column("energy_wh").to_numpy().astype(np.int64, copy=False),
                   np.full(n, "A", "<U1") if q is None else q[0].astype("<U1")[q[1]],
                   np.zeros(n, np.int64) if ingested is None else ingested, channel)

    @classmethod
    def coerce(cls, rows: MeterRows | pa.Table, site_id: str | None = None) -> MeterRows:
        return rows if isinstance(rows, MeterRows) else cls.from_table(rows, site_id)

    def concat(self, other: MeterRows) -> MeterRows:
        return MeterRows(*(np.concatenate([a, b]) for a, b in zip(
            (self.channel_names(), self.start_us, self.minutes, self.energy_wh, self.quality,
             self.ingested_us),
            (other.channel_names(), other.start_us, other.minutes, other.energy_wh, other.quality,
             other.ingested_us))))

    def select(self, mask: np.ndarray | slice) -> ChannelRows:
        return ChannelRows(self.start_us[mask], self.minutes[mask], self.energy_wh[mask],
                           self.quality[mask], self.ingested_us[mask])


def _all_actual(quality: pa.Array | pa.ChunkedArray) -> bool:
    """Is every quality code ``A`` (a null counts as A)? A dictionary-encoded column
    whose dictionaries hold nothing else is answered without looking at its rows."""
    chunks = quality.chunks if isinstance(quality, pa.ChunkedArray) else [quality]
    if pa.types.is_dictionary(quality.type) and all(
            set(c.dictionary.to_pylist()) <= {"A"} for c in chunks):
        return True
    return pc.all(pc.equal(quality, "A")).as_py() is not False


def _run_codes(col: pa.Array | pa.ChunkedArray, max_runs: int = 4096
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """Like :func:`_dictionary_codes`, from the runs of equal values: cheap for a
    column grouped by value (storage's channel order). None if it has nulls or more
    than ``max_runs`` runs."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count or not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    ree = pc.run_end_encode(col)
    ends = ree.run_ends.to_numpy().astype(np.int64)
    if ends.size > max_runs:
        return None
    names, inverse = np.unique(np.array(ree.values.to_pylist(), dtype=str), return_inverse=True)
    return names, np.repeat(inverse.reshape(-1), np.diff(ends, prepend=0))


def _dictionary_codes(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(sorted distinct values as a str array, per-row index into them)`` of a string
    column, through Arrow's dictionary encoding (no Python string per row); None if
    the column has nulls."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count:
        return None
    enc = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    names, inverse = np.unique(np.array(enc.dictionary.to_pylist(), dtype=str),
                               return_inverse=True)
    return names, inverse.reshape(-1)[enc.indices.to_numpy(zero_copy_only=False)]


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
    hol = np.array(sorted({(d - _EPOCH_DATE).days for d in holidays}), dtype=np.int64)
    report = findings
    findings: list[Finding] = []

    by_channel = data.channel_rows()
    names, codes = data.channel_index()
    known_name = np.isin(names, list(site.channels))          # per channel name
    for name in sorted(set(by_channel) - set(site.channels)) if report else ():
        starts = by_channel[name].start_us
        findings.append(Finding(
            "unknown_channel", name, from_us(int(starts.min())), from_us(int(starts.max())),
            f"{starts.size} rows for a channel that is not in the registry of site "
            f"{site.site_id}; ignored", "warning", int(starts.size)))

    st = data.start_us
    if known_name.all() and _all_within(st, start_us, end_us):
        # every row a known channel's, in the range (a month read on its own): no masks
        site_default = target_interval_minutes(data.minutes, config.default_interval_minutes)
        history_start = start_us
    else:
        known = known_name[codes] if names.size else np.zeros(0, bool)
        in_range = known & (st >= start_us) & (st < end_us)
        site_default = target_interval_minutes(
            data.minutes[in_range] if in_range.any() else data.minutes[known],
            config.default_interval_minutes)
        before = known & (st < start_us)
        history_start = int(st[before].min()) if before.any() else start_us

    grids = _GridCache(site.timezone)
    channels: dict[str, ChannelVee] = {}
    for name in sorted(site.channels):
        rows = (by_channel[name] if name in by_channel
                else data.select(np.zeros(data.start_us.size, dtype=bool)))
        cv, ch_findings = _channel_vee(site.channels[name], rows,
                                       start_us, end_us, history_start, site_default,
                                       config, hol, grids, report)
        channels[name] = cv
        findings += ch_findings
    if report:
        findings += _dst_findings(site.timezone, start_us, end_us,
                                  sorted({c.interval_minutes for c in channels.values()}))
    findings.sort(key=lambda f: (f.start_utc, f.channel or "", f.check, f.end_utc))
    counts = sum((c.counts for c in channels.values()), VeeCounts())
    return VeeResult(site.site_id, site.timezone, start_us, end_us, config, channels,
                     tuple(findings), counts)


# --------------------------------------------------------------------------- internals

class _GridCache:
    """Local calendar fields of a grid, shared by channels with the same grid."""

    def __init__(self, tz: str):
        self.tz = tz
        self._cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._day_slots: dict[tuple[int, int, int], np.ndarray] = {}

    def day_and_tod(self, origin_us: int, n: int, minutes: int) -> tuple[np.ndarray, np.ndarray]:
        key = (origin_us, n, minutes)
        if key not in self._cache:
            grid = origin_us + np.arange(n, dtype=np.int64) * (minutes * US_PER_MINUTE)
            lf = local_fields(grid, self.tz)
            tod = (lf.local_us - lf.day * US_PER_DAY) // (minutes * US_PER_MINUTE)
            self._cache[key] = (lf.day, np.clip(tod, 0, 1440 // minutes - 1))
        return self._cache[key]

    def slots_per_local_day(self, day0: int, n_days: int, minutes: int) -> np.ndarray:
        """Grid intervals in each whole local day ``day0 .. day0 + n_days - 1`` (23/24/25 h)."""
        key = (day0, n_days, minutes)
        if key not in self._day_slots:
            step = minutes * US_PER_MINUTE
            out = np.empty(n_days, dtype=np.int64)
            for i in range(n_days):                  # one zone lookup per day, not per row
                s, e = local_day_bounds_us(_EPOCH_DATE + timedelta(days=day0 + i), self.tz)
                out[i] = (e - s) // step
            self._day_slots[key] = out
        return self._day_slots[key]


def _all_within(starts_us: np.ndarray, start_us: int, end_us: int) -> bool:
    """Are there rows, all of them starting in ``[start_us, end_us)``? (Then no row
    needs a range mask.)"""
    return bool(starts_us.size) and int(starts_us.min()) >= start_us and int(starts_us.max()) < end_us


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in ``mask``."""
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _local_date(us: int, tz: str) -> date:
    return _EPOCH_DATE + timedelta(days=int(local_fields(np.array([us], np.int64), tz).day[0]))


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _channel_vee(ch: Channel, rows: ChannelRows, start_us: int, end_us: int,
                 history_start_us: int, site_default: int, config: VeeConfig,
                 holidays: np.ndarray, grids: _GridCache,
                 report: bool = True) -> tuple[ChannelVee, list[Finding]]:
    """VEE of one channel: grid, validation, estimation, counts and (``report``) findings."""
    tz = grids.tz
    st = rows.start_us
    if st.size == 0 or _all_within(st, start_us, end_us):
        lengths = rows.minutes                              # every row in the range
    else:
        in_range = (st >= start_us) & (st < end_us)
        lengths = rows.minutes[in_range] if in_range.any() else rows.minutes
    minutes = target_interval_minutes(lengths, site_default)
    step = minutes * US_PER_MINUTE
    origin = start_us
    if history_start_us < start_us:      # back to the local midnight of the first history day
        midnight = local_midnight_us(_local_date(history_start_us, tz), tz)
        origin = start_us - -(-(start_us - midnight) // step) * step
    n = -(-(end_us - origin) // step)
    p0 = (start_us - origin) // step                 # first slot of the range
    grid = origin + np.arange(n, dtype=np.int64) * step

    limit = (None if ch.nameplate_kw is None
             else config.nameplate_tolerance * ch.nameplate_kw * 1000.0 / 60.0)
    placed = place_on_grid(rows, origin, n, minutes, limit)
    valid = placed.present & ~placed.negative & ~placed.impossible
    actual = valid & (placed.quality == _Q_ACTUAL)

    value = np.where(valid, placed.value_wh, 0)
    quality, method = placed.quality, placed.method       # copied before any estimate
    filled = int(valid.size - p0 - np.count_nonzero(valid[p0:]))
    if filled:                          # something in the range to estimate
        quality, method = quality.copy(), method.copy()
        # like-day material: whole local days whose every interval is a valid actual
        day, tod = grids.day_and_tod(origin, n, minutes)
        day0, n_days = int(day[0]), int(day[-1]) - int(day[0]) + 1
        clean_count = np.bincount(day[actual] - day0, minlength=n_days)
        clean_day = clean_count == grids.slots_per_local_day(day0, n_days, minutes)
        like = LikeDayTable(day, tod, placed.value_wh, actual, clean_day, day0, 1440 // minutes,
                            day_types(day0 + np.arange(n_days), holidays))
        _estimate(value, quality, method, placed.value_wh, ~valid, actual, p0, day, tod, like,
                  config.max_interp_minutes // minutes, config.like_days)

    p = slice(p0, n)
    findings: list[Finding] = []
    if report:
        spike, prev_val = _spikes(ch, minutes, placed.value_wh, valid, config)
        findings = _channel_findings(ch, minutes, grid, p0, placed, spike, prev_val, method,
                                     limit, config, start_us, end_us)
    n_exp = n - p0
    n_act = int(np.count_nonzero(quality[p] == _Q_ACTUAL))
    n_mis = int(np.count_nonzero(method[p] == _M_MISSING))
    counts = VeeCounts(n_exp, n_act, n_exp - n_act - n_mis, n_mis)
    if report and not placed.present[p].any():
        findings.append(Finding("no_data", ch.name, from_us(start_us), from_us(end_us),
                                f"no usable rows for this channel in the range; "
                                f"{n_mis} intervals missing, {n_exp - n_act - n_mis} estimated",
                                "error", n_exp))
    def own(a: np.ndarray) -> np.ndarray:          # the range only, not a view of the history
        return a[p].copy() if p0 else a
    cv = ChannelVee(ch.name, ch.kind, minutes, own(grid), own(value), own(quality), own(method),
                    counts, filled)
    return cv, findings


def _spikes(ch: Channel, minutes: int, value: np.ndarray, valid: np.ndarray,
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


def _estimate(value: np.ndarray, quality: np.ndarray, method: np.ndarray, raw: np.ndarray,
              needs: np.ndarray, actual: np.ndarray, p0: int, day: np.ndarray, tod: np.ndarray,
              like: LikeDayTable, max_slots: int, like_days: int) -> None:
    """Fill every run of ``needs`` from slot ``p0`` on, in place (LIN, FLAT, LIKEDAY, MISSING).

    ``raw`` holds the values as read: neighbours are taken from it and only where
    ``actual``. Runs that end before ``p0`` are history and are left alone.
    """
    n = value.size
    starts, ends = _runs(needs)
    for s, e in zip(starts.tolist(), ends.tolist()):      # a loop over gaps, not rows
        if e <= p0:
            continue
        length, lo = e - s, max(s, p0)
        left = s - 1 if s > 0 and actual[s - 1] else None
        right = e if e < n and actual[e] else None
        if length <= max_slots and left is not None and right is not None:
            vals = linear_fill(int(raw[left]), int(raw[right]), length)[lo - s:]
            _assign(value, quality, method, slice(lo, e), vals, METHOD_CODE[METHOD_LIN])
        elif length <= max_slots and (left is not None or right is not None):
            v = int(raw[left if left is not None else right])
            _assign(value, quality, method, slice(lo, e), np.full(e - lo, v, np.int64),
                    METHOD_CODE[METHOD_FLAT])
        else:
            seg = np.arange(lo, e)
            for d in np.unique(day[seg]).tolist():          # one like-day choice per local day
                part = seg[day[seg] == d]
                chosen = like.choose(d, like_days)
                ok = np.zeros(part.size, dtype=bool)
                if chosen.size:
                    vals, ok = like.estimate(chosen, tod[part])
                    _assign(value, quality, method, part[ok], vals[ok], METHOD_CODE[METHOD_LIKEDAY])
                _assign(value, quality, method, part[~ok], np.zeros(int((~ok).sum()), np.int64),
                        _M_MISSING)


def _assign(value: np.ndarray, quality: np.ndarray, method: np.ndarray, where, vals: np.ndarray,
            code: np.uint8) -> None:
    value[where] = vals
    quality[where] = _Q_MISSING if code == _M_MISSING else _Q_ESTIMATED
    method[where] = code


def _channel_findings(ch: Channel, minutes: int, grid: np.ndarray, p0: int,
                      placed: PlacedChannel, spike: np.ndarray, prev_val: np.ndarray,
                      method: np.ndarray, limit: float | None, config: VeeConfig,
                      start_us: int, end_us: int) -> list[Finding]:
    """Findings of one channel inside the range, one per run of consecutive intervals."""
    step = minutes * US_PER_MINUTE
    out: list[Finding] = []

    def methods(a: int, b: int) -> tuple[str, bool]:
        used = sorted(METHOD_NAMES[np.unique(method[a:b])].tolist())
        return "+".join(used), METHOD_MISSING in used

    def each_run(mask: np.ndarray):
        starts, ends = _runs(mask[p0:])
        for a, b in zip((starts + p0).tolist(), (ends + p0).tolist()):
            yield a, b, from_us(int(grid[a])), from_us(int(grid[b - 1]) + step)

    period_empty = not placed.present[p0:].any()      # reported once, as no_data
    for a, b, t0, t1 in ([] if period_empty else each_run(~placed.present)):
        used, missing = methods(a, b)
        what = ("not estimable (no valid neighbour or like day): energy set to 0"
                if used == METHOD_MISSING else f"estimated by {used}")
        out.append(Finding("gap", ch.name, t0, t1,
                           f"{b - a} intervals ({(b - a) * minutes} min) without data; {what}",
                           "error" if missing else "warning", b - a))
    for a, b, t0, t1 in each_run(placed.present & placed.negative):
        used, missing = methods(a, b)
        out.append(Finding("negative", ch.name, t0, t1,
                           f"negative energy (min {int(placed.value_wh[a:b].min())} Wh); "
                           f"replaced by {used}", "error" if missing else "warning", b - a))
    for a, b, t0, t1 in each_run(placed.present & placed.impossible & ~placed.negative):
        used, missing = methods(a, b)
        out.append(Finding(
            "impossible", ch.name, t0, t1,
            f"above the physical limit of {limit * minutes:.0f} Wh per {minutes} min "
            f"({config.nameplate_tolerance} x nameplate {ch.nameplate_kw:g} kW; "
            f"max {int(placed.value_wh[a:b].max())} Wh); "
            f"replaced by {used}", "error" if missing else "warning", b - a))
    for a, b, t0, t1 in each_run(spike):
        out.append(Finding(
            "spike", ch.name, t0, t1,
            f"jump above {config.spike_ratio:g}x the last valid interval "
            f"({int(prev_val[a])} Wh -> {int(placed.value_wh[a])} Wh); flagged, not changed",
            "warning", b - a))
    out += [_issue_finding(ch.name, i) for i in placed.issues
            if i.end_us > start_us and i.start_us < end_us]
    return out


def _issue_finding(channel: str, issue: Issue) -> Finding:
    return Finding(issue.check, channel, from_us(issue.start_us), from_us(issue.end_us),
                   f"{issue.count} rows: {issue.detail}", issue.severity, issue.count)


def _dst_findings(tz: str, start_us: int, end_us: int, minutes: list[int]) -> list[Finding]:
    out = []
    d, last = _local_date(start_us, tz), _local_date(end_us - 1, tz)
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


__all__ = ["VeeConfig", "Finding", "VeeCounts", "ChannelVee", "VeeResult", "MeterRows",
           "run_vee", "report", "format_report", "VEE_COLUMNS", "VEE_SCHEMA", "METHOD_LIN",
           "METHOD_FLAT", "METHOD_LIKEDAY", "METHOD_MISSING", "QUALITY_ESTIMATED",
           "QUALITY_MISSING"]
