"""Decode JPEG, PNG and TIFF with OpenCV (Pillow/tifffile as TIFF fallbacks)."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
from PIL import Image

from rainset.capture.checks import (
    check_decode_bytes,
    check_jpeg_complete,
    check_pixels,
    check_png_complete,
    header_size_pil,
    png_layout,
    read_header,
    reduce_factor,
    reduced_size,
    tiff_layout,
)
from rainset.errors import RejectError, exception_text

_JPEG_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
# OpenCV >= 4.10 has libjpeg write RGB itself (the same pixels as BGR + cvtColor, one 2-MB pass
# and one allocation less per 12-MP file); older builds decode BGR and swap.
_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def check_raster(data: bytes, fmt: str, max_pixels: int, header_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """Header size and completeness checks for a raster file, before any pixel decode.

    ``header_size``: the (width, height) already read from a whole header at the start of ``data``
    (:func:`precheck_raster`), so the header is not parsed a second time.

    Returns:
        (width, height) as stored (before orientation).
    """
    if header_size is not None:
        width, height = header_size
    else:
        try:
            width, height = header_size_pil(data, fmt)
        except RejectError:
            _check_complete(data, fmt)  # an unreadable header in a cut-short file: say 'truncated'
            raise
    check_pixels(width, height, max_pixels)
    _check_complete(data, fmt)
    return width, height


def _check_complete(data: bytes, fmt: str) -> None:
    if fmt == "jpeg":
        check_jpeg_complete(data)
    elif fmt == "png":
        check_png_complete(data)


def decode_jpeg(data: bytes, width: int, height: int, factor: int) -> np.ndarray:
    """Decode a JPEG to RGB uint8, reduced by ``factor`` in libjpeg (1, 2, 4 or 8).

    Raises:
        RejectError: 'decode-failed' or 'truncated' when the result does not match the header.
    """
    flags = (_JPEG_REDUCED[factor] if factor > 1 else cv2.IMREAD_COLOR) | cv2.IMREAD_IGNORE_ORIENTATION
    if _RGB is not None:
        flags = (flags & ~cv2.IMREAD_COLOR) | _RGB
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise RejectError("decode-failed", "OpenCV could not decode the JPEG data")
    want_w, want_h = reduced_size(width, height, factor)
    if img.shape[:2] != (want_h, want_w):
        raise RejectError(
            "decode-failed",
            f"decoded {img.shape[1]}x{img.shape[0]} at 1/{factor}, header says {want_w}x{want_h}",
        )
    return img if _RGB is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _read_unchanged(data: bytes, fmt: str) -> tuple[np.ndarray, bool]:
    """Decode PNG/TIFF as stored. Returns (array, is_bgr)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is not None:
        return img, True
    if fmt != "tiff":
        raise RejectError("decode-failed", f"OpenCV could not decode the {fmt.upper()} data")
    import tifffile  # heavy (~40 ms of every ingest worker's start-up): only TIFF files need it

    try:
        return np.asarray(tifffile.imread(io.BytesIO(data), key=0)), False
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, TypeError, RuntimeError):
        pass  # tifffile lacks some codecs Pillow has (old JPEG-in-TIFF, ...): try Pillow
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in ("L", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
                im = im.convert("RGB")
            return np.asarray(im), False
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise RejectError("decode-failed", f"OpenCV, tifffile and Pillow cannot decode this TIFF: {exception_text(exc)}") from exc


def _to_rgb(img: np.ndarray, is_bgr: bool) -> tuple[np.ndarray, int]:
    """Normalise a decoded array to H×W×3 RGB (uint8 or uint16). Returns (rgb, bit_depth)."""
    if img.dtype == np.uint8:
        depth = 8
    elif img.dtype == np.uint16:
        depth = 16
    elif img.dtype.kind == "f":
        scale = 255.0 if float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img) * scale, 0, 255).astype(np.uint8)
        depth = 8
    elif img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
        depth = 8
    else:
        raise RejectError("decode-failed", f"unsupported sample type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.ascontiguousarray(np.stack([img] * 3, axis=2)), depth
    if img.ndim != 3:
        raise RejectError("decode-failed", f"unsupported array shape {img.shape}")
    if img.shape[2] == 2:  # grey + alpha
        return np.ascontiguousarray(np.stack([img[:, :, 0]] * 3, axis=2)), depth
    rgb = img[:, :, :3]
    if is_bgr:
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb), depth


def decode_lossless(data: bytes, fmt: str, width: int, height: int) -> tuple[np.ndarray, int]:
    """Decode a PNG or TIFF at full size to RGB (uint8 or uint16).

    Returns:
        (rgb, bit_depth).

    Raises:
        RejectError: 'decode-failed' when the decoder fails or disagrees with the header.
    """
    img, is_bgr = _read_unchanged(data, fmt)
    if img.shape[:2] != (height, width):
        raise RejectError("decode-failed", f"decoded {img.shape[1]}x{img.shape[0]}, header says {width}x{height}")
    return _to_rgb(img, is_bgr)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by dropping the low byte (>>8); uint8 passes through."""
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8)
    return img


def shrink(img: np.ndarray, min_side: int) -> np.ndarray:
    """Downscale with INTER_AREA by the same factor rule as the JPEG path (never upscales)."""
    h, w = img.shape[:2]
    f = reduce_factor(w, h, min_side)
    if f == 1:
        return img
    new_w, new_h = reduced_size(w, h, f)
    return cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)


def decode_raster_working(data: bytes, fmt: str, max_pixels: int, min_side: int,
                          max_decode_bytes: int | None = None,
                          header_size: tuple[int, int] | None = None) -> tuple[np.ndarray, int, int, int, str]:
    """Working decode of JPEG/PNG/TIFF, before orientation.

    ``max_decode_bytes``: reject (``too-large``) when the decoded pixels would need more bytes,
    from the header (JPEG at its reduced size), before decoding. ``header_size``: see
    :func:`check_raster`.

    Returns:
        (rgb uint8, stored width, stored height, bit_depth, decoder name).
    """
    width, height = check_raster(data, fmt, max_pixels, header_size)
    if fmt == "jpeg":
        f = reduce_factor(width, height, min_side)
        check_decode_bytes(*reduced_size(width, height, f), 3, 1, max_decode_bytes)
        img = decode_jpeg(data, width, height, f)
        return img, width, height, 8, ("jpeg-full" if f == 1 else f"jpeg-reduced-{f}")
    check_decode_bytes(width, height, *(png_layout(data) if fmt == "png" else tiff_layout(data)), max_decode_bytes)
    img, depth = decode_lossless(data, fmt, width, height)
    return shrink(to_uint8(img), min_side), width, height, depth, fmt


def precheck_raster(head: bytes, fmt: str, max_pixels: int, min_side: int,
                    max_decode_bytes: int | None) -> tuple[int, int] | None:
    """The size checks of :func:`decode_raster_working` on the first bytes of a file only, so a
    bomb is refused (``too-large``) before the whole file is read into memory.

    Checks only what ``head`` can tell: when the header (or a TIFF's first IFD) lies beyond it,
    nothing is raised and the full decode path checks again on the whole file.

    Returns:
        The stored (width, height) when ``head`` held the whole header (a JPEG up to its first
        scan: see :class:`~rainset.capture.checks.HeaderSize`), to pass on as ``header_size``;
        else None (the decode reads the header again).
    """
    try:
        header = read_header(head, fmt)
    except RejectError:
        return None
    width, height = header.width, header.height
    check_pixels(width, height, max_pixels)
    if fmt == "jpeg":
        check_decode_bytes(*reduced_size(width, height, reduce_factor(width, height, min_side)), 3, 1, max_decode_bytes)
        return (width, height) if header.whole else None
    if fmt == "png":
        check_decode_bytes(width, height, *png_layout(head), max_decode_bytes)
    elif fmt == "tiff":
        import tifffile  # heavy (~40 ms of every ingest worker's start-up): only TIFF files need it

        try:
            with tifffile.TiffFile(io.BytesIO(head)) as tif:
                page = tif.pages.first
                layout = max(1, int(page.samplesperpixel)), max(1, (int(page.bitspersample) + 7) // 8)
        except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, TypeError, struct.error):
            return None  # the IFD is beyond the head: decided on the whole file
        check_decode_bytes(width, height, *layout, max_decode_bytes)
    return None


def decode_raster_full(data: bytes, fmt: str, max_pixels: int) -> np.ndarray:
    """Full-resolution decode of JPEG/PNG/TIFF, before orientation (uint8, or uint16 for 16-bit)."""
    width, height = check_raster(data, fmt, max_pixels)
    if fmt == "jpeg":
        return decode_jpeg(data, width, height, 1)
    return decode_lossless(data, fmt, width, height)[0]
