"""The PNG files of a pair set: lossless, written on a background thread."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from rainset.errors import PairsError

# Lossless at any setting. Level 1 with Huffman-only coding: 63 ms CPU and 1.24 MB for a rainy 720p frame,
# against 80 ms / 1.26 MB (level 1), 54 ms / 1.47 MB (OpenCV's default) and 33 ms / 2.7 MB (stored).
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def write_png(path: Path, rgb: np.ndarray) -> None:
    """An RGB (or single-channel) uint8 image as a lossless PNG."""
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    if not cv2.imwrite(str(path), image, PNG_OPTIONS):
        raise PairsError(f"{path}: cannot write the PNG")


class PngWriter:
    """PNG files written on one background thread (``cv2.imwrite`` releases the GIL, so encoding
    overlaps the next frame's work), at most ``depth`` images waiting; a failed write is raised
    by the next :meth:`submit` or by :meth:`drain`."""

    def __init__(self, depth: int = 6) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pairs-png")
        self.pending: deque[Future[None]] = deque()
        self.depth = depth

    def submit(self, path: Path, image: np.ndarray) -> None:
        self.pending.append(self.pool.submit(write_png, path, image))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def drain(self) -> None:
        """Wait for every write; raises the first that failed."""
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Drop the writes not started, wait for the one running."""
        for future in self.pending:
            future.cancel()
        self.pending.clear()
        self.pool.shutdown(wait=True)
