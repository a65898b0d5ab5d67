"""Lens droplets: round blobs with a circular edge, a few percent of the frame across.

A water drop on the lens (or on the window in front of it) is far out of focus: a soft disc
showing a blurred view of the scene, usually ringed by a brighter or darker rim. Its outline is
a near-perfect circle, which scene content rarely is (windows are rectangles, foliage is ragged,
rain streaks are lines). At a 256-px long side, OpenCV's gradient Hough transform
(``HOUGH_GRADIENT_ALT``) finds circles of radius ``_MIN_RADIUS`` to ``_MAX_RADIUS`` × the short
side (16 px up to a fifth of the frame at the 1024-px working size) whose edge is at least
``_PERFECTNESS`` perfect (1 = a perfect circle).

The score is the fraction of the frame covered by the detected discs, 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

_MIN_RADIUS = 4
_MAX_RADIUS = 0.2
_PERFECTNESS = 0.8
_EDGE = 60  # Canny upper threshold on the 8-bit luminance


def droplet_score(y: np.ndarray) -> float:
    """Fraction (0..1) of the frame covered by lens-droplet discs; ``y`` is luminance (0..1) at 256 px."""
    h, w = y.shape
    lo, hi = float(y.min()), float(y.max())
    if hi - lo < 1e-3:
        return 0.0
    u8 = np.clip((y - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)  # signed rain layers too
    circles = cv2.HoughCircles(u8, cv2.HOUGH_GRADIENT_ALT, 1.5, 2 * _MIN_RADIUS, param1=_EDGE,
                               param2=_PERFECTNESS, minRadius=_MIN_RADIUS,
                               maxRadius=max(_MIN_RADIUS + 1, int(_MAX_RADIUS * min(h, w))))
    if circles is None:
        return 0.0
    mask = np.zeros((h, w), np.uint8)
    for x, yy, r in circles[0]:
        cv2.circle(mask, (int(round(x)), int(round(yy))), int(round(r)), 1, -1)
    return float(mask.mean())
