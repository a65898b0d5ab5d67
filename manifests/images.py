"""The ``image`` column of ``rainset export --images embed|embed-full``: which bytes go in, with metadata
stripped when the export is redacted.

``embed`` puts the capture's preview JPEG (upright, long side at most 1024 px, written by OpenCV: no
EXIF) in the column. ``embed-full`` puts the full-resolution original: JPEG and PNG originals as
they are (``datasets`` applies the EXIF orientation when it decodes), every other format (TIFF,
RAW, HEIC) decoded upright and written as an 8-bit PNG, since Pillow, which ``datasets`` decodes
with, has no 16-bit RGB mode (the 16-bit pixels are in ``rainset shards --format tiff16``).

With ``--redact``, the embedded bytes carry no EXIF, XMP, IPTC, maker notes or comments: JPEGs
lose those segments without re-encoding the pixels (a fresh EXIF block holding only the
orientation tag is written back when it is not 1, so the image still turns upright); PNG
originals are decoded upright and written again without metadata.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cv2
import fsspec
import numpy as np
from PIL import Image

from rainset.capture import decode_full
from rainset.capture.raster import to_uint8
from rainset.errors import ConfigError, ManifestError, RejectError
from rainset.local_uri import uri_to_path
from rainset.store import Store

IMAGE_MODES = ("path", "embed", "embed-full")
# JPEG segments kept by the metadata strip: APP0 (JFIF), APP2 only when it is an ICC profile, APP14
# (Adobe: tells the decoder the colour transform). Everything else before the scan is metadata.
_APP0, _APP1, _APP2, _APP14, _COM = 0xE0, 0xE1, 0xE2, 0xEE, 0xFE
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length


def check_mode(images: str) -> str:
    """``images`` when it is one of :data:`IMAGE_MODES` (ConfigError otherwise)."""
    if images not in IMAGE_MODES:
        raise ConfigError(f"--images {images!r}: unknown; choose from {', '.join(IMAGE_MODES)}")
    return images


def _orientation_exif(orientation: int) -> bytes:
    """An APP1 EXIF segment holding only the orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = int(orientation)
    body = b"Exif\x00\x00" + exif.tobytes()
    return bytes([0xFF, _APP1]) + (len(body) + 2).to_bytes(2, "big") + body


def strip_jpeg_metadata(data: bytes, orientation: int | None = None) -> bytes:
    """The JPEG ``data`` without EXIF, XMP, IPTC, MPF, maker notes and comments, pixels untouched.

    Keeps JFIF (APP0), ICC profiles (APP2 ``ICC_PROFILE``) and the Adobe segment (APP14), and cuts
    everything after the main image's end marker (multi-picture files append further JPEGs, each
    with its own EXIF). With ``orientation`` other than None or 1, a minimal EXIF block holding
    only that tag is written after SOI.

    Raises:
        ValueError: ``data`` is not a well-formed JPEG.
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    out = bytearray(data[:2])
    if orientation not in (None, 1):
        out += _orientation_exif(int(orientation))
    pos = 2
    n = len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1] if pos + 1 < n else -1
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            out += data[pos:pos + 2]
            pos += 2
            continue
        if marker == _EOI:
            out += data[pos:pos + 2]
            return bytes(out)
        if pos + 4 > n:
            raise ValueError("JPEG segment cut short")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > n:
            raise ValueError(f"JPEG segment at byte {pos} runs past the end")
        segment = data[pos:end]
        keep = not (0xE0 <= marker <= 0xEF or marker == _COM) or marker == _APP0 or marker == _APP14 \
            or (marker == _APP2 and segment[4:16] == b"ICC_PROFILE\x00")
        if keep:
            out += segment
        pos = end
        if marker == _SOS:  # entropy-coded data up to the next marker that is not stuffing or RSTn
            scan = pos
            while True:
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= n:
                    raise ValueError("JPEG scan without an end marker")
                nxt = data[scan + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    scan += 2 if nxt != 0xFF else 1
                    continue
                break
            out += data[pos:scan]
            pos = scan
    raise ValueError("JPEG without an end marker")


def _png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(to_uint8(rgb)[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape[1]}x{rgb.shape[0]} PNG")
    return buf.tobytes()


def _read_original(store: Store, row: dict[str, Any]) -> bytes:
    """The original's bytes (from the store, or where a link-mode file was ingested from), checked."""
    if row["path"] is not None:
        location = str(store.object_path(row["sha256"]))
    elif "://" in row["source_uri"]:
        location = row["source_uri"]
    else:
        location = uri_to_path(row["source_uri"])
    try:
        with fsspec.open(location, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ManifestError(f"sample {row['sample_id']} ({row['file_name']}): cannot read the original "
                            f"{location}: {exc.strerror or exc}") from exc
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise ManifestError(f"sample {row['sample_id']} ({row['file_name']}): the original {location} no longer "
                            "matches its sha256; run 'rainset verify'")
    return data


@dataclass(frozen=True)
class ImageSource:
    """How one export fills its image column."""

    store: Store
    mode: str  # embed | embed-full
    redact: bool
    max_pixels: int

    def image(self, row: dict[str, Any]) -> dict[str, Any]:
        """The ``{"bytes", "path"}`` cell of ``row`` (``path`` is a file name with the real extension).

        Raises:
            ManifestError: the preview or the original is missing, damaged or undecodable.
        """
        stem = row["sample_id"]
        try:
            if self.mode == "embed":
                data, ext = self._preview(row), "jpg"
            else:
                data, ext = self._full(row)
        except (ValueError, RejectError, cv2.error) as exc:
            detail = f"{exc.reason}: {exc.detail}" if isinstance(exc, RejectError) else str(exc)
            raise ManifestError(f"sample {row['sample_id']} ({row['file_name']}): cannot embed its image: "
                                f"{detail}") from exc
        return {"bytes": data, "path": f"{stem}.{ext}"}

    def _preview(self, row: dict[str, Any]) -> bytes:
        path = self.store.preview_path(row["sha256"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ManifestError(f"sample {row['sample_id']} ({row['file_name']}): no preview at {path} "
                                f"({exc.strerror or exc}); run 'rainset verify', or export with --images path") from exc
        return strip_jpeg_metadata(data) if self.redact else data  # previews are upright: no orientation

    def _full(self, row: dict[str, Any]) -> tuple[bytes, str]:
        data = _read_original(self.store, row)
        fmt = row["format"]
        if fmt == "jpeg":
            return (strip_jpeg_metadata(data, row.get("orientation")) if self.redact else data), "jpg"
        if fmt == "png" and not self.redact:
            return data, "png"
        rgb = decode_full(data, row["file_name"], fmt, orientation=row.get("orientation"), max_pixels=self.max_pixels)
        return _png(rgb), "png"
