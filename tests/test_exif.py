"""read_exif: pinned values from real files, broken EXIF, hand-built TIFF blocks."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.capture import read_exif, sniff_format

pytestmark = pytest.mark.fixtures


def _exif(fixtures_dir: Path, rel: str):
    data = (fixtures_dir / rel).read_bytes()
    return read_exif(data, sniff_format(data[:32], rel), rel)


def test_gps_decimal_degrees(fixtures_dir: Path) -> None:
    # exifread by hand: GPSLatitude [43, 28, 1407/500] N, GPSLongitude [11, 53, 645599999/100000000] E
    rec = _exif(fixtures_dir, "exif-samples/jpg/gps/DSCN0010.jpg")
    assert rec.gps_lat == pytest.approx(43 + 28 / 60 + (1407 / 500) / 3600, abs=1e-9)
    assert rec.gps_lat == pytest.approx(43.467448, abs=1e-5)
    assert rec.gps_lon == pytest.approx(11.885127, abs=1e-5)
    assert rec.gps_alt is None
    assert (rec.make, rec.model) == ("NIKON", "COOLPIX P6000")
    assert rec.capture_time == "2008-10-22T16:28:39"


def test_gps_south_west_and_altitude(fixtures_dir: Path) -> None:
    rec = _exif(fixtures_dir, "exif-samples/heic/IMG_5195.HEIC")
    assert rec.gps_lat == pytest.approx(39.051344, abs=1e-5)
    assert rec.gps_lon == pytest.approx(-94.288772, abs=1e-5)  # Ref W -> negative
    assert rec.gps_alt == pytest.approx(260.5606, abs=1e-3)
    kodak = _exif(fixtures_dir, "exif-samples/jpg/Kodak_CX7530.jpg")
    assert kodak.gps_lat is not None and kodak.gps_lat < 0  # Ref S -> negative
    gopro = _exif(fixtures_dir, "gopro-gpr/data/samples/Hero6/GOPR0024.GPR")
    assert gopro.gps_alt is not None and gopro.gps_alt < 0  # AltitudeRef 1 -> below sea level


@pytest.mark.parametrize(
    ("rel", "make", "model"),
    [
        ("exif-samples/jpg/Canon_40D.jpg", "Canon", "Canon EOS 40D"),
        ("exif-samples/jpg/Nikon_D70.jpg", "NIKON CORPORATION", "NIKON D70"),
        ("exif-samples/jpg/Fujifilm_FinePix_E500.jpg", "FUJIFILM", "FinePix E500"),
        ("exif-samples/jpg/Samsung_Digimax_i50_MP3.jpg", "Samsung Techwin", "<Digimax i50 MP3, Samsung #1 MP3>"),
        ("exiftool/t/images/DNG.dng", "Canon", "Canon EOS 350D DIGITAL"),
        ("rawpy/test/RAW_KODAK_DC50_é.KDC", "Eastman Kodak Company", "Kodak Digital Science DC50 Zoom Camera"),
    ],
)
def test_make_model_pinned(fixtures_dir: Path, rel: str, make: str, model: str) -> None:
    rec = _exif(fixtures_dir, rel)
    assert (rec.make, rec.model) == (make, model)


def test_canon_40d_exposure_fields(fixtures_dir: Path) -> None:
    rec = _exif(fixtures_dir, "exif-samples/jpg/Canon_40D.jpg")
    assert rec.exposure_time == pytest.approx(1 / 160)
    assert rec.f_number == pytest.approx(7.1)
    assert rec.iso == 100
    assert rec.focal_length == pytest.approx(135.0)
    assert rec.orientation == 1
    assert rec.capture_time == "2008-05-30T15:56:01.00"
    assert rec.subsec == "00"


def test_capture_time_with_subsec_and_offset_in_dng_ifd0(fixtures_dir: Path) -> None:
    rec = _exif(fixtures_dir, "exiv2/test/data/IMG_1361.dng")
    assert rec.capture_time == "2020-12-29T14:24:45.700-05:00"
    assert (rec.subsec, rec.offset) == ("700", "-05:00")
    assert rec.orientation == 6
    assert rec.lens == "iPhone 12 Pro back triple camera 4.2mm f/1.6"
    z9 = _exif(fixtures_dir, "exif-py/tests/resources/raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng")
    assert z9.serial == "3020326"
    assert z9.capture_time == "2025-08-10T19:02:53.27+03:00"


@pytest.mark.parametrize("n", range(1, 9))
def test_orientation_tags(fixtures_dir: Path, n: int) -> None:
    assert _exif(fixtures_dir, f"exif-samples/jpg/orientation/landscape_{n}.jpg").orientation == n


BROKEN = [
    "exif-samples/jpg/corrupted.jpg",
    "exif-samples/jpg/tests/28-hex_value.jpg",
    "exif-samples/jpg/tests/35-empty.jpg",
    "exif-samples/jpg/tests/42_IndexError.jpg",
    "exif-samples/jpg/tests/87_OSError.jpg",
    "exif-py/tests/resources/jpg/Sony_alpha_a58.JPG",
    "exif-py/tests/resources/jpg/Sony_DSLR-A200.jpg",
    "exif-py/tests/resources/jpg/tests/nikon_D3100_TypeError.jpg",
]


@pytest.mark.parametrize("rel", BROKEN)
def test_broken_exif_gives_partial_record(fixtures_dir: Path, rel: str) -> None:
    rec = _exif(fixtures_dir, rel)
    assert rec.make is not None and rec.model is not None  # the good tags survive the bad ones


def test_invalid_folder_never_raises(fixtures_dir: Path) -> None:
    files = sorted((fixtures_dir / "exif-samples/jpg/invalid").glob("*.jpg"))
    assert len(files) == 7
    for path in files:
        rec = read_exif(path.read_bytes(), "jpeg", path.name)
        assert rec.make is None


def test_no_exif_and_garbage(fixtures_dir: Path) -> None:
    assert _exif(fixtures_dir, "exif-samples/jpg/xmp/no_exif.jpg").make is None
    rec = read_exif(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00II*\x00\xff\xff\xff\xff", "jpeg", "x.jpg")
    assert rec.make is None
    assert read_exif(b"", "unknown", "empty").make is None


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_mutated_exif_never_raises(data: st.DataObject) -> None:
    base = _tiff([(0x010F, 2, b"Canon\x00"), (0x829A, 5, [(1, 100)]), (0x0112, 3, [6])])
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    rec = read_exif(bytes(buf), "tiff", "mutated.tif")
    assert isinstance(rec.warnings, tuple)


# --- hand-built TIFF EXIF blocks -------------------------------------------------------------

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}


def _pack_values(typ: int, values) -> bytes:
    if typ == 2 or typ == 1 and isinstance(values, bytes):
        return bytes(values)
    if typ == 3:
        return b"".join(struct.pack("<H", v) for v in values)
    if typ == 4:
        return b"".join(struct.pack("<I", v) for v in values)
    if typ == 5:
        return b"".join(struct.pack("<II", n, d) for n, d in values)
    return bytes(values)


def _ifd(entries, start: int) -> bytes:
    """One little-endian IFD at offset ``start``, with its out-of-line values after it."""
    entries = sorted(entries)
    head = struct.pack("<H", len(entries))
    extra = b""
    extra_at = start + 2 + 12 * len(entries) + 4
    for tag, typ, values in entries:
        raw = _pack_values(typ, values)
        count = len(raw) // _TYPE_SIZE[typ]
        if len(raw) <= 4:
            head += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
        else:
            head += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
            extra += raw + (b"\x00" if len(raw) % 2 else b"")
    return head + b"\x00\x00\x00\x00" + extra


def _tiff(ifd0, gps=None) -> bytes:
    ifd0 = list(ifd0)
    if gps is None:
        return b"II*\x00" + struct.pack("<I", 8) + _ifd(ifd0, 8)
    probe = _ifd([*ifd0, (0x8825, 4, [0])], 8)
    gps_at = 8 + len(probe)
    return b"II*\x00" + struct.pack("<I", 8) + _ifd([*ifd0, (0x8825, 4, [gps_at])], 8) + _ifd(gps, gps_at)


def test_hand_built_gps_signs_and_altitude() -> None:
    gps = [
        (0x0001, 2, b"S\x00"),
        (0x0002, 5, [(33, 1), (51, 1), (3600, 100)]),
        (0x0003, 2, b"W\x00"),
        (0x0004, 5, [(151, 1), (12, 1), (0, 1)]),
        (0x0005, 1, b"\x01"),
        (0x0006, 5, [(125, 10)]),
    ]
    rec = read_exif(_tiff([(0x010F, 2, b"Test\x00\x00  \x00")], gps), "tiff", "gps.tif")
    assert rec.make == "Test"  # NULs and spaces stripped
    assert rec.gps_lat == pytest.approx(-(33 + 51 / 60 + 36 / 3600))
    assert rec.gps_lon == pytest.approx(-(151 + 12 / 60))
    assert rec.gps_alt == pytest.approx(-12.5)


def test_zero_denominator_is_none_with_warning() -> None:
    data = _tiff([(0x010F, 2, b"Maker\x00"), (0x829A, 5, [(1, 0)]), (0x829D, 5, [(28, 10)])])
    rec = read_exif(data, "tiff", "zero.tif")
    assert rec.make == "Maker"
    assert rec.exposure_time is None
    assert rec.f_number == pytest.approx(2.8)
    assert any("exposure_time" in w and "zero.tif" in w for w in rec.warnings)


def test_empty_strings_and_bad_dates_become_none() -> None:
    data = _tiff([(0x010F, 2, b"   \x00"), (0x0132, 2, b"0000:00:00 00:00:00\x00"), (0x0112, 3, [9])])
    rec = read_exif(data, "tiff", "bad.tif")
    assert rec.make is None
    assert rec.capture_time is None
    assert rec.orientation is None
    assert any("capture_time" in w for w in rec.warnings)
    assert any("orientation" in w for w in rec.warnings)


def test_values_outside_physical_ranges_become_none_with_a_warning() -> None:
    gps = [
        (0x0001, 2, b"N\x00"),
        (0x0002, 5, [(91, 1), (0, 1), (0, 1)]),  # latitude 91°
        (0x0003, 2, b"W\x00"),
        (0x0004, 5, [(4294967295, 1), (0, 1), (0, 1)]),  # longitude -4.29e9°
    ]
    data = _tiff([(0x010F, 2, b"Maker\x00"), (0x829A, 5, [(7200, 1)]), (0x829D, 5, [(28, 10)]),
                  (0x8827, 3, [0]), (0x920A, 5, [(4294967295, 1)])], gps)
    rec = read_exif(data, "tiff", "range.tif")
    assert rec.make == "Maker" and rec.f_number == pytest.approx(2.8)
    assert (rec.gps_lat, rec.gps_lon, rec.exposure_time, rec.focal_length, rec.iso) == (None,) * 5
    for name in ("gps_lat", "gps_lon", "exposure_time", "focal_length"):
        assert any(w.startswith(f"range.tif: {name}:") and "physical range" in w for w in rec.warnings), name
    assert not any(w.startswith("range.tif: iso:") for w in rec.warnings)  # 0 means unknown: no warning


def test_values_inside_physical_ranges_are_kept() -> None:
    gps = [(0x0001, 2, b"N\x00"), (0x0002, 5, [(90, 1), (0, 1), (0, 1)]),
           (0x0003, 2, b"E\x00"), (0x0004, 5, [(180, 1), (0, 1), (0, 1)])]
    data = _tiff([(0x829A, 5, [(3600, 1)]), (0x8827, 3, [64000]), (0x920A, 5, [(10000, 1)])], gps)
    rec = read_exif(data, "tiff", "edge.tif")
    assert (rec.gps_lat, rec.gps_lon, rec.exposure_time, rec.iso, rec.focal_length) == (90.0, 180.0, 3600.0, 64000, 10000.0)
    assert rec.warnings == ()
