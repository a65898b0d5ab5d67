"""Rain-aware confirmation of candidate pairs: is it the same frame, or the same scene?

Rain streaks barely move a 32×32 DCT hash, so a rainy frame and its clean twin, or two burst
frames with different rain, collide on pHash. A candidate pair is therefore compared again on
the previews at a higher resolution (long side :data:`COMPARE_SIDE`):

1. both frames are resized once to the smaller one's size and blurred lightly
   (σ = :data:`BLUR_SIGMA`: JPEG noise and grain go, streaks stay); one is aligned onto the
   other by ECC (an affine warp: absorbs resizing, a crop of a few per cent, a small rotation,
   a hand-held shift);
2. gain and offset are fitted (absorbs a brightness change, a global haze);
3. the *tolerant difference* is taken: a pixel differs only when it lies outside the range of
   the other frame's 3×3 neighbourhood, in either direction, so sub-pixel misregistration and
   JPEG ringing at edges do not count, while a thin rain streak present in one frame only does;
4. ``score`` is the fraction of pixels whose tolerant difference exceeds :data:`PIXEL_TOLERANCE`
   (pixels clipped to white in either frame left out). The frame that is warped gets resampled,
   which softens its streaks, so the pair is compared both ways and the larger score kept.

``near-duplicate`` when ``score`` ≤ :data:`NEAR_MAX_SCORE`; otherwise ``same-scene`` when the
aligned frames still correlate (ECC ≥ :data:`SCENE_MIN_CORR`), else ``distinct``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

COMPARE_SIDE = 384
PIXEL_TOLERANCE = 10.0
NEAR_MAX_SCORE = 0.0055
BLUR_SIGMA = 0.8
SCENE_MIN_CORR = 0.6
CLIPPED = 250.0  # pixels this bright in either frame are left out of the score
_BORDER = 4


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two frames: relation, tolerant-difference score, ECC correlation."""

    relation: str  # near-duplicate | same-scene | distinct
    score: float
    corr: float
    size: tuple[int, int] = (0, 0)  # (width, height) both frames were compared at
    warp: np.ndarray | None = field(default=None, compare=False, repr=False)  # 2×3, a → b (inverse map)
    residual: np.ndarray | None = field(default=None, compare=False, repr=False)  # |difference| in a's frame


def read_grey(path: Path) -> np.ndarray | None:
    """A preview as a grey uint8 array (None when it cannot be read)."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def _common_size(a: np.ndarray, b: np.ndarray, side: int) -> tuple[int, int]:
    """(width, height) both frames are brought to: the smaller one's shape, long side ≤ ``side``."""
    small = a if a.size <= b.size else b
    h, w = small.shape
    f = min(1.0, side / max(h, w))
    return max(8, round(w * f)), max(8, round(h * f))


def thumb_grey(thumb: bytes, width: int = 64, height: int = 48) -> np.ndarray:
    """The 64×48 grey thumbnail stored at ingest, as an array (fallback when a preview is missing)."""
    return np.frombuffer(thumb, np.uint8).reshape(height, width)


def _align(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Warp ``b`` (already at ``a``'s size) onto ``a``; returns (warped b, valid mask, ECC correlation, warp)."""
    h, w = a.shape
    af, bf = a.astype(np.float32), b.astype(np.float32)
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    try:
        corr, warp = cv2.findTransformECC(af, bf, warp, cv2.MOTION_AFFINE, criteria, None, 5)
    except cv2.error:  # did not converge: the frames do not line up
        corr = float(np.corrcoef(af.ravel(), bf.ravel())[0, 1]) if af.std() > 0 and bf.std() > 0 else 0.0
        warp = np.eye(2, 3, dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(bf, warp, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpAffine(np.ones((h, w), np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.erode(mask, np.ones((2 * _BORDER + 1, 2 * _BORDER + 1), np.uint8)) > 0
    return warped, mask, float(corr), warp


def _tolerant_difference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, how far ``a`` is brighter / darker than anything in ``b``'s 3×3 neighbourhood.

    Both directions are measured against each frame's own neighbourhood too, so a thin streak in
    either frame counts. Returns (``a`` brighter, ``b`` brighter), both ≥ 0.
    """
    k = np.ones((3, 3), np.uint8)
    a_max, a_min = cv2.dilate(a, k), cv2.erode(a, k)
    b_max, b_min = cv2.dilate(b, k), cv2.erode(b, k)
    a_brighter = np.maximum(np.maximum(a - b_max, a_min - b), 0.0)
    b_brighter = np.maximum(np.maximum(b - a_max, b_min - a), 0.0)
    return a_brighter, b_brighter


def compare_frames(a: np.ndarray, b: np.ndarray, side: int = COMPARE_SIDE) -> Comparison:
    """Compare two grey frames of one candidate pair (any sizes, full preview resolution).

    Both are resized once (INTER_AREA) to the smaller one's shape with its long side at most
    ``side``; ``b`` is then aligned onto ``a``.

    Returns:
        Comparison with the relation, the fraction of differing pixels and the ECC correlation.
    """
    size = _common_size(a, b, side)
    a, b = (cv2.GaussianBlur(x if x.shape[::-1] == size else cv2.resize(x, size, interpolation=cv2.INTER_AREA),
                             (0, 0), BLUR_SIGMA) for x in (a, b))  # one resampling each, then denoise
    first, second = _one_way(a, b), _one_way(b, a)  # the warped frame is resampled (softened):
    score, corr = max(first[0], second[0]), min(first[1], second[1])  # judge both ways, keep the worse
    rel = "near-duplicate" if score <= NEAR_MAX_SCORE else "same-scene" if corr >= SCENE_MIN_CORR else "distinct"
    return Comparison(rel, score, corr, size, first[2], first[3])


def _one_way(a: np.ndarray, b: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(score, ECC correlation, warp, residual map) of ``b`` warped onto ``a``."""
    warped, mask, corr, warp = _align(a, b)
    af = a.astype(np.float32)
    if mask.sum() < 0.5 * mask.size:
        return 1.0, corr, warp, np.zeros_like(af)
    x, y = warped[mask], af[mask]
    var = float(x.var())
    gain = float(((x - x.mean()) * (y - y.mean())).mean() / var) if var > 1e-6 else 1.0
    fitted = (warped - x.mean()) * gain + y.mean()
    brighter, darker = _tolerant_difference(af, fitted.astype(np.float32))
    mask &= (af < CLIPPED) & (warped < CLIPPED)  # a brightened copy clips where the original did not
    residual = np.where(mask, np.abs(af - fitted), 0.0).astype(np.float32)
    if not mask.any():
        return 1.0, corr, warp, residual
    diff = np.maximum(brighter, darker)[mask]
    return float(np.count_nonzero(diff > PIXEL_TOLERANCE)) / float(mask.sum()), corr, warp, residual
