"""Pseudo-clean targets of one static segment, by method: the one entry point ``rainset pairs build`` calls.

``segment_targets(open_frames, shifts, method=...)`` yields one :class:`PairTarget` per frame of
the segment, in order: the target image in the frame's geometry and light, and a validity mask
(False where the target must not be trusted: moving objects, warp borders). Frames are needed twice
(once to build the background, once to fit each frame's light and mask), so the caller passes a
function that opens the segment's frames; by default it is called once and the frames are kept, as
decoded, in a scratch file for the second pass (a decode costs far more than reading them back);
``keep_frames=False`` calls it twice instead, for a source that already is such a file (``rainset
pairs build``'s window spill). Nothing holds the whole segment in memory.

Methods (``METHODS``):

- ``median``: registration + per-pixel temporal percentile (:mod:`rainset.pairs.background`), one
  global gain per frame.
- ``lowrank``: registration + robust low-rank background with non-negative sparse rain
  (:mod:`rainset.pairs.lowrank`); the light of frame t comes from its row of the low-rank factors.

Both masks moving objects (:mod:`rainset.pairs.masks`, from the residual frame − target) and the
warp border.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rainset.pairs.background import Spill, pseudo_clean, temporal_background, unregister
from rainset.pairs.lowrank import lowrank_background
from rainset.pairs.masks import border_mask, validity_mask

__all__ = ["METHODS", "FrameSource", "PairTarget", "border_mask", "segment_targets"]

METHODS: tuple[str, ...] = ("median", "lowrank")

FrameSource = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class PairTarget:
    """The pseudo-clean target of frame ``index`` (position within the segment).

    ``image``: H×W×3 uint8 in the frame's geometry and light; ``mask``: H×W bool, True where the
    target is valid; ``gain``: frame light / background light; ``rain_fraction``: share of fitted
    pixels set aside as rain; ``shift``: the frame's (dx, dy) against the segment's reference;
    ``objects``: moving objects masked out.
    """

    index: int
    image: np.ndarray
    mask: np.ndarray
    gain: float
    rain_fraction: float
    shift: tuple[float, float]
    objects: int = 0  # moving objects masked in this frame (rainset.pairs.masks)

    @property
    def masked_fraction(self) -> float:
        """Share of the frame that is not valid."""
        return float(1.0 - self.mask.mean())


def _kept(frames: Iterable[np.ndarray], spill: Spill) -> Iterator[np.ndarray]:
    """``frames`` passed through, each also appended to ``spill``."""
    for frame in frames:
        spill.append(frame)
        yield frame


def segment_targets(open_frames: FrameSource, shifts: np.ndarray, *, method: str = "median",
                    workdir: str | Path | None = None, keep_frames: bool = True) -> Iterator[PairTarget]:
    """One :class:`PairTarget` per frame of the segment ``open_frames()`` yields, in order.

    ``keep_frames``: call ``open_frames`` once and read the frames back from a scratch file in
    ``workdir`` for the second pass (True), or call it again (False: a source that is cheap to
    read twice).

    Raises:
        ValueError: an unknown method, no frames, or fewer shifts than frames.
    """
    if method not in METHODS:
        raise ValueError(f"unknown pairs method {method!r} (known: {', '.join(METHODS)})")
    kept = Spill(workdir) if keep_frames else None
    try:
        yield from _targets(open_frames, shifts, method, workdir, kept)
    finally:
        if kept is not None:
            kept.close()


def _targets(open_frames: FrameSource, shifts: np.ndarray, method: str, workdir: str | Path | None,
             kept: Spill | None) -> Iterator[PairTarget]:
    first = open_frames() if kept is None else _kept(open_frames(), kept)
    if method == "lowrank":
        low = lowrank_background(first, shifts, workdir=workdir)

        def target(i: int, frame: np.ndarray, shift: tuple[float, float]) -> tuple[np.ndarray, float, float]:
            image = np.clip(np.rint(unregister(low.frame(i), shift)), 0, 255).astype(np.uint8)
            return image, float(low.light[i]), float(low.rain_fraction[i])
    else:
        background = temporal_background(first, shifts, workdir=workdir)

        def target(i: int, frame: np.ndarray, shift: tuple[float, float]) -> tuple[np.ndarray, float, float]:
            t = pseudo_clean(frame, background, shift, index=i)
            return t.image, t.gain, t.rain_fraction

    for i, frame in enumerate(open_frames() if kept is None else kept.frames()):
        shift = (float(shifts[i][0]), float(shifts[i][1]))
        image, gain, rain = target(i, frame, shift)
        mask, objects = validity_mask(frame, image, shift)
        yield PairTarget(index=i, image=image, mask=mask, gain=gain, rain_fraction=rain, shift=shift,
                         objects=objects.count)
