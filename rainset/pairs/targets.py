"""Pseudo-clean targets of one static segment, by method: the one entry point ``rainset pairs build`` calls.

``segment_targets(open_frames, shifts, method=...)`` yields one :class:`PairTarget` per frame of
the segment, in order: the target image in the frame's geometry and light, and a validity mask
(False where the target must not be trusted: moving objects, warp borders). Frames are read twice
(once to build the background, once to fit each frame's light), so the caller passes a function
that opens the segment's frames afresh each time; nothing holds the whole segment in memory.

Methods (``METHODS``):

- ``median``: registration + per-pixel temporal percentile (:mod:`rainset.pairs.background`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rainset.pairs.background import pseudo_clean, temporal_background

METHODS: tuple[str, ...] = ("median",)

FrameSource = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class PairTarget:
    """The pseudo-clean target of frame ``index`` (position within the segment).

    ``image``: H×W×3 uint8 in the frame's geometry and light; ``mask``: H×W bool, True where the
    target is valid; ``gain``: frame light / background light; ``rain_fraction``: share of fitted
    pixels set aside as rain; ``shift``: the frame's (dx, dy) against the segment's reference.
    """

    index: int
    image: np.ndarray
    mask: np.ndarray
    gain: float
    rain_fraction: float
    shift: tuple[float, float]

    @property
    def masked_fraction(self) -> float:
        """Share of the frame that is not valid."""
        return float(1.0 - self.mask.mean())


def border_mask(shape: tuple[int, ...], shift: tuple[float, float]) -> np.ndarray:
    """True everywhere but the rows/columns a warp by ``shift`` filled from the replicated border."""
    h, w = shape[:2]
    mask = np.ones((h, w), bool)
    b = int(math.ceil(max(abs(shift[0]), abs(shift[1]))))
    if b:
        mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = False, False, False, False
    return mask


def segment_targets(open_frames: FrameSource, shifts: np.ndarray, *, method: str = "median",
                    workdir: str | Path | None = None) -> Iterator[PairTarget]:
    """One :class:`PairTarget` per frame of the segment ``open_frames()`` yields, in order.

    Raises:
        ValueError: an unknown method, no frames, or fewer shifts than frames.
    """
    if method not in METHODS:
        raise ValueError(f"unknown pairs method {method!r} (known: {', '.join(METHODS)})")
    background = temporal_background(open_frames(), shifts, workdir=workdir)
    for i, frame in enumerate(open_frames()):
        shift = (float(shifts[i][0]), float(shifts[i][1]))
        t = pseudo_clean(frame, background, shift, index=i)
        yield PairTarget(index=i, image=t.image, mask=border_mask(frame.shape, shift), gain=t.gain,
                         rain_fraction=t.rain_fraction, shift=t.shift)
