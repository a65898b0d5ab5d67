"""The one decode path of the loader (and of bench/loader.py): bytes -> random crop -> float tensor.

OpenCV decodes (``IMREAD_UNCHANGED``, so 16-bit TIFFs stay 16-bit); the crop and flip are taken as
views of the decoded array, and a single pass writes the float32 CHW tensor, reordering BGR to RGB
and scaling on the way (no intermediate full-size copies).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import cv2
import numpy as np
import torch

VALUE_RANGES = ("0,1", "-1,1", "raw")
Decoder = Callable[[bytes, str], np.ndarray]


def decode_bgr(data: bytes, ext: str = "jpg") -> np.ndarray:
    """Decode image bytes with OpenCV to an HxWx3 BGR array (uint8, or uint16 for 16-bit files).

    Raises:
        ValueError: OpenCV cannot decode the bytes.
    """
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"OpenCV cannot decode these {len(data)} bytes as {ext}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return img[:, :, :3]
    return img


def draw(rng: random.Random) -> tuple[float, float, float]:
    """The three uniform draws one sample's augmentation uses (crop y, crop x, flip)."""
    return rng.random(), rng.random(), rng.random()


def crop_flip(img: np.ndarray, crop: int | None, flip: bool, draws: tuple[float, float, float]) -> np.ndarray:
    """A ``crop``x``crop`` window at a position given by ``draws`` (a view when the image is large enough).

    Images smaller than the crop are first padded by reflection (OpenCV ``BORDER_REFLECT_101``;
    ``BORDER_REPLICATE`` for a 1-pixel side). The flip is horizontal, with probability 1/2.
    """
    if crop is not None:
        h, w = img.shape[:2]
        if h < crop or w < crop:
            border = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
            img = cv2.copyMakeBorder(img, 0, max(0, crop - h), 0, max(0, crop - w), border)
            h, w = img.shape[:2]
        y = int(draws[0] * (h - crop + 1))
        x = int(draws[1] * (w - crop + 1))
        img = img[y:y + crop, x:x + crop]
    if flip and draws[2] < 0.5:
        img = img[:, ::-1]
    return img


def _peak(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    raise ValueError(f"images must be uint8 or uint16 arrays, not {dtype}")


def to_tensor(img: np.ndarray, *, bgr: bool, value_range: str = "0,1") -> torch.Tensor:
    """An HxWx3 integer array as a 3xHxW RGB tensor, in one pass.

    ``value_range`` ``"0,1"`` or ``"-1,1"``: float32 scaled to that range. ``"raw"``: the integers as
    they are (uint8, or uint16 for 16-bit files), a quarter of the bytes to send from DataLoader
    workers to the trainer; scale them on the device with :func:`to_float`.
    """
    peak = _peak(img.dtype)
    chw = img.transpose(2, 0, 1)
    if bgr:
        chw = chw[::-1]
    if value_range == "raw":
        return torch.from_numpy(np.ascontiguousarray(chw))
    out = np.empty(chw.shape, np.float32)
    if value_range == "0,1":
        np.multiply(chw, np.float32(1.0 / peak), out=out, dtype=np.float32)
    elif value_range == "-1,1":
        np.multiply(chw, np.float32(2.0 / peak), out=out, dtype=np.float32)
        out -= np.float32(1.0)
    else:
        raise ValueError(f"value_range must be one of {VALUE_RANGES}, not {value_range!r}")
    return torch.from_numpy(out)


def to_float(batch: torch.Tensor, value_range: str = "0,1") -> torch.Tensor:
    """Scale a ``"raw"`` (uint8 or uint16) image batch to float32 in [0, 1] or [-1, 1], where it is (e.g. on the GPU)."""
    if batch.is_floating_point():
        raise ValueError("to_float takes the integer images of value_range='raw', not float ones")
    peak = 65535.0 if batch.dtype == torch.uint16 else 255.0
    if value_range == "0,1":
        return batch.float().mul_(1.0 / peak)
    if value_range == "-1,1":
        return batch.float().mul_(2.0 / peak).sub_(1.0)
    raise ValueError(f"value_range must be '0,1' or '-1,1', not {value_range!r}")


def decode_image(data: bytes, ext: str = "jpg", *, crop: int | None = 256, flip: bool = True,
                 value_range: str = "0,1", draws: tuple[float, float, float] | None = None,
                 rng: random.Random | None = None, decode: Decoder | None = None) -> torch.Tensor:
    """Decode, random-crop, random-flip and convert one image: the shared decode function.

    Args:
        data, ext: the encoded image and its extension (``jpg``, ``png``, ``tiff``…).
        crop: side of the square crop (``None``: the whole image).
        flip: random horizontal flip.
        value_range: ``"0,1"`` or ``"-1,1"`` (float32), or ``"raw"`` (the integers; see :func:`to_tensor`).
        draws: the three uniform numbers of :func:`draw`; else drawn from ``rng`` (else ``random``).
        decode: optional ``callable(bytes, ext) -> HxWx3 RGB uint8/uint16``; default OpenCV.

    Returns:
        A tensor 3 x crop x crop (RGB): float32, or uint8/uint16 with ``value_range="raw"``.
    """
    if draws is None:
        draws = draw(rng) if rng is not None else (random.random(), random.random(), random.random())
    img = decode_bgr(data, ext) if decode is None else np.asarray(decode(data, ext))
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"decoded image has shape {img.shape}, expected HxWx3")
    return to_tensor(crop_flip(img, crop, flip, draws), bgr=decode is None, value_range=value_range)
