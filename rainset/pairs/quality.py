"""How far a pseudo-clean target can be trusted: residual motion, light change, masked share → one score.

``quality = motion × light × coverage``, each factor in 0..1 and falling linearly to 0 at its limit:

- ``motion = 1 - residual_motion / MOTION_LIMIT``: ``residual_motion`` (px) is what registration
  left: the shift between the rainy frame and its target, measured like camera motion (phase
  correlation of small grey images, refined by ECC at full resolution on a 384-px centre crop,
  :mod:`rainset.pairs.motion`). A correct target sits at 0 px (~0.1 px is the measurement's own
  noise on rainy H.264 frames); at ``MOTION_LIMIT`` = 1 px edges are doubled and the pair is
  worthless for supervision.
- ``light = 1 - light_change / LIGHT_LIMIT``: ``light_change`` = |gain - 1|, the frame's light
  against the window's background. The target keeps the frame's light through one global gain;
  the further the light moved from the background's, the less one gain explains it (a cloud,
  a lamp switching on). ``LIGHT_LIMIT`` = 0.5.
- ``coverage = 1 - masked_fraction / MASK_LIMIT``: the share of the frame outside the validity
  mask (moving objects, warp borders); at ``MASK_LIMIT`` = 0.5 half the frame has no target.

``DEFAULT_MIN_QUALITY`` = 0.5 is the ``--min-quality`` default: on the issue's footage (±3 px
shake, ±8 % light) every target passes (~0.7–0.9).
"""

from __future__ import annotations

import math

import numpy as np

from rainset.pairs.motion import centre_crop_grey, phase_shift, refine_shift, small_grey

MOTION_LIMIT = 1.0  # px
LIGHT_LIMIT = 0.5  # |gain - 1|
MASK_LIMIT = 0.5  # share of the frame
DEFAULT_MIN_QUALITY = 0.5


def residual_motion(frame: np.ndarray, target: np.ndarray, *, max_side: int = 320, refine_side: int = 384) -> float:
    """Pixels between ``frame`` and its target (both RGB uint8 in the frame's geometry): what
    registration left, measured as camera motion is (phase correlation, then ECC).

    Smaller than the motion pass (phase on ≤ 320 px, ECC on a 384-px centre crop at full
    resolution): the answer is an error estimate, not a shift to warp by, and this runs once per pair.
    """
    t_small, scale = small_grey(target, max_side)
    f_small, _ = small_grey(frame, max_side)
    dx, dy, _ = phase_shift(t_small, f_small)
    dx, dy = refine_shift(centre_crop_grey(target, refine_side), centre_crop_grey(frame, refine_side),
                          dx / scale, dy / scale)
    return float(math.hypot(dx, dy))


def _falling(value: float, limit: float) -> float:
    return min(1.0, max(0.0, 1.0 - value / limit))


def pair_quality(residual: float, light_change: float, masked_fraction: float) -> float:
    """The 0..1 quality of a pair (1: trust it fully); see the module docstring for the definition."""
    return (_falling(residual, MOTION_LIMIT) * _falling(light_change, LIGHT_LIMIT)
            * _falling(masked_fraction, MASK_LIMIT))
