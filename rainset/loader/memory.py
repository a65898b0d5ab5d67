"""Keep glibc from returning decode buffers to the system after every image (DataLoader workers only).

A decoded 1–2 megapixel image is a few MB: above glibc's default mmap threshold, so each decode
maps fresh pages and frees them again, and the next image page-faults them all back in (about 700
faults per image, measured in bench/loader.py). Raising the mmap and trim thresholds in the worker
lets malloc reuse the same memory. Only DataLoader workers are tuned (processes the loader owns);
elsewhere, or without glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20  # allocations up to 64 MiB come from the heap (a 24-MP 8-bit decode is 72 MB)
TRIM_THRESHOLD = 256 << 20  # keep up to 256 MiB of freed heap for the next images

_done = False


def keep_decode_buffers() -> bool:
    """Raise glibc's mmap/trim thresholds in this process once; True when they were set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
