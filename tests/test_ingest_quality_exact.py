"""The quicker ways of computing stored quality values and the blank-frame check give exactly what
the direct ways give (rainset.quality.laplacian_variance, rainset.capture.checks.check_not_blank)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rainset.capture.checks import check_not_blank
from rainset.errors import RejectError
from rainset.quality import laplacian_variance


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:384, 0:512]
    checker = (((x + y) % 2) * 255).astype(np.uint8)  # the Laplacian's extremes, +-1020
    smooth = ((np.sin(x / 17.0) + np.cos(y / 23.0) + 2) * 63).astype(np.uint8)
    return [rng.integers(0, 256, (384, 512), dtype=np.uint8), checker, smooth,
            rng.integers(0, 256, (7, 3), dtype=np.uint8), np.full((40, 30), 200, np.uint8)]


@pytest.mark.parametrize("index", range(5))
def test_laplacian_variance_is_the_float64_laplacians_variance(index: int) -> None:
    grey = _images()[index]
    assert laplacian_variance(grey) == float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _old_not_blank(image: np.ndarray) -> str | None:
    """The check as it was (subsample the H×W×C frame, then split it), as a reason or None."""
    step = max(1, max(image.shape[:2]) // 256)
    image = np.ascontiguousarray(image[::step, ::step])
    channels = cv2.split(image) if image.ndim == 3 else [image]
    if max(int(c.max()) - int(c.min()) for c in channels) <= 2:
        return "constant"
    brightest = channels[0]
    for c in channels[1:]:
        brightest = cv2.max(brightest, c)
    if 1.0 - cv2.countNonZero(brightest) / brightest.size > 0.95:
        return "zero"
    if max(float(cv2.meanStdDev(c)[1][0, 0]) for c in channels) < 1.0:
        return "near-constant"
    return None


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (750, 1000, 3), dtype=np.uint8)
    dark = np.zeros((600, 800, 3), np.uint8)
    dark[:10, :10] = 255
    near = np.full((500, 700, 3), 90, np.uint8)
    near[::3, ::3, 1] += rng.integers(0, 2, near[::3, ::3, 1].shape, dtype=np.uint8) * 3
    return [photo, dark, near, np.full((300, 300, 3), 7, np.uint8), photo[:, :, 0].copy(),
            rng.integers(0, 256, (260, 900, 4), dtype=np.uint8)]


@pytest.mark.parametrize("index", range(6))
def test_blank_check_decides_as_before(index: int) -> None:
    frame = _frames()[index]
    want = _old_not_blank(frame)
    try:
        check_not_blank(frame)
        got = None
    except RejectError as exc:
        assert exc.reason == "blank-frame"
        got = "constant" if "constant frame" in exc.detail and "near" not in exc.detail else (
            "zero" if "exactly zero" in exc.detail else "near-constant")
    assert got == want
