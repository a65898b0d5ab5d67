"""The loader's glibc tuning in DataLoader workers: decode buffers are reused, not re-mapped per image."""

from __future__ import annotations

import multiprocessing as mp
import sys

import pytest


def _faults_per_decode() -> tuple[float, float, bool]:
    import resource

    import cv2
    import numpy as np

    from rainset.loader.decode import decode_bgr
    from rainset.loader.memory import keep_decode_buffers

    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8), (0, 0), 2)
    data = cv2.imencode(".jpg", img)[1].tobytes()

    def faults(n: int) -> float:
        decode_bgr(data)  # warm: the first decode of a phase may map memory either way
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            decode_bgr(data)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n

    plain = faults(8)
    tuned = keep_decode_buffers()
    return plain, faults(8), tuned and keep_decode_buffers()


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_tuned_worker_stops_page_faulting_every_decode():
    with mp.get_context("spawn").Pool(1) as pool:  # a fresh process: the test process stays untouched
        plain, tuned, ok = pool.apply(_faults_per_decode)
    assert ok, "mallopt was not applied (not glibc?)"
    if plain < 50:  # this allocator already keeps the buffer: there is nothing for the tuning to fix
        pytest.skip(f"an untuned decode faults only {plain:.0f} pages here; nothing to compare")
    assert tuned < plain / 5, f"tuned decodes still fault: {tuned:.0f} vs {plain:.0f} per image"
