"""The scipy-free pHash (rainset.hashing.phash_hex) gives imagehash's own value on every image.

Stored pHashes must not change: ``phash_hex`` computes the 8x8 DCT corner with two matrix
products and falls back to ``imagehash.phash`` when a coefficient is near the median.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from rainset import hashing
from rainset.hashing import compute_hashes, phash_hex
from rainset.records import Frame


def _grey_images() -> list[np.ndarray]:
    rng = np.random.default_rng(19)
    out = [rng.integers(0, 256, (h, w), dtype=np.uint8) for h, w in ((32, 32), (250, 333), (333, 250), (90, 40))]
    y, x = np.mgrid[0:250, 0:333]
    out += [
        np.zeros((250, 333), np.uint8),  # flat: every AC coefficient ties at 0
        np.full((250, 333), 200, np.uint8),
        (x * 255 // 332).astype(np.uint8),  # horizontal ramp: exact zeros in whole rows of the DCT
        (y * 255 // 249).astype(np.uint8),
        (((x // 20) + (y // 20)) % 2 * 255).astype(np.uint8),  # checkerboard
        np.where(x < 166, 30, 220).astype(np.uint8),  # two halves
        ((np.sin(x / 7.0) + np.cos(y / 11.0)) * 60 + 128).astype(np.uint8),
        (rng.normal(128, 3, (250, 333)).clip(0, 255)).astype(np.uint8),  # near-flat noise
    ]
    for _ in range(40):  # smooth random fields, like downsized photographs
        small = rng.integers(0, 256, (6, 8)).astype(np.float32)
        out.append(cv2.resize(small, (333, 250), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8))
    return out


def test_phash_hex_equals_imagehash_on_varied_images() -> None:
    images = _grey_images()
    for arr in images:
        pil = Image.fromarray(arr, mode="L")
        assert phash_hex(pil) == str(imagehash.phash(pil)), arr.shape


def test_flat_image_takes_imagehash_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = imagehash.phash

    def counting(img: Image.Image) -> imagehash.ImageHash:
        calls.append(1)
        return real(img)

    monkeypatch.setattr(hashing.imagehash, "phash", counting)
    flat = Image.fromarray(np.full((250, 333), 90, np.uint8), mode="L")
    assert phash_hex(flat) == str(real(flat))
    assert calls == [1]  # a tie at the median: decided by imagehash (scipy), as before
    rng = np.random.default_rng(3)
    noisy = Image.fromarray(rng.integers(0, 256, (250, 333), dtype=np.uint8), mode="L")
    assert phash_hex(noisy) == str(real(noisy))
    assert calls == [1]  # no tie: the matrix products decide, without scipy


@pytest.mark.fixtures
def test_phash_hex_equals_imagehash_on_real_photos(fixtures_dir: Path) -> None:
    paths = sorted(p for p in fixtures_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:60]
    if not paths:
        pytest.skip("no JPEG/PNG fixtures")
    checked = 0
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            continue
        frame = Frame(image=cv2.cvtColor(img, cv2.COLOR_BGR2RGB), width=img.shape[1], height=img.shape[0],
                      bit_depth=8, format="jpeg", decoder="test")
        factor = max(img.shape[:2]) // hashing.HASH_SIDE  # as compute_hashes shrinks it
        small = frame.image if factor < 2 else cv2.resize(frame.image, None, fx=1 / factor, fy=1 / factor,
                                                          interpolation=cv2.INTER_AREA)
        pil = Image.fromarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), mode="L")
        assert compute_hashes(frame).phash == str(imagehash.phash(pil)), p.name
        checked += 1
    assert checked >= 10
