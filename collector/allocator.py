"""glibc malloc settings for serving: keep freed memory in the process for the next request.

A read merges a few hundred histograms in numpy: arrays of a few hundred kilobytes,
allocated and freed on every request. glibc serves blocks that large with a fresh
``mmap`` each time (and trims freed heap back to the kernel), so every new array
faulted its pages in again: a week's hourly series spent about 1.4 ms of its 2.1 ms of
numpy work in page faults (bench/README.md). With the thresholds raised, those blocks
come from the heap and are reused. The process keeps up to ``TRIM_THRESHOLD`` of
freed memory instead of handing it back at once.
"""

from __future__ import annotations

import ctypes
import sys

# From glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# glibc's own ceiling for its dynamic mmap threshold on 64-bit machines (32 MiB), and
# twice that for trimming, the ratio its dynamic adjustment keeps.
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def keep_freed_memory_for_reuse() -> bool:
    """Raise glibc's mmap and trim thresholds; False where that is not possible (not glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt answers 1 on success; musl's stub answers 0 and changes nothing.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
