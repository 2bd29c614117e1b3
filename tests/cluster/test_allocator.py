"""``cluster.allocator.keep_freed_memory``: the settling processes keep freed memory
for reuse (glibc here), once, and a large array freed and allocated again is not
page-faulted in a second time."""
from __future__ import annotations

import resource

import numpy as np

from cluster.allocator import keep_freed_memory


def test_freed_arrays_are_reused_without_new_page_faults():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True                 # idempotent
    for _ in range(3):                                 # warm the heap to this size
        a = np.ones(4 << 20, dtype=np.uint8)
        del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        a = np.ones(4 << 20, dtype=np.uint8)            # 4 MiB: above glibc's default threshold
        del a
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 20 * (4 << 20) // 4096 // 4          # an mmap per array would fault 20 x 1024 pages
