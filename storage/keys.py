"""Order-preserving int64 keys for multi-column sorts and duplicate checks.

Sorting or hashing an Arrow table on (string, string, timestamp) keys costs far more
than sorting one int64 array. :func:`composite_key` maps each key column to dense,
order-preserving codes -- strings by the rank of their dictionary value, integers,
dates and timestamps by ``(v - min) // gcd`` (1-minute data becomes minute counts) --
and combines them mixed-radix into one int64 whose order is the lexicographic
order of the columns. It returns None when the product of the radices does not fit
in 62 bits; callers then fall back to Arrow's multi-column kernels.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_LIMIT = 2**62


def _codes(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int] | None:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count:
        return None
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        enc = col if pa.types.is_dictionary(t) else pc.dictionary_encode(col)
        values = np.asarray(enc.dictionary.to_pylist(), dtype=object)
        rank = np.empty(len(values), dtype=np.int64)
        rank[np.argsort(values, kind="stable")] = np.arange(len(values), dtype=np.int64)
        return rank[enc.indices.to_numpy(zero_copy_only=False)], max(len(values), 1)
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_integer(t):
        if pa.types.is_date32(t):
            col = col.cast(pa.int32())
        v = col.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        if v.size == 0:
            return v.astype(np.int64), 1
        d = v - v.min()
        g = int(np.gcd.reduce(d)) if d.any() else 1
        codes = d // g
        return codes, int(codes.max()) + 1
    return None


def composite_key(table: pa.Table, columns: list[str]) -> np.ndarray | None:
    """One int64 per row ordering rows like a lexicographic sort on ``columns``; None
    if a column has nulls, an unsupported type, or the key space exceeds 62 bits."""
    parts = []
    total = 1
    for c in columns:
        r = _codes(table.column(c))
        if r is None:
            return None
        total *= r[1]
        if total >= _LIMIT:
            return None
        parts.append(r)
    key = np.zeros(table.num_rows, dtype=np.int64)
    for codes, radix in parts:
        key = key * radix + codes
    return key


def first_duplicate(key: np.ndarray) -> tuple[int, int] | None:
    """Row indices ``(first, second)`` of one pair of equal keys, or None if all differ."""
    if key.size < 2:
        return None
    order = np.argsort(key, kind="stable")
    s = key[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if dup.size == 0:
        return None
    i = int(dup[0])
    a, b = int(order[i]), int(order[i + 1])
    return (a, b) if a < b else (b, a)


def duplicate_pair(table: pa.Table, columns: list[str]) -> tuple[int, int] | None:
    """Row indices of one pair of rows equal on ``columns`` (or None), any key space."""
    if table.num_rows < 2:
        return None
    key = composite_key(table, columns)
    if key is not None:
        return first_duplicate(key)
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in columns])
    t = table.select(columns).take(order)
    n = t.num_rows
    same = None
    for k in columns:
        c = t.column(k)
        eq = pc.equal(c.slice(0, n - 1), c.slice(1))
        same = eq if same is None else pc.and_(same, eq)
    hits = np.flatnonzero(pc.fill_null(same, False).to_numpy(zero_copy_only=False))
    if hits.size == 0:
        return None
    o = order.to_numpy()
    a, b = int(o[hits[0]]), int(o[hits[0] + 1])
    return (a, b) if a < b else (b, a)


def sort_order(table: pa.Table, columns: list[str]) -> np.ndarray | None:
    """Stable order of rows sorted by ``columns``; None if already sorted."""
    key = composite_key(table, columns)
    if key is None:
        return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in columns]).to_numpy()
    if key.size < 2 or bool(np.all(key[1:] >= key[:-1])):
        return None
    return np.argsort(key, kind="stable")


__all__ = ["composite_key", "first_duplicate", "duplicate_pair", "sort_order"]
