"""Quality flags: measures become flags, never drops.

Rain and fog lower global contrast; a plain sharpness threshold (variance of the Laplacian)
would flag every foggy or heavy-rain frame as blurry, and a plain brightness threshold would
call a dim, rainy dusk dark. So:

- ``blurry``: the *contrast-normalised* sharpness, √(Laplacian variance at 512 px) divided by
  the grey standard deviation of the 64×48 thumbnail, is below :data:`BLUR_RATIO`. A haze that
  scales contrast scales both terms alike; a defocus lowers only the first.
- ``dark``: the mean grey level of the thumbnail is below :data:`DARK_MEAN`, or more than
  :data:`CLIP_FRACTION` of the pixels are crushed to black.
- ``overexposed``: more than :data:`CLIP_FRACTION` of the pixels are blown to white.
- ``tiny``: the short side is below :data:`TINY_SHORT_SIDE` pixels.
- ``low-entropy``: a nearly flat frame (thumbnail std below :data:`LOW_ENTROPY_STD`) or a
  degenerate pHash; such frames all hash alike and are kept out of the near-duplicate search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rainset.dedupe.confirm import thumb_grey

BLUR_RATIO = 0.15
DARK_MEAN = 40.0
CLIP_FRACTION = 0.25
TINY_SHORT_SIDE = 256
LOW_ENTROPY_STD = 4.0
PHASH_MIN_BITS = 8  # a pHash with fewer (or more than 64 minus this) set bits is degenerate


@dataclass(frozen=True)
class QualityInput:
    """The stored measures of a capture's representative file."""

    width: int
    height: int
    sharpness: float | None
    clip_low: float | None
    clip_high: float | None
    thumb: bytes | None
    phash: int | None


def is_low_entropy(thumb: bytes | None, phash: int | None) -> bool:
    """A nearly flat frame or a degenerate pHash (kept out of the near-duplicate search)."""
    if phash is not None and not PHASH_MIN_BITS <= int(phash).bit_count() <= 64 - PHASH_MIN_BITS:
        return True
    return thumb is not None and float(thumb_grey(thumb).std()) < LOW_ENTROPY_STD


def sharpness_ratio(sharpness: float, thumb: bytes) -> float:
    """Contrast-normalised sharpness: √sharpness / thumbnail grey std (≥ 1 grey level)."""
    return float(np.sqrt(max(sharpness, 0.0)) / max(float(thumb_grey(thumb).std()), 1.0))


def quality_flags(q: QualityInput) -> list[str]:
    """The sorted quality flags of one capture."""
    flags: set[str] = set()
    if min(q.width, q.height) < TINY_SHORT_SIDE:
        flags.add("tiny")
    if is_low_entropy(q.thumb, q.phash):
        flags.add("low-entropy")
    if q.thumb is not None:
        mean = float(thumb_grey(q.thumb).mean())
        if mean < DARK_MEAN:
            flags.add("dark")
        if q.sharpness is not None and "low-entropy" not in flags and sharpness_ratio(q.sharpness, q.thumb) < BLUR_RATIO:
            flags.add("blurry")
    if q.clip_low is not None and q.clip_low > CLIP_FRACTION:
        flags.add("dark")
    if q.clip_high is not None and q.clip_high > CLIP_FRACTION:
        flags.add("overexposed")
    return sorted(flags)
