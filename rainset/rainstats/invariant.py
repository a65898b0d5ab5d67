"""Scene-invariant rain measurements: rain evidence measured against the scene's own structure.

The first measurements (``streaks``, ``veil``) read absolute energies at a 512-px analysis size,
so a textured scene, a bright one or one with vertical building edges moves them as much as the
rain does, and 1-px streaks of a 12 MP frame vanish. These read ratios within the frame, at the
resolution they are given (docs/rainstats.md, "Scene-invariant measurements"):

- **Native-resolution tiles, bounded time.** The frame is cut into 256×256 tiles at its own
  resolution (up to :data:`MAX_SIDE` long side; larger frames are first reduced to it); at most
  :data:`MAX_TILES` of them, spread evenly over the frame, are analysed, so a 12 MP capture costs
  about as much as a 3 MP one.
- **Residual.** In each tile the rain layer is estimated as what the scene's own structure does
  not explain: ``r = y − median₅(y)`` on the luminance (the 5×5 median keeps edges and areas,
  removes lines and dots a few pixels wide). ``σ`` is the tile's noise, 1.4826 × the median
  absolute residual (at least 0.5/255).
- ``rain_sign``: rain adds light where it is seen, scene detail is as often darker as brighter
  than its surroundings: (share of pixels with ``r > 3σ`` − share with ``r < −3σ``) over their sum,
  pooled over the tiles, −1..1. Scene texture cancels; it does not depend on the scene's contrast.
- ``rain_spots``: the share of pixels with ``r > 3σ`` minus the share with ``r < −3σ`` (0..1; the
  excess of bright outliers, a density of rain that the scene's own texture does not inflate).
- **Oriented line filters** on ``max(r, 0)`` at two scales (lines of 7 and 15 px), 12
  directions. A direction's energy in a tile is the mean erosion of the residual by that line
  (what persists along it). The tile's **anisotropy** is its energy in a direction over the mean
  of all directions, minus 1: 0 for isotropic texture, foliage and noise, large for parallel
  lines, and unchanged by the brightness of the rain or the contrast of the scene.
- ``rain_dir``: the falling direction (within 70° of vertical) most tiles prefer;
  ``rain_aniso``: the median tile anisotropy in that direction (7-px lines);
  ``rain_aniso_long``: the same with the 15-px lines (long streaks persist along them, drops
  and drizzle do not); ``rain_cover``: the share of tiles whose anisotropy in ``rain_dir`` is at
  least 0.5 (rain covers the frame; a scene's vertical lines are in a few tiles);
  ``rain_persist``: in ``rain_dir``, the residual energy that persists along 15-px lines over the
  energy that persists along 7-px lines, summed over the tiles, 0..1: long streaks near 1, drops,
  drizzle and short streaks near 0 (lengths at the frame's own resolution).
- ``rain_spots_half``: ``rain_spots`` of a half-resolution copy (area average of 2×2 pixels),
  in 128×128 tiles (at most :data:`MAX_TILES`). Halving averages faint drops a pixel or two across
  (drizzle) into the noise and keeps the larger, nearer, defocused drops and splashes of heavy rain: the density
  of rain that survives a change of scale. It replaced ``rain_spots`` in the heavy rule (ALGO_VERSION 4)
  because the full-resolution excess measures how white the drops are drawn, which depends on the
  renderer (renderer 1 adds white, renderer 2 shows the blurred environment), not on the rain
  (docs/suggestions.md, "Which measurements move with the renderer").
- ``veil_edges``: the veil measured against the scene's own contrast, at a 256-px copy: on pixels
  with structure (local max − local min of luminance ≥ 0.06 in 7×7: sky and flat walls are left
  out), the median of the local minimum of the dark channel over the local maximum of luminance.
  Clear objects have dark parts next to bright ones (about 0.3); a veil lifts every dark part
  towards the airlight (towards 1). A ratio: no dependence on exposure, nor on a bright sky.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from rainset.rainstats.streaks import line_kernel

TILE = 256
MAX_TILES = 48
MAX_SIDE = 4096
_SCALES = (7, 15)  # line lengths of the oriented filters
_DIRS = np.arange(12) * 15.0 - 75.0  # -75 .. 90 degrees from vertical
_FALLING = np.abs(_DIRS) <= 70.0
_COVER_MIN = 0.5  # a tile with this anisotropy in the rain direction counts as rain-covered
_SIGMAS = 3.0
_KERNELS = {n: [line_kernel(n, a) for a in _DIRS] for n in _SCALES}
HALF_TILE = 128  # tiles of the half-resolution copy (rain_spots_half)
MIN_HALF = 16
_SUB = 64  # each 256-px tile is scored in 64-px sub-tiles (anisotropy is local)


def finite_values(record: object) -> dict[str, float | None]:
    """A dataclass of measurements by name, rounded to 6 digits; NaN and infinities become None
    (JSON has neither)."""
    return {k: (None if not math.isfinite(v) else round(float(v), 6)) for k, v in asdict(record).items()}


@dataclass(frozen=True)
class InvariantStats:
    """The scene-invariant measurements (module docstring)."""

    rain_dir: float
    rain_sign: float
    rain_spots: float
    rain_aniso: float
    rain_aniso_long: float
    rain_cover: float
    rain_persist: float
    veil_edges: float
    rain_spots_half: float

    def to_dict(self) -> dict[str, float | None]:
        return finite_values(self)


def tile_origins(h: int, w: int, tile: int = TILE, max_tiles: int = MAX_TILES) -> list[tuple[int, int]]:
    """Top-left corners of at most ``max_tiles`` tiles of ``tile`` px spread evenly over an h×w frame."""
    ny, nx = max(1, h // tile), max(1, w // tile)
    while ny * nx > max_tiles:
        if nx >= ny:
            nx -= 1
        else:
            ny -= 1
    th, tw = min(tile, h), min(tile, w)
    ys = np.linspace(0, h - th, ny).round().astype(int) if ny > 1 else np.array([(h - th) // 2])
    xs = np.linspace(0, w - tw, nx).round().astype(int) if nx > 1 else np.array([(w - tw) // 2])
    return [(int(y), int(x)) for y in ys for x in xs]


def _sub_means(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    sy, sx = max(1, h // _SUB), max(1, w // _SUB)
    return cv2.resize(img[: sy * (h // sy), : sx * (w // sx)], (sx, sy), interpolation=cv2.INTER_AREA).ravel()


def _tile_measures(y: np.ndarray) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """(pixels, bright outliers, dark outliers, short-line energies dirs×subtiles, long-line energies)."""
    med = cv2.medianBlur(y, 5)
    r = y - med
    sigma = max(1.4826 * float(np.median(np.abs(r))), 0.5 / 255)
    pos = int(np.count_nonzero(r > _SIGMAS * sigma))
    neg = int(np.count_nonzero(r < -_SIGMAS * sigma))
    rp = np.maximum(r, 0.0)
    short = np.stack([_sub_means(cv2.erode(rp, k)) for k in _KERNELS[_SCALES[0]]])
    long_ = np.stack([_sub_means(cv2.erode(rp, k)) for k in _KERNELS[_SCALES[1]]])
    return r.size, pos, neg, short, long_


def _outliers(t: np.ndarray) -> tuple[int, int, int]:
    """(pixels, bright outliers, dark outliers) of the residual ``t − median₅(t)`` of one tile."""
    r = t - cv2.medianBlur(t, 5)
    sigma = max(1.4826 * float(np.median(np.abs(r))), 0.5 / 255)
    return r.size, int(np.count_nonzero(r > _SIGMAS * sigma)), int(np.count_nonzero(r < -_SIGMAS * sigma))


def spots_half(y: np.ndarray) -> float:
    """``rain_spots`` of the half-resolution copy of ``y``, in 128-px tiles (module docstring)."""
    h, w = y.shape
    half = cv2.resize(y, (max(MIN_HALF, w // 2), max(MIN_HALF, h // 2)), interpolation=cv2.INTER_AREA)
    n = pos = neg = 0
    for oy, ox in tile_origins(*half.shape, HALF_TILE, MAX_TILES):
        tn, tp, tq = _outliers(np.ascontiguousarray(half[oy:oy + HALF_TILE, ox:ox + HALF_TILE]))
        n, pos, neg = n + tn, pos + tp, neg + tq
    return max(0.0, (pos - neg) / n)


def _anisotropy(energy: np.ndarray) -> np.ndarray:
    return energy / (energy.mean(axis=0, keepdims=True) + 1e-6) - 1.0


def veil_edges(rgb_small: np.ndarray, y_small: np.ndarray) -> float:
    """Median of the local dark-channel minimum over the local luminance maximum where the scene has structure."""
    k = np.ones((7, 7), np.uint8)
    lmin = cv2.erode(rgb_small.min(axis=2), k)
    lmax = cv2.dilate(y_small, k)
    mask = (lmax - cv2.erode(y_small, k)) >= 0.06
    if int(mask.sum()) < 50:
        return math.nan
    return float(np.median(lmin[mask] / np.maximum(lmax[mask], 0.05)))


def invariant_stats(y: np.ndarray, rgb_small: np.ndarray, y_small: np.ndarray) -> InvariantStats:
    """Scene-invariant measurements.

    Args:
        y: float32 luminance (0..1) at the frame's own resolution (reduced to :data:`MAX_SIDE`).
        rgb_small, y_small: the 256-px float RGB copy and its luminance (for the veil).
    """
    h, w = y.shape
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        y = cv2.resize(y, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = y.shape
    y = np.ascontiguousarray(y, dtype=np.float32)
    n = pos = neg = 0
    shorts, longs = [], []
    for oy, ox in tile_origins(h, w):
        tn, tp, tq, s, lg = _tile_measures(y[oy:oy + TILE, ox:ox + TILE])
        n, pos, neg = n + tn, pos + tp, neg + tq
        shorts.append(s)
        longs.append(lg)
    a_short = _anisotropy(np.concatenate(shorts, axis=1))
    a_long = _anisotropy(np.concatenate(longs, axis=1))
    votes = np.bincount(np.argmax(np.where(_FALLING[:, None], a_short, -np.inf), axis=0), minlength=len(_DIRS))
    best = int(np.argmax(np.where(_FALLING, votes, -1)))
    e_short = np.concatenate(shorts, axis=1)[best]
    e_long = np.concatenate(longs, axis=1)[best]
    persist = float(min(1.0, e_long.sum() / e_short.sum())) if e_short.sum() > 0 else 0.0
    sign = (pos - neg) / (pos + neg) if pos + neg else 0.0
    return InvariantStats(rain_dir=float(_DIRS[best]), rain_sign=float(sign), rain_spots=max(0.0, (pos - neg) / n),
                          rain_aniso=float(np.median(a_short[best])), rain_aniso_long=float(np.median(a_long[best])),
                          rain_cover=float(np.mean(a_short[best] >= _COVER_MIN)),
                          rain_persist=persist,
                          veil_edges=veil_edges(rgb_small, y_small), rain_spots_half=spots_half(y))
