"""Sniffing and decoding: real fixtures, generated images, and every reject reason we raise."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from rainset.capture import RAW_EXTENSIONS, decode_full, decode_working, make_preview, read_exif, sniff_format
from rainset.errors import REJECT_REASONS, RejectError
from rainset.records import Frame

MAX_PIXELS = 200_000_000


def _decode(data: bytes, name: str, **kw) -> Frame:
    fmt = sniff_format(data[:32], name)
    orientation = read_exif(data, fmt, name).orientation
    return decode_working(data, name, fmt, orientation=orientation, max_pixels=kw.pop("max_pixels", MAX_PIXELS), **kw)


def _reject(data: bytes, name: str, **kw) -> RejectError:
    with pytest.raises(RejectError) as info:
        _decode(data, name, **kw)
    assert info.value.reason in REJECT_REASONS
    assert name in str(info.value)  # the message names the file
    return info.value


def _texture(h: int, w: int, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A smooth but non-constant BGR test image."""
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=2) * top * 0.8
    noise = rng.integers(0, top // 10, size=(h, w, 3))
    return np.clip(base + noise, 0, top).astype(dtype)


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


# --- sniff ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "name", "fmt"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "a.jpg", "jpeg"),
        (b"\xff\xd8\xff\xe1", "a.CR2", "jpeg"),  # content wins over the extension
        (b"\x89PNG\r\n\x1a\n", "a.png", "png"),
        (b"II*\x00\x08\x00\x00\x00", "a.tif", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "a.TIFF", "tiff"),
        (b"II*\x00\x08\x00\x00\x00", "a.DNG", "raw"),
        (b"II*\x00\x08\x00\x00\x00", "a.nef", "raw"),
        (b"FUJIFILMCCD-RAW 0201", "a.bin", "raw"),
        (b"IIRO\x08\x00\x00\x00", "a.orf", "raw"),
        (b"IIU\x00\x08\x00\x00\x00", "a.rw2", "raw"),
        (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01", "a.cr3", "raw"),
        (b"II\x1a\x00\x00\x00HEAPCCDR", "a.crw", "raw"),
        (b"\x00MRM\x00\x00", "a.mrw", "raw"),
        (b"FOVb\x00\x00", "a.x3f", "raw"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "a.HEIC", "heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00", "a.heif", "heic"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "a.mp4", "unknown"),
        (b"\x13\x37random", "x.CR2", "raw"),
        (b"\x13\x37random", "x.jpg", "unknown"),
        (b"GIF89a", "a.gif", "unknown"),
        (b"", "empty.txt", "unknown"),
    ],
)
def test_sniff(head: bytes, name: str, fmt: str) -> None:
    assert sniff_format(head, name) == fmt


def test_raw_extensions() -> None:
    for ext in (".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".kdc", ".gpr", ".x3f"):
        assert ext in RAW_EXTENSIONS
    assert ".jpg" not in RAW_EXTENSIONS and all(e == e.lower() and e.startswith(".") for e in RAW_EXTENSIONS)


# --- real files that decode ----------------------------------------------------------------


@pytest.mark.fixtures
def test_orientations_decode_upright(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "exif-samples/jpg/orientation"
    greys = []
    for n in range(1, 9):
        frame = _decode((folder / f"landscape_{n}.jpg").read_bytes(), f"landscape_{n}.jpg")
        assert (frame.width, frame.height) == (600, 450)
        assert frame.image.shape == (450, 600, 3) and frame.image.dtype == np.uint8
        grey = cv2.resize(cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY), (60, 45), interpolation=cv2.INTER_AREA)
        greys.append(grey.astype(np.float32))
    ref = greys[0].ravel()
    # landscape_1 was encoded brighter than the others: compare it by correlation ...
    assert np.corrcoef(cv2.flip(greys[0], 1).ravel(), ref)[0, 1] < 0.7  # a wrong transform is far off
    for n, grey in enumerate(greys[1:], start=2):
        assert np.corrcoef(grey.ravel(), ref)[0, 1] > 0.97, f"landscape_{n} not upright"
        # ... and 2..8 (same encoding) by mean absolute difference
        assert np.abs(grey - greys[1]).mean() < 4, f"landscape_{n} differs from landscape_2"


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("rel", "decoder", "size", "working"),
    [
        ("exif-samples/jpg/tests/42_IndexError.jpg", "jpeg-reduced-4", (4032, 3024), (1008, 756)),
        ("exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg", "jpeg-reduced-2", (2048, 1536), (1024, 768)),
        ("exif-samples/jpg/hdr/canon_hdr_NO.jpg", "jpeg-reduced-2", (1536, 2048), (768, 1024)),  # orientation 6
        ("exif-samples/jpg/gps/DSCN0010.jpg", "jpeg-full", (640, 480), (640, 480)),
        ("exif-samples/jpg/invalid/image01713.jpg", "jpeg-full", (49, 500), (49, 500)),
        ("nlcl-realrain/datasets/RealRain/trainA/Eg1.png", "png", (1024, 512), (1024, 512)),
        ("exif-samples/tiff/BSG1.tiff", "tiff", (635, 348), (635, 348)),
        ("exif-samples/tiff/Arbitro.tiff", "tiff", (174, 38), (174, 38)),  # RGBA: alpha dropped
        ("rawpy/test/RAW_KODAK_DC50_é.KDC", "raw-half", (768, 512), (384, 256)),
    ],
)
def test_real_files_decode(fixtures_dir: Path, rel: str, decoder: str, size, working) -> None:
    frame = _decode((fixtures_dir / rel).read_bytes(), rel)
    assert frame.decoder == decoder
    assert (frame.width, frame.height) == size
    assert (frame.image.shape[1], frame.image.shape[0]) == working
    assert frame.image.ndim == 3 and frame.image.shape[2] == 3 and frame.image.dtype == np.uint8
    assert frame.image.std() > 5


@pytest.mark.fixtures
def test_kodak_raw(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "rawpy/test/RAW_KODAK_DC50_é.KDC").read_bytes()
    frame = _decode(data, "RAW_KODAK_DC50_é.KDC")
    assert frame.format == "raw" and frame.bit_depth == 14
    assert np.count_nonzero(frame.image) / frame.image.size > 0.9  # all pixels populated
    full = decode_full(data, "RAW_KODAK_DC50_é.KDC", "raw", orientation=1, max_pixels=MAX_PIXELS)
    assert full.shape == (512, 768, 3) and full.dtype == np.uint16


# --- real files that must be rejected --------------------------------------------------------

PROBLEM_FILES = [
    ("exiftool/t/images/CanonRaw.cr2", "decode-failed"),  # LibRaw: unsupported
    ("exiftool/t/images/CanonRaw.cr3", "truncated"),
    ("exiftool/t/images/CanonRaw.crw", "truncated"),
    ("exiftool/t/images/DNG.dng", "truncated"),  # LibRaw "decodes" it to zeros/junk
    ("exiftool/t/images/FujiFilm.raf", "truncated"),
    ("exiftool/t/images/KyoceraRaw.raw", "truncated"),
    ("exiftool/t/images/Minolta.mrw", "truncated"),
    ("exiftool/t/images/Nikon.nef", "truncated"),
    ("exiftool/t/images/Panasonic.rw2", "truncated"),  # LibRaw "decodes" it to zeros
    ("exiftool/t/images/PhaseOne.iiq", "truncated"),
    ("exiftool/t/images/Sigma.x3f", "truncated"),
    ("exiftool/t/images/SigmaDP2.x3f", "truncated"),
    ("exiftool/t/images/ExifTool.tif", "blank-frame"),  # TIFF stub: pixel data stripped
    ("exiftool/t/images/GPS.jpg", "blank-frame"),
    ("exiv2/test/data/IMG_1361.dng", "truncated"),  # LibRaw "decodes" it to zeros
    ("file-type/fixture/fixture-Leica-M10.dng", "truncated"),  # LibRawIOError
    ("file-type/fixture/fixture-sony-zv-e10.arw", "decode-failed"),  # LibRaw: unsupported
    ("gopro-gpr/data/samples/Hero6/GOPR0024.GPR", "decode-failed"),  # VC-5: no GoPro SDK in LibRaw
    ("exif-py/tests/resources/raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng", "truncated"),
    ("exif-py/tests/resources/raw/sony_alpha_a7iii_raw_image.ARW", "truncated"),
    ("exif-py/tests/resources/jpg/Sony_alpha_a58.JPG", "blank-frame"),
    ("exif-samples/jpg/tests/67-0_length_string.jpg", "blank-frame"),
]


@pytest.mark.fixtures
@pytest.mark.parametrize(("rel", "reason"), PROBLEM_FILES)
def test_problem_files_rejected(fixtures_dir: Path, rel: str, reason: str) -> None:
    name = Path(rel).name
    err = _reject((fixtures_dir / rel).read_bytes(), name)
    assert err.reason == reason, err.detail


@pytest.mark.fixtures
def test_stub_detail_names_sizes(fixtures_dir: Path) -> None:
    err = _reject((fixtures_dir / "exiftool/t/images/DNG.dng").read_bytes(), "DNG.dng")
    assert "13662 bytes" in err.detail and "3516x2328" in err.detail


@pytest.mark.fixtures
def test_problem_files_rejected_by_decode_full(fixtures_dir: Path) -> None:
    for rel, reason in PROBLEM_FILES[:4]:
        data = (fixtures_dir / rel).read_bytes()
        with pytest.raises(RejectError) as info:
            decode_full(data, rel, sniff_format(data[:32], rel), orientation=None, max_pixels=MAX_PIXELS)
        assert info.value.reason == reason


@pytest.mark.fixtures
def test_truncated_jpeg(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "exif-samples/jpg/gps/DSCN0010.jpg").read_bytes()
    cut = data[: int(len(data) * 0.6)]
    assert _reject(cut, "cut.jpg").reason == "truncated"
    assert _decode(data, "whole.jpg").decoder == "jpeg-full"  # the whole file is fine


def test_truncated_png() -> None:
    data = _png(_texture(200, 300))
    assert _reject(data[: len(data) // 2], "cut.png").reason == "truncated"


def test_empty_random_and_unknown() -> None:
    assert _reject(b"", "zero.jpg").reason == "empty-file"
    rng = np.random.default_rng(1)
    assert _reject(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(), "x.CR2").reason == "decode-failed"
    with pytest.raises(RejectError) as info:
        decode_working(b"GIF89a....", "a.gif", "unknown", orientation=None, max_pixels=MAX_PIXELS)
    assert info.value.reason == "unsupported-format"


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + iend


def test_too_large_before_decode() -> None:
    err = _reject(_png_header_only(100_000, 100_000), "bomb.png")
    assert err.reason == "too-large"
    assert "100000x100000" in err.detail
    small = _png(_texture(300, 400))
    assert _reject(small, "small.png", max_pixels=100_000).reason == "too-large"
    assert _decode(small, "small.png", max_pixels=120_000).width == 400


def test_blank_frames() -> None:
    const = np.full((300, 400, 3), (30, 120, 200), np.uint8)
    assert _reject(_png(const), "const.png").reason == "blank-frame"
    jpeg = cv2.imencode(".jpg", const, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    assert _reject(jpeg, "const.jpg").reason == "blank-frame"
    mostly_zero = np.zeros((300, 400, 3), np.uint8)
    mostly_zero[:10] = _texture(10, 400)  # 3% of rows carry junk, the rest is zero
    assert _reject(_png(mostly_zero), "zeros.png").reason == "blank-frame"
    # a dark but real image passes
    dark = (_texture(300, 400) // 8).astype(np.uint8)
    assert _decode(_png(dark), "dark.png").decoder == "png"


# --- generated PNG / TIFF -------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".png", ".tiff"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_tiff_bit_depths(ext: str, dtype) -> None:
    bgr = _texture(240, 320, dtype=dtype)
    data = cv2.imencode(ext, bgr)[1].tobytes()
    name = f"gen{ext}"
    frame = _decode(data, name)
    depth = 16 if dtype == np.uint16 else 8
    assert frame.bit_depth == depth
    assert frame.decoder == ext[1:4].replace("tif", "tiff")
    expected = bgr[:, :, ::-1] if depth == 8 else (bgr[:, :, ::-1] >> 8).astype(np.uint8)
    assert np.array_equal(frame.image, expected)
    full = decode_full(data, name, sniff_format(data[:32], name), orientation=None, max_pixels=MAX_PIXELS)
    assert full.dtype == dtype and np.array_equal(full, bgr[:, :, ::-1])


def test_grey_and_rgba_png_become_rgb() -> None:
    grey = cv2.cvtColor(_texture(100, 150), cv2.COLOR_BGR2GRAY)
    frame = _decode(_png(grey), "grey.png")
    assert frame.image.shape == (100, 150, 3) and np.array_equal(frame.image[:, :, 0], grey)
    bgra = np.dstack([_texture(100, 150), np.zeros((100, 150), np.uint8)])
    frame = _decode(_png(bgra), "rgba.png")
    assert frame.image.shape == (100, 150, 3) and np.array_equal(frame.image, bgra[:, :, 2::-1])


def test_large_png_downscaled_and_tiff_orientation() -> None:
    big = _texture(1800, 2400)
    frame = _decode(_png(big), "big.png")
    assert (frame.width, frame.height) == (2400, 1800) and frame.image.shape == (900, 1200, 3)
    data = cv2.imencode(".tiff", _texture(200, 300))[1].tobytes()
    turned = decode_working(data, "t.tif", "tiff", orientation=6, max_pixels=MAX_PIXELS)
    assert (turned.width, turned.height) == (200, 300) and turned.image.shape == (300, 200, 3)


def test_grey_jpeg_becomes_rgb_and_reduced_sizes() -> None:
    grey = cv2.cvtColor(_texture(2001, 3001), cv2.COLOR_BGR2GRAY)
    data = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    frame = _decode(data, "grey.jpg")
    assert frame.decoder == "jpeg-reduced-2"
    assert frame.image.shape == (1001, 1501, 3)  # ceil(2001/2), ceil(3001/2)
    assert _decode(data, "grey.jpg", min_side=300).decoder == "jpeg-reduced-8"
    full = decode_full(data, "grey.jpg", "jpeg", orientation=8, max_pixels=MAX_PIXELS)
    assert full.shape == (3001, 2001, 3) and full.dtype == np.uint8


# --- HEIC ----------------------------------------------------------------------------------

HEIC_FILES = [
    ("exif-samples/heic/IMG_5195.HEIC", (2566, 3313), (1283, 1657)),
    ("exif-samples/heic/samplefilehub.heif", (640, 426), (640, 426)),
    ("exif-py/tests/resources/heic/spring_1440x960.heic", (1440, 960), (1440, 960)),
]


@pytest.mark.fixtures
@pytest.mark.parametrize(("rel", "size", "working"), HEIC_FILES)
def test_heic_decodes(fixtures_dir: Path, rel: str, size, working) -> None:
    pytest.importorskip("pillow_heif")
    data = (fixtures_dir / rel).read_bytes()
    assert sniff_format(data[:32], rel) == "heic"
    frame = _decode(data, rel)
    assert frame.decoder == "heic" and (frame.width, frame.height) == size
    assert (frame.image.shape[1], frame.image.shape[0]) == working
    assert frame.image.std() > 10


@pytest.mark.fixtures
def test_heic_missing_decoder(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif -> ImportError
    data = (fixtures_dir / HEIC_FILES[1][0]).read_bytes()
    err = _reject(data, "samplefilehub.heif")
    assert err.reason == "missing-decoder"
    assert 'pip install "rainset[heif]"' in err.detail


# --- preview --------------------------------------------------------------------------------


def test_preview_never_upscales() -> None:
    frame = _decode(_png(_texture(1800, 2400)), "big.png")
    big = cv2.imdecode(np.frombuffer(make_preview(frame, max_side=512), np.uint8), cv2.IMREAD_COLOR)
    assert big.shape == (384, 512, 3)
    small = _decode(_png(_texture(90, 120)), "small.png")
    out = cv2.imdecode(np.frombuffer(make_preview(small), np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == (90, 120, 3)
    assert make_preview(small)[:3] == b"\xff\xd8\xff"


@pytest.mark.fixtures
def test_libraw_output_on_stubs_is_caught_as_blank(fixtures_dir: Path) -> None:
    """LibRaw "succeeds" on this stub with an all-zero frame; the size check stops it first, the
    blank check would too. (On Panasonic.rw2 / DNG.dng LibRaw returns non-zero junk that no blank
    check sees: only the bytes-per-pixel check rejects those.)"""
    rel = "exiv2/test/data/IMG_1361.dng"
    import io

    import rawpy

    from rainset.capture.checks import check_not_blank

    with rawpy.imread(io.BytesIO((fixtures_dir / rel).read_bytes())) as raw:
        junk = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    with pytest.raises(RejectError) as info:
        check_not_blank(junk)
    assert info.value.reason == "blank-frame"


@pytest.mark.fixtures
@pytest.mark.parametrize(
    ("rel", "keep", "reason"),
    [
        ("exif-samples/jpg/gps/DSCN0010.jpg", 20, "truncated"),  # cut inside the header
        ("nlcl-realrain/datasets/RealRain/trainA/Eg1.png", 30, "truncated"),  # cut inside IHDR
        ("exif-samples/tiff/BSG1.tiff", 0.5, "truncated"),  # first IFD past the end
        ("rawpy/test/RAW_KODAK_DC50_é.KDC", 0.5, "truncated"),  # LibRawIOError
        ("exif-samples/heic/samplefilehub.heif", 0.5, "truncated"),  # libheif: unexpected end of file
        ("exif-samples/heic/samplefilehub.heif", 200, "decode-failed"),  # no meta box
    ],
)
def test_cut_fixtures(fixtures_dir: Path, rel: str, keep: float, reason: str) -> None:
    data = (fixtures_dir / rel).read_bytes()
    cut = data[: int(len(data) * keep) if keep < 1 else int(keep)]
    if sniff_format(data[:32], rel) == "heic":
        pytest.importorskip("pillow_heif")
    assert _reject(cut, Path(rel).name).reason == reason


@pytest.mark.fixtures
def test_raw_thumbnail_path(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "rawpy/test/RAW_KODAK_DC50_é.KDC").read_bytes()
    frame = _decode(data, "kodak.kdc", min_side=64)  # its 96x64 embedded bitmap is big enough now
    assert frame.decoder == "raw-thumb"
    assert frame.image.shape == (64, 96, 3) and (frame.width, frame.height) == (768, 512)


def test_grey_filled_jpeg_is_kept_with_a_warning(fixtures_dir) -> None:
    """corrupted.jpg has its EOI marker but its data ends one MCU row early: libjpeg fills grey."""
    data = (fixtures_dir / "exif-samples/jpg/corrupted.jpg").read_bytes()
    frame = decode_working(data, "corrupted.jpg", "jpeg", orientation=None, max_pixels=10**9)
    assert len(frame.warnings) == 1 and "grey fill" in frame.warnings[0]


def test_mostly_grey_filled_jpeg_is_truncated() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    img[100:] = 128  # what libjpeg leaves when most of the scan data is missing
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    with pytest.raises(RejectError) as info:
        decode_working(data, "grey.jpg", "jpeg", orientation=None, max_pixels=10**9)
    assert info.value.reason == "truncated" and "grey fill" in info.value.detail
