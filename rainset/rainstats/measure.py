"""``measure(rgb)``: every rain measurement of one frame, from its preview-sized image.

The frame is first brought to a fixed working size (long side ``WORK_SIDE`` = 1024 px, area
interpolation down, linear up), so the measurements do not depend on the resolution they are
computed from; lengths are in pixels at that size. Veil, droplets and night read a 256-px copy.
Definitions, ranges and limits: docs/rainstats.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import cv2
import numpy as np

from rainset.imageops import fit_long_side
from rainset.rainstats.droplets import droplet_score
from rainset.rainstats.invariant import invariant_stats
from rainset.rainstats.night import ev100, night_score
from rainset.rainstats.splash import splash_stats
from rainset.rainstats.streaks import ANALYSIS_SIDE, StreakStats, streak_stats, thin_bright
from rainset.rainstats.veil import veil_score

ALGO_VERSION = 5  # bump when a measurement changes: measure_store re-measures older rows
WORK_SIDE = 1024
SMALL_SIDE = 256
MIN_SIDE = 16


@dataclass(frozen=True)
class RainStats:
    """Rain measurements of one frame (see docs/rainstats.md for definitions and ranges).

    Attributes:
        streak_density: energy of thin bright oriented structures, 0..1.
        streak_angle: dominant streak angle, degrees from vertical, positive leaning right going
            down, in (-90, 90]; NaN when there are no streaks.
        streak_length: typical streak length in pixels at a 1024-px long side (0: no streaks).
        streak_coherence: how aligned the thin bright structures are, 0..1.
        veil: veiling haze strength, 0..1.
        droplets: fraction of the frame covered by lens-droplet blobs, 0..1.
        night: night score, 0..1.
        luminance: mean luminance, 0..1.
        contrast: RMS contrast (standard deviation of luminance), 0..0.5.
        rain_dir, rain_sign, rain_spots, rain_aniso, rain_aniso_long, rain_cover, rain_persist,
        veil_edges, rain_spots_half: the scene-invariant measurements (:mod:`rainset.rainstats.invariant`), read at
            the resolution of the frame given (NaN where not measured, e.g. on a rain layer).
        splash_tilt: splashes on the ground (:mod:`rainset.rainstats.splash`), read at the same
            resolution (NaN where not measured).
    """

    streak_density: float
    streak_angle: float
    streak_length: float
    streak_coherence: float
    veil: float
    droplets: float
    night: float
    luminance: float
    contrast: float
    rain_dir: float = math.nan
    rain_sign: float = math.nan
    rain_spots: float = math.nan
    rain_aniso: float = math.nan
    rain_aniso_long: float = math.nan
    rain_cover: float = math.nan
    rain_persist: float = math.nan
    veil_edges: float = math.nan
    rain_spots_half: float = math.nan
    splash_tilt: float = math.nan

    def to_dict(self) -> dict[str, float | None]:
        """The measurements by name, rounded to 6 digits; NaN becomes None (JSON has no NaN)."""
        out: dict[str, float | None] = {}
        for f in fields(self):
            v = float(getattr(self, f.name))
            out[f.name] = None if not math.isfinite(v) else round(v, 6)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, float | None]) -> "RainStats":
        """Inverse of :meth:`to_dict` (None becomes NaN)."""
        return cls(**{f.name: math.nan if data.get(f.name) is None else float(data[f.name])  # type: ignore[arg-type]
                      for f in fields(cls)})


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` itself when it is an H×W×3 uint8/uint16/float array; ValueError naming the problem."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"expected an RGB numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 RGB array, got shape {rgb.shape}")
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image {rgb.shape[1]}×{rgb.shape[0]} is too small to measure (min side {MIN_SIDE})")
    if rgb.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(f"unsupported pixel type {rgb.dtype}; expected uint8, uint16 or float in 0..1")
    return rgb


def to_float_rgb(rgb: np.ndarray) -> np.ndarray:
    """An H×W×3 uint8/uint16/float array as float32 RGB in 0..1."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) * np.float32(1 / 255)
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) * np.float32(1 / 65535)
    if rgb.dtype in (np.float32, np.float64):
        return np.clip(rgb, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unsupported pixel type {rgb.dtype}")


def resize_long(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` with its long side at ``side`` px (area interpolation down, linear up)."""
    return fit_long_side(img, side, enlarge=True)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of float RGB (0..1)."""
    return cv2.transform(rgb, np.array([[0.299, 0.587, 0.114]], np.float32))


def native_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (float32 0..1) of an RGB array of any supported type, without a float RGB copy."""
    if rgb.dtype in (np.uint8, np.uint16):
        y = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
        return y * np.float32(1 / (255 if rgb.dtype == np.uint8 else 65535))
    return luma(to_float_rgb(rgb))


def contrast_scale(y_small: np.ndarray) -> float:
    """The frame's luminance range (1st to 99th percentile, at least 0.05): the unit of the streak energy."""
    lo, hi = np.percentile(y_small, (1.0, 99.0))
    return max(float(hi - lo), 0.05)


def assemble(streaks: StreakStats, rgb_small: np.ndarray, y_small: np.ndarray, scale: float,
             ev: float | None) -> RainStats:
    """RainStats from the streak measurements and the small frame (shared by measure and the rain layer)."""
    return RainStats(streak_density=streaks.density, streak_angle=streaks.angle, streak_length=streaks.length,
                     streak_coherence=streaks.coherence, veil=veil_score(rgb_small, y_small),
                     droplets=droplet_score(y_small), night=night_score(y_small, ev),
                     luminance=float(y_small.mean()), contrast=float(y_small.std()))


def measure(rgb: np.ndarray, *, exposure_time: float | None = None, f_number: float | None = None,
            iso: float | None = None, detail: np.ndarray | None = None) -> RainStats:
    """Measure the rain of one frame.

    Args:
        rgb: H×W×3 RGB, uint8, uint16 or float in 0..1 (normally the capture's preview).
        exposure_time: seconds, from EXIF (optional; with ``f_number`` and ``iso`` it refines night).
        f_number: aperture from EXIF (optional).
        iso: ISO speed from EXIF (optional).
        detail: the same frame at a higher resolution (normally the decoded original): the
            scene-invariant measurements read it, in native-resolution tiles, instead of ``rgb``.

    Returns:
        The measurements (docs/rainstats.md).

    Raises:
        ValueError: the array is not an RGB image of a supported type, or is too small.
    """
    img = to_float_rgb(resize_long(check_rgb(rgb), ANALYSIS_SIDE))
    small = resize_long(img, SMALL_SIDE)
    y_small = luma(small)
    scale = contrast_scale(y_small)
    streaks = streak_stats(thin_bright(luma(img), scale), WORK_SIDE / ANALYSIS_SIDE)
    base = assemble(streaks, small, y_small, scale, ev100(exposure_time, f_number, iso))
    y_native = native_luma(check_rgb(detail) if detail is not None else rgb)
    inv = invariant_stats(y_native, small, y_small)
    return replace(base, **asdict(inv), splash_tilt=splash_stats(y_native).splash_tilt)
