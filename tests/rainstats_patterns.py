"""Synthetic patterns with known answers for the rain-measurement tests."""

from __future__ import annotations

import math

import cv2
import numpy as np


def plain_background(w: int = 1024, h: int = 768, seed: int = 0) -> np.ndarray:
    """A smooth grey-blue gradient with mild sensor noise (no scene structure)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 70 + 60 * yy / h + 20 * xx / w
    img = base[..., None] * np.array([0.9, 1.0, 1.1], np.float32) + rng.normal(0, 3, (h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_streaks(img: np.ndarray, n: int, angle: float, length: float, *, seed: int = 1,
                 value: float = 0.5) -> np.ndarray:
    """Screen-blend ``n`` anti-aliased 1-px streaks of ``length`` px at ``angle`` degrees from vertical."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    dx, dy = math.sin(math.radians(angle)) * length / 2, math.cos(math.radians(angle)) * length / 2
    for _ in range(n):
        x, y = rng.uniform(-20, w + 20), rng.uniform(-20, h + 20)
        p0 = (int(round((x - dx) * 16)), int(round((y - dy) * 16)))
        p1 = (int(round((x + dx) * 16)), int(round((y + dy) * 16)))
        cv2.line(layer, p0, p1, value, 1, cv2.LINE_AA, 4)
    out = 1 - (1 - img.astype(np.float32) / 255) * (1 - layer[..., None])
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


def add_haze(img: np.ndarray, transmission: float = 0.5, airlight: float = 215.0) -> np.ndarray:
    """Uniform haze: I = J·t + A·(1 − t)."""
    out = img.astype(np.float32) * transmission + airlight * (1 - transmission)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def add_droplets(img: np.ndarray, n: int, *, seed: int = 2, rmin: float = 25, rmax: float = 60) -> np.ndarray:
    """Lens droplets: soft discs showing a blurred, brightened view of the scene, with a soft bright rim."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    f = img.astype(np.float32) / 255
    blurred = cv2.GaussianBlur(f, (0, 0), 12)
    out = f.copy()
    for _ in range(n):
        r = rng.uniform(rmin, rmax)
        cx, cy = int(rng.uniform(r, w - r)), int(rng.uniform(r, h - r))
        disc = np.zeros((h, w), np.float32)
        cv2.circle(disc, (cx, cy), int(r), 1.0, -1, cv2.LINE_AA)
        rim = np.zeros((h, w), np.float32)
        cv2.circle(rim, (cx, cy), int(r * 0.85), 1.0, max(2, int(r * 0.15)), cv2.LINE_AA)
        disc, rim = cv2.GaussianBlur(disc, (0, 0), 3), cv2.GaussianBlur(rim, (0, 0), 3)
        inside = np.clip(blurred * 1.15 + 0.25 * rim[..., None], 0, 1)
        out = out * (1 - disc[..., None]) + inside * disc[..., None]
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)
