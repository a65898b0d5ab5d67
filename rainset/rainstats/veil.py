"""Veiling haze: how much of the frame is lifted towards a bright, colourless airlight.

Dark channel prior (He, Sun and Tang, 2009): in haze-free outdoor photos most patches have some
pixel that is dark in at least one colour channel; haze adds airlight A, which lifts that
minimum. At a 256-px long side, the dark channel D is the minimum over the colour channels and
over a 5×5 patch (about 20 px at the 1024-px working size). With A the 99.5th percentile of D
(at least 0.2, so a dark frame does not read as haze), the haze fraction at a pixel is D / A,
which estimates 1 − t, t the transmission. Bright surfaces (sky, white walls) also read as
haze, so the haze fraction is weighted by the *contrast loss*: 1 − the local contrast (standard
deviation over the local mean, in a 9×9 window) relative to ``_CLEAR_CONTRAST``.

veil = mean over the frame of (D / A) × (1 − min(1, local contrast / _CLEAR_CONTRAST)), in 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np

_PATCH = 5
_MIN_AIRLIGHT = 0.2
_CLEAR_CONTRAST = 0.35  # local contrast (std / mean) at and above which a region is not veiled


def dark_channel(rgb: np.ndarray) -> np.ndarray:
    """Minimum over colour channels and a ``_PATCH``×``_PATCH`` neighbourhood (float RGB in 0..1)."""
    return cv2.erode(rgb.min(axis=2), np.ones((_PATCH, _PATCH), np.uint8))


def local_contrast(y: np.ndarray) -> np.ndarray:
    """Local standard deviation over local mean of luminance ``y`` (9×9 box)."""
    mean = cv2.blur(y, (9, 9))
    sq = cv2.blur(y * y, (9, 9))
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return std / (mean + 0.05)


def veil_score(rgb: np.ndarray, y: np.ndarray) -> float:
    """Veil strength 0..1 of a small float RGB frame ``rgb`` with luminance ``y`` (see the module docstring)."""
    dark = dark_channel(rgb)
    air = max(float(np.percentile(dark, 99.5)), _MIN_AIRLIGHT)
    haze = np.clip(dark / air, 0.0, 1.0)
    loss = 1.0 - np.clip(local_contrast(y) / _CLEAR_CONTRAST, 0.0, 1.0)
    return float(np.mean(haze * loss))
