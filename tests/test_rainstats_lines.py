"""Line integration per tile (rainset.rainstats.lines): long faint lines against dashes and scene edges."""

from __future__ import annotations

import math

import cv2
import numpy as np

from rainset.rainstats.lines import ANGLES, line_stats

H, W = 480, 640


def _noise(seed: int) -> np.ndarray:
    return (0.4 + 0.02 * np.random.default_rng(seed).standard_normal((H, W))).astype(np.float32)


def _segments(img: np.ndarray, seed: int, count: int, length: float, amplitude: float, angle: float) -> np.ndarray:
    """``img`` with ``count`` 1-px segments of ``length`` px added at about ``angle``° from vertical."""
    rng = np.random.default_rng(seed)
    layer = np.zeros_like(img)
    for _ in range(count):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        a = math.radians(angle + rng.normal(0.0, 1.0))
        dx, dy = math.sin(a) * length / 2, math.cos(a) * length / 2
        cv2.line(layer, (round(x - dx), round(y - dy)), (round(x + dx), round(y + dy)), 1.0, 1, cv2.LINE_8)
    return img + amplitude * layer


def _edges(img: np.ndarray) -> np.ndarray:
    """A scene of a few strong straight edges in several directions: two blocks and four thin lines."""
    out = img.copy()
    cv2.rectangle(out, (60, 200), (220, 479), 0.2, -1)
    cv2.rectangle(out, (400, 120), (560, 479), 0.7, -1)
    for p, q in (((300, 0), (300, 479)), ((0, 100), (639, 100)), ((100, 0), (400, 420)), ((620, 30), (330, 460))):
        cv2.line(out, p, q, 0.9, 1, cv2.LINE_8)
    return out


def test_long_faint_lines_gain_more_than_dashes() -> None:
    long_faint = line_stats(_segments(_noise(1), 2, 300, 200.0, 0.015, 15.0))
    dashes = line_stats(_segments(_noise(1), 3, 4000, 10.0, 0.015, 15.0))
    assert long_faint.line_gain > dashes.line_gain
    assert abs(long_faint.line_angle - 15.0) <= 10.0  # the direction the lines fall


def test_scene_edges_agree_less_than_rain() -> None:
    """A few strong straight edges in several directions: tiles disagree on the direction (their
    gain is high: long lines are long, docs/suggestions.md round 4)."""
    long_faint = line_stats(_segments(_noise(1), 2, 300, 200.0, 0.015, 15.0))
    edges = line_stats(_edges(_noise(1)))
    assert long_faint.line_agree > edges.line_agree


def test_noise_alone_has_no_gain() -> None:
    s = line_stats(_noise(4))
    assert s.line_tiles > 0
    assert s.line_gain < line_stats(_segments(_noise(4), 5, 300, 200.0, 0.015, -20.0)).line_gain
    assert ANGLES.min() <= s.line_angle <= ANGLES.max()


def test_too_small_a_frame_is_not_measured() -> None:
    s = line_stats(np.zeros((40, 40), np.float32))
    assert s.line_tiles == 0 and math.isnan(s.line_gain)
