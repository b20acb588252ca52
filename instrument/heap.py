"""The C heap while a capture streams: large buffers reused instead of fresh pages each time.

A capture allocates and frees buffers of 100 KB - 8 MB at a steady rate: every socket read
(asyncio reads up to 256 KB into a new ``bytes``), every packet that spans two reads, every
batch's events binary, the batches joined for one transaction, the header arrays. glibc's
malloc serves a request above its *mmap threshold* (128 KB at start, raised only as far as the
last such block freed) with a fresh ``mmap`` and unmaps it when freed, and gives the top of its
heap back to the system past its *trim threshold*: either way the next buffer is new pages,
each one a page fault in the kernel (zeroing 4 KB) the first time it is written. Measured on
the benchmark's capture (bench_overhead's workload, 2 x 100k events, 6 Dec, load ~1-3): ~9,000
page faults per 200k events on the event loop's thread alone, half its CPU time (system time:
0.12-0.14 of 0.25 µs per event); with the thresholds below, 0-3,000 faults and 0.12 µs.

``tune_for_capture`` sets both thresholds once per process (``mallopt``, glibc only; elsewhere
it does nothing and says so): blocks up to ``MMAP_THRESHOLD`` come from the heap and free
memory up to ``TRIM_THRESHOLD`` stays there for the next buffers. The cost is that much freed
memory kept by the process rather than returned at once; the capture's own bound on what it
holds (``ingest_pipeline.MAX_PENDING_BYTES``, 32 MB) is of the same size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading

MMAP_THRESHOLD = 16 * 1024 * 1024
"""Blocks below this come from the heap (a transaction's joined batches are at most 8 MB,
ingest_pipeline.MAX_GROUP_BYTES); glibc accepts at most 32 MB on 64-bit systems."""
TRIM_THRESHOLD = 64 * 1024 * 1024
"""Free memory at the top of the heap kept for reuse, at most (beyond it, given back)."""

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_state: str | None = None


def tune_for_capture() -> str:
    """Set glibc's mmap and trim thresholds (once per process). Returns ``"tuned"``, or why
    not: ``"not glibc"`` (musl, macOS, Windows: their allocators are left as they are) or
    ``"refused"`` (``mallopt`` returned 0 for a value)."""
    global _state
    with _lock:
        if _state is None:
            _state = _tune()
        return _state


def _tune() -> str:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "not glibc"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "not glibc"
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    return "tuned" if ok else "refused"
