"""Camera motion per frame by phase correlation, and static segments of a sequence.

Coarse to fine. Each frame is reduced to a small grey image (longest side ``max_side``, INTER_AREA,
a light Gaussian blur that smears thin rain streaks) and phase-correlated (``cv2.phaseCorrelate``,
Hanning window, sub-pixel peak) against the reference frame and against the frame before it. The
shift against the reference is then refined by ECC (``cv2.findTransformECC``, translation only,
started at the phase-correlation answer; invariant to gain and offset) at full resolution on a
``grid`` × ``grid`` set of crops of at most ``grid_side`` px spread over the frame (above 1600 px;
below, one centre crop of ``refine_side`` px covers most of the frame), optionally with highlights
clipped at the ``clip`` percentile (rain is bright; measured no better, so off by default), and
the median of the crops'
answers is kept: the phase peak alone is off by up to ~0.5 px at 720p and ~0.8–1.9 px at 2K–4K
(scaled up from the 640-px copy), one centre crop follows whatever crosses the centre, the median of
nine does not (tests/test_pairs_motion.py, docs/pairs.md). The cost is bounded by the crops
(9 × 512² px, whatever the frame size; 768² px up to 1600 px). A crop whose ECC does not converge, or moves more than
``max_change`` px from the start, votes for the phase answer. Shifts are in full-resolution
pixels: ``shift`` (dx, dy) means the frame shows the reference moved by (dx, dy), so
``frame(x + dx, y + dy) ≈ reference(x, y)``.

Fresh rain every frame does not correlate from frame to frame, so it only lowers the peak
(``response``); a global light change does not move the peak at all (the cross-power spectrum is
normalised).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionTrack:
    """Per-frame camera motion of a sequence.

    ``shifts[i]``: (dx, dy) of frame i against the reference frame, full-resolution pixels;
    ``steps[i]``: (dx, dy) of frame i against frame i-1 (zeros for frame 0);
    ``response[i]``: the phase-correlation peak against the reference (near 1: clean match, near
    0: no match, e.g. after a pan left the reference's view); ``scale``: small/full size ratio.
    """

    reference: int | None  # 0: the first frame; None: a reference frame given by the caller
    shifts: np.ndarray  # (N, 2) float64
    steps: np.ndarray  # (N, 2) float64
    response: np.ndarray  # (N,) float64
    scale: float


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``stop - 1`` where the camera holds still up to ``shake`` pixels
    (the largest distance of a frame's shift from the segment's median shift)."""

    start: int
    stop: int
    shake: float

    def __len__(self) -> int:
        return self.stop - self.start


def small_grey(frame: np.ndarray, max_side: int = 640) -> tuple[np.ndarray, float]:
    """An RGB uint8 frame as float32 grey with its longest side at most ``max_side``, and the scale used."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    h, w = grey.shape
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        grey = cv2.resize(grey, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    return grey, scale


def phase_shift(reference: np.ndarray, frame: np.ndarray, window: np.ndarray | None = None) -> tuple[float, float, float]:
    """(dx, dy, response) of ``frame`` against ``reference`` (two float32 grey images of one size)."""
    if window is None:
        window = cv2.createHanningWindow(reference.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(reference - reference.mean(), frame - frame.mean(), window)
    return float(dx), float(dy), float(response)


def refine_shift(reference: np.ndarray, frame: np.ndarray, dx: float, dy: float, *,
                 iterations: int = 50, eps: float = 1e-4, max_change: float = 2.0) -> tuple[float, float]:
    """(dx, dy) refined by ECC from the start (dx, dy); the start when ECC fails to converge or
    moves more than ``max_change`` pixels away from it (both images at one scale)."""
    warp = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)
    try:
        _, warp = cv2.findTransformECC(reference, frame, warp, cv2.MOTION_TRANSLATION, criteria, None, 1)
    except cv2.error:  # "The algorithm stopped before its convergence" or a degenerate image
        return dx, dy
    rx, ry = float(warp[0, 2]), float(warp[1, 2])
    if np.hypot(rx - dx, ry - dy) > max_change:  # ECC wandered off to another optimum
        return dx, dy
    return rx, ry


def centre_crop_grey(frame: np.ndarray, side: int) -> np.ndarray:
    """The frame's centre, at most ``side`` px a side, as blurred float32 grey at full resolution."""
    h, w = frame.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y, x = (h - ch) // 2, (w - cw) // 2
    crop = frame[y:y + ch, x:x + cw]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)


def crop_boxes(shape: tuple[int, int], side: int, grid: int = 3) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) of ``grid`` × ``grid`` crops of at most ``side`` px a side spread over a frame of
    ``shape`` (h, w): each centred on a cell of an even grid over the frame and moved inside it;
    crops that land on the same box are kept once, so a frame no larger than ``side`` gets one crop
    (the whole frame), and ``grid`` = 1 the centre crop alone."""
    h, w = shape
    ch, cw = min(h, side), min(w, side)
    g = max(1, grid)
    boxes: list[tuple[int, int, int, int]] = []
    for j in range(g):
        for i in range(g):
            y = min(max(round((2 * j + 1) / (2 * g) * h - ch / 2), 0), h - ch)
            x = min(max(round((2 * i + 1) / (2 * g) * w - cw / 2), 0), w - cw)
            if (y, x, ch, cw) not in boxes:
                boxes.append((y, x, ch, cw))
    return boxes


def crop_grey(frame: np.ndarray, box: tuple[int, int, int, int], *, clip: float | None = None) -> np.ndarray:
    """One crop ``box`` (y, x, h, w) of the frame as blurred float32 grey at full resolution; ``clip``:
    values above that percentile of the crop are cut down to it (rain is bright: streaks then
    no longer pull ECC, the scene's darker structure does; ECC is invariant to the gain and
    offset a light change brings, and the percentile follows them). None: no clipping."""
    y, x, h, w = box
    crop = frame[y:y + h, x:x + w]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    grey = grey.astype(np.float32)
    if clip is not None:
        np.minimum(grey, np.float32(np.percentile(grey[::4, ::4], clip)), out=grey)
    return cv2.GaussianBlur(grey, (0, 0), 1.0)


def refine_crops(ref_crops: list[np.ndarray], frame: np.ndarray, boxes: list[tuple[int, int, int, int]],
                 dx: float, dy: float, *, clip: float | None = None, max_change: float = 2.0) -> tuple[float, float]:
    """(dx, dy) refined by ECC on each crop (``ref_crops`` cut from the reference at ``boxes``),
    combined by the median of the crops' answers (a crop whose ECC failed keeps the start and so
    votes for it); with one crop, that crop's answer."""
    answers = [refine_shift(ref, crop_grey(frame, box, clip=clip), dx, dy, max_change=max_change)
               for ref, box in zip(ref_crops, boxes)]
    mx, my = np.median(np.array(answers), axis=0)
    return float(mx), float(my)


def estimate_motion(frames: Iterable[np.ndarray], *, reference: np.ndarray | None = None,
                    max_side: int = 640, refine: bool = True, refine_side: int = 768,
                    grid: int | None = None, grid_side: int = 512, grid_from: int = 1600,
                    clip: float | None = None, max_change: float = 2.0) -> MotionTrack:
    """Camera motion of every frame against ``reference`` (default: the first frame) and its predecessor.

    Coarse to fine: phase correlation on ≤``max_side``-px copies, then (``refine``) ECC at full
    resolution on ``grid`` × ``grid`` crops of ≤``grid_side`` px spread over the frame
    (:func:`crop_boxes`; ``grid=1``: one centre crop of ≤``refine_side`` px; ``grid=None``: 1 for
    frames whose longest side is at most ``grid_from`` px, where the centre crop covers most of the
    frame and measured best, else 3), highlights clipped at the ``clip``
    percentile (:func:`crop_grey`; None, the default: not clipped), the median of the crops' answers kept; a
    crop's ECC may move the start by at most ``max_change`` px.

    Frames are consumed one at a time (an iterator of decoded frames keeps memory at one frame).

    Raises:
        ValueError: no frames, or frames of different sizes.
    """
    ref_small = scale = window = prev = None
    shape = None
    boxes: list[tuple[int, int, int, int]] = []
    ref_crops: list[np.ndarray] = []
    shifts, steps, response = [], [], []
    for frame in frames:
        small, s = small_grey(frame, max_side)
        if shape is None:
            shape = frame.shape[:2]
            scale = s
            window = cv2.createHanningWindow(small.shape[::-1], cv2.CV_32F)
            ref_small = small if reference is None else small_grey(reference, max_side)[0]
            if ref_small.shape != small.shape:
                raise ValueError(f"reference frame is {reference.shape[1]}x{reference.shape[0]}, "
                                 f"frames are {shape[1]}x{shape[0]}")
            if refine:
                g = grid if grid is not None else (1 if max(shape) <= grid_from else 3)
                boxes = crop_boxes(shape, refine_side if g == 1 else grid_side, g)
                ref_full = frame if reference is None else reference
                ref_crops = [crop_grey(ref_full, box, clip=clip) for box in boxes]
        elif frame.shape[:2] != shape:
            raise ValueError(f"frame {len(shifts)} is {frame.shape[1]}x{frame.shape[0]}, "
                             f"the first was {shape[1]}x{shape[0]}")
        dx, dy, r = phase_shift(ref_small, small, window)
        dx, dy = dx / scale, dy / scale
        if refine:
            dx, dy = refine_crops(ref_crops, frame, boxes, dx, dy, clip=clip, max_change=max_change)
        shifts.append((dx, dy))
        response.append(r)
        if prev is None:
            steps.append((0.0, 0.0))
        else:
            sx, sy, _ = phase_shift(prev, small, window)
            steps.append((sx / scale, sy / scale))
        prev = small
    if shape is None:
        raise ValueError("no frames to estimate motion from")
    return MotionTrack(reference=0 if reference is None else None, shifts=np.array(shifts, np.float64),
                       steps=np.array(steps, np.float64), response=np.array(response, np.float64), scale=float(scale))


def static_segments(shifts: np.ndarray, steps: np.ndarray | None = None, *, max_shake: float = 8.0,
                    max_step: float = 2.5, min_frames: int = 8) -> list[Segment]:
    """Cut a sequence into segments where the camera is still or shakes little enough to register away.

    A frame joins the running segment while (1) its move from the previous frame (``steps``, or
    the difference of consecutive ``shifts`` when not given) is at most ``max_step`` pixels — a jump
    or a pan moves further than shake does between two frames — and (2) its position stays within
    ``max_shake`` pixels of the segment's first frame, so slow drift also ends a segment. The
    position is the running sum of ``steps`` when given (shifts against a reference mean nothing
    once a pan has left its view), else ``shifts``. Defaults: shake that random-walks within ±3 px
    (the issue's footage, up to 6 px end to end) registers cleanly; more than 8 px away from the
    segment's start, or a 2.5 px move between two frames, is camera motion. Segments shorter than ``min_frames`` are dropped (too few frames for a
    temporal median to remove rain).
    """
    shifts = np.asarray(shifts, np.float64).reshape(-1, 2)
    if steps is None:
        steps = np.vstack([np.zeros((1, 2)), np.diff(shifts, axis=0)]) if len(shifts) else np.zeros((0, 2))
    else:
        steps = np.asarray(steps, np.float64).reshape(-1, 2)
        shifts = np.cumsum(steps, axis=0)
    cuts: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(shifts)):
        moved = np.hypot(*steps[i]) > max_step
        drifted = np.hypot(*(shifts[i] - shifts[start])) > max_shake
        if moved or drifted:
            cuts.append((start, i))
            start = i
    if len(shifts):
        cuts.append((start, len(shifts)))
    out = []
    for a, b in cuts:
        if b - a < min_frames:
            continue
        centre = np.median(shifts[a:b], axis=0)
        out.append(Segment(a, b, float(np.max(np.hypot(*(shifts[a:b] - centre).T)))))
    return out
