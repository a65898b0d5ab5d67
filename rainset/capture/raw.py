"""Decode camera RAW files with rawpy (LibRaw), trusting nothing it says about stubs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import rawpy
from PIL import Image, UnidentifiedImageError

from rainset.capture.checks import check_decode_bytes, check_pixels, reduce_factor
from rainset.capture.orient import apply_orientation
from rainset.capture.raster import decode_jpeg, shrink
from rainset.errors import RejectError

# A real RAW holds at least this many bytes per raw pixel (lossy-compressed ones ~0.2, lossless >= 1):
# below it the file is a metadata-only stub or cut short, and LibRaw would return zeros or junk.
MIN_BYTES_PER_RAW_PIXEL = 0.05
# rawpy sizes.flip -> the EXIF orientation it stands for.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def _why(exc: BaseException) -> str:
    """LibRaw's message as text (rawpy passes it as bytes)."""
    arg = exc.args[0] if exc.args else ""
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg or exc)


@contextmanager
def _libraw_errors() -> Iterator[None]:
    """Map rawpy exceptions to RejectError."""
    try:
        yield
    except rawpy.LibRawFileUnsupportedError as exc:
        raise RejectError("decode-failed", f"unsupported or not a RAW file (LibRaw: {_why(exc)})") from exc
    except rawpy.LibRawIOError as exc:
        raise RejectError("truncated", f"LibRaw read past the end of the data: truncated or metadata-only file ({_why(exc)})") from exc
    except rawpy.LibRawDataError as exc:
        raise RejectError("decode-failed", f"LibRaw found corrupt or unsupported raw data ({_why(exc)})") from exc
    except rawpy.LibRawTooBigError as exc:
        raise RejectError("too-large", f"LibRaw: image too big for processing ({_why(exc)})") from exc
    except (rawpy.LibRawError, rawpy.NotSupportedError) as exc:
        raise RejectError("decode-failed", f"LibRaw: {type(exc).__name__}: {_why(exc)}") from exc


def _open_checked(raw: Any, data_len: int, max_pixels: int) -> None:
    """Size checks on an opened RAW, before unpacking anything."""
    sizes = raw.sizes
    check_pixels(sizes.width, sizes.height, max_pixels)
    raw_pixels = sizes.raw_width * sizes.raw_height
    if raw_pixels <= 0:
        raise RejectError("decode-failed", "LibRaw reports an empty raw image")
    if data_len < MIN_BYTES_PER_RAW_PIXEL * raw_pixels:
        raise RejectError(
            "truncated",
            f"{data_len} bytes for a {sizes.raw_width}x{sizes.raw_height} raw image "
            f"({data_len / raw_pixels:.4f} bytes/pixel < {MIN_BYTES_PER_RAW_PIXEL}): metadata-only stub or truncated",
        )


def _bit_depth(raw: Any) -> int:
    white = int(getattr(raw, "white_level", 0) or 0)
    return min(16, max(8, white.bit_length())) if white > 0 else 16


def _full_size(raw: Any) -> tuple[int, int]:
    """Visible (width, height) after LibRaw's flip."""
    s = raw.sizes
    return (s.height, s.width) if s.flip in (5, 6) else (s.width, s.height)


def _thumbnail(raw: Any, min_side: int, orientation: int | None) -> np.ndarray | None:
    """The embedded preview as upright RGB uint8, if it has a long side >= min_side."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError, rawpy.LibRawError):
        return None
    if orientation is None:
        orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        img = np.ascontiguousarray(thumb.data[:, :, :3])
        if max(img.shape[:2]) < min_side:
            return None
        return apply_orientation(shrink(img, min_side), orientation)
    data = bytes(thumb.data)
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    if max(w, h) < min_side:
        return None
    try:
        img = decode_jpeg(data, w, h, reduce_factor(w, h, min_side))
    except RejectError:
        return None
    return apply_orientation(img, orientation)


def decode_raw_working(data: bytes, *, orientation: int | None, max_pixels: int, min_side: int,
                       max_decode_bytes: int | None = None) -> tuple[np.ndarray, int, int, int, str]:
    """Working decode of a RAW: the embedded preview when big enough, else a half-size demosaic.

    ``max_decode_bytes`` bounds the unpacked raw data (raw width x height x 2 bytes).

    Returns:
        (upright rgb uint8, full width, full height after orientation, bit_depth, decoder name).
    """
    with _libraw_errors(), rawpy.imread(io.BytesIO(data)) as raw:
        _open_checked(raw, len(data), max_pixels)
        check_decode_bytes(raw.sizes.raw_width, raw.sizes.raw_height, 1, 2, max_decode_bytes)
        width, height = _full_size(raw)
        thumb = _thumbnail(raw, min_side, orientation)
        if thumb is not None:
            img, decoder = thumb, "raw-thumb"
        else:
            img = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
            img, decoder = shrink(np.ascontiguousarray(img), min_side), "raw-half"
        depth = _bit_depth(raw)
    if (img.shape[0] > img.shape[1]) != (height > width) and width != height:
        width, height = height, width
    return img, width, height, depth, decoder


def decode_raw_full(data: bytes, *, max_pixels: int, min_side: int | None = None) -> np.ndarray:
    """Full-resolution demosaic of a RAW to upright RGB uint16 (LibRaw applies the flip).

    With ``min_side``, a half-size decode (LibRaw takes each 2x2 Bayer block as one pixel: no
    interpolation, about 4x faster) when its long side still reaches ``min_side``.
    """
    with _libraw_errors(), rawpy.imread(io.BytesIO(data)) as raw:
        _open_checked(raw, len(data), max_pixels)
        half = min_side is not None and max(_full_size(raw)) // 2 >= min_side
        img = raw.postprocess(use_camera_wb=True, output_bps=16, half_size=half)
    return np.ascontiguousarray(img)
