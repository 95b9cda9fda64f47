"""Serving keeps freed memory for reuse: big temporary arrays stop faulting pages in."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

# Run in a fresh process: in a long-lived one a big enough free block may already sit
# in the heap, and then even glibc's defaults serve an array without a page fault.
# The arrays stay below numpy's 4 MiB threshold for asking for huge pages, which fault
# in 2 MiB at a time.
MEASURE = """
import ctypes, json, resource, sys
import numpy as np
from collector.allocator import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, keep_freed_memory_for_reuse

def faults():
    rounds, size = int(sys.argv[1]), int(sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        np.ones(size // 8)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

mallopt = ctypes.CDLL(None).mallopt
mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
defaults = [mallopt(M_MMAP_THRESHOLD, 128 * 1024), mallopt(M_TRIM_THRESHOLD, 128 * 1024)]
untuned = faults()
tuned_ok = keep_freed_memory_for_reuse()
faults()  # the heap grows once
print(json.dumps({"defaults": defaults, "untuned": untuned, "tuned_ok": tuned_ok,
                  "tuned": faults()}))
"""
ROUNDS = 20
ARRAY_BYTES = 3 * 1024 * 1024


def test_freed_arrays_are_reused_instead_of_faulted_in_again() -> None:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(ROUNDS), str(ARRAY_BYTES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(done.stdout)
    pages = ARRAY_BYTES // resource.getpagesize()
    assert found["defaults"] == [1, 1]
    # glibc's defaults (128 KiB): every array is a fresh mmap, every page a fault.
    assert found["untuned"] >= ROUNDS * pages // 2
    assert found["tuned_ok"] is True
    assert found["tuned"] < pages
