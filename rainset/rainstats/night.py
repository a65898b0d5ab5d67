"""Night: a dark frame, read from the luminance distribution and, when known, the exposure.

- From pixels: a logistic in the median luminance (sRGB-encoded, 0..1), 0.5 at
  ``_MID_LUMA`` and steep over ±``_LUMA_WIDTH``; a daylight frame has its median well above it,
  a night frame (dark sky, a few lamps) well below.
- From EXIF, when exposure time, f-number and ISO are all known: the exposure value at ISO 100,
  EV100 = log2(N² / t) − log2(ISO / 100). Daylight is EV100 ≈ 12–16, street lighting ≈ 3–7;
  a logistic 0.5 at ``_MID_EV``. The score is ``_EXIF_WEIGHT`` × the EXIF score + the rest × the
  pixel score: the pixels decide, the exposure tips ambiguous frames (and a wrong or edited EXIF
  cannot turn a daylight frame into night on its own).
"""

from __future__ import annotations

import math

import numpy as np

_MID_LUMA = 0.18
_LUMA_WIDTH = 0.035
_MID_EV = 8.0
_EV_WIDTH = 1.0
_EXIF_WEIGHT = 0.3


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x))))


def ev100(exposure_time: float | None, f_number: float | None, iso: float | None) -> float | None:
    """EV at ISO 100 from the exposure settings, or None when one of them is missing or invalid."""
    if not exposure_time or not f_number or not iso:
        return None
    if exposure_time <= 0 or f_number <= 0 or iso <= 0:
        return None
    return math.log2(f_number * f_number / exposure_time) - math.log2(iso / 100.0)


def night_score(y: np.ndarray, ev: float | None = None) -> float:
    """Night score 0..1 of luminance ``y`` (0..1), blended with the EXIF score when ``ev`` is known."""
    pixels = _logistic((_MID_LUMA - float(np.median(y))) / _LUMA_WIDTH)
    if ev is None:
        return pixels
    return (1.0 - _EXIF_WEIGHT) * pixels + _EXIF_WEIGHT * _logistic((_MID_EV - ev) / _EV_WIDTH)
