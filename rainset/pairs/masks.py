"""Validity masks of pseudo-clean targets: moving objects (people, cars) and warp borders.

A pseudo-clean target is the static background under frame t's light; where something moved
through the scene in frame t (a passer-by, a car) the target shows the empty street, which is the
wrong answer for a deraining pair. Such objects are found in the residual ``frame − target``,
which holds rain, noise and objects, by shape and sign:

- **Rain** only adds light and is *thin*: streaks a few pixels wide (1–2 px per 640 px of frame
  width, plus defocus), oriented, fresh in every frame.
- **Objects** are *large connected blobs*, darker or brighter than the background.

So: pixels whose residual is below −``threshold`` in some channel (dark set) or above
``bright_threshold`` in some channel (bright set) are collected; each set is opened (erosion then
dilation) with a disk wider than any rain streak — ``bright_width`` × unit for the bright set, where rain lives, and the smaller
``dark_width`` × unit for the dark set, which rain never reaches (it only has to drop compression
ringing and misregistered edges), unit = frame width / 640. Blobs smaller than ``min_area`` ×
unit² are dropped; the rest are closed (holes where the object happens to match the background
are filled) and dilated by ``margin`` × unit. The result is False on objects and on the rows and
columns a warp by the frame's shift filled from the border (:func:`border_mask`).

Not done: persistence over frames (an object seen in neighbouring frames) — one frame's shape
test was enough on the reference footage (docs/pairs.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ObjectMask:
    """Moving objects of one frame: ``objects`` (H×W bool, True on an object, dilated) and how many blobs."""

    objects: np.ndarray
    count: int

    @property
    def fraction(self) -> float:
        return float(self.objects.mean())


def border_mask(shape: tuple[int, ...], shift: tuple[float, float]) -> np.ndarray:
    """True everywhere but the rows/columns a warp by ``shift`` filled from the replicated border."""
    h, w = shape[:2]
    mask = np.ones((h, w), bool)
    b = int(math.ceil(max(abs(shift[0]), abs(shift[1]))))
    if b:
        mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = False, False, False, False
    return mask


def _disk(diameter: float) -> np.ndarray:
    d = max(1, int(round(diameter)) | 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))


def _above(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """H×W uint8, 1 where ``a − b > threshold`` in some channel (uint8 images; a saturating
    subtraction is exact here, since a threshold ≥ 0 only looks at positive differences)."""
    if a.dtype == np.uint8 and b.dtype == np.uint8 and threshold >= 0:
        over = cv2.subtract(a, b) > threshold
    else:
        over = a.astype(np.float32) - b.astype(np.float32) > threshold
    if over.ndim == 3:  # channel by channel: a reduction over the short last axis is several times slower
        any_channel = over[..., 0].copy()
        for c in range(1, over.shape[2]):
            any_channel |= over[..., c]
        over = any_channel
    return over.view(np.uint8)


def _box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of ``mask``'s nonzero pixels grown by ``margin`` px (clipped to the image):
    an erosion or dilation by a kernel of at most ``margin`` px a side, run on that box alone, gives
    what it gives on the whole image (outside the box there is nothing for it to reach)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return slice(0, 0), slice(0, 0)
    h, w = mask.shape
    return (slice(max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin)),
            slice(max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin)))


def _open(mask: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """``cv2.morphologyEx(mask, MORPH_OPEN, disk)`` (uint8 0/1), faster where little survives the erosion.

    The erosion by the disk is contained in the erosion by its middle row (a subset of the disk);
    that cheap erosion bounds where the disk's can be non-zero, so the disk's erosion runs on that
    box alone (nothing at all when the row's leaves nothing: thin rain), and the dilation on the
    box of what the erosion left.
    """
    d = disk.shape[0]
    r = d // 2
    out = np.zeros_like(mask)
    row = cv2.erode(mask, disk[r:r + 1], anchor=(r, 0))
    box = _box(row, d)
    if box[0].stop == 0:
        return out
    core = cv2.erode(mask[box], disk)
    rows, cols = box
    # only what the row's erosion left can survive: cut the box back to it (the rest of the crop
    # sees the crop's edge, not the image's pixels)
    eroded = np.zeros_like(mask)
    inner = _box(row, 0)
    eroded[inner] = core[inner[0].start - rows.start: inner[0].stop - rows.start,
                         inner[1].start - cols.start: inner[1].stop - cols.start] & row[inner]
    grown = _box(eroded, d)
    if grown[0].stop == 0:
        return out
    out[grown] = cv2.dilate(eroded[grown], disk)
    return out


def moving_objects(frame: np.ndarray, target: np.ndarray, *, threshold: float = 12.0, bright_threshold: float = 12.0,
                   bright_width: float = 12.0, dark_width: float = 2.5, min_area: float = 100.0,
                   margin: float = 7.0) -> ObjectMask:
    """The blobs of ``frame − target`` that are not rain-shaped (module docstring); both H×W×3 uint8.

    Widths, ``min_area`` and ``margin`` are in units of frame width / 640 (pixels at 640 px wide).

    Raises:
        ValueError: frame and target differ in size.
    """
    if frame.shape != target.shape:
        raise ValueError(f"frame is {frame.shape}, target is {target.shape}: sizes differ")
    unit = frame.shape[1] / 640.0
    bright = _above(frame, target, bright_threshold)  # frame − target > threshold in some channel
    dark = _above(target, frame, threshold)  # frame − target < −threshold in some channel
    blobs = _open(bright, _disk(bright_width * unit)) | _open(dark, _disk(dark_width * unit))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area * unit * unit
    objects = keep[labels].astype(np.uint8)
    if keep.any():
        close, grow = _disk(8.0 * unit), _disk(2 * margin * unit + 1)
        box = _box(objects, close.shape[0] + grow.shape[0])  # what the closing and dilation can reach
        objects[box] = cv2.dilate(cv2.morphologyEx(objects[box], cv2.MORPH_CLOSE, close), grow)
    return ObjectMask(objects=objects.astype(bool), count=int(keep.sum()))


def validity_mask(frame: np.ndarray, target: np.ndarray, shift: tuple[float, float] = (0.0, 0.0),
                  **options: float) -> tuple[np.ndarray, ObjectMask]:
    """(mask, objects): the mask is True where the target is valid — off moving objects and off the warp border."""
    objects = moving_objects(frame, target, **options)
    return border_mask(frame.shape, shift) & ~objects.objects, objects
