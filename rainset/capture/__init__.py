"""The decoding layer of ingest: sniff, read EXIF, decode one working frame per file.

``decode_working`` is THE decode path used for hashing, quality and preview; ``decode_full``
is the full-resolution decode used later by the trainer, derain and the 100% zoom. Both raise
:class:`rainset.errors.RejectError` rather than return a junk frame.
"""

from __future__ import annotations

import numpy as np

from rainset.capture.checks import check_grey_fill, check_not_blank
from rainset.capture.exif import read_exif
from rainset.capture.heic import decode_heic_full, decode_heic_working
from rainset.capture.orient import apply_orientation, oriented_size
from rainset.capture.preview import make_preview
from rainset.capture.raster import decode_raster_full, decode_raster_working, precheck_raster, shrink, to_uint8
from rainset.capture.sniff import RAW_EXTENSIONS, sniff_format
from rainset.errors import RejectError
from rainset.records import Frame

__all__ = [
    "RAW_EXTENSIONS",
    "check_header_budget",
    "decode_full",
    "decode_working",
    "make_preview",
    "read_exif",
    "sniff_format",
]

_RASTER = ("jpeg", "png", "tiff")


def _precheck(data: bytes, fmt: str) -> None:
    if not data:
        raise RejectError("empty-file", "zero bytes")
    if fmt not in (*_RASTER, "raw", "heic"):
        raise RejectError("unsupported-format", f"format {fmt!r} is not one rainset reads")


def _working(data: bytes, fmt: str, orientation: int | None, max_pixels: int, min_side: int,
             max_bytes: int | None, header_size: tuple[int, int] | None) -> Frame:
    warnings: tuple[str, ...] = ()
    if fmt in _RASTER:
        img, w, h, depth, decoder = decode_raster_working(data, fmt, max_pixels, min_side, max_bytes, header_size)
        warnings = check_grey_fill(img) if fmt == "jpeg" else ()
        img = apply_orientation(img, orientation)
        w, h = oriented_size(w, h, orientation)
    elif fmt == "raw":
        from rainset.capture.raw import decode_raw_working  # heavy: rawpy, only for RAW files

        img, w, h, depth, decoder = decode_raw_working(
            data, orientation=orientation, max_pixels=max_pixels, min_side=min_side, max_decode_bytes=max_bytes
        )
    else:
        full, depth = decode_heic_working(data, max_pixels=max_pixels, max_decode_bytes=max_bytes)
        h, w = full.shape[:2]  # libheif applies the HEIF irot/imir transforms itself
        img, decoder = shrink(full, min_side), "heic"
    check_not_blank(img)
    return Frame(image=np.ascontiguousarray(img), width=w, height=h, bit_depth=depth, format=fmt, decoder=decoder,
                 warnings=warnings)


def decode_working(
    data: bytes, name: str, fmt: str, *, orientation: int | None, max_pixels: int, min_side: int = 1000,
    max_decode_bytes: int | None = None, header_size: tuple[int, int] | None = None,
) -> Frame:
    """Decode the working image of one file: reduced, upright RGB uint8, checked.

    Args:
        data: the whole file.
        name: the file name (for messages).
        fmt: the format from :func:`sniff_format`.
        orientation: EXIF orientation 1..8 (from :func:`read_exif`), None when absent. HEIC
            ignores it (libheif applies the container's own transforms).
        max_pixels: reject headers declaring more pixels than this, before decoding.
        max_decode_bytes: reject (``too-large``) a decode whose pixels would need more bytes than
            this (width x height x channels x bytes per sample, from the header), before decoding;
            None: no limit.
        min_side: the working image keeps a long side of at least this (when the file has it).
        header_size: what :func:`check_header_budget` returned for the first bytes of ``data``
            (the stored size, when they held the whole header), so the header is not parsed
            again; None: read it from ``data``.

    Returns:
        The Frame; ``width``/``height`` are the full-resolution size after orientation.

    Raises:
        RejectError: with a reason from ``rainset.errors.REJECT_REASONS``, naming ``name``.
    """
    try:
        _precheck(data, fmt)
        return _working(data, fmt, orientation, max_pixels, min_side, max_decode_bytes, header_size)
    except RejectError as exc:
        if exc.path is not None:
            raise
        raise exc.with_path(name) from exc


def check_header_budget(head: bytes, name: str, fmt: str, *, max_pixels: int, min_side: int = 1000,
                        max_decode_bytes: int | None = None) -> tuple[int, int] | None:
    """The header checks of :func:`decode_working` (``max_pixels``, ``max_decode_bytes``) on the
    first bytes of a JPEG, PNG or TIFF, before the whole file is read; what ``head`` cannot tell
    (RAW, HEIC, a header past its end) is left to :func:`decode_working`.

    Returns:
        The stored (width, height) when ``head`` held the whole header (a JPEG up to its first
        scan), for :func:`decode_working`'s ``header_size`` on the whole file; else None.

    Raises:
        RejectError: ``too-large``, naming ``name``.
    """
    if fmt not in _RASTER:
        return None
    try:
        return precheck_raster(head, fmt, max_pixels, min_side, max_decode_bytes)
    except RejectError as exc:
        raise exc.with_path(name) from exc


def _full(data: bytes, fmt: str, orientation: int | None, max_pixels: int, min_side: int | None) -> np.ndarray:
    if fmt in _RASTER:
        img = apply_orientation(decode_raster_full(data, fmt, max_pixels), orientation)
    elif fmt == "raw":
        from rainset.capture.raw import decode_raw_full  # heavy: rawpy, only for RAW files

        img = decode_raw_full(data, max_pixels=max_pixels, min_side=min_side)
    else:
        img = decode_heic_full(data, max_pixels=max_pixels)
    check_not_blank(to_uint8(img))
    return np.ascontiguousarray(img)


def decode_full(data: bytes, name: str, fmt: str, *, orientation: int | None, max_pixels: int,
                min_side: int | None = None) -> np.ndarray:
    """Decode one file at full resolution: upright RGB, uint8 or uint16.

    uint16 for 16-bit PNG/TIFF, 10/12-bit HEIC (scaled to 16 bits) and RAW (full LibRaw
    demosaic, ``output_bps=16``); uint8 otherwise. Same checks as :func:`decode_working`.
    ``min_side`` lets a RAW decode at half size when that keeps a long side of at least
    ``min_side`` (for callers that shrink the image anyway); other formats ignore it.

    Raises:
        RejectError: with a reason from ``rainset.errors.REJECT_REASONS``, naming ``name``.
    """
    try:
        _precheck(data, fmt)
        return _full(data, fmt, orientation, max_pixels, min_side)
    except RejectError as exc:
        if exc.path is not None:
            raise
        raise exc.with_path(name) from exc
