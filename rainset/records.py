"""Frozen dataclasses passed between pipeline stages.

They are the rows of the catalog and, later, the columns of manifests. Worker processes build
them; the driver writes them. They must stay picklable (Dask and process pools send them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: drivers that import these records (ingest) need no NumPy
    import numpy as np


@dataclass(frozen=True)
class ExifRecord:
    """The EXIF fields rainset uses, typed. Every field may be missing (None).

    ``capture_time`` is ISO 8601 local time as the camera wrote it, with the SubSec fraction
    and the offset appended when the file has them (``2021-06-01T14:03:22.120+02:00``).
    ``warnings`` lists what could not be parsed; a broken EXIF block gives a partial record.
    """

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    lens: str | None = None
    capture_time: str | None = None
    subsec: str | None = None
    offset: str | None = None
    exposure_time: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    orientation: int | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Frame:
    """A decoded working image: the one decode every later stage (hashes, quality, preview) uses.

    Attributes:
        image: H×W×3 uint8 RGB, EXIF orientation applied, possibly reduced in size.
        width: full-resolution width after orientation (what the file holds).
        height: full-resolution height after orientation.
        bit_depth: bits per channel of the source (8, 12, 14, 16).
        format: ``jpeg``, ``png``, ``tiff``, ``raw`` or ``heic``.
        decoder: the decode path used, e.g. ``jpeg-reduced-4``, ``raw-thumb``, ``raw-half``.
        warnings: what the decoder noticed but survived (e.g. a JPEG whose data ends early).
    """

    image: np.ndarray
    width: int
    height: int
    bit_depth: int
    format: str
    decoder: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hashes:
    """Perceptual and pixel hashes of one file's working image.

    ``phash``/``dhash`` are 64-bit hashes as 16 lower-case hex digits (imagehash order);
    ``pixel_hash`` hashes the decoded pixels at a fixed size (same pixels in another container
    give the same value); ``thumb`` is a 64×48 grey thumbnail (row-major uint8 bytes).
    """

    phash: str
    dhash: str
    pixel_hash: str
    thumb: bytes


@dataclass(frozen=True)
class Quality:
    """Quality measures: they become flags later, never drops."""

    sharpness: float
    clip_low: float
    clip_high: float
    megapixels: float


@dataclass(frozen=True)
class FileResult:
    """What a worker learned about one source file: a capture file, or a reject.

    Exactly one of ``reject_reason`` (a reject) or ``hashes`` (a decoded file) is set, except
    for files that could not even be read (no sha256).
    """

    uri: str
    size: int
    mtime: float | None
    sha256: str | None
    format: str | None = None
    exif: ExifRecord | None = None
    width: int | None = None
    height: int | None = None
    bit_depth: int | None = None
    decoder: str | None = None
    hashes: Hashes | None = None
    quality: Quality | None = None
    stored: bool = False
    reject_reason: str | None = None
    reject_detail: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.reject_reason is None
