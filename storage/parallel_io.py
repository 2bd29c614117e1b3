"""Calls that mostly wait on the object store (S3 round trips, fsync-ed writes),
run side by side.

The waits release the GIL, so a few threads overlap them; on a local folder the
calls are short and the threads cost little. Each call of :func:`map_io` has its
own threads, so a mapped function may itself use ``map_io`` or
``ObjectStore.put_many``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: threads per call: enough to overlap S3 round trips, few enough to stay cheap
IO_THREADS = 8


def map_io(fn: Callable[[T], R], items: Iterable[T], *, threads: int = IO_THREADS) -> list[R]:
    """``[fn(x) for x in items]``, up to ``threads`` calls at a time, results in item
    order. The first exception in item order is raised once all calls have ended.
    One item (or ``threads=1``) runs in the calling thread."""
    items = list(items)
    if len(items) <= 1 or threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(threads, len(items)), thread_name_prefix="m2c-io") as pool:
        return list(pool.map(fn, items))


__all__ = ["map_io", "IO_THREADS"]
