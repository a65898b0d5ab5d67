"""Small image operations shared by previews, quality, shards and the rain measurements."""

from __future__ import annotations

import cv2
import numpy as np


def fit_long_side(img: np.ndarray, side: int | None, *, enlarge: bool = False) -> np.ndarray:
    """``img`` resized so that its long side is ``side`` pixels, aspect kept.

    Shrinks with ``INTER_AREA`` (a box average: no aliasing); enlarges with ``INTER_LINEAR`` only when
    ``enlarge`` is true, else an image already small enough comes back as it is. ``side=None``
    means no limit. Sizes round to the nearest pixel, at least 1.
    """
    h, w = img.shape[:2]
    if side is None:
        return img
    scale = side / max(h, w)
    if scale == 1.0 or (scale > 1.0 and not enlarge):
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)
