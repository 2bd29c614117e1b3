"""The settlement detail sorted on integer codes equals Arrow's multi-column sort, and
the overlap check finds a (site, line, interval) settled twice."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.settlement import _DETAIL_ORDER, DETAIL_SCHEMA, _sort_detail


def _detail(rng: np.random.Generator, n: int) -> pa.Table:
    return pa.table({
        "line_id": rng.choice(["energy:on_peak", "energy:off_peak", "vppa", "é-line"], n),
        "site_id": rng.choice(["TX-DC2", "TX-DC1", "VA-DC1"], n),
        "interval_start_utc": pa.array(rng.integers(0, 50, n) * 300_000_000,
                                       pa.timestamp("us", tz="UTC")),
        "quantity_wh": pa.array(rng.integers(0, 9, n), pa.int64()),
        "rate_microusd_per_mwh": pa.array(rng.integers(0, 9, n), pa.int64()),
        "amount_picousd": pa.array(rng.integers(0, 9, n), pa.int64()),
        "tou_bucket": pa.array(rng.choice(["on_peak", None], n), pa.string()),
        "quality": rng.choice(["A", "E", "N"], n),
        "contract_version": pa.array(rng.integers(1, 3, n), pa.int32())}, schema=DETAIL_SCHEMA)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_detail_sort_on_codes_equals_arrows_sort(seed):
    t = _detail(np.random.default_rng(seed), 500)
    got, overlap = _sort_detail(t)
    want = t.take(pc.sort_indices(t, sort_keys=_DETAIL_ORDER)).combine_chunks()
    assert got.equals(want)
    keys = want.select(["site_id", "line_id", "interval_start_utc"])
    assert overlap == (keys.group_by(keys.column_names).aggregate([]).num_rows != keys.num_rows)
    unique = want.slice(0, 1)
    assert _sort_detail(unique) == (unique, False)
    assert _sort_detail(DETAIL_SCHEMA.empty_table())[0].num_rows == 0
