"""A second rain renderer, independent of :mod:`rainset.synth.rain`: drops falling through depth.

The first renderer draws streaks in a few fixed screen-space layers and screen-blends white onto
the image. This one renders a camera looking into a volume of falling drops:

- **Drops in depth.** Each drop has a distance ``z`` (uniform in the view volume, so density
  grows as z²), a diameter ``D`` from an exponential (Marshall–Palmer shaped) size distribution
  whose slope follows the rain rate, and its terminal speed ``v(D) = 9.65 − 10.3·exp(−0.6·D)``
  m/s (Atlas). Perspective gives its image: streak length ``f·v·T/z`` (T the exposure time),
  width ``f·D/z`` (at least one pixel), all in pixels of a 35 mm lens on a 36 mm-wide sensor, so
  the same rain is 1–2 px wide at 12 MP and sub-pixel at 640 px.
- **Defocus and transparency.** The lens focuses at ``focus_m``; a drop at ``z`` is blurred by
  its circle of confusion ``A·f·|1/z − 1/focus|`` (A = f/N). Its opacity is its dwell time on a
  pixel (width ÷ streak length, cube-rooted: a drop gathers light from a wide cone, so a
  short dwell still shows) spread over the blur: near drops are longer,
  wider and more transparent.
- **Refraction photometry.** A drop is a wide-angle lens: it shows the environment light — a
  heavily blurred sample of the scene taken from above the drop (:func:`environment_light`,
  brightened slightly) — instead of adding white. A streak over a dark wall under a bright sky
  is bright; over a dark wall under a dark facade it is barely there.
- **Veil.** A depth map from a scene prior (:func:`scene_depth`: far at the top, near at the
  bottom, smooth noise) gives a transmission ``t = exp(−β·depth)``; the image is
  ``J·t + A·(1 − t)``. Strong for ``fog-mixed``, weak for ``heavy`` (rain accumulation), none
  otherwise. Drops in fog fade with their own depth.
- **Splashes** (``heavy`` by default): small crowns on the ground rows, lit like the drops.

Types: ``drizzle`` (many tiny slow drops, sparse 1–2 px dots and dashes at 12 MP), ``heavy``
(dense, large fast drops, weak veil, splashes), ``streak`` (long exposure, wind: long streaks),
``fog-mixed`` (a thick depth-dependent veil with few light streaks) and ``no-rain``.

:func:`render_depth_rain` returns the rainy image with its truth (rain opacity layer,
transmission, depth, parameters); :func:`render_burst` gives frames of one scene with new rain in
each; :func:`write_depth_captures` writes 12 MP camera JPEGs with EXIF, their copies and bursts for
dedupe evaluation (same :class:`~rainset.synth.variants.VariantTruth` as the first renderer's).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from rainset.synth.scene import low_noise, render_scene
from rainset.synth.variants import (KEEP_EXIF, VARIANTS, VariantFile, VariantTruth, brightness, crop,
                                    prepare_out_dir, rotate)
from rainset.synth.writers import SynthExif, encode_jpeg, write_jpeg

DEPTH_RAIN_TYPES: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")

SENSOR_WIDTH_M = 0.036  # a full-frame sensor: pixel pitch = 36 mm / image width
FOCAL_M = 0.035


@dataclass(frozen=True)
class RainModel:
    """The physical settings of one rain type (what the truth reports, plus the drop count)."""

    drops: int  # visible drops in the view volume (independent of the image size)
    rain_rate: float  # mm/h: the slope of the size distribution
    d_min: float  # mm: drops smaller than this are not drawn
    d_max: float  # mm
    z_near: float  # m
    z_far: float  # m
    exposure_time: float  # s (the default; a caller may pass the EXIF one)
    f_number: float
    focus_m: float
    wind: tuple[float, float]  # degrees from vertical, range of |angle|
    opacity: float  # peak opacity of an in-focus drop that dwells a whole exposure on a pixel
    fog_beta: float  # 1/m, veil extinction
    splashes: int  # at 640 px wide; scaled with the area


MODELS: dict[str, RainModel] = {
    "drizzle": RainModel(drops=14000, rain_rate=1.0, d_min=0.1, d_max=0.5, z_near=4.0, z_far=30.0,
                         exposure_time=1 / 125, f_number=8.0, focus_m=8.0, wind=(0.0, 8.0),
                         opacity=0.7, fog_beta=0.0, splashes=0),
    "heavy": RainModel(drops=16000, rain_rate=30.0, d_min=0.5, d_max=5.0, z_near=0.8, z_far=40.0,
                       exposure_time=1 / 250, f_number=4.0, focus_m=10.0, wind=(0.0, 12.0),
                       opacity=0.85, fog_beta=0.0015, splashes=220),
    "streak": RainModel(drops=12000, rain_rate=8.0, d_min=0.4, d_max=4.0, z_near=1.5, z_far=30.0,
                        exposure_time=1 / 15, f_number=8.0, focus_m=10.0, wind=(8.0, 25.0),
                        opacity=0.9, fog_beta=0.0, splashes=0),
    "fog-mixed": RainModel(drops=1800, rain_rate=2.0, d_min=0.2, d_max=1.5, z_near=2.0, z_far=25.0,
                           exposure_time=1 / 60, f_number=5.6, focus_m=8.0, wind=(0.0, 10.0),
                           opacity=0.6, fog_beta=0.02, splashes=0),
}


@dataclass(frozen=True)
class DepthRainTruth:
    """What was rendered: the type and its parameters (the ones drawn for this image)."""

    rain_type: str
    drops: int  # drops drawn (visible after the opacity cut)
    rain_rate: float
    mean_diameter_mm: float
    exposure_time: float
    f_number: float
    focus_m: float
    focal_px: float
    wind_deg: float
    fog_beta: float
    airlight: tuple[float, float, float]
    splashes: int


@dataclass(frozen=True, eq=False)
class DepthRainImage:
    """A rendered frame: the rainy image and its layers (all H×W, float32 unless said)."""

    image: np.ndarray  # H×W×3 uint8 RGB, the rainy frame
    clean: np.ndarray  # H×W×3 uint8 RGB, the background it was rendered on
    rain: np.ndarray  # opacity of drops and splashes, 0..1
    transmission: np.ndarray  # veil transmission, 1 = no veil
    depth: np.ndarray  # scene depth in metres
    truth: DepthRainTruth


def focal_px(width: int) -> float:
    """Focal length in pixels of the 35 mm lens on the 36 mm sensor at ``width`` pixels."""
    return FOCAL_M * width / SENSOR_WIDTH_M


def terminal_speed(d_mm: np.ndarray) -> np.ndarray:
    """Fall speed (m/s) of drops of diameter ``d_mm`` (Atlas et al. fit, clipped at 0.3 m/s)."""
    return np.maximum(0.3, 9.65 - 10.3 * np.exp(-0.6 * d_mm))


def scene_depth(shape: tuple[int, int], rng: np.random.Generator, *, near: float = 3.0,
                far: float = 300.0) -> np.ndarray:
    """A depth prior in metres: geometric from ``far`` (top row) to ``near`` (bottom), smooth noise."""
    h, w = shape
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    base = near * (far / near) ** (1.0 - y)
    return (base * (0.7 + 0.6 * low_noise(rng, w, h, 5))).astype(np.float32)


def environment_light(img: np.ndarray, *, shift: float = 0.1, gain: float = 1.1,
                      lift: float = 0.02) -> np.ndarray:
    """The light a drop refracts at each pixel: a wide, upward-shifted blur of the scene plus sky, brightened.

    A drop is a fish-eye lens with a field of view of about 165°: it shows a blurred, inverted
    view of what lies around and above it. Modelled as the mean of (a) the scene blurred wide
    (σ = 4 % of the long side) and sampled ``shift`` of the height above the pixel and (b) the
    column's sky light (mean of the top quarter of the rows, blurred sideways), times ``gain``
    plus ``lift``.

    Args:
        img: H×W×3 float32 in 0..1.
        shift: fraction of the height the local sample is taken above the pixel.
        gain, lift: ``gain·sample + lift``.

    Returns:
        H×W×3 float32 in 0..1.
    """
    h, w = img.shape[:2]
    k = max(1.0, max(h, w) / 256.0)
    sw, sh = max(2, int(round(w / k))), max(2, int(round(h / k)))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    local = cv2.GaussianBlur(small, (0, 0), 0.04 * max(sw, sh))
    m = np.float32([[1, 0, 0], [0, 1, shift * sh]])  # output row y reads input row y − shift·h
    local = cv2.warpAffine(local, m, (sw, sh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sky = small[: max(1, sh // 4)].mean(axis=0, keepdims=True)
    sky = cv2.GaussianBlur(sky, (0, 0), sigmaX=0.1 * sw, sigmaY=0.1)
    env = cv2.resize(0.5 * local + 0.5 * sky, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(env * gain + lift, 0.0, 1.0).astype(np.float32)


def _defocus(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones on a reduced copy (the blur hides the resampling)."""
    if sigma <= 3.0:
        return cv2.GaussianBlur(layer, (0, 0), sigma)
    h, w = layer.shape
    k = sigma / 1.5
    small = cv2.resize(layer, (max(2, int(w / k)), max(2, int(h / k))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5 * small.shape[1] / w * k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _sample_drops(model: RainModel, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Depths (uniform in the view volume) and diameters (truncated exponential) of the drops."""
    n = model.drops
    u = rng.random(n)
    z = (model.z_near ** 3 + u * (model.z_far ** 3 - model.z_near ** 3)) ** (1 / 3)
    lam = 4.1 * model.rain_rate ** -0.21  # Marshall–Palmer slope, 1/mm
    span = 1.0 - math.exp(-lam * (model.d_max - model.d_min))
    d = model.d_min - np.log(1.0 - rng.random(n) * span) / lam
    return z.astype(np.float64), d.astype(np.float64)


_DEPTH_BINS = 6


def _drop_layer(shape: tuple[int, int], model: RainModel, rng: np.random.Generator, exposure: float,
                wind: float, beta: float) -> tuple[np.ndarray, int, float]:
    """Opacity of the drops (H×W float32), the number drawn and their mean diameter (mm)."""
    h, w = shape
    f = focal_px(w)
    z, d = _sample_drops(model, rng)
    v = terminal_speed(d) * rng.uniform(0.9, 1.1, d.size)
    length = f * v * exposure / z + f * d * 1e-3 / z  # motion plus the drop itself, pixels
    width = np.maximum(1.0, f * d * 1e-3 / z)
    aperture_f = FOCAL_M * FOCAL_M / model.f_number  # A·f, m²
    coc = aperture_f * np.abs(1.0 / z - 1.0 / model.focus_m) * w / SENSOR_WIDTH_M  # blur diameter, px
    dwell = np.cbrt(np.minimum(1.0, width / np.maximum(length, 1.0)))
    alpha = model.opacity * dwell * width / (width + coc) * np.exp(-beta * z)
    keep = alpha > 0.03
    z, d, length, width, coc, alpha = z[keep], d[keep], length[keep], width[keep], coc[keep], alpha[keep]
    x0 = rng.uniform(-0.05 * w, 1.05 * w, z.size)
    y0 = rng.uniform(-0.1 * h, 1.05 * h, z.size)
    sway = wind + rng.normal(0.0, 1.5, z.size)  # turbulence around the wind angle
    dx, dy = np.sin(np.radians(sway)) * length, np.cos(np.radians(sway)) * length
    total = np.zeros((h, w), np.float32)
    edges = np.quantile(coc, np.linspace(0, 1, _DEPTH_BINS + 1)) if z.size else np.zeros(2)
    which = np.clip(np.searchsorted(edges, coc, side="right") - 1, 0, len(edges) - 2)
    for b in range(len(edges) - 1):
        sel = np.flatnonzero(which == b)
        if sel.size == 0:
            continue
        sigma = float(np.median(coc[sel])) / 3.0
        sharp = sigma <= 0.4  # in focus: drawn straight into the total
        layer = total if sharp else np.zeros((h, w), np.float32)
        for i in sel:  # per-drop opacity and thickness; 4 fractional bits for sub-pixel ends
            p0 = (int(round(x0[i] * 16)), int(round(y0[i] * 16)))
            p1 = (int(round((x0[i] + dx[i]) * 16)), int(round((y0[i] + dy[i]) * 16)))
            cv2.line(layer, p0, p1, float(alpha[i]), max(1, int(round(width[i]))), cv2.LINE_AA, 4)
        if not sharp:
            layer = _defocus(layer, sigma)
            layer *= 1.0 + sigma / max(1.0, float(np.median(width[sel])))  # energy spread, not lost
            np.clip(layer, 0.0, 1.0, out=layer)
            total += layer * (1.0 - total)  # over: 1 − (1 − a)(1 − b)
    return total, int(z.size), float(d.mean()) if d.size else 0.0


def _splash_layer(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Crowns on the ground (lowest 20 % of the rows), bigger nearer the camera."""
    h, w = shape
    layer = np.zeros((h, w), np.float32)
    n = int(count * w / 640) if count else 0  # one row of ground: more splashes resolved at more pixels
    band = 0.2 * h
    ys = h - 1 - band * rng.random(n) ** 1.5
    xs = rng.uniform(0, w, n)
    for x, y in zip(xs, ys):
        near = (y - (h - band)) / band  # 0 far, 1 at the bottom row
        r = (0.004 + 0.01 * near) * w * rng.uniform(0.6, 1.4)
        c = (int(x), int(y))
        cv2.ellipse(layer, c, (max(1, int(r)), max(1, int(r * 0.45))), 0, 190, 350,
                    float(rng.uniform(0.25, 0.5)), max(1, int(round(r / 6))), cv2.LINE_AA)
        for _ in range(3):  # droplets thrown up from the crown
            px = int(x + rng.uniform(-1.2, 1.2) * r)
            py = int(y - rng.uniform(0.4, 1.3) * r)
            cv2.circle(layer, (px, py), max(1, int(r / 8)), float(rng.uniform(0.2, 0.4)), -1, cv2.LINE_AA)
    return layer


def render_depth_rain(clean: np.ndarray, rain_type: str, rng: np.random.Generator, *,
                      exposure_time: float | None = None, splashes: bool | None = None,
                      depth: np.ndarray | None = None, airlight: np.ndarray | None = None,
                      fog_scale: float | None = None) -> DepthRainImage:
    """Render rain falling through depth in front of ``clean``.

    Args:
        clean: H×W×3 uint8 RGB background.
        rain_type: one of :data:`DEPTH_RAIN_TYPES`.
        rng: random generator: drops, wind (and the depth map and airlight when not given).
        exposure_time: shutter time in seconds (default: the type's, :data:`MODELS`).
        splashes: draw splashes on the ground (default: only for ``heavy``).
        depth: H×W scene depth in metres (default: :func:`scene_depth` from ``rng``); pass the same
            map for every frame of a burst.
        airlight: RGB veil colour in 0..1 (default: drawn from ``rng``).
        fog_scale: the veil's β as a multiple of the type's (default: drawn in 0.8–1.25 from
            ``rng``); pass the same value for every frame of a burst.

    Returns:
        The rainy image with its rain layer, transmission, depth and truth.

    Raises:
        ValueError: for an unknown rain type.
    """
    if rain_type not in DEPTH_RAIN_TYPES:
        raise ValueError(f"unknown rain type {rain_type!r}; expected one of {DEPTH_RAIN_TYPES}")
    h, w = clean.shape[:2]
    if depth is None:
        depth = scene_depth((h, w), rng)
    if airlight is None:
        airlight = rng.uniform([0.74, 0.76, 0.78], [0.86, 0.88, 0.92]).astype(np.float32)
    air = tuple(float(a) for a in airlight)
    if rain_type == "no-rain":
        zeros, ones = np.zeros((h, w), np.float32), np.ones((h, w), np.float32)
        truth = DepthRainTruth(rain_type, 0, 0.0, 0.0, exposure_time or 0.0, 0.0, 0.0, focal_px(w), 0.0, 0.0,
                               air, 0)  # type: ignore[arg-type]
        return DepthRainImage(clean.copy(), clean, zeros, ones, depth, truth)
    model = MODELS[rain_type]
    exposure = float(exposure_time if exposure_time is not None else model.exposure_time)
    wind = float(rng.uniform(*model.wind) * rng.choice([-1.0, 1.0]))
    beta = model.fog_beta * float(rng.uniform(0.8, 1.25) if fog_scale is None else fog_scale)
    img = clean.astype(np.float32) * np.float32(1 / 255)
    t = np.exp(-beta * depth).astype(np.float32)
    veiled = img * t[..., None] + np.asarray(airlight, np.float32) * (1.0 - t[..., None])
    rain, drawn, mean_d = _drop_layer((h, w), model, rng, exposure, wind, beta)
    n_splash = 0
    if splashes or (splashes is None and model.splashes > 0):
        n_splash = model.splashes or 150
        rain = 1.0 - (1.0 - rain) * (1.0 - np.clip(_splash_layer((h, w), n_splash, rng), 0, 1))
    rain = np.clip(rain, 0.0, 1.0).astype(np.float32)
    env = environment_light(veiled)
    out = veiled * (1.0 - rain[..., None]) + env * rain[..., None]
    image = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    truth = DepthRainTruth(rain_type=rain_type, drops=drawn, rain_rate=model.rain_rate,
                           mean_diameter_mm=round(mean_d, 4), exposure_time=exposure, f_number=model.f_number,
                           focus_m=model.focus_m, focal_px=focal_px(w), wind_deg=wind, fog_beta=beta,
                           airlight=air, splashes=n_splash)  # type: ignore[arg-type]
    return DepthRainImage(image, clean, rain, t, depth, truth)


def burst_times(start: datetime, frames: int, rng: np.random.Generator) -> list[datetime]:
    """Capture times of a burst: ``start`` then gaps of 1–3 s (with milliseconds)."""
    times = [start]
    for gap in rng.uniform(1.0, 3.0, frames - 1):
        times.append(times[-1] + timedelta(milliseconds=int(round(gap * 1000))))
    return times


def render_burst(clean: np.ndarray, rain_type: str, seed: int, frames: int) -> list[DepthRainImage]:
    """Frames of one scene from a fixed camera: same background, depth, airlight and fog density;
    new rain in each."""
    scene_rng = np.random.default_rng([seed, 21])
    depth = scene_depth(clean.shape[:2], scene_rng)
    airlight = scene_rng.uniform([0.74, 0.76, 0.78], [0.86, 0.88, 0.92]).astype(np.float32)
    fog = float(scene_rng.uniform(0.8, 1.25))
    return [render_depth_rain(clean, rain_type, np.random.default_rng([seed, 22, f]), depth=depth,
                              airlight=airlight, fog_scale=fog) for f in range(frames)]


def camera_exif(when: datetime, exposure_time: float, serial: str = "ST0004242") -> SynthExif:
    """EXIF of the second renderer's camera body (not the first renderer's), exposure at ``when``."""
    return SynthExif(make="Stratus", model="Stratus S3", serial=serial, lens="Stratus 35mm F1.4",
                     capture_time=when.replace(microsecond=0), subsec=f"{when.microsecond // 1000:03d}",
                     offset="+02:00", exposure_time=exposure_time, f_number=4.0, iso=800, focal_length=35.0,
                     gps=None)


def copy_pixels(rgb: np.ndarray, variant: str) -> np.ndarray:
    """The pixels of one near-copy kind of :data:`~rainset.synth.variants.VARIANTS` (``png``: unchanged)."""
    h, w = rgb.shape[:2]
    if variant == "resize50":
        return cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if variant == "crop3":
        return crop(rgb, 0.03)
    if variant == "bright+10":
        return brightness(rgb, 1.1)
    if variant == "dark-10":
        return brightness(rgb, 0.9)
    if variant == "rotate1":
        return rotate(rgb, 1.0)
    if variant in ("jpeg70", "png"):
        return rgb
    raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")


_RAINY = DEPTH_RAIN_TYPES[:4]


def write_depth_captures(out_dir: str | os.PathLike[str], sources: int = 4, *, bursts: int = 4,
                         burst_len: int = 3, size: tuple[int, int] = (4000, 3000), seed: int = 0,
                         variants: tuple[str, ...] = VARIANTS, exif: bool = True,
                         scene_size: tuple[int, int] | None = None) -> VariantTruth:
    """Write camera JPEGs rendered by this model, their copies and bursts; return the truth.

    Sources cycle through the four rain types, and so do bursts (2–4 frames when ``burst_len`` is
    0, else ``burst_len``; new rain per frame, EXIF times 1–3 s apart, one body serial). Copies
    are those of :data:`~rainset.synth.variants.VARIANTS`; the ones in ``KEEP_EXIF`` keep the
    original's EXIF. ``exif=False`` writes every file without EXIF (only pixels can tell).

    Args:
        out_dir: destination folder (created; ``cam/``, ``web/``, ``burst/``).
        sources: source frames, each with one file per entry of ``variants``.
        bursts: bursts of one scene.
        burst_len: frames per burst (0: 2–4, drawn).
        size: (width, height) of the camera files (12 MP by default).
        seed: the files are a pure function of the arguments.
        variants: near-copy kinds to write per source.
        exif: write EXIF at all.
        scene_size: render the background at this size and upscale (the rain is always drawn at
            ``size``); default: ``size``.

    Returns:
        VariantTruth (``frame`` equal for copies of one exposure, ``scene`` equal within a burst).
    """
    def frame(background: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        f = render_depth_rain(background, _RAINY[k % 4], rng)
        return f.image, f.truth.exposure_time

    def burst(background: np.ndarray, b: int, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        frames = render_burst(background, _RAINY[b % 4], int(rng.integers(1 << 31)), n)
        return [(f.image, f.truth.exposure_time) for f in frames]

    return write_captures(out_dir, frame, burst, [_RAINY[k % 4] for k in range(sources)],
                          [_RAINY[b % 4] for b in range(bursts)], burst_len=burst_len, size=size, seed=seed,
                          variants=variants, exif=exif, scene_size=scene_size)


FrameRenderer = Callable[[np.ndarray, int, np.random.Generator], tuple[np.ndarray, float]]
BurstRenderer = Callable[[np.ndarray, int, int, np.random.Generator], list[tuple[np.ndarray, float]]]


def write_captures(out_dir: str | os.PathLike[str], frame: FrameRenderer, burst: BurstRenderer,
                   source_rains: list[str], burst_rains: list[str], *, burst_len: int = 3,
                   size: tuple[int, int] = (4000, 3000), seed: int = 0, variants: tuple[str, ...] = VARIANTS,
                   exif: bool = True, scene_size: tuple[int, int] | None = None) -> VariantTruth:
    """Write camera JPEGs made by any rain renderer, their copies and bursts; return the truth.

    ``frame(background, k, rng)`` gives source ``k``'s rainy RGB image and exposure time;
    ``burst(background, b, n, rng)`` gives the ``n`` frames of burst ``b`` (same background, new
    rain each). ``source_rains`` / ``burst_rains`` name the rain of each (recorded in the truth).
    Everything else as :func:`write_depth_captures`.
    """
    root = prepare_out_dir(out_dir, variants)
    w, h = size
    sw, sh = scene_size or size
    files: list[VariantFile] = []
    when = datetime(2025, 5, 17, 7, 0, 0) + timedelta(days=seed % 200)

    def background(rng: np.random.Generator) -> np.ndarray:
        bg = render_scene(rng, sw, sh)
        return bg if (sw, sh) == (w, h) else cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC)

    def save(path: Path, rgb: np.ndarray, meta: SynthExif | None, quality: int = 92) -> None:
        if meta is not None and exif:
            write_jpeg(path, rgb, meta, quality)
        else:
            path.write_bytes(encode_jpeg(rgb, None, quality))

    for k, rain in enumerate(source_rains):
        rng = np.random.default_rng([seed, 31, k])
        image, exposure = frame(background(rng), k, rng)
        when += timedelta(minutes=7)
        meta = camera_exif(when, exposure)
        stem = f"src{k:03d}"
        rel = f"cam/{stem}.jpg"
        save(root / rel, image, meta)
        files.append(VariantFile(rel, stem, stem, "original", rain))
        decoded = cv2.cvtColor(cv2.imread(str(root / rel), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for v in variants:
            if v == "png":
                crel = f"web/{stem}_png.png"
                cv2.imwrite(str(root / crel), cv2.cvtColor(decoded, cv2.COLOR_RGB2BGR))
            else:
                crel = f"web/{stem}_{v}.jpg"
                save(root / crel, copy_pixels(image, v), meta if v in KEEP_EXIF else None,
                     70 if v == "jpeg70" else 90)
            files.append(VariantFile(crel, stem, stem, v, rain))
    for b, rain in enumerate(burst_rains):
        rng = np.random.default_rng([seed, 32, b])
        n = burst_len or int(rng.integers(2, 5))
        frames = burst(background(rng), b, n, rng)
        when += timedelta(minutes=7)
        times = burst_times(when + timedelta(milliseconds=int(rng.integers(0, 1000))), n, rng)
        for f, ((image, exposure), shot) in enumerate(zip(frames, times)):
            rel = f"burst/b{b:02d}_{f}.jpg"
            save(root / rel, image, camera_exif(shot, exposure, "ST0004243"))
            files.append(VariantFile(rel, f"b{b:02d}_{f}", f"burst{b:02d}", "burst", rain))
    return VariantTruth(root=str(root.resolve()), files=tuple(files))
