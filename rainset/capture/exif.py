"""Read the EXIF fields rainset uses into an :class:`~rainset.records.ExifRecord`.

Broken EXIF never raises: the record is partial and ``warnings`` says what went wrong.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Callable
from typing import Any

import exifread
from exifread.core.exceptions import ExifError

from rainset.errors import exception_text
from rainset.records import ExifRecord

# What exifread (and our own conversions) raise on malformed input. No bare except.
EXIF_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    struct.error,
    ZeroDivisionError,
    OverflowError,
    UnicodeDecodeError,
    AttributeError,
    RecursionError,
    MemoryError,
    EOFError,
)

_SERIAL_KEYS = (
    "EXIF BodySerialNumber",
    "Image BodySerialNumber",
    "Image CameraSerialNumber",
    "EXIF CameraSerialNumber",
    "MakerNote SerialNumber",
    "MakerNote InternalSerialNumber",
)
_TIME_RE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"^[+-]\d{2}:\d{2}$")
# Physical ranges (low, high, unit): a value outside is a damaged or bogus tag (GPS longitude
# -4.37e9, focal length 4294967295 were seen) and is stored as null with a warning. Exposure,
# f-number, ISO and focal length must also be above 0 (0 itself means "unknown": None, no warning).
PHYSICAL_RANGES: dict[str, tuple[float, float, str]] = {
    "exposure_time": (0.0, 3600.0, " s"),
    "f_number": (0.0, 1000.0, ""),
    "iso": (0.0, 1e7, ""),
    "focal_length": (0.0, 10000.0, " mm"),
    "gps_lat": (-90.0, 90.0, "°"),
    "gps_lon": (-180.0, 180.0, "°"),
    "gps_alt": (-12000.0, 100000.0, " m"),
}


def _jpeg_exif_head(data: bytes) -> bytes:
    """Return the bytes of a JPEG before its first SOS marker (all of EXIF, none of the scan)."""
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # SOS
            return data[:pos]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        seg_len = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if seg_len < 2:
            break
        pos += 2 + seg_len
    # Malformed marker stream: the EXIF APP1 is at most 64 KiB and comes first.
    return data[: min(n, 1 << 20)]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# exifread walks a PNG chunk by chunk to its eXIf; a file padded with zeros is a run of 12-byte
# empty chunks (a 2 GiB sparse .png took it 168 s). We walk at most this many chunks ourselves.
MAX_PNG_CHUNKS = 4096
MAX_EXIF_BYTES = 1 << 20  # an eXIf chunk larger than this is not parsed (EXIF in JPEG is at most 64 KiB)


def png_exif_head(data: bytes) -> bytes:
    """A minimal PNG holding only ``data``'s eXIf chunk (signature, eXIf, IEND), or just the
    signature and IEND when there is none within the first ``MAX_PNG_CHUNKS`` chunks.

    The walk stops at a chunk whose type is not four ASCII letters (zero padding, garbage), at
    IEND, or past the end; it jumps over chunk bodies, so its cost does not grow with the file.
    """
    iend = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    pos = len(PNG_SIGNATURE)
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 8 > len(data):
            break
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if not kind.isalpha() or kind == b"IEND":
            break
        if kind == b"eXIf":
            if length > MAX_EXIF_BYTES:
                break
            return PNG_SIGNATURE + data[pos:pos + 12 + length] + iend
        pos += 12 + length
    return PNG_SIGNATURE + iend


def _clean_str(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).replace("\x00", " ").strip()
    return text or None


def _first(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        for prefix in ("EXIF ", "Image "):
            tag = tags.get(prefix + name)
            if tag is not None:
                return tag
    return None


def _ratio_to_float(value: Any) -> float:
    """A float from an exifread Ratio/int; ZeroDivisionError on a zero denominator."""
    den = getattr(value, "den", None)
    if den is not None:
        if den == 0:
            raise ZeroDivisionError("ratio with zero denominator")
        return value.num / den
    return float(value)


def _format_time(raw: str | None, subsec: str | None, offset: str | None) -> str | None:
    if raw is None:
        return None
    m = _TIME_RE.match(raw)
    if m is None:
        raise ValueError(f"unparseable date/time {raw!r}")
    y, mo, d, hh, mm, ss = (int(g) for g in m.groups())
    if y == 0 or not (1 <= mo <= 12 and 1 <= d <= 31 and hh <= 24 and mm <= 59 and ss <= 60):
        raise ValueError(f"invalid date/time {raw!r}")
    text = f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
    if subsec:
        text += f".{subsec}"
    if offset:
        text += offset
    return text


def _gps_coord(tags: dict[str, Any], key: str, ref_key: str, negative: str) -> float | None:
    tag = tags.get(key)
    if tag is None:
        return None
    parts = [_ratio_to_float(v) for v in tag.values]
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0.0)
    deg = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0
    ref = tags.get(ref_key)
    ref_text = _clean_str(ref.values if isinstance(ref.values, str) else ref.printable) if ref else None
    if ref_text and ref_text.upper().startswith(negative):
        deg = -deg
    return deg


def _gps_alt(tags: dict[str, Any]) -> float | None:
    tag = tags.get("GPS GPSAltitude")
    if tag is None:
        return None
    alt = _ratio_to_float(tag.values[0])
    ref = tags.get("GPS GPSAltitudeRef")
    if ref is not None and ref.values and ref.values[0] == 1:
        alt = -alt
    return alt


def _string_field(tags: dict[str, Any], *names: str) -> str | None:
    tag = _first(tags, *names)
    if tag is None:
        return None
    return _clean_str(tag.values if isinstance(tag.values, (str, bytes)) else tag.printable)


def _number(tags: dict[str, Any], *names: str) -> float | None:
    tag = _first(tags, *names)
    if tag is None or not tag.values or isinstance(tag.values, (str, bytes)):
        return None
    return _ratio_to_float(tag.values[0])


def _extract(tags: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every field in its own guard, so one bad tag spoils only itself."""
    out: dict[str, Any] = {}
    warnings: list[str] = []

    def field(name: str, fn: Callable[[], Any]) -> None:
        try:
            out[name] = fn()
        except EXIF_ERRORS as exc:
            warnings.append(f"{name}: {exception_text(exc)}")

    field("make", lambda: _string_field(tags, "Make"))
    field("model", lambda: _string_field(tags, "Model"))
    field("serial", lambda: next((s for k in _SERIAL_KEYS if (s := _serial(tags, k))), None))
    field("lens", lambda: _string_field(tags, "LensModel"))
    field("subsec", lambda: _string_field(tags, "SubSecTimeOriginal", "SubSecTimeDigitized", "SubSecTime"))
    field("offset", lambda: _valid_offset(_string_field(tags, "OffsetTimeOriginal", "OffsetTime")))
    field(
        "capture_time",
        lambda: _format_time(
            _string_field(tags, "DateTimeOriginal")
            or _string_field(tags, "DateTimeDigitized")
            or _string_field(tags, "DateTime"),
            out.get("subsec"),
            out.get("offset"),
        ),
    )
    # Cameras write 0 for "unknown" (manual lens, no ISO): keep None, not a bogus zero.
    field("exposure_time", lambda: _physical("exposure_time", _unknown_if_zero(_number(tags, "ExposureTime"))))
    field("f_number", lambda: _physical("f_number", _unknown_if_zero(_number(tags, "FNumber"))))
    field("iso", lambda: _int_or_none(_physical("iso", _unknown_if_zero(
        _number(tags, "ISOSpeedRatings", "PhotographicSensitivity", "ISO")))))
    field("focal_length", lambda: _physical("focal_length", _unknown_if_zero(_number(tags, "FocalLength"))))
    field("orientation", lambda: _orientation(_number(tags, "Orientation")))
    field("gps_lat", lambda: _physical("gps_lat", _gps_coord(tags, "GPS GPSLatitude", "GPS GPSLatitudeRef", "S")))
    field("gps_lon", lambda: _physical("gps_lon", _gps_coord(tags, "GPS GPSLongitude", "GPS GPSLongitudeRef", "W")))
    field("gps_alt", lambda: _physical("gps_alt", _gps_alt(tags)))
    return out, warnings


def _serial(tags: dict[str, Any], key: str) -> str | None:
    tag = tags.get(key)
    if tag is None:
        return None
    return _clean_str(tag.values if isinstance(tag.values, (str, bytes)) else tag.printable)


def _valid_offset(text: str | None) -> str | None:
    if text is None:
        return None
    if not _OFFSET_RE.match(text):
        raise ValueError(f"invalid UTC offset {text!r}")
    return text


def _unknown_if_zero(value: float | None) -> float | None:
    return None if value == 0 else value


def _physical(name: str, value: float | None) -> float | None:
    """``value`` when inside ``PHYSICAL_RANGES[name]`` (positive fields exclude 0); ValueError otherwise."""
    if value is None:
        return None
    low, high, unit = PHYSICAL_RANGES[name]
    positive = name not in ("gps_lat", "gps_lon", "gps_alt")
    if not (low < value <= high if positive else low <= value <= high) or value != value:
        shown = f"{value:g}{unit}"
        bound = f"(0, {high:g}{unit}]" if positive else f"[{low:g}, {high:g}{unit}]"
        raise ValueError(f"{shown} is outside the physical range {bound}: stored as null")
    return value


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def _orientation(value: float | None) -> int | None:
    if value is None:
        return None
    o = int(value)
    if not 1 <= o <= 8:
        raise ValueError(f"orientation {o} outside 1..8")
    return o


def read_exif(data: bytes, fmt: str, name: str) -> ExifRecord:
    """Parse the EXIF block of one file; never raises on broken EXIF.

    Args:
        data: the whole file.
        fmt: the format from :func:`sniff_format` (``jpeg`` parses only the bytes before SOS,
            ``png`` only the eXIf chunk found within a bounded number of chunks).
        name: the file name, for warnings.

    Returns:
        An ExifRecord; fields that are missing or unparseable are None, and ``warnings``
        names each problem.
    """
    logging.getLogger("exifread").setLevel(logging.CRITICAL + 1)
    if fmt == "jpeg" and data[:2] == b"\xff\xd8":
        head = _jpeg_exif_head(data)
    elif fmt == "png" and data[:8] == PNG_SIGNATURE:
        head = png_exif_head(data)
    else:
        head = data
    try:
        tags = exifread.process_file(io.BytesIO(head), details=False, extract_thumbnail=False)
    except (*EXIF_ERRORS, ExifError) as exc:
        return ExifRecord(warnings=(f"{name}: EXIF unreadable: {exception_text(exc)}",))
    if not tags:
        return ExifRecord()
    fields, warnings = _extract(tags)
    return ExifRecord(**fields, warnings=tuple(f"{name}: {w}" for w in warnings))
