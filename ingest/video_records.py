"""What the driver and the workers exchange about videos: the sampling options and a video's result.

Kept apart from :mod:`rainset.ingest.video` (the decoding stage) so that the ingest driver, which only
passes these along and writes their rows, does not import PyAV and OpenCV to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rainset.errors import ConfigError

if TYPE_CHECKING:
    from rainset.capture.video import VideoInfo
    from rainset.ingest.video_log import KeptFrame

DEFAULT_MIN_CHANGE = 0.5  # mean absolute difference (grey levels 0..255) below which a frame is "the same"


@dataclass(frozen=True)
class FrameSampling:
    """Which decoded frames become captures (``rainset ingest --every/--max-fps/--min-change``).

    Attributes:
        every: keep only frames whose index is a multiple of this (1: every frame is a candidate).
        max_fps: keep at most this many frames per second of video (None: no limit).
        min_change: skip a frame whose small grey version differs from the last kept frame's by
            less than this mean absolute difference, in grey levels 0..255 (0: keep all).
    """

    every: int = 1
    max_fps: float | None = None
    min_change: float = DEFAULT_MIN_CHANGE

    def check(self) -> "FrameSampling":
        """Validate; returns self. Raises ConfigError naming the option."""
        if self.every < 1:
            raise ConfigError(f"--every must be 1 or more, got {self.every}")
        if self.max_fps is not None and not self.max_fps > 0:
            raise ConfigError(f"--max-fps must be above 0, got {self.max_fps}")
        if not 0 <= self.min_change <= 255:
            raise ConfigError(f"--min-change must be between 0 and 255 grey levels, got {self.min_change}")
        return self


@dataclass(frozen=True)
class VideoResult:
    """What a worker learned about one video file (the video counterpart of ``FileResult``)."""

    uri: str
    size: int
    mtime: float | None
    sha256: str
    info: VideoInfo
    frames_log: str  # the kept frames, spilled by the worker (:mod:`rainset.ingest.video_log`)
    kept: int  # how many records the log holds
    decoded: int
    skipped: dict[str, int]  # every | max-fps | change | blank -> frames not kept for that reason
    stored: bool
    warnings: tuple[str, ...] = ()

    ok = True  # a video with frames; the failures are FileResult rejects

    def frames(self) -> Iterator[list[KeptFrame]]:
        """The kept frames, a chunk at a time, read back from the log (which stays; see :meth:`drop_log`)."""
        from rainset.capture.video import frame_key  # heavy (PyAV): only once a video was ingested
        from rainset.ingest.video_log import read_frames  # heavy (OpenCV, via the hashes), as above

        return read_frames(self.frames_log, lambda index: frame_key(self.sha256, index))

    def drop_log(self) -> None:
        """Delete the frame log (the driver, once it has written the rows)."""
        Path(self.frames_log).unlink(missing_ok=True)
