"""Race helper for concurrency tests: n threads released together."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(fn: Callable[[int], T], n: int) -> list[T]:
    """``fn(0) .. fn(n - 1)`` on ``n`` threads released together by a barrier; their
    results in index order. An exception in a thread is re-raised (the first by index)
    once every thread has ended."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results
