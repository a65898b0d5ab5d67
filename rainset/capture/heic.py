"""Decode HEIC/HEIF with pillow-heif (the optional ``rainset[heif]`` extra)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from rainset.capture.checks import check_decode_bytes, check_pixels
from rainset.errors import RejectError, exception_text

MISSING_DETAIL = 'HEIC needs the heif extra: pip install "rainset[heif]"'
_HEIF_ERRORS = (ValueError, RuntimeError, EOFError, OSError, KeyError, IndexError)


def _open(data: bytes, max_pixels: int, *, to_8bit: bool) -> Any:
    try:
        import pillow_heif  # optional: the heif extra
    except ImportError as exc:
        raise RejectError("missing-decoder", MISSING_DETAIL) from exc
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=to_8bit)
        width, height = heif.size
    except _HEIF_ERRORS as exc:
        raise RejectError("decode-failed", f"libheif cannot read the HEIF container: {exception_text(exc)}") from exc
    check_pixels(width, height, max_pixels)
    return heif


def _pixels(heif: Any) -> np.ndarray:
    try:
        img = np.asarray(heif)
    except _HEIF_ERRORS as exc:
        reason = "truncated" if "end of" in str(exc).lower() or "truncat" in str(exc).lower() else "decode-failed"
        raise RejectError(reason, f"libheif cannot decode the image: {exception_text(exc)}") from exc
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=2)
    if img.ndim != 3 or img.shape[2] < 3:
        raise RejectError("decode-failed", f"unexpected HEIF pixel array shape {img.shape}")
    width, height = heif.size
    if img.shape[1] > width:  # pillow-heif derives the array width from the (padded) stride
        img = img[:, :width]
    if img.shape[:2] != (height, width):
        raise RejectError("decode-failed", f"decoded {img.shape[1]}x{img.shape[0]}, header says {width}x{height}")
    return np.ascontiguousarray(img[:, :, :3])


def decode_heic_working(data: bytes, *, max_pixels: int, max_decode_bytes: int | None = None) -> tuple[np.ndarray, int]:
    """Decode the primary HEIF image to RGB uint8 (libheif applies irot/imir itself).

    Returns:
        (rgb uint8 at full size, bit_depth of the source).
    """
    heif = _open(data, max_pixels, to_8bit=True)
    width, height = heif.size
    check_decode_bytes(width, height, 4 if heif.has_alpha else 3, 1, max_decode_bytes)
    depth = int(heif.info.get("bit_depth") or 8)
    return _pixels(heif), depth


def decode_heic_full(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode the primary HEIF image at full size: uint8, or uint16 for 10/12-bit sources."""
    heif = _open(data, max_pixels, to_8bit=False)
    img = _pixels(heif)
    mode = str(heif.mode)
    bits = int(mode.split(";")[1]) if ";" in mode else 8
    if img.dtype == np.uint16 and bits < 16:  # "RGB;10"/"RGB;12" hold unshifted values
        img = (img << (16 - bits)).astype(np.uint16)
    return img
