"""Write synthetic captures to disk: JPEG with full EXIF, and a Bayer CFA DNG that LibRaw reads.

Both writers are deterministic: the same pixels and :class:`SynthExif` give the same bytes.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

import numpy as np
import tifffile
from PIL import Image, TiffImagePlugin

# XYZ (D65) -> linear sRGB: used as the DNG ColorMatrix1, so the "camera" is linear sRGB.
_XYZ_TO_SRGB = (
    (3.2406, -1.5372, -0.4986),
    (-0.9689, 1.8758, 0.0415),
    (0.0557, -0.2040, 1.0570),
)
DNG_BLACK = 256
DNG_WHITE = 4095


@dataclass(frozen=True)
class SynthExif:
    """The EXIF a synthetic capture carries (what a camera would write)."""

    make: str
    model: str
    serial: str
    lens: str
    capture_time: datetime
    subsec: str
    offset: str
    exposure_time: float
    f_number: float
    iso: int
    focal_length: float
    gps: tuple[float, float, float] | None
    orientation: int = 1

    @property
    def exif_datetime(self) -> str:
        """``capture_time`` in the EXIF ``YYYY:MM:DD HH:MM:SS`` form."""
        return self.capture_time.strftime("%Y:%m:%d %H:%M:%S")

    @property
    def iso_time(self) -> str:
        """``capture_time`` as ISO 8601 with subsec and offset, as ``ExifRecord`` spells it."""
        return f"{self.capture_time.strftime('%Y-%m-%dT%H:%M:%S')}.{self.subsec}{self.offset}"


def _rational(value: float, max_den: int = 10000) -> TiffImagePlugin.IFDRational:
    frac = Fraction(value).limit_denominator(max_den)
    return TiffImagePlugin.IFDRational(frac.numerator, frac.denominator)


def to_dms(value: float) -> tuple[int, int, float]:
    """Split an absolute decimal degree value into (degrees, minutes, seconds)."""
    value = abs(value)
    deg = int(value)
    minutes_f = (value - deg) * 60.0
    minutes = int(minutes_f)
    seconds = round((minutes_f - minutes) * 60.0, 4)
    return deg, minutes, seconds


def _gps_dms(value: float) -> tuple[TiffImagePlugin.IFDRational, ...]:
    deg, minutes, seconds = to_dms(value)
    return (
        TiffImagePlugin.IFDRational(deg, 1),
        TiffImagePlugin.IFDRational(minutes, 1),
        TiffImagePlugin.IFDRational(int(round(seconds * 10000)), 10000),
    )


def build_exif(exif: SynthExif) -> Image.Exif:
    """Build a Pillow ``Image.Exif`` holding IFD0, the Exif IFD and (when set) the GPS IFD."""
    out = Image.Exif()
    out[0x010F] = exif.make
    out[0x0110] = exif.model
    out[0x0112] = exif.orientation
    out[0x0132] = exif.exif_datetime
    sub = out.get_ifd(0x8769)
    sub[0x9003] = exif.exif_datetime  # DateTimeOriginal
    sub[0x9291] = exif.subsec  # SubSecTimeOriginal
    sub[0x9011] = exif.offset  # OffsetTimeOriginal
    sub[0x829A] = _rational(exif.exposure_time, 100000)  # ExposureTime
    sub[0x829D] = _rational(exif.f_number)  # FNumber
    sub[0x8827] = exif.iso  # ISOSpeedRatings / PhotographicSensitivity
    sub[0x920A] = _rational(exif.focal_length)  # FocalLength
    sub[0xA431] = exif.serial  # BodySerialNumber
    sub[0xA434] = exif.lens  # LensModel
    if exif.gps is not None:
        lat, lon, alt = exif.gps
        gps = out.get_ifd(0x8825)
        gps[0x0000] = b"\x02\x03\x00\x00"  # GPSVersionID
        gps[0x0001] = "N" if lat >= 0 else "S"
        gps[0x0002] = _gps_dms(lat)
        gps[0x0003] = "E" if lon >= 0 else "W"
        gps[0x0004] = _gps_dms(lon)
        gps[0x0005] = b"\x00" if alt >= 0 else b"\x01"  # GPSAltitudeRef
        gps[0x0006] = _rational(abs(alt), 100)
    return out


def encode_jpeg(rgb: np.ndarray, exif: SynthExif | None, quality: int = 92) -> bytes:
    """Encode an RGB uint8 image as JPEG bytes (fixed encoder settings), with EXIF when given."""
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    kwargs: dict[str, object] = {"quality": quality, "subsampling": 2, "optimize": False, "progressive": False}
    if exif is not None:
        kwargs["exif"] = build_exif(exif).tobytes()
    img.save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def write_jpeg(path: str | os.PathLike[str], rgb: np.ndarray, exif: SynthExif, quality: int = 92) -> None:
    """Write ``rgb`` as a JPEG with full EXIF (IFD0, Exif IFD, GPS IFD).

    Args:
        path: destination file.
        rgb: H×W×3 uint8 RGB.
        exif: the metadata to embed.
        quality: JPEG quality (4:2:0, baseline, no optimisation: deterministic bytes).
    """
    with open(path, "wb") as fh:
        fh.write(encode_jpeg(rgb, exif, quality))


def mosaic_rggb(rgb: np.ndarray) -> np.ndarray:
    """Mosaic an sRGB uint8 image to a 12-bit linear RGGB CFA (uint16, black 256, white 4095).

    Odd trailing rows/columns are dropped so the pattern tiles exactly.
    """
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    x = rgb[:h, :w].astype(np.float32) / 255.0
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    vals = np.rint(DNG_BLACK + lin * (DNG_WHITE - DNG_BLACK)).astype(np.uint16)
    cfa = np.empty((h, w), np.uint16)
    cfa[0::2, 0::2] = vals[0::2, 0::2, 0]
    cfa[0::2, 1::2] = vals[0::2, 1::2, 1]
    cfa[1::2, 0::2] = vals[1::2, 0::2, 1]
    cfa[1::2, 1::2] = vals[1::2, 1::2, 2]
    return cfa


def _srational_list(values: tuple[float, ...], den: int = 10000) -> tuple[int, ...]:
    out: list[int] = []
    for v in values:
        out.extend((int(round(v * den)), den))
    return tuple(out)


def _frac(value: float, max_den: int) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(max_den)
    return frac.numerator, frac.denominator


def _dng_tags(exif: SynthExif) -> list[tuple[int, int | str, int, object, bool]]:
    matrix = tuple(v for row in _XYZ_TO_SRGB for v in row)
    ascii_tags = {
        0x010F: exif.make,
        0x0110: exif.model,
        0x0132: exif.exif_datetime,
        0x9003: exif.exif_datetime,  # DateTimeOriginal (EXIF tag kept in IFD0, as DNG writers do)
        0x9291: exif.subsec,
        0x9011: exif.offset,
        0xC614: f"{exif.make} {exif.model}",  # UniqueCameraModel
        0xC62F: exif.serial,  # CameraSerialNumber
        0xA431: exif.serial,  # BodySerialNumber
        0xA434: exif.lens,  # LensModel
    }
    tags: list[tuple[int, int | str, int, object, bool]] = [
        (code, "s", 0, value, True) for code, value in ascii_tags.items()
    ]
    tags += [
        (0x00FE, 4, 1, 0, True),  # NewSubfileType: main image
        (0x0112, 3, 1, exif.orientation, True),
        (0x828D, 3, 2, (2, 2), True),  # CFARepeatPatternDim
        (0x828E, 1, 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (0xC612, 1, 4, (1, 4, 0, 0), True),  # DNGVersion
        (0xC613, 1, 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (0xC61A, 3, 1, DNG_BLACK, True),  # BlackLevel
        (0xC61D, 3, 1, DNG_WHITE, True),  # WhiteLevel
        (0xC621, 10, 9, _srational_list(matrix), True),  # ColorMatrix1
        (0xC628, 5, 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral
        (0xC65A, 3, 1, 21, True),  # CalibrationIlluminant1: D65
        (0x829A, 5, 1, _frac(exif.exposure_time, 100000), True),  # ExposureTime
        (0x829D, 5, 1, _frac(exif.f_number, 1000), True),  # FNumber
        (0x8827, 3, 1, exif.iso, True),  # ISOSpeedRatings
        (0x920A, 5, 1, _frac(exif.focal_length, 1000), True),  # FocalLength
    ]
    return tags


def write_dng(path: str | os.PathLike[str], rgb: np.ndarray, exif: SynthExif) -> None:
    """Write ``rgb`` as an uncompressed RGGB Bayer DNG (12-bit in 16-bit words) that LibRaw decodes.

    The camera colour space is linear sRGB (ColorMatrix1 = XYZ→sRGB, AsShotNeutral = 1,1,1), so a
    decode with rawpy gives back colours close to ``rgb``. EXIF fields live in IFD0 as extra tags.

    Args:
        path: destination file (``.dng``).
        rgb: H×W×3 uint8 sRGB.
        exif: the metadata to embed.
    """
    cfa = mosaic_rggb(rgb)
    tifffile.imwrite(
        path,
        cfa,
        photometric=32803,
        compression=None,
        planarconfig=None,
        metadata=None,
        software="rainset.synth",
        byteorder="<",
        bitspersample=16,
        extratags=_dng_tags(exif),
    )
