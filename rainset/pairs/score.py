"""PSNR of a pseudo-clean target against the true background (issue 20's protocol).

The target is first aligned to the truth: a sub-pixel translation found by phase correlation of the
two grey images (``cv2.phaseCorrelate``, Hanning window), applied with bicubic warping, then one
global gain fitted by least squares; PSNR (peak 255) is computed on the frame minus a ``border``
(24 px) so warp edges and the frame's rim do not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from rainset.pairs.background import register
from rainset.pairs.motion import phase_shift


@dataclass(frozen=True)
class AlignedScore:
    """PSNR (dB) after alignment, and the alignment used: translation (dx, dy) and gain."""

    psnr: float
    dx: float
    dy: float
    gain: float
    border: int


def aligned_psnr(target: np.ndarray, truth: np.ndarray, *, border: int = 24, max_shift: float = 8.0,
                 peak: float = 255.0, mask: np.ndarray | None = None) -> AlignedScore:
    """PSNR of ``target`` against ``truth`` (H×W[×3], same size) after translation + gain alignment.

    A translation larger than ``max_shift`` pixels is taken as a failed match and not applied.
    ``mask`` (H×W bool, e.g. a pair's validity mask): the gain and the PSNR count only its True
    pixels inside the border.

    Raises:
        ValueError: sizes differ, the frame is not larger than twice the border, or the mask has
            another size or leaves no pixel.
    """
    if mask is not None and mask.shape != truth.shape[:2]:
        raise ValueError(f"mask is {mask.shape}, the frame is {truth.shape[:2]}: sizes differ")
    if target.shape != truth.shape:
        raise ValueError(f"target is {target.shape}, truth is {truth.shape}: sizes differ")
    h, w = truth.shape[:2]
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"a {w}x{h} frame leaves nothing inside a {border}-px border")
    t = target.astype(np.float32)
    x = truth.astype(np.float32)
    grey = (lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)) if t.ndim == 3 else (lambda a: a)
    dx, dy, _ = phase_shift(grey(x), grey(t))
    if math.hypot(dx, dy) > max_shift:
        dx = dy = 0.0
    aligned = register(t, (dx, dy))
    inner = (slice(border, h - border), slice(border, w - border))
    a, b = aligned[inner], x[inner]  # float32 pixels, float64 sums: 1080p scores in ~100 MB
    if mask is not None:
        keep = mask[inner]
        if not keep.any():
            raise ValueError("the mask leaves no pixel inside the border to score")
        a, b = a[keep], b[keep]
    denom = float(np.sum(a * a, dtype=np.float64))
    gain = float(np.sum(a * b, dtype=np.float64) / denom) if denom > 0 else 1.0
    diff = a * np.float32(gain) - b
    mse = float(np.sum(diff * diff, dtype=np.float64) / diff.size)
    psnr = math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)
    return AlignedScore(psnr=psnr, dx=dx, dy=dy, gain=gain, border=border)
