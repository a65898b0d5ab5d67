"""Rain-layer measurements: the same statistics on R = O − G_B(O) of an NLCL generator.

G_B is either a rainset checkpoint (``rainset train nlcl``, ``rainset nlcl import-released``) or
the authors' released G_B itself (``latest_net_Back.pth`` of yunguo224/NLCL, a plain state dict
trained on real rain): :func:`generator_source` tells which, with the helpers of
:mod:`rainset.nlcl.released` and :mod:`rainset.nlcl.checkpoint`.

G_B removes the rain, so R holds the rain (and whatever else the network took out) without the
scene's own texture. Differences from :func:`rainset.rainstats.measure` (docs/rainstats.md):

- G_B runs on the frame at the 512-px analysis size (``side``), where the streaks are analysed
  anyway: four times cheaper than the 1024-px preview.
- streaks: the thin-bright map is the positive part of R's luminance itself (no top-hat: R has
  no scene to remove), in units of the frame's contrast, as for the preview;
- veil: the smooth positive part of R (Gaussian σ = 8 px at 256 px) over the frame's mean
  luminance, 0..1 — the share of the brightness that the network attributes to a veil;
- droplets: the blob detector on R's luminance;
- night, luminance and contrast are those of the frame O (R carries no exposure);
- the scene-invariant keys (:mod:`rainset.rainstats.invariant`: ``rain_sign``, ``rain_spots``,
  ``rain_aniso``, ``rain_aniso_long``, ``rain_cover``, ``rain_persist``, ``rain_spots_half``,
  ``rain_dir``) are those of R's luminance itself, at the analysis size: outliers against R's
  own noise, oriented persistence of R's bright part. ``veil_edges`` stays NaN (it is the
  frame's, measured on the preview).

torch is imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rainset.errors import TrainError
from rainset.rainstats.droplets import droplet_score
from rainset.rainstats.invariant import invariant_stats
from rainset.rainstats.measure import (
    SMALL_SIDE,
    WORK_SIDE,
    RainStats,
    check_rgb,
    contrast_scale,
    luma,
    resize_long,
    to_float_rgb,
)
from rainset.rainstats.night import ev100, night_score
from rainset.rainstats.streaks import ANALYSIS_SIDE, streak_stats


GENERATOR_SOURCES = ("rainset", "released")


def generator_source(checkpoint: str | Path) -> str:
    """``"rainset"`` for a rainset NLCL checkpoint, ``"released"`` for a released NLCL generator
    state dict (``latest_net_Back.pth``).

    Raises:
        TrainError: naming the file when it is missing or neither.
    """
    # heavy: torch (optional train extra), only when a generator is given
    from rainset.nlcl.checkpoint import is_rainset_checkpoint, read_torch_file
    from rainset.nlcl.released import is_released_generator

    if not Path(checkpoint).is_file():
        raise TrainError(f"{checkpoint}: no such checkpoint file")
    state = read_torch_file(checkpoint)
    if is_rainset_checkpoint(state):
        return "rainset"
    if is_released_generator(state):
        return "released"
    raise TrainError(f"{checkpoint}: neither a rainset NLCL checkpoint nor a released NLCL generator "
                     "state dict (gen.0 … keys, like latest_net_Back.pth)")


@lru_cache(maxsize=2)
def _generator(path: str, device: str) -> Any:
    from rainset.nlcl.derain import load_generator  # heavy: torch (optional train extra)

    return load_generator(path, device)


def rain_layer(rgb: np.ndarray, checkpoint: str | Path, *, side: int = ANALYSIS_SIDE,
               device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(O, R): the frame at ``side`` px long side (float RGB 0..1) and its rain layer O − G_B(O) (signed).

    ``checkpoint``: a rainset NLCL checkpoint or a released G_B state dict (:func:`generator_source`).
    """
    from rainset.nlcl.derain import derain_array  # heavy: torch (optional train extra)

    path = str(Path(checkpoint).resolve())
    if not Path(path).is_file():
        raise TrainError(f"{checkpoint}: no such checkpoint file")
    frame = to_float_rgb(resize_long(check_rgb(rgb), side))
    clean = derain_array(_generator(path, device), frame, device=device)
    return frame, frame - clean.astype(np.float32)


def layer_stats(frame: np.ndarray, layer: np.ndarray, ev: float | None = None) -> RainStats:
    """The measurements of a frame O (float RGB) from its rain layer R (see the module docstring).

    Both are brought to the analysis size first, so any resolution gives the same scale.
    """
    layer = resize_long(np.ascontiguousarray(layer, dtype=np.float32), ANALYSIS_SIDE)
    frame = resize_long(np.ascontiguousarray(frame, dtype=np.float32), ANALYSIS_SIDE)
    small = resize_long(frame, SMALL_SIDE)
    y_small = luma(small)
    scale = contrast_scale(y_small)
    r_luma = luma(layer)
    thin = np.maximum(r_luma, 0.0) * np.float32(1.0 / scale)
    streaks = streak_stats(thin, WORK_SIDE / ANALYSIS_SIDE)
    r_small = resize_long(r_luma, SMALL_SIDE)
    smooth = np.maximum(cv2.GaussianBlur(r_small, (0, 0), 8.0), 0.0)
    veil = float(np.clip(float(smooth.mean()) / max(float(y_small.mean()), 0.05), 0.0, 1.0))
    inv = invariant_stats(np.ascontiguousarray(r_luma, dtype=np.float32), small, y_small)
    return RainStats(streak_density=streaks.density, streak_angle=streaks.angle, streak_length=streaks.length,
                     streak_coherence=streaks.coherence, veil=veil, droplets=droplet_score(r_small),
                     night=night_score(y_small, ev), luminance=float(y_small.mean()), contrast=float(y_small.std()),
                     rain_dir=inv.rain_dir, rain_sign=inv.rain_sign, rain_spots=inv.rain_spots,
                     rain_aniso=inv.rain_aniso, rain_aniso_long=inv.rain_aniso_long, rain_cover=inv.rain_cover,
                     rain_persist=inv.rain_persist, rain_spots_half=inv.rain_spots_half)


def rain_layer_stats(rgb: np.ndarray, checkpoint: str | Path, *, device: str = "cpu",
                     exposure_time: float | None = None, f_number: float | None = None,
                     iso: float | None = None) -> RainStats:
    """Measure the rain of one frame on its NLCL rain layer R = O − G_B(O).

    Args:
        rgb: H×W×3 RGB (uint8, uint16 or float 0..1), normally the capture's preview.
        checkpoint: an NLCL training checkpoint (``rainset train nlcl``) or a released NLCL G_B
            state dict (``latest_net_Back.pth``).
        device: torch device for G_B.
        exposure_time, f_number, iso: optional EXIF exposure (night score).

    Raises:
        ValueError: the array is not a measurable RGB image.
        TrainError: the checkpoint is missing or not an NLCL checkpoint.
    """
    frame, layer = rain_layer(rgb, checkpoint, device=device)
    return layer_stats(frame, layer, ev100(exposure_time, f_number, iso))
