"""One window's decoded frames in a scratch file: written once as they are decoded, read back as often
as the targets need (any number of readers at once, one frame in memory each)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rainset.errors import RejectError


class FrameSpill:
    """The decoded frames of one window in a scratch file; read back (any number of readers at
    once, one frame in memory each) by :meth:`frames`."""

    def __init__(self, workdir: Path) -> None:
        self.file = tempfile.TemporaryFile(dir=workdir)
        self.shape: tuple[int, ...] | None = None
        self.pts: list[float | None] = []

    def reset(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.shape = None
        self.pts = []

    def append(self, frame: np.ndarray, pts: float | None) -> None:
        if self.shape is None:
            self.shape = frame.shape
        elif frame.shape != self.shape:
            raise RejectError("decode-failed", f"the frame size changes within the video: {frame.shape[1]}x"
                              f"{frame.shape[0]} after {self.shape[1]}x{self.shape[0]}")
        self.file.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        self.pts.append(pts)

    def __len__(self) -> int:
        return len(self.pts)

    def frames(self) -> Iterator[np.ndarray]:
        assert self.shape is not None
        size = int(np.prod(self.shape))
        self.file.flush()
        fd = self.file.fileno()
        for i in range(len(self.pts)):
            data = os.pread(fd, size, i * size)
            yield np.frombuffer(data, np.uint8).reshape(self.shape)

    def close(self) -> None:
        self.file.close()
