"""Synthetic static-camera rainy footage for the pairs tests: a real fixture photo as the scene, a
camera shake that random-walks within ±3 px (sub-pixel), light changing ±8 % over the clip, fresh
rain streaks every frame (rainset.synth renderer), optionally through real H.264 with PyAV."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rainset.capture.video import FrameWalk, open_video
from rainset.synth.passer_by import PERSON_RGB, passer_by
from rainset.synth.rain import rain_layer
from tests.video_helpers import background, write_video


@dataclass(frozen=True)
class Footage:
    frames: list[np.ndarray]  # rainy RGB uint8
    truth: list[np.ndarray]  # the rain-free frame (scene moved by the shake, at the frame's light), float32
    shifts: np.ndarray  # (N, 2) true (dx, dy) of each frame against frame 0
    light: np.ndarray  # (N,) light gain of each frame
    person: list[np.ndarray | None] | None = None  # per frame: the passer-by's coverage (H×W float 0..1), None when absent


def moved(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The scene as a camera moved by (dx, dy) sees it: ``out(x + dx, y + dy) = image(x, y)``."""
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float64)
    return cv2.warpAffine(image, m, image.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def footage(n: int = 32, *, seed: int = 0, pan_at: int | None = None, pan_px: float = 6.0,
            pan_frames: int = 4, rain: float = 0.8, person: bool = False) -> Footage:
    """``n`` frames; from ``pan_at`` on, the camera pans ``pan_px`` px per frame for ``pan_frames``
    frames and then holds its new position (a segment boundary); ``person``: a dark passer-by
    crosses during the middle third (:func:`passer_by`; ``truth`` stays the empty scene)."""
    rng = np.random.default_rng(seed)
    scene = background().astype(np.float32)
    pos = np.zeros(2)
    offset = np.zeros(2)
    shifts, frames, truth, light, people = [], [], [], [], []
    for i in range(n):
        if i:
            pos = np.clip(pos + rng.normal(0, 0.7, 2), -3, 3)
        if pan_at is not None and pan_at <= i < pan_at + pan_frames:
            offset = offset + (pan_px, 0.0)
        shift = pos + offset
        gain = 1.0 + 0.08 * np.sin(2 * np.pi * i / n)
        clean = np.clip(moved(scene, *shift) * gain, 0, 255)
        layer = rain_layer(clean.shape[:2], "streak", np.random.default_rng(seed * 1000 + i))
        seen = clean
        cover = passer_by(clean.shape[:2], i, n) if person else None
        if cover is not None:
            seen = clean * (1.0 - cover[..., None]) + np.float32(PERSON_RGB) * gain * cover[..., None]
        frames.append(np.clip(seen + 255.0 * rain * layer[..., None], 0, 255).round().astype(np.uint8))
        truth.append(clean)
        people.append(cover)
        shifts.append(shift.copy())
        light.append(gain)
    return Footage(frames, truth, np.array(shifts), np.array(light), people if person else None)


def through_h264(frames: list[np.ndarray], path: Path) -> list[np.ndarray]:
    """``frames`` encoded to a real video at ``path`` (H.264 crf 16 when available) and decoded back."""
    write_video(path, frames)
    with open_video(str(path)) as container:
        return [f.rgb() for f in FrameWalk(container)]
