"""Splashes on the ground: how much more horizontal the frame's bright specks are at its bottom (issue 16, round 5).

The eye typed renderer 2's heavy rain by the splash rings on the road and grass (wide, flat arcs at
the bottom of the frame) and its streaks by dashes along the rain, with no splash anywhere
(docs/suggestions.md, "Round 5"); renderer 1's heavy rain has splash marks on the road, its streaks
none. :func:`splash_stats` measures that cue with no length and no amount in it:

1. the frame's luminance ``y`` (frames of 1280 px or more binned k×k first, k = their long side
   / 800 rounded, at least 2: a 1600-px render and a 12-MP original are both read at ~800 px, the
   scale the threshold was set at, instead of 800 and 2000), its scene-removed
   residual ``r = y − median₅(y)`` in noise units (over 1.4826 × its median absolute value), and its
   bright part ``p = clip(r, 0, 3)`` (rain and splashes are brighter than what they cover);
2. ``p`` averaged along horizontal and along vertical segments of ``SEGMENT`` px; in a band of rows,
   ``tilt`` is log(variance of the horizontal averages / variance of the vertical ones): 0 for
   noise, > 0 where bright specks are wider than tall (splash arcs), < 0 where they are taller than
   wide (rain);
3. ``splash_tilt`` = the tilt of the bottom fifth of the frame (the ground nearest the camera)
   minus the tilt of the rest: rain falls the same way over the whole frame and cancels; splashes,
   on the ground only, do not.

``splash_bottom`` (the bottom fifth's tilt alone) is kept for diagnosis. ``splash_tilt`` is stored with
the other measurements (``RainStats``, ``ALGO_VERSION`` 5) and read by ``rules-v5``'s rule 4
(docs/suggestions.md, "Round 5"). A frame too small for the bands (35 px tall or less) reads NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

SPLASH_VERSION = 1
SEGMENT = 7  # px after binning: splash marks are 5–30 px wide there
BOTTOM = 0.2  # share of the rows that is "the ground nearest the camera"
BIN_FROM = 1280  # frames with a long side of this or more are binned first ...
BIN_TO = 800  # ... k×k, k = round(long side / BIN_TO), at least 2


@dataclass(frozen=True)
class SplashStats:
    splash_tilt: float  # bottom fifth's tilt minus the rest's (splashes: > 0)
    splash_bottom: float  # bottom fifth's tilt alone

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _tilt(h: np.ndarray, v: np.ndarray) -> float:
    if h.size == 0:  # a frame too small for the band (35 px tall or less): not measured
        return math.nan
    vh, vv = float(h.var()), float(v.var())
    return float(np.log((vh + 1e-9) / (vv + 1e-9)))


def splash_stats(y: np.ndarray) -> SplashStats:
    """The splash measurements of one frame's luminance ``y`` (float, 0..1)."""
    y = np.asarray(y, np.float32)
    if max(y.shape) >= BIN_FROM:
        k = max(2, round(max(y.shape) / BIN_TO))
        hk, wk = y.shape[0] // k * k, y.shape[1] // k * k
        y = y[:hk, :wk].reshape(hk // k, k, wk // k, k).mean(axis=(1, 3))
    u8 = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
    r = y - cv2.medianBlur(u8, 5).astype(np.float32) / 255.0
    sigma = 1.4826 * float(np.median(np.abs(r)))
    if sigma <= 0:
        sigma = 1.0 / 255.0
    p = np.clip(r / sigma, 0.0, 3.0)
    ph = cv2.blur(p, (SEGMENT, 1), borderType=cv2.BORDER_REFLECT)
    pv = cv2.blur(p, (1, SEGMENT), borderType=cv2.BORDER_REFLECT)
    m = SEGMENT  # leave the borders out
    cut = int(round(y.shape[0] * (1 - BOTTOM)))
    bottom = _tilt(ph[cut:-m, m:-m], pv[cut:-m, m:-m])
    rest = _tilt(ph[m:cut, m:-m], pv[m:cut, m:-m])
    return SplashStats(round(bottom - rest, 5), round(bottom, 5))  # NaN stays NaN
