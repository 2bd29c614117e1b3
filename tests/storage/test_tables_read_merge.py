"""read_meter across partitions: column projection, the sort-free merge of time-disjoint
month partitions, and the fall-back to a full dedupe when partitions may share keys.

Every read is compared with the reference path (all files concatenated, then
``dedupe_latest``), which is what ``read_meter`` returned before the merge existed,
and read again with string columns dictionary-encoded (same values in each case).
Each test runs on a table superseded in place and on one written the old way
(append-only: corrections are extra rows, dropped on read).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import partial

import numpy as np
import pyarrow as pa
import pytest

from engine.errors import InputError
from engine.schema import METER_SCHEMA
from engine.timebase import US_PER_DAY, local_month_bounds_us, local_month_labels, periods_between
from storage.objectstore import ObjectStore
from storage.tables import Tables, dedupe_latest
from storage.tables.append import append_on_read
from tests.support.meter_data import meter_table

TZ = "America/Chicago"
T0 = datetime(2026, 9, 20, 5, 0, tzinfo=timezone.utc)
KEYS = ["channel", "interval_start_utc"]


#: ``rows(channel, first_start, values)``: hourly rows of site S1 ingested at T0 from one
#: file; ``tz`` labels the month partition as a site in that zone has it stored
rows = partial(meter_table, "S1", tz=TZ, ingested_at=T0, sha256="a" * 64)


def reference(tables: Tables, start_us: int, end_us: int) -> pa.Table:
    """All selected files concatenated, then deduped and sorted in one go."""
    first, last = local_month_labels(np.array([start_us, end_us - 1], np.int64), TZ)
    table, files = tables._read("meter", tables.version("meter"),
                                {"site_id": ["S1"], "month": periods_between(str(first), str(last))},
                                None, time_range=(start_us, end_us))
    return dedupe_latest(table.combine_chunks(), KEYS) if files > 1 else table


def same_read_as_dictionary(tables: Tables, start_us: int, end_us: int, plain: pa.Table,
                            columns: list[str] | None = None) -> bool:
    """The read with its string columns dictionary-encoded has those types and, cast
    back, the same rows as ``plain``."""
    names = tuple(c for c in ("site_id", "channel", "quality") if c in plain.column_names)
    got = tables.read_meter("S1", TZ, start_us, end_us, columns=columns, dictionary=names)
    assert names and all(pa.types.is_dictionary(got.schema.field(c).type) for c in names)
    return got.cast(plain.schema).combine_chunks().equals(plain.combine_chunks())


class WrittenTheOldWay(Tables):
    """Tables whose writes append, corrections and all (``append_on_read``)."""

    def append(self, table, data, *, metadata=None):
        return append_on_read(self.delta_log, table, data, metadata=metadata)


@pytest.fixture(params=["in place", "on read"])
def tables(request, storage_config) -> Tables:
    kind = Tables if request.param == "in place" else WrittenTheOldWay
    return kind(ObjectStore.from_config(storage_config))


def test_month_partitions_merge_like_a_full_dedupe(tables):
    # four channels over the September/October boundary in two commits: two files per month
    hours = 24 * 20
    tables.append("meter", pa.concat_tables([rows(c, T0, list(range(i, i + hours)))
                                             for i, c in enumerate(["pv1", "dc", "gt1"])]))
    tables.append("meter", rows("exp", T0, [7] * hours, sha256="b" * 64))
    start, end = local_month_bounds_us("2026-10", TZ)
    start -= 8 * US_PER_DAY                                   # a week of September history
    got = tables.read_meter("S1", TZ, start, end)
    want = reference(tables, start, end)
    assert got.schema == METER_SCHEMA
    assert got.combine_chunks().equals(want.combine_chunks())
    assert got.column("channel").to_pylist() == sorted(got.column("channel").to_pylist())
    assert set(got.column("month").to_pylist()) == {"2026-09", "2026-10"}
    assert same_read_as_dictionary(tables, start, end, got)


def test_columns_are_a_projection_of_the_full_read(tables):
    tables.append("meter", rows("gt1", T0, list(range(24 * 20))))
    start, end = local_month_bounds_us("2026-10", TZ)
    full = tables.read_meter("S1", TZ, start - 8 * US_PER_DAY, end)
    cols = ["energy_wh", "channel", "interval_start_utc"]          # any order in, schema order out
    part = tables.read_meter("S1", TZ, start - 8 * US_PER_DAY, end, columns=cols)
    assert part.column_names == ["channel", "interval_start_utc", "energy_wh"]
    assert part.combine_chunks().equals(full.select(part.column_names).combine_chunks())
    assert tables.read_meter("S1", TZ, 0, 1, columns=cols).column_names == part.column_names
    assert same_read_as_dictionary(tables, start - 8 * US_PER_DAY, end, part, cols)
    empty = tables.read_meter("S1", TZ, 0, 1, columns=cols, dictionary=("channel",))
    assert empty.num_rows == 0 and pa.types.is_dictionary(empty.schema.field("channel").type)
    with pytest.raises(InputError, match="not string columns"):
        tables.read_meter("S1", TZ, start, end, dictionary=("energy_wh",))
    with pytest.raises(InputError, match="unknown column"):
        tables.read_meter("S1", TZ, start, end, columns=["energy_kwh"])


def test_a_corrected_month_is_deduped_then_merged(tables):
    tables.append("meter", rows("gt1", T0, [1] * (24 * 20)))
    fixed_at = T0 + timedelta(days=30)
    tables.append("meter", rows("gt1", T0 + timedelta(days=12), [5, 6, 7], ingested_at=fixed_at,
                                sha256="c" * 64))                   # 2026-10-02, three hours
    start, end = local_month_bounds_us("2026-10", TZ)
    got = tables.read_meter("S1", TZ, start - 8 * US_PER_DAY, end,
                            columns=["channel", "interval_start_utc", "energy_wh"])
    want = reference(tables, start - 8 * US_PER_DAY, end)
    assert got.combine_chunks().equals(want.select(got.column_names).combine_chunks())
    assert sum(got.column("energy_wh").to_pylist()) == got.num_rows - 3 + 5 + 6 + 7
    cols = ["channel", "interval_start_utc", "energy_wh"]
    assert same_read_as_dictionary(tables, start - 8 * US_PER_DAY, end, got, cols)


def test_partitions_sharing_keys_fall_back_to_a_full_dedupe(tables):
    # the same instants stored under two different local months (the site's zone was
    # changed between ingests): the later ingest must win, as with a full dedupe
    at = datetime(2026, 10, 1, 3, 0, tzinfo=timezone.utc)     # Sept 30 in Chicago, Oct 1 in UTC
    tables.append("meter", rows("gt1", at, [1, 1, 1]))
    tables.append("meter", rows("gt1", at, [2, 2, 2], ingested_at=T0 + timedelta(days=40),
                                sha256="d" * 64, tz="UTC"))
    start, end = local_month_bounds_us("2026-10", TZ)
    got = tables.read_meter("S1", TZ, start - 8 * US_PER_DAY, end)
    want = reference(tables, start - 8 * US_PER_DAY, end)
    assert got.combine_chunks().equals(want.combine_chunks())
    assert got.column("energy_wh").to_pylist() == [2, 2, 2]
    assert same_read_as_dictionary(tables, start - 8 * US_PER_DAY, end, got)
