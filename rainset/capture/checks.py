"""Checks that keep a decoder's output honest: header sizes, truncation, blank frames."""

from __future__ import annotations

import io
import math
import struct
import threading
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from rainset.errors import RejectError, exception_text

# Factors OpenCV's JPEG decoder can reduce by (IMREAD_REDUCED_*); the other paths use the same rule.
REDUCE_FACTORS = (8, 4, 2, 1)
_PIL_LIMIT_LOCK = threading.Lock()  # Image.MAX_IMAGE_PIXELS is global: switch it off under a lock
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error)


def reduce_factor(width: int, height: int, min_side: int) -> int:
    """The largest factor f in (1, 2, 4, 8) with max(width, height) / f >= min_side (else 1)."""
    long_side = max(width, height)
    for f in REDUCE_FACTORS:
        if long_side / f >= min_side:
            return f
    return 1


def reduced_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """(width, height) after reducing by ``factor``, rounding up as libjpeg does."""
    return math.ceil(width / factor), math.ceil(height / factor)


def header_size_pil(data: bytes, fmt: str) -> tuple[int, int]:
    """Read (width, height) from the header with Pillow, without decoding pixels.

    Raises:
        RejectError: 'truncated' or 'decode-failed' when the header cannot be parsed.
    """
    size = read_header(data, fmt)
    return size.width, size.height


@dataclass(frozen=True)
class HeaderSize:
    """A header's (width, height) as stored, and whether the bytes read held the whole header.

    ``whole`` is True for a JPEG whose parse reached its first scan (SOS) within the bytes given:
    Pillow then read nothing past them, so the same bytes at the start of a longer file (the whole
    file after its first ``HEAD_BYTES``) give the same size, and it need not be read again.
    """

    width: int
    height: int
    whole: bool


def read_header(data: bytes, fmt: str) -> HeaderSize:
    """:func:`header_size_pil`, telling also whether the whole header was within ``data``.

    Raises:
        RejectError: 'truncated' or 'decode-failed' when the header cannot be parsed.
    """
    try:
        with _PIL_LIMIT_LOCK, warnings.catch_warnings():
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we check max_pixels ourselves, before any decode
            try:
                warnings.simplefilter("ignore")
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
                    whole = fmt == "jpeg" and im.format == "JPEG" and bool(im.tile)  # tile: set on reaching SOS
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except _PIL_ERRORS as exc:
        if fmt == "tiff":
            return HeaderSize(*_header_size_tifffile(data, exc), whole=False)
        reason = "truncated" if isinstance(exc, EOFError) or "truncated" in str(exc).lower() else "decode-failed"
        raise RejectError(reason, f"cannot read the {fmt.upper()} header: {_pil_message(exc)}") from exc
    if width <= 0 or height <= 0:
        raise RejectError("decode-failed", f"header declares an empty image ({width}x{height})")
    return HeaderSize(width, height, whole)


def _pil_message(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "Pillow cannot identify the image data"
    return exception_text(exc)


def _header_size_tifffile(data: bytes, first: BaseException) -> tuple[int, int]:
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        ifd = int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big")
        if ifd >= len(data):
            raise RejectError("truncated", f"TIFF's first IFD is at byte {ifd}, past the end of its {len(data)} bytes")
    import tifffile  # heavy (~40 ms of every ingest worker's start-up): only TIFF files need it

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            return int(page.imagewidth), int(page.imagelength)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, struct.error) as exc:
        raise RejectError("decode-failed", f"cannot read the TIFF header: {_pil_message(first)}; tifffile: {exception_text(exc)}") from exc


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Reject a header that declares more than ``max_pixels`` pixels (decompression bombs)."""
    if width * height > max_pixels:
        raise RejectError(
            "too-large",
            f"header declares {width}x{height} = {width * height} pixels > max_pixels {max_pixels}",
        )


def check_decode_bytes(width: int, height: int, channels: int, bytes_per_sample: int, max_bytes: int | None) -> None:
    """Reject a decode that would need more than ``max_bytes`` for its pixels (the memory budget).

    ``None`` or 0 turns the check off.
    """
    need = width * height * channels * bytes_per_sample
    if max_bytes and need > max_bytes:
        raise RejectError(
            "too-large",
            f"decoding {width}x{height} x {channels} channels x {bytes_per_sample} bytes needs {need} bytes "
            f"> max_decode_bytes {max_bytes}",
        )


def png_layout(data: bytes) -> tuple[int, int]:
    """(channels, bytes per sample) of a decoded PNG, from its IHDR (a palette decodes to up to 4 channels)."""
    if len(data) < 26 or data[12:16] != b"IHDR":
        return 4, 2  # unreadable IHDR: assume the widest, the decoder will say what is wrong
    depth, colour = data[24], data[25]
    channels = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(colour, 4)
    return channels, 2 if depth == 16 and colour != 3 else 1


def tiff_layout(data: bytes) -> tuple[int, int]:
    """(samples per pixel, bytes per sample) of a TIFF's first page, from its header."""
    import tifffile  # heavy (~40 ms of every ingest worker's start-up): only TIFF files need it

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            bits = page.bitspersample
            return max(1, int(page.samplesperpixel)), max(1, (int(bits) + 7) // 8)
    except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError, TypeError, struct.error):
        return 4, 2  # the decoders will say what is wrong; size it as the widest


def check_jpeg_complete(data: bytes) -> None:
    """Reject a JPEG whose last scan (SOS, FFDA) is not followed by the EOI marker (FFD9).

    Entropy-coded data never holds FFDA or FFD9 (0xFF is stuffed), so "the last EOI comes after
    every SOS" is the test; searching from the end keeps it cheap on complete files.
    """
    if data.find(b"\xff\xda") < 0:
        raise RejectError("truncated", f"JPEG has no scan (SOS marker) in its {len(data)} bytes")
    last_eoi = data.rfind(b"\xff\xd9")
    if last_eoi < 0 or data.find(b"\xff\xda", last_eoi) >= 0:
        raise RejectError("truncated", f"JPEG ends after {len(data)} bytes without an EOI marker after its last scan")


def check_png_complete(data: bytes) -> None:
    """Reject a PNG without its IEND chunk."""
    if data.rfind(b"IEND") < 0:
        raise RejectError("truncated", f"PNG ends after {len(data)} bytes without an IEND chunk")


def check_not_blank(image: np.ndarray) -> None:
    """Reject a constant, near-constant or mostly-zero image (what decoders return for stubs).

    Raises:
        RejectError: 'blank-frame'.
    """
    if image.size == 0:
        raise RejectError("blank-frame", "decoded to an empty array")
    # Judge a regular subsample (about 256 px on the long side): a blank, constant or mostly-zero
    # frame is that at any sampling, and it costs 0.2 ms instead of 2.5 ms on a 1000-px frame.
    # Each channel is gathered straight from the frame (0.2 ms): the same arrays as subsampling
    # the H×W×3 frame and splitting it (0.95 ms), since numpy copies a 3-sample-wide strided
    # pixel one byte at a time.
    step = max(1, max(image.shape[:2]) // 256)
    if image.ndim == 3:
        channels = [np.ascontiguousarray(image[::step, ::step, c]) for c in range(image.shape[2])]
    else:
        channels = [np.ascontiguousarray(image[::step, ::step])]
    spread = max(int(c.max()) - int(c.min()) for c in channels)
    if spread <= 2:
        raise RejectError("blank-frame", f"constant frame (each channel varies by at most {spread})")
    brightest = channels[0]
    for c in channels[1:]:
        brightest = cv2.max(brightest, c)
    zero = 1.0 - cv2.countNonZero(brightest) / brightest.size
    if zero > 0.95:
        raise RejectError("blank-frame", f"{zero:.1%} of pixels are exactly zero")
    std = max(float(cv2.meanStdDev(c)[1][0, 0]) for c in channels)
    if std < 1.0:
        raise RejectError("blank-frame", f"near-constant frame (largest channel std {std:.2f})")


def grey_fill_rows(img: np.ndarray) -> int:
    """How many rows at the bottom of a decoded JPEG are libjpeg's grey fill (all exactly 128).

    libjpeg fills the MCUs it could not read with mid-grey and only prints a warning
    ("premature end of data segment"), even when the EOI marker is present.
    """
    flat = img.reshape(img.shape[0], -1)
    rows = 0
    for row in flat[::-1]:
        if row[0] != 128 or not (row == 128).all():
            break
        rows += 1
    return rows


def check_grey_fill(img: np.ndarray, max_fraction: float = 0.5) -> tuple[str, ...]:
    """Warn about a grey-filled bottom band; reject as 'truncated' when it is most of the frame."""
    rows = grey_fill_rows(img)
    if rows == 0 or rows == img.shape[0]:
        return ()  # none, or a constant frame: the blank-frame check decides
    fraction = rows / img.shape[0]
    message = (f"JPEG data ends early: the bottom {rows} of {img.shape[0]} decoded rows "
               f"({100 * fraction:.1f}%) are grey fill")
    if fraction > max_fraction:
        raise RejectError("truncated", message)
    return (message,)
