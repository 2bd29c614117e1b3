"""A settlement partition's interval detail round-trips through the object store:
written as Arrow IPC, and read back also from Parquet parts committed by earlier
versions (a job resumed across an upgrade)."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from engine.settlement import DETAIL_SCHEMA
from jobs.settle import _arrow_ipc, _read_detail
from storage.config import StorageConfig
from storage.objectstore import ObjectStore


def _detail(n: int) -> pa.Table:
    return pa.table({
        "line_id": ["energy:on_peak"] * n, "site_id": ["TX-DC1"] * n,
        "interval_start_utc": pa.array([i * 300_000_000 for i in range(n)],
                                       pa.timestamp("us", tz="UTC")),
        "quantity_wh": pa.array(range(n), pa.int64()),
        "rate_microusd_per_mwh": pa.array([71_400_000] * n, pa.int64()),
        "amount_picousd": pa.array([i * 71_400_000 for i in range(n)], pa.int64()),
        "tou_bucket": pa.array([None] * n, pa.string()), "quality": ["A"] * n,
        "contract_version": pa.array([1] * n, pa.int32())}, schema=DETAIL_SCHEMA)


def test_part_detail_round_trips_as_ipc_and_from_parquet(tmp_path):
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{tmp_path}"))
    table = _detail(1000)
    store.put("runs/j/parts/k/detail-k.arrow", _arrow_ipc(table))
    got = _read_detail(store, "runs/j/parts/k/detail-k.arrow")
    assert got.schema == DETAIL_SCHEMA and got.equals(table)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")            # as parts were written before
    store.put("runs/j/parts/k/detail-k.parquet", buf.getvalue())
    assert _read_detail(store, "runs/j/parts/k/detail-k.parquet").equals(table)
    empty = DETAIL_SCHEMA.empty_table()
    store.put("runs/j/parts/e/detail-e.arrow", _arrow_ipc(empty))
    assert _read_detail(store, "runs/j/parts/e/detail-e.arrow").equals(empty)
