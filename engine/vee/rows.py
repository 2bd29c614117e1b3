"""Meter rows as VEE reads them: ``MeterRows`` (a site's rows) and ``ChannelRows``
(one channel's).

``MeterRows.from_table`` takes a table with ``engine.schema.METER_SCHEMA`` columns
(provenance columns optional) without a Python object per row: channel names and
quality letters come through Arrow's run-end or dictionary encoding when the column
allows it. Rows are never changed: VEE's edits live on its grid, not here.
Times are int64 microseconds since the epoch, UTC, interval-beginning.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class ChannelRows:
    """One channel's raw rows (equal-length arrays, any order)."""
    start_us: np.ndarray            # int64, UTC interval-beginning
    minutes: np.ndarray             # int64 interval length
    energy_wh: np.ndarray           # int64
    quality: np.ndarray             # '<U1' source quality code
    ingested_us: np.ndarray         # int64, 0 when unknown

    def __len__(self) -> int:
        return int(self.start_us.size)

    def take(self, idx: np.ndarray) -> ChannelRows:
        """The rows at ``idx`` (indices or a mask)."""
        return ChannelRows(self.start_us[idx], self.minutes[idx], self.energy_wh[idx],
                           self.quality[idx], self.ingested_us[idx])


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
        assert self.channel is not None          # one of the two is always kept
        names, codes = np.unique(self.channel, return_inverse=True)
        return names, codes.reshape(-1)

    def channel_names(self) -> np.ndarray:
        """Each row's channel name (built from the codes when only those are kept)."""
        if self.channel is not None:
            return self.channel
        names, codes = self.channel_index()
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
        if site_id is not None:
            _check_one_site(table, site_id)

        def ts(name: str) -> np.ndarray:
            return table.column(name).cast(pa.int64()).to_numpy()
        quality = _quality_letters(table)
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
        return MeterRows(*(np.concatenate([a, b]) for a, b in zip(  # type: ignore[arg-type]
            (self.channel_names(), self.start_us, self.minutes, self.energy_wh, self.quality,
             self.ingested_us),
            (other.channel_names(), other.start_us, other.minutes, other.energy_wh, other.quality,
             other.ingested_us))))

    def select(self, mask: np.ndarray | slice) -> ChannelRows:
        return ChannelRows(self.start_us[mask], self.minutes[mask], self.energy_wh[mask],
                           self.quality[mask], self.ingested_us[mask])


def _check_one_site(table: pa.Table, site_id: str) -> None:
    """Raise ValueError if ``table`` holds rows of a site other than ``site_id``."""
    if "site_id" in table.column_names and table.num_rows:
        other = set(table.column("site_id").unique().to_pylist()) - {site_id}
        if other:
            raise ValueError(f"rows of other sites {sorted(other)} passed to VEE of {site_id}")


def _quality_letters(table: pa.Table) -> pa.ChunkedArray | None:
    """The quality column, nulls as ``A``; None when there is none or every row is
    actual (a null counts as A): then no codes are needed."""
    if "quality" not in table.column_names:
        return None
    quality = table.column("quality")
    return None if _all_actual(quality) else quality.fill_null("A")


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


__all__ = ["MeterRows", "ChannelRows"]
