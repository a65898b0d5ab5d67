"""Synthetic rain layers: streaks drawn as short lines, motion-blurred, screen-blended.

Rain types follow the taxonomy of DESIGN.md: ``drizzle`` (sparse, short, faint), ``heavy`` (dense,
several depth layers, splashes near the ground), ``streak`` (long motion streaks whose length
grows with the exposure time, common wind angle), ``fog-mixed`` (streaks plus a veiling haze)
and ``no-rain`` (unchanged).

``held_out=True`` (on :func:`add_rain` and :func:`rain_layer`) draws from a second, shifted
generator configuration used to test the rain-type classifier on rain it was not fitted on
(``rainset.suggest.evaluate``): 20 % fewer drops, streaks 25 % longer and 10 % fainter, wind
angles 5° further from vertical, a thinner haze (density 1.1–2.0 instead of 1.4–2.4) and a
different airlight. The default configuration is unchanged by the switch.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from rainset.synth.scene import low_noise

RAIN_TYPES: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")

# Apparent fall speed of a near drop, in pixels per second for a 640-pixel-wide frame.
_FALL_SPEED = 6000.0


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised motion-blur kernel: a line of ``length`` pixels, ``angle_deg`` from vertical."""
    length = max(1, int(length))
    size = length | 1
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    dx = math.sin(math.radians(angle_deg)) * (length - 1) / 2
    dy = math.cos(math.radians(angle_deg)) * (length - 1) / 2
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))),
             1.0, 1, cv2.LINE_AA)
    total = float(kernel.sum())
    return kernel / total if total > 0 else kernel


def streak_layer(shape: tuple[int, int], rng: np.random.Generator, *, count: int, length: float,
                 thickness: int, angle_deg: float, intensity: float, blur: float = 0.0) -> np.ndarray:
    """Draw one depth layer of rain streaks.

    Args:
        shape: (height, width) of the layer.
        rng: random generator for the drop positions.
        count: number of drops.
        length: streak length in pixels after motion blur.
        thickness: line thickness in pixels.
        angle_deg: angle from vertical (positive leans right going down).
        intensity: peak brightness of a streak, 0..1 before the blur spreads it.
        blur: Gaussian defocus sigma in pixels (near drops are blurrier), 0 for none.

    Returns:
        H×W float32 layer, 0 where there is no rain.
    """
    h, w = shape
    layer = np.zeros((h, w), np.float32)
    if count <= 0:
        return layer
    drop = max(2.0, length * 0.35)  # drawn segment; the motion blur stretches it to ~length
    margin = int(length) + 2
    x0 = rng.uniform(-margin, w + margin, count)
    y0 = rng.uniform(-margin, h + margin, count)
    s = rng.uniform(0.6, 1.0, count) * drop
    dx, dy = math.sin(math.radians(angle_deg)), math.cos(math.radians(angle_deg))
    pts = np.stack([np.stack([x0, y0], 1), np.stack([x0 + dx * s, y0 + dy * s], 1)], 1)
    pts = np.round(pts * 16).astype(np.int32)  # 4 fractional bits for sub-pixel lines
    cv2.polylines(layer, list(pts), False, float(intensity), max(1, int(thickness)), cv2.LINE_AA, 4)
    blur_len = int(round(length - drop))
    if blur_len >= 2:
        layer = cv2.filter2D(layer, -1, _line_kernel(blur_len, angle_deg), borderType=cv2.BORDER_CONSTANT)
        layer *= min(4.0, blur_len / drop + 1.0) ** 0.5  # keep streaks visible after spreading
    if blur > 0.3:
        layer = cv2.GaussianBlur(layer, (0, 0), blur)
    return layer


def _splashes(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    h, w = shape
    layer = np.zeros((h, w), np.float32)
    band = int(h * 0.18)
    n = int(150 * scale * scale)
    xs = rng.uniform(0, w, n).astype(np.int32)
    ys = (h - 1 - rng.uniform(0, band, n)).astype(np.int32)
    for x, y, r in zip(xs, ys, rng.uniform(1.0, 3.5, n) * scale):
        cv2.ellipse(layer, (int(x), int(y)), (max(1, int(r * 1.8)), max(1, int(r * 0.6))), 0, 180, 360,
                    0.5, 1, cv2.LINE_AA)
    ramp = np.clip((np.arange(h, dtype=np.float32) - (h - band)) / max(band, 1), 0, 1)
    layer += 0.12 * ramp[:, None] * low_noise(rng, w, h, 16)  # wet-ground sheen
    return cv2.GaussianBlur(layer, (0, 0), 0.7 * scale)


# The held-out configuration: multipliers of count, length and intensity; angle offset (degrees).
HELD_OUT = {"count": 0.8, "length": 1.25, "intensity": 0.9, "angle": 5.0}


def _rain_params(rain_type: str, scale: float, exposure_time: float,
                 held_out: bool = False) -> list[dict[str, float]]:
    """Per depth layer: count per 640×480 frame, length, thickness, intensity, blur (pixels at 640)."""
    travel = _FALL_SPEED * exposure_time  # pixels a near drop falls while the shutter is open
    if rain_type == "drizzle":
        layers = [(450, min(14.0, 4 + 0.3 * travel), 1, 0.55, 0.0)]
    elif rain_type == "heavy":
        layers = [(2200, min(30.0, 6 + 0.4 * travel), 1, 0.35, 0.0),
                  (900, min(60.0, 12 + 0.8 * travel), 1, 0.50, 0.6),
                  (250, min(110.0, 22 + 1.2 * travel), 2, 0.70, 1.4)]
    elif rain_type == "streak":
        layers = [(500, min(300.0, 0.6 * travel + 4), 1, 0.45, 0.0),
                  (180, min(360.0, travel + 6), 2, 0.60, 0.8)]
    elif rain_type == "fog-mixed":
        layers = [(900, min(25.0, 5 + 0.4 * travel), 1, 0.35, 0.5),
                  (250, min(50.0, 10 + 0.8 * travel), 1, 0.45, 1.0)]
    else:
        raise ValueError(f"unknown rain type {rain_type!r}; expected one of {RAIN_TYPES}")
    m = HELD_OUT if held_out else {"count": 1.0, "length": 1.0, "intensity": 1.0}
    return [dict(count=c * scale * scale * m["count"], length=ln * scale * m["length"],
                 thickness=max(1, round(t * scale)), intensity=i * m["intensity"], blur=b * scale)
            for c, ln, t, i, b in layers]


def rain_layer(shape: tuple[int, int], rain_type: str, rng: np.random.Generator, *,
               exposure_time: float = 1 / 250, held_out: bool = False) -> np.ndarray:
    """The additive rain layer (H×W float32, 0..~1) for one rain type; zeros for ``no-rain``.

    ``held_out`` selects the shifted configuration (module docstring).
    """
    h, w = shape
    if rain_type == "no-rain":
        return np.zeros((h, w), np.float32)
    scale = w / 640.0
    lo, hi = (10.0, 30.0) if rain_type == "streak" else (0.0, 15.0)
    if held_out:
        lo, hi = lo + HELD_OUT["angle"], hi + HELD_OUT["angle"]
    angle = float(rng.uniform(lo, hi) * rng.choice([-1.0, 1.0]))
    total = np.zeros((h, w), np.float32)
    for p in _rain_params(rain_type, scale, exposure_time, held_out):
        total += streak_layer((h, w), rng, count=int(p["count"] * h / (480 * scale)), length=p["length"],
                              thickness=int(p["thickness"]), angle_deg=angle + rng.uniform(-2, 2),
                              intensity=p["intensity"], blur=p["blur"])
    if rain_type == "heavy":
        total += _splashes((h, w), rng, scale)
    total *= 0.6 + 0.8 * low_noise(rng, w, h, 5)  # rain density varies across the frame
    return total


def _haze(img: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
    h, w = img.shape[:2]
    lo, hi = ([0.64, 0.66, 0.70], [0.80, 0.82, 0.86]) if held_out else ([0.72, 0.74, 0.76], [0.86, 0.88, 0.92])
    airlight = rng.uniform(lo, hi).astype(np.float32)
    depth = np.linspace(1.0, 0.15, h, dtype=np.float32)[:, None]  # far (top) to near (bottom)
    density = rng.uniform(*((1.1, 2.0) if held_out else (1.4, 2.4))) * (0.8 + 0.4 * low_noise(rng, w, h, 4))
    t = np.exp(-density * depth)[..., None]
    return img * t + airlight * (1.0 - t)


def add_rain(clean: np.ndarray, rain_type: str, rng: np.random.Generator, *,
             exposure_time: float = 1 / 250, held_out: bool = False) -> np.ndarray:
    """Add a synthetic rain layer to a clean image.

    Args:
        clean: H×W×3 uint8 RGB.
        rain_type: one of :data:`RAIN_TYPES`.
        rng: random generator (drop positions, wind angle, haze).
        exposure_time: shutter time in seconds; streak lengths grow with it.
        held_out: draw from the shifted, held-out configuration (module docstring).

    Returns:
        H×W×3 uint8 RGB; ``clean`` itself (unchanged) for ``no-rain``.

    Raises:
        ValueError: for an unknown rain type.
    """
    if rain_type == "no-rain":
        return clean
    if rain_type not in RAIN_TYPES:
        raise ValueError(f"unknown rain type {rain_type!r}; expected one of {RAIN_TYPES}")
    img = clean.astype(np.float32) * np.float32(1 / 255)
    if rain_type == "fog-mixed":
        img = _haze(img, rng, held_out)
    layer = np.clip(rain_layer(clean.shape[:2], rain_type, rng, exposure_time=exposure_time, held_out=held_out), 0, 1)
    tint = np.array([0.92, 0.95, 1.0], np.float32)
    rain = layer[..., None] * tint
    out = 1.0 - (1.0 - img) * (1.0 - rain)  # screen blend
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
