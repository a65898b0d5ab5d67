"""The kept frames of one video, spilled to a file under the store's ``tmp/`` as they are sampled.

A worker appends one fixed-size record per kept frame (index, pts, capture time, size, hashes with
the 64×48 thumbnail, quality: about 3.2 KB) instead of holding them, and hands the driver only
the file's path and count; the driver reads the records back in chunks while it writes the rows
(:func:`read_frames`) and deletes the file. So neither side's memory grows with the length of a
video (a 10-minute 24 fps video keeps up to 14,400 frames, an hour 86,400), and a result crossing
from a Dask worker stays small. The store's ``tmp/`` is on the store's filesystem, which every
worker already writes (previews, objects); a log left by a killed run is swept with the rest of
``tmp/`` at the next run's start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rainset.hashing import THUMB_SIZE
from rainset.records import Hashes, Quality
from rainset.store import Store, write_error

CHUNK = 256  # records read back at a time (~0.8 MB)

RECORD = np.dtype([
    ("index", "<i8"), ("pts", "<f8"), ("capture_time", "S40"), ("width", "<i4"), ("height", "<i4"),
    ("phash", "S16"), ("dhash", "S16"), ("pixel_hash", "S32"), ("thumb", "u1", (THUMB_SIZE[0] * THUMB_SIZE[1],)),
    ("sharpness", "<f8"), ("clip_low", "<f8"), ("clip_high", "<f8"), ("megapixels", "<f8"),
])


@dataclass(frozen=True)
class KeptFrame:
    """One sampled frame of a video: what its capture row needs."""

    index: int
    pts: float | None
    key: str  # frame_key(video sha256, index): names the preview and the hashes row
    capture_time: str | None
    width: int
    height: int
    hashes: Hashes
    quality: Quality


class FrameLog:
    """Append-only file of :class:`KeptFrame` records under ``STORE/tmp/`` (``frames-<pid>-<hex>``).

    Use as a context manager; the file stays after ``close`` (its reader deletes it) unless
    :meth:`discard` is called.

    Raises:
        StoreError: the file cannot be created or written.
    """

    def __init__(self, store: Store, key: str) -> None:
        self.path = store.tmp_dir / f"frames-{os.getpid()}-{key[:16]}-{secrets.token_hex(4)}"
        self.count = 0
        try:
            self._fh = open(self.path, "wb")
        except OSError as exc:
            raise write_error(exc, self.path) from exc

    def __enter__(self) -> "FrameLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, frame: KeptFrame) -> None:
        rec = np.zeros(1, RECORD)
        r = rec[0]
        r["index"], r["pts"] = frame.index, np.nan if frame.pts is None else frame.pts
        r["capture_time"] = (frame.capture_time or "").encode()
        r["width"], r["height"] = frame.width, frame.height
        h, q = frame.hashes, frame.quality
        r["phash"], r["dhash"], r["pixel_hash"] = h.phash.encode(), h.dhash.encode(), h.pixel_hash.encode()
        r["thumb"] = np.frombuffer(h.thumb, np.uint8)
        r["sharpness"], r["clip_low"], r["clip_high"], r["megapixels"] = (q.sharpness, q.clip_low, q.clip_high,
                                                                          q.megapixels)
        try:
            self._fh.write(rec.tobytes())
        except OSError as exc:
            raise write_error(exc, self.path) from exc
        self.count += 1

    def close(self) -> None:
        if not self._fh.closed:
            try:
                self._fh.close()
            except OSError as exc:
                raise write_error(exc, self.path) from exc

    def discard(self) -> None:
        """Close and delete the file (the video became a reject)."""
        try:
            self.close()
        finally:
            self.path.unlink(missing_ok=True)


def _frame(r: np.void, key_of: Callable[[int], str]) -> KeptFrame:
    pts = float(r["pts"])
    index = int(r["index"])
    return KeptFrame(
        index=index, pts=None if np.isnan(pts) else pts, key=key_of(index),
        capture_time=r["capture_time"].decode() or None, width=int(r["width"]), height=int(r["height"]),
        hashes=Hashes(phash=r["phash"].decode(), dhash=r["dhash"].decode(), pixel_hash=r["pixel_hash"].decode(),
                      thumb=r["thumb"].tobytes()),
        quality=Quality(sharpness=float(r["sharpness"]), clip_low=float(r["clip_low"]),
                        clip_high=float(r["clip_high"]), megapixels=float(r["megapixels"])),
    )


def read_frames(path: str | Path, key_of: Callable[[int], str], chunk: int = CHUNK) -> Iterator[list[KeptFrame]]:
    """The records of a frame log, ``chunk`` at a time, in the order they were written.

    ``key_of(index)`` gives a frame's key (:func:`rainset.capture.video.frame_key` of the video).

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        while True:
            data = fh.read(RECORD.itemsize * chunk)
            if not data:
                return
            records = np.frombuffer(data, RECORD, count=len(data) // RECORD.itemsize)
            yield [_frame(r, key_of) for r in records]
