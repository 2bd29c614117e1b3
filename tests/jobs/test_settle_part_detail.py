"""A settlement partition's interval detail: written in the invoice's Parquet
encoding, read back from Parquet and from the Arrow IPC parts committed by the
version before (a job resumed across an upgrade)."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from engine.settlement import DETAIL_SCHEMA
from jobs.contract_period import read_detail as _read_detail
from storage.invoices import detail_to_parquet
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


def _ipc(table: pa.Table) -> bytes:
    """As the version before wrote a partition's detail (LZ4 Arrow IPC)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema,
                         options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def test_part_detail_round_trips_as_parquet_and_from_ipc(tmp_path):
    store = ObjectStore.from_config(StorageConfig(uri=f"file://{tmp_path}"))
    table = _detail(1000)
    store.put("runs/j/parts/k/detail-k.parquet", detail_to_parquet(table))
    got = _read_detail(store, "runs/j/parts/k/detail-k.parquet")
    assert got.schema == DETAIL_SCHEMA and got.equals(table)
    store.put("runs/j/parts/k/detail-k.arrow", _ipc(table))
    assert _read_detail(store, "runs/j/parts/k/detail-k.arrow").equals(table)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")         # Parquet with other settings
    store.put("runs/j/parts/o/detail-o.parquet", buf.getvalue())
    assert _read_detail(store, "runs/j/parts/o/detail-o.parquet").equals(table)
    for name, data in (("detail-e.parquet", detail_to_parquet(DETAIL_SCHEMA.empty_table())),
                       ("detail-e.arrow", _ipc(DETAIL_SCHEMA.empty_table()))):
        store.put(f"runs/j/parts/e/{name}", data)
        assert _read_detail(store, f"runs/j/parts/e/{name}").equals(DETAIL_SCHEMA.empty_table())
