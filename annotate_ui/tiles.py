"""The 100 % view: square tiles cut from the full-resolution decode of a capture's original.

The browser never receives the original: it asks for tiles by (column, row) of a grid laid over
the upright full-resolution image. A few decoded frames stay in memory (least recently used
first out, at most ``capacity`` frames and ``max_bytes`` bytes; the latest decode always stays),
so panning over one capture costs only the crop and the JPEG encode.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import cv2
import fsspec
import numpy as np

from rainset.capture import decode_full
from rainset.capture.raster import to_uint8
from rainset.capture.video import decode_frame
from rainset.errors import LabelError, NotFoundError

from rainset.annotate_ui.captures import Original

TILE_QUALITY = 90


@dataclass(frozen=True)
class TileGrid:
    """The full-resolution size of a capture and the grid of tiles over it."""

    capture_id: str
    width: int
    height: int
    tile_size: int
    cols: int
    rows: int


def read_original(original: Original) -> bytes:
    """The bytes of an original (a stored object, a linked local file or a linked URL)."""
    if original.is_url:
        with fsspec.open(original.location, "rb") as fh:
            return fh.read()
    with open(original.location, "rb") as fh:
        return fh.read()


def decode_original(original: Original, max_pixels: int) -> np.ndarray:
    """Upright full-resolution RGB uint8 of an original (16-bit decodes are reduced to 8 bits); a
    video frame is decoded from its video on demand."""
    if original.frame_index is not None:
        try:
            return decode_frame(original.location, original.frame_index, original.frame_pts, max_pixels=max_pixels)
        except OSError as exc:
            raise LabelError(f"{original.name}: cannot read the video: {exc.strerror or exc}") from exc
    try:
        data = read_original(original)
    except OSError as exc:
        raise LabelError(f"{original.name}: cannot read the original: {exc.strerror or exc}") from exc
    return to_uint8(decode_full(data, original.name, original.format, orientation=original.orientation,
                                max_pixels=max_pixels))


class TileServer:
    """Cuts and encodes tiles, holding the last ``capacity`` full-resolution decodes, within ``max_bytes``."""

    def __init__(self, tile_size: int, capacity: int, max_pixels: int, max_bytes: int = 1 << 30) -> None:
        if tile_size < 64 or tile_size > 4096:
            raise ValueError(f"tile size {tile_size} is outside 64..4096")
        self.tile_size = tile_size
        self.capacity = max(1, capacity)
        self.max_pixels = max_pixels
        self.max_bytes = max_bytes
        self._frames: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._decoding: dict[str, threading.Lock] = {}

    def frame(self, capture_id: str, locate: Callable[[], Original]) -> np.ndarray:
        """The decoded frame of ``capture_id``, decoding (once, even under concurrent requests) when absent."""
        with self._lock:
            if capture_id in self._frames:
                self._frames.move_to_end(capture_id)
                return self._frames[capture_id]
            gate = self._decoding.setdefault(capture_id, threading.Lock())
        with gate:
            with self._lock:
                if capture_id in self._frames:
                    return self._frames[capture_id]
            try:
                img = decode_original(locate(), self.max_pixels)
            finally:
                with self._lock:
                    self._decoding.pop(capture_id, None)
            with self._lock:
                self._frames[capture_id] = img
                while len(self._frames) > 1 and (len(self._frames) > self.capacity
                                                 or self.cached_bytes() > self.max_bytes):
                    self._frames.popitem(last=False)
        return img

    def cached_bytes(self) -> int:
        """Bytes of the decoded frames held (call with the lock held, or for a rough look)."""
        return sum(frame.nbytes for frame in list(self._frames.values()))

    def cached(self) -> tuple[str, ...]:
        """The capture ids whose decodes are held, least recently used first."""
        with self._lock:
            return tuple(self._frames)

    def grid(self, capture_id: str, locate: Callable[[], Original]) -> TileGrid:
        """The tile grid over the capture's full-resolution frame."""
        h, w = self.frame(capture_id, locate).shape[:2]
        t = self.tile_size
        return TileGrid(capture_id, w, h, t, -(-w // t), -(-h // t))

    def tile(self, capture_id: str, col: int, row: int, locate: Callable[[], Original]) -> bytes:
        """The JPEG of tile (``col``, ``row``); edge tiles are smaller than ``tile_size``.

        Raises:
            NotFoundError: when (col, row) lies outside the grid.
        """
        img = self.frame(capture_id, locate)
        h, w = img.shape[:2]
        t = self.tile_size
        if col < 0 or row < 0 or col * t >= w or row * t >= h:
            raise NotFoundError(f"no tile ({col}, {row}) in the {w}x{h} image of capture {capture_id}")
        crop = np.ascontiguousarray(img[row * t:(row + 1) * t, col * t:(col + 1) * t, ::-1])
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, TILE_QUALITY])
        if not ok:
            raise LabelError(f"capture {capture_id}: cannot encode tile ({col}, {row})")
        return buf.tobytes()
