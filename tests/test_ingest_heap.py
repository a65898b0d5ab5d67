"""Ingest workers keep freed buffers for the next file (rainset.ingest.heap): no page faults per buffer."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

_CHILD = """
import resource, sys
from rainset.ingest.heap import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
SIZES = (1 << 20, 2_600_000, 2_250_000, 2_250_000, 750_000)  # a 12-MP JPEG's buffers: head, file, frames, grey


def one_file():
    bufs = [bytearray(n) for n in SIZES]  # each written whole (zeroed), as a read or a decode writes it
    del bufs


one_file()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    one_file()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt tuning is for glibc on Linux")
def test_freed_buffers_are_reused_without_page_faults() -> None:
    plain, tuned = _faults("plain"), _faults("tuned")
    assert plain >= 20 * 500  # glibc maps such buffers afresh and unmaps or trims them on free
    assert tuned < plain / 20  # kept: the pages are already there


def test_keep_freed_memory_says_whether_it_could() -> None:
    out = subprocess.run([sys.executable, "-c", "from rainset.ingest.heap import keep_freed_memory as k; print(k())"],
                         check=True, capture_output=True, text=True)
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out.stdout.strip() == str(expected)
