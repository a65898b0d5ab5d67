"""Quality measures of a working frame: they become flags later, never drops."""

from __future__ import annotations

import cv2
import numpy as np

from rainset.imageops import fit_long_side
from rainset.records import Frame, Quality

SHARPNESS_SIDE = 512
CLIP_LOW = 2
CLIP_HIGH = 253


def measure_quality(frame: Frame) -> Quality:
    """Measure sharpness, clipping and size of one working frame.

    Args:
        frame: the working frame (RGB uint8, upright).

    Returns:
        Quality: ``sharpness`` is the variance of the Laplacian of the grey image resized to a
        long side of 512 (so it does not depend on the working size); ``clip_low``/``clip_high``
        are the fractions of grey pixels <= 2 and >= 253; ``megapixels`` is the full-resolution
        width × height / 1e6.
    """
    img = frame.image
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    small = fit_long_side(grey, SHARPNESS_SIDE, enlarge=True)
    n = float(grey.size)
    return Quality(
        sharpness=laplacian_variance(small),
        clip_low=float(np.count_nonzero(grey <= CLIP_LOW)) / n,
        clip_high=float(np.count_nonzero(grey >= CLIP_HIGH)) / n,
        megapixels=frame.width * frame.height / 1e6,
    )


def laplacian_variance(grey: np.ndarray) -> float:
    """``cv2.Laplacian(grey, cv2.CV_64F).var()`` of a uint8 grey image, the same float.

    The 3x3 Laplacian of uint8 pixels is an integer in [-1020, 1020], so OpenCV computes it exactly
    in int16 (a vectorised path, about half the time of the float64 one) and the float64 copy holds
    the very values the float64 Laplacian would: numpy's variance of the two arrays is the same.
    """
    if grey.dtype != np.uint8:
        return float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return float(cv2.Laplacian(grey, cv2.CV_16S).astype(np.float64).var())
