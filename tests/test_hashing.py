"""Hashes: pinned values, invariance under recompression/resize, container independence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rainset.capture import decode_working, read_exif, sniff_format
from rainset.hashing import compute_hashes, hamming
from rainset.records import Frame

MAX_PIXELS = 200_000_000


def _frame(data: bytes, name: str) -> Frame:
    fmt = sniff_format(data[:32], name)
    return decode_working(data, name, fmt, orientation=read_exif(data, fmt, name).orientation, max_pixels=MAX_PIXELS)


@pytest.mark.fixtures
def test_pinned_hashes(fixtures_dir: Path) -> None:
    rel = "nlcl-realrain/datasets/RealRain/valA/Eg1.JPG"
    h = compute_hashes(_frame((fixtures_dir / rel).read_bytes(), rel))
    assert h.phash == "fe82fc83b01f8478"
    assert h.dhash == "4d4d6a601350323a"
    assert len(h.pixel_hash) == 32 and int(h.pixel_hash, 16) >= 0
    assert len(h.thumb) == 64 * 48


@pytest.mark.fixtures
def test_pinned_phash_matches_png_original(fixtures_dir: Path) -> None:
    # SOURCES.md: valA/Eg1.JPG is a JPEG re-encode of trainA/Eg1.png (group D02)
    png = compute_hashes(_frame((fixtures_dir / "nlcl-realrain/datasets/RealRain/trainA/Eg1.png").read_bytes(), "Eg1.png"))
    jpg = compute_hashes(_frame((fixtures_dir / "nlcl-realrain/datasets/RealRain/valA/Eg1.JPG").read_bytes(), "Eg1.JPG"))
    assert hamming(png.phash, jpg.phash) <= 6


@pytest.mark.fixtures
@pytest.mark.parametrize(
    "rel",
    ["exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/jpg/tests/42_IndexError.jpg", "deraindrop/demo/input/case1.jpg"],
)
def test_recompress_and_half_size_invariance(fixtures_dir: Path, rel: str) -> None:
    data = (fixtures_dir / rel).read_bytes()
    frame = _frame(data, rel)
    full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    half = cv2.resize(full, (full.shape[1] // 2, full.shape[0] // 2), interpolation=cv2.INTER_AREA)
    again = cv2.imencode(".jpg", half, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()
    a, b = compute_hashes(frame), compute_hashes(_frame(again, "again.jpg"))
    assert hamming(a.phash, b.phash) <= 6
    assert hamming(a.dhash, b.dhash) <= 12


def test_same_pixels_png_and_tiff_hash_alike() -> None:
    rng = np.random.default_rng(7)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (7, 7), 0)
    png = compute_hashes(_frame(cv2.imencode(".png", bgr)[1].tobytes(), "a.png"))
    tif = compute_hashes(_frame(cv2.imencode(".tiff", bgr)[1].tobytes(), "a.tiff"))
    assert png == tif
    other = bgr.copy()
    other[:150] = 255 - other[:150]
    assert compute_hashes(_frame(cv2.imencode(".png", other)[1].tobytes(), "b.png")).pixel_hash != png.pixel_hash


def test_thumb_is_grey_64x48() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    img[:, 320:] = 200
    h = compute_hashes(Frame(image=img, width=640, height=480, bit_depth=8, format="png", decoder="png"))
    thumb = np.frombuffer(h.thumb, np.uint8).reshape(48, 64)
    assert thumb[:, :32].max() == 0 and thumb[:, 32:].min() == 200


def test_hamming_hand_worked() -> None:
    assert hamming("0000000000000000", "0000000000000000") == 0
    assert hamming("0000000000000000", "000000000000000f") == 4
    assert hamming("8000000000000001", "0000000000000000") == 2
    assert hamming("ffffffffffffffff", "0000000000000000") == 64
    assert hamming("fe82fc87b01f8078", "fe82fc87b01f8079") == 1
    assert hamming("a5a5a5a5a5a5a5a5", "5a5a5a5a5a5a5a5a") == 64
    with pytest.raises(ValueError):
        hamming("abc", "0000000000000000")
    with pytest.raises(ValueError):
        hamming("zzzzzzzzzzzzzzzz", "0000000000000000")
