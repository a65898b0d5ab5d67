"""Procedural outdoor street scenes: sky, buildings with windows, a road, foliage, fine texture.

Everything is drawn with vectorised numpy and OpenCV calls; noise is generated at low resolution
and upsampled, so a 12-MP scene takes about a second.
"""

from __future__ import annotations

import cv2
import numpy as np


def low_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1], H×W float32: ``cells`` random values across, bicubic-upsampled."""
    cw = max(2, cells)
    ch = max(2, int(round(cells * height / max(width, 1))))
    small = rng.random((ch, cw), dtype=np.float32)
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(big, 0.0, 1.0)


def _sky(rng: np.random.Generator, width: int, height: int, horizon: int) -> np.ndarray:
    top = rng.uniform([60, 90, 140], [140, 160, 210]).astype(np.float32)
    bottom = rng.uniform([170, 180, 190], [225, 225, 235]).astype(np.float32)
    t = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None]
    rows = top[None, :] * (1 - t) + bottom[None, :] * t
    sky = np.empty((height, width, 3), np.float32)
    sky[:horizon] = rows[:, None, :]
    sky[horizon:] = bottom
    clouds = low_noise(rng, width, height, 8) * 0.6 + low_noise(rng, width, height, 24) * 0.4
    sky += ((clouds - 0.5) * 50.0)[..., None]
    return sky


def _ground(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    height, width = img.shape[:2]
    img[horizon:] = rng.uniform([70, 75, 65], [110, 115, 95]).astype(np.float32)
    vx = int(width * rng.uniform(0.35, 0.65))
    road = np.array([[vx - width // 60, horizon], [vx + width // 60, horizon],
                     [int(width * 0.95), height], [int(width * 0.05), height]], np.int32)
    grey = float(rng.uniform(55, 85))
    cv2.fillPoly(img, [road], (grey, grey, grey + 3))
    thick = max(1, width // 200)
    for frac in (0.2, 0.8):  # kerb lines
        cv2.line(img, (vx, horizon), (int(width * frac), height), (200, 200, 190), thick)
    # Dashed centre line: segments along the ray from the vanishing point, growing with distance.
    for k in range(12):
        t0, t1 = (k / 12) ** 1.6, ((k + 0.5) / 12) ** 1.6
        y0, y1 = int(horizon + t0 * (height - horizon)), int(horizon + t1 * (height - horizon))
        cv2.line(img, (vx, y0), (vx, y1), (230, 220, 120), max(1, int(thick * (0.5 + 2 * t1))))


def _windows_mask(h: int, w: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    px = max(4, int(rng.uniform(10, 22) * scale))
    py = max(4, int(rng.uniform(12, 26) * scale))
    wx, wy = max(2, int(px * rng.uniform(0.4, 0.7))), max(2, int(py * rng.uniform(0.4, 0.7)))
    ox, oy = px // 3, py // 3
    xx = (np.arange(w) - ox) % px < wx
    yy = (np.arange(h) - oy) % py < wy
    return yy[:, None] & xx[None, :] & (np.arange(h) > oy)[:, None] & (np.arange(w) < w - ox)[None, :]


def _buildings(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    height, width = img.shape[:2]
    scale = width / 640.0
    x = int(-width * 0.05)
    while x < width:
        bw = int(width * rng.uniform(0.07, 0.2))
        bh = int(horizon * rng.uniform(0.3, 0.85))
        top, base = horizon - bh, min(height, horizon + int(height * 0.03))
        x0, x1 = max(0, x), min(width, x + bw)
        x += bw + int(width * rng.uniform(-0.02, 0.03))
        if x1 - x0 < 4 or base - top < 4:
            continue
        colour = rng.uniform([60, 50, 45], [200, 185, 170]).astype(np.float32)
        block = img[top:base, x0:x1]
        block[:] = colour
        shade = np.linspace(1.08, 0.85, x1 - x0, dtype=np.float32)[None, :, None]
        block *= shade
        mask = _windows_mask(base - top, x1 - x0, rng, scale)
        lit = rng.uniform([20, 30, 40], [90, 100, 120]) if rng.random() < 0.7 else rng.uniform(150, 230, 3)
        block[mask] = lit.astype(np.float32)


def _foliage(img: np.ndarray, rng: np.random.Generator, horizon: int) -> None:
    height, width = img.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        cx = int(rng.uniform(0, width))
        cy = int(horizon + rng.uniform(-0.25, 0.05) * height)
        ax, ay = int(width * rng.uniform(0.03, 0.09)), int(height * rng.uniform(0.05, 0.15))
        cv2.rectangle(mask, (cx - max(1, ax // 10), cy), (cx + max(1, ax // 10), cy + ay * 2), 128, -1)
        cv2.ellipse(mask, (cx, cy), (ax, ay), 0.0, 0, 360, 255, -1)
    if not mask.any():
        return
    ragged = low_noise(rng, width, height, max(8, width // 12))
    leaf = low_noise(rng, width, height, max(16, width // 4))
    tree = (mask == 255) & (ragged > 0.35)
    trunk = mask == 128
    img[trunk] = (70, 50, 35)
    base = rng.uniform([30, 70, 20], [70, 120, 50]).astype(np.float32)
    img[tree] = base[None, :] * (0.55 + 0.9 * leaf[tree])[:, None]


def render_scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Render a procedural outdoor street scene.

    Args:
        rng: the random generator (the scene is a pure function of its state).
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        H×W×3 uint8 RGB: sky gradient with clouds, buildings with window grids, a road in
        perspective, foliage blobs and fine sensor-like texture.
    """
    horizon = int(height * rng.uniform(0.45, 0.62))
    img = _sky(rng, width, height, horizon)
    _ground(img, rng, horizon)
    _buildings(img, rng, horizon)
    _foliage(img, rng, horizon)
    shading = low_noise(rng, width, height, 6)
    img *= (0.85 + 0.3 * shading)[..., None]
    grain = rng.integers(-7, 8, size=(height, width), dtype=np.int16).astype(np.float32)
    img += grain[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)
