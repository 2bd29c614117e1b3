"""The C allocator of the processes that settle: keep freed memory for reuse.

A site-month's map allocates and frees a few dozen arrays of 0.3-2 MB (a channel's
grid, a column of the detail). glibc's ``malloc`` serves blocks above
``M_MMAP_THRESHOLD`` (128 kB at start) with a fresh ``mmap`` and gives them back to
the kernel on ``free``, and trims the top of its heap beyond ``M_TRIM_THRESHOLD``: so
every such array is page-faulted in again, zeroed by the kernel, a page at a time.
Measured on a 1-minute site-month (``bench/settle.py``, ``bench/README.md``, fourth
round), that kernel work was a third of VEE's and ``from_table``'s CPU.

:func:`keep_freed_memory` raises both thresholds with ``mallopt(3)`` (what the
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` environment variables set at
start-up, applied to a running process): blocks up to 64 MiB come from the heap, and
freed memory stays in it for the next partition, up to 512 MiB. The cost is that a
worker's resident memory stays near its peak (~300 MiB for a 1-minute site-month)
instead of falling between partitions. Arrow's buffers are not concerned (its own
pool, mimalloc, keeps its memory already). A no-op off glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "TOP_PAD"]

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 512 << 20
TOP_PAD = 64 << 20
_done = False


def keep_freed_memory() -> bool:
    """Raise this process's ``malloc`` thresholds (once); False where there is no
    glibc ``mallopt``."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (_M_TOP_PAD, TOP_PAD)))
    if not ok:
        log.debug("mallopt refused a threshold; the allocator keeps its defaults")
    _done = ok
    return ok
