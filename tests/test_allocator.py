"""Serving keeps freed memory for reuse: big temporary arrays stop faulting pages in."""

from __future__ import annotations

import ctypes
import resource

import numpy as np

from collector.allocator import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, keep_freed_memory_for_reuse

# Below numpy's 4 MiB threshold for asking for huge pages, which fault in 2 MiB at a time.
ARRAY_BYTES = 1024 * 1024
ROUNDS = 20


def faults_of_temporary_arrays() -> int:
    """Minor page faults while allocating, filling and freeing a 1 MiB array, 20 times."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(ROUNDS):
        np.ones(ARRAY_BYTES // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_freed_arrays_are_reused_instead_of_faulted_in_again() -> None:
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    pages = ARRAY_BYTES // resource.getpagesize()
    # glibc's defaults (128 KiB): every array is a fresh mmap, every page a fault.
    assert mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1
    assert mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1
    assert faults_of_temporary_arrays() >= ROUNDS * pages // 2

    assert keep_freed_memory_for_reuse() is True
    faults_of_temporary_arrays()  # the heap grows once
    assert faults_of_temporary_arrays() < pages
