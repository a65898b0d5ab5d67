"""Keep freed memory for reuse in ingest workers, instead of handing it back to the kernel.

Each file allocates a few buffers of megabytes (the file's bytes, the decoded frame, its
conversions). glibc serves allocations above its mmap threshold (128 KiB at first) with fresh
``mmap`` pages and returns them on ``free``, so every file faulted its buffers in again: about
1900 page faults per 12-MP JPEG, 3-5 ms of kernel CPU per file (docs/benchmarks.md). Raising
the mmap threshold and the trim threshold lets the heap keep those pages for the next file.
Allocations above the threshold (a bomb's decode) are still mapped and unmapped on their own,
so peak memory is unchanged and what is kept between files is bounded by the trim threshold.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # buffers below this come from the heap and are reused
TRIM_THRESHOLD = 64 << 20  # free memory kept at the top of the heap between files


def keep_freed_memory() -> bool:
    """Tune glibc's malloc in this process as above; False where that is not possible (no glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, libc's among them (ctypes.util.find_library would run ldconfig).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # no mallopt (musl)
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
