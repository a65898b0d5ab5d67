"""A dark passer-by for synthetic static-camera footage: the moving object the pairs masks must find.

Used by the pairs tests and ``bench/pairs_background.py`` (one home for the figure).
"""

from __future__ import annotations

import cv2
import numpy as np

PERSON_RGB = (34.0, 30.0, 28.0)


def passer_by(shape: tuple[int, int], i: int, n: int) -> np.ndarray | None:
    """Coverage (H×W float32, 0..1) of a dark figure walking left to right across the middle third
    of an ``n``-frame clip (head, body, two legs; 45 % of the frame high), None outside that third."""
    start, stop = n // 3, 2 * n // 3
    if not start <= i < stop:
        return None
    h, w = shape
    fh = 0.45 * h
    fw = 0.3 * fh
    x = -fw + (w + 2 * fw) * (i - start + 0.5) / (stop - start)
    y = 0.9 * h  # feet
    a = np.zeros((h, w), np.float32)
    s = 16  # 4 fractional bits

    def pt(px: float, py: float) -> tuple[int, int]:
        return int(round(px * s)), int(round(py * s))

    cv2.ellipse(a, pt(x, y - 0.9 * fh), (int(0.12 * fw * s), int(0.1 * fh * s)), 0, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    cv2.ellipse(a, pt(x, y - 0.58 * fh), (int(0.5 * fw * s), int(0.24 * fh * s)), 0, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    swing = 0.25 * fw * np.sin(i * 1.3)
    for side in (-1, 1):
        cv2.line(a, pt(x + side * 0.15 * fw, y - 0.4 * fh), pt(x + side * swing, y), 1.0,
                 max(1, int(0.22 * fw)), cv2.LINE_AA, 4)
    return np.clip(a, 0.0, 1.0)
