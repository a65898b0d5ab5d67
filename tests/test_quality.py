"""Quality measures on generated frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rainset.quality import measure_quality
from rainset.records import Frame


def _frame(img: np.ndarray, width: int | None = None, height: int | None = None) -> Frame:
    h, w = img.shape[:2]
    return Frame(image=img, width=width or w, height=height or h, bit_depth=8, format="png", decoder="png")


def _scene(h: int = 750, w: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = np.full((h, w, 3), 110, np.uint8)
    for _ in range(60):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 200)), y + int(rng.integers(10, 200))), colour, -1)
    return img


def test_blur_lowers_sharpness() -> None:
    sharp = _scene()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    q_sharp, q_blur = measure_quality(_frame(sharp)), measure_quality(_frame(blurred))
    assert q_blur.sharpness < q_sharp.sharpness / 4


def test_sharpness_is_scale_independent() -> None:
    big = _scene(1500, 2000)
    small = cv2.resize(big, (1000, 750), interpolation=cv2.INTER_AREA)
    a, b = measure_quality(_frame(big)).sharpness, measure_quality(_frame(small)).sharpness
    assert a == pytest.approx(b, rel=0.15)


def test_clipping() -> None:
    over = np.full((300, 400, 3), 255, np.uint8)
    over[:3] = 100
    q = measure_quality(_frame(over))
    assert q.clip_high == pytest.approx(0.99)
    assert q.clip_low == 0.0
    dark = np.zeros((300, 400, 3), np.uint8)
    dark[:, :100] = 50
    q = measure_quality(_frame(dark))
    assert q.clip_low == pytest.approx(0.75) and q.clip_high == 0.0


def test_megapixels_use_full_resolution() -> None:
    q = measure_quality(_frame(_scene(300, 400), width=4000, height=3000))
    assert q.megapixels == pytest.approx(12.0)
