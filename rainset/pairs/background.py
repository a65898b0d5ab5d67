"""Registration of a static segment and its fast pseudo-clean targets (temporal median, light kept).

Pipeline for one segment (SPA-Data's baseline, our own code):

1. :func:`register` warps each frame onto the reference frame by its sub-pixel translation
   (``cv2.warpAffine``, bicubic — it keeps ~3 dB more detail than bilinear on the
   320×240 test footage —, replicated border) — shifts come from :mod:`rainset.pairs.motion`.
2. :func:`temporal_background` takes a per-pixel temporal percentile of the registered frames. The
   registered frames are spilled one at a time to a scratch file and the statistic is computed in
   horizontal bands of ``band_rows`` rows, so memory holds one frame plus one band of all frames:
   a 48-frame 1080p segment peaked at 222 MiB RSS in all, 110 of it the imports (docs/pairs.md),
   where holding the frames alone would take 300 MB.
   Choice of statistic: rain only ever adds light, so a pixel's rain-free value sits below its
   median whenever streaks cover it in several frames; the default is the 40th percentile. On the
   issue's footage (docs/pairs.md) it scores +3.1 dB over the median at 1080p, where streaks are
   denser, and -0.3 dB at 720p; much lower percentiles start to follow compression noise and the
   darker frames of a light change downwards (the gain fit of step 3 then sets the level).
3. :func:`pseudo_clean` moves the background back into frame t's geometry and scales it by one
   global gain fitted between frame t and the background on pixels that are not rain: the median
   of the ratio frame/background, after dropping pixels where the frame is brighter than the
   scaled background by more than ``rain_margin`` grey levels (rain streaks), twice. The target
   for frame t thus matches frame t's light.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class Background:
    """The rain-free background of a segment in the reference frame's geometry (H×W×3 float32, 0..255)."""

    image: np.ndarray
    frames: int
    percentile: float

    def as_uint8(self) -> np.ndarray:
        """The background rounded to uint8: a rain-free reference for a second motion pass
        (``estimate_motion(frames, reference=bg.as_uint8())``, see docs/pairs.md)."""
        return np.clip(np.rint(self.image), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Target:
    """The pseudo-clean target of one rainy frame: ``image`` (H×W×3 uint8) in the frame's geometry and light.

    ``gain``: frame light / background light; ``rain_fraction``: share of the fitted pixels that
    were set aside as rain; ``shift``: the frame's (dx, dy) against the reference.
    """

    index: int
    image: np.ndarray
    gain: float
    rain_fraction: float
    shift: tuple[float, float]


def _cubic_taps(t: float, a: float = -0.75) -> np.ndarray:
    """The four bicubic weights (OpenCV's ``INTER_CUBIC``, a = −0.75) of the samples at −1, 0, 1, 2
    for a point at fraction ``t`` (0 ≤ t < 1) past sample 0."""
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    return np.array([w0, w1, w2, 1.0 - w0 - w1 - w2], np.float32)


def _translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``out(x, y) = image(x + dx, y + dy)`` (bicubic, replicated border).

    A translation moves every pixel by the same fraction, so the bicubic warp is one separable
    4-tap filter (``cv2.sepFilter2D``) on the image padded by its replicated border, cut at the
    whole-pixel part of the shift: what ``cv2.warpAffine(..., INTER_CUBIC, BORDER_REPLICATE)``
    gives (at most 1 level apart on a few uint8 pixels), 3–4× faster.
    """
    ix, iy = math.floor(dx), math.floor(dy)
    h, w = image.shape[:2]
    pad = max(abs(ix), abs(iy)) + 3
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    out = cv2.sepFilter2D(padded, -1, _cubic_taps(dx - ix), _cubic_taps(dy - iy), borderType=cv2.BORDER_REPLICATE)
    # out(x', y') = Σ k_j padded(x' + j − 2): the taps at −1..2 around x + dx sit at x' = x + pad + ix + 1
    return out[pad + iy + 1: pad + iy + 1 + h, pad + ix + 1: pad + ix + 1 + w]


def register(frame: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``frame`` moved onto the reference's geometry, given its (dx, dy) against the reference."""
    return _translate(frame, float(shift[0]), float(shift[1]))


def unregister(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """An image in the reference's geometry moved into the geometry of a frame with shift (dx, dy)."""
    return _translate(image, -float(shift[0]), -float(shift[1]))


class Spill:
    """Registered uint8 frames written one after another to a scratch file, read back by row bands.

    The one scratch spill of the pairs methods (:func:`temporal_background` here,
    :func:`rainset.pairs.lowrank.lowrank_background`): memory holds one band of all frames, not the segment.
    """

    def __init__(self, workdir: str | Path | None) -> None:
        self.file = tempfile.TemporaryFile(dir=workdir)
        self.count = 0
        self.shape: tuple[int, ...] | None = None

    def append(self, image: np.ndarray) -> None:
        if self.shape is None:
            self.shape = image.shape
        elif image.shape != self.shape:
            raise ValueError(f"frame {self.count} is {image.shape[1]}x{image.shape[0]}, "
                             f"the first was {self.shape[1]}x{self.shape[0]}")
        self.file.write(np.ascontiguousarray(image, np.uint8).tobytes())
        self.count += 1

    def band(self, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        """Rows r0..r1-1 of every frame, as (N, r1-r0, W, C) in ``out``'s leading part."""
        assert self.shape is not None
        row = int(np.prod(self.shape[1:]))
        frame_bytes = row * self.shape[0]
        view = out[:, : r1 - r0]
        for i in range(self.count):
            self.file.seek(i * frame_bytes + r0 * row)
            self.file.readinto(memoryview(view[i]).cast("B"))
        return view

    def frames(self) -> Iterator[np.ndarray]:
        """The frames in the order they were appended, one at a time (each a fresh array)."""
        if self.shape is None:
            return
        self.file.flush()
        size = int(np.prod(self.shape))
        for i in range(self.count):
            data = os.pread(self.file.fileno(), size, i * size)
            yield np.frombuffer(data, np.uint8).reshape(self.shape)

    def close(self) -> None:
        self.file.close()


def spill_registered(frames: Iterable[np.ndarray], shifts: np.ndarray | None,
                     workdir: str | Path | None = None) -> Spill:
    """The segment's frames registered by ``shifts`` (None: as they are) in a :class:`Spill`; the caller closes it.

    Raises:
        ValueError: no frames, frames of different sizes, or fewer shifts than frames.
    """
    spill = Spill(workdir)
    try:
        for i, frame in enumerate(frames):
            if shifts is not None:
                if i >= len(shifts):
                    raise ValueError(f"{len(shifts)} shifts for more frames than that")
                frame = register(frame, tuple(shifts[i]))
            spill.append(frame)
        if spill.shape is None:
            raise ValueError("no frames to build a background from")
    except BaseException:
        spill.close()
        raise
    return spill


def temporal_background(frames: Iterable[np.ndarray], shifts: np.ndarray | None = None, *,
                        percentile: float = 40.0, band_rows: int = 64,
                        workdir: str | Path | None = None) -> Background:
    """The per-pixel temporal ``percentile`` (default 40; 50 is the median) of a segment's frames after registration.

    Args:
        frames: the segment's RGB uint8 frames, consumed one at a time.
        shifts: (N, 2) shifts of the frames against the reference (None: no registration, the plain
            temporal median baseline).
        percentile: 40 by default, 50 is the median (the module docstring gives the choice).
        band_rows: rows per band; memory is one band of all frames plus the result.
        workdir: folder for the scratch file (default: the system's temporary folder).

    Raises:
        ValueError: no frames, frames of different sizes, fewer shifts than frames, or a bad percentile.
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile {percentile} is outside 0..100")
    spill = spill_registered(frames, shifts, workdir)
    try:
        h = spill.shape[0]
        image = np.empty(spill.shape, np.float32)
        buf = np.empty((spill.count, min(band_rows, h), *spill.shape[1:]), np.uint8)
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            band = spill.band(r0, r1, buf)
            image[r0:r1] = temporal_percentile(band, percentile)
        return Background(image=image, frames=spill.count, percentile=float(percentile))
    finally:
        spill.close()


def temporal_percentile(band: np.ndarray, percentile: float, *, chunk: int = 1 << 16) -> np.ndarray:
    """``np.percentile(band, percentile, axis=0)`` (linear interpolation; 50: ``np.median``) of an
    (N, ...) uint8 band, as float32, the same values several times faster.

    Each pixel's N values are copied as a contiguous float32 row and sorted along that row (NumPy's
    vectorised sort; a partition along the first axis of the band goes pixel by pixel), ``chunk``
    pixels at a time so the copy stays small.
    """
    n = band.shape[0]
    flat = band.reshape(n, -1)
    out = np.empty(flat.shape[1], np.float32)
    index = percentile / 100.0 * (n - 1)  # NumPy's "linear" method, its own arithmetic below
    lo = int(np.floor(index))
    hi = min(lo + 1, n - 1)
    gamma = index - lo
    rows = np.empty((min(chunk, flat.shape[1]), n), np.float32)
    for p0 in range(0, flat.shape[1], chunk):
        p1 = min(flat.shape[1], p0 + chunk)
        z = rows[: p1 - p0]
        z[...] = flat[:, p0:p1].T
        z.sort(axis=1)
        a, b = z[:, lo].astype(np.float64), z[:, hi].astype(np.float64)
        diff = b - a
        out[p0:p1] = b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma
    return out.reshape(band.shape[1:])


def _grey(image: np.ndarray) -> np.ndarray:
    image = image.astype(np.float32, copy=False)
    return image @ np.array([0.299, 0.587, 0.114], np.float32) if image.ndim == 3 else image


def light_gain(frame: np.ndarray, background: np.ndarray, *, rain_margin: float = 6.0, min_level: float = 16.0,
               border: int = 0) -> tuple[float, float]:
    """(gain, rain_fraction): the global gain frame ≈ gain × background on pixels that are not rain.

    ``background`` is in the frame's geometry. Pixels darker than ``min_level`` (ratio too noisy)
    and a ``border`` (warp edges) are left out; rain is where the frame exceeds the scaled
    background by more than ``rain_margin`` grey levels.

    Raises:
        ValueError: no pixel is bright enough to fit a gain.
    """
    f, b = _grey(frame), _grey(background)
    if border:
        f, b = f[border:-border, border:-border], b[border:-border, border:-border]
    ok = b >= min_level
    if not ok.any():
        raise ValueError(f"no background pixel is at least {min_level} grey levels bright to fit a gain")
    f, b = f[ok], b[ok]
    ratio = f / b
    gain = float(np.median(ratio))
    rain = np.zeros(ratio.shape, bool)
    for _ in range(2):
        rain = f - gain * b > rain_margin
        if rain.all():
            break
        gain = float(np.median(ratio[~rain]))
    return gain, float(rain.mean())


def pseudo_clean(frame: np.ndarray, background: Background, shift: tuple[float, float] = (0.0, 0.0), *,
                 index: int = 0, rain_margin: float = 6.0) -> Target:
    """The pseudo-clean target of ``frame``: the background in the frame's geometry, at the frame's light."""
    at_frame = unregister(background.image, shift)
    border = int(math.ceil(max(abs(shift[0]), abs(shift[1])))) + 1
    gain, rain = light_gain(frame, at_frame, rain_margin=rain_margin, border=border)
    image = np.clip(np.rint(at_frame * gain), 0, 255).astype(np.uint8)
    return Target(index=index, image=image, gain=gain, rain_fraction=rain,
                  shift=(float(shift[0]), float(shift[1])))
