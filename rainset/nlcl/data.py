"""Training data from plain folders: a folder of rainy images and a folder of unpaired clean ones.

Batches are a pure function of ``(seed, rank, step)``: which images, where the crops are and
whether they are flipped (``flip``; the released training does not flip) all come from a generator
seeded by those three numbers. Images with a side no longer than the crop are squashed to
``crop``² as the released unaligned dataset does (``small="squash"``), or upscaled keeping their
aspect (``"upscale"``, rainset before the ``small_images`` field). So a resumed
run sees exactly the batches an uninterrupted run would, with no loader state to save, and
every DDP rank sees different crops.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from rainset.errors import TrainError

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})


def list_images(folder: str | Path, what: str = "images") -> list[Path]:
    """Image files directly inside ``folder`` (sorted); raises TrainError when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise TrainError(f"{root}: the {what} folder does not exist")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise TrainError(f"{root}: no images in the {what} folder (looked for {', '.join(sorted(IMAGE_EXTS))})")
    return files


def read_image(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an image to H×W×3 float32 RGB in [0, 1]; also return its bit depth (8 or 16).

    Grey images become three equal channels, an alpha channel is dropped. Raises TrainError
    naming the file when it cannot be decoded.
    """
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise TrainError(f"{path}: cannot decode the image")
    if img.dtype == np.uint8:
        bits, scale = 8, 1 / 255.0
    elif img.dtype == np.uint16:
        bits, scale = 16, 1 / 65535.0
    else:
        raise TrainError(f"{path}: unsupported sample type {img.dtype} (8- or 16-bit images only)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.astype(np.float32) * np.float32(scale), bits


def write_image(path: str | Path, rgb01: np.ndarray, bits: int = 8) -> None:
    """Write H×W×3 RGB in [0, 1] as an 8- or 16-bit file (the format follows the suffix)."""
    top = 65535.0 if bits == 16 else 255.0
    arr = np.clip(rgb01 * top + 0.5, 0, top).astype(np.uint16 if bits == 16 else np.uint8)
    ok, buf = cv2.imencode(Path(path).suffix or ".png", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    if not ok:
        raise TrainError(f"{path}: cannot encode the image")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    buf.tofile(str(path))


def fit_small(img: np.ndarray, crop: int, small: str = "squash") -> np.ndarray:
    """An image a ``crop``² window fits in.

    ``squash`` (released): a side no longer than ``crop`` → the whole image resized to exactly
    ``crop``×``crop`` (bilinear, aspect ignored; OpenCV's default as in the released dataset);
    ``upscale``: a side shorter than ``crop`` → scaled up keeping the aspect (bicubic). Larger images
    are returned as they are.
    """
    h, w = img.shape[:2]
    if small == "squash":
        if min(h, w) <= crop and (h, w) != (crop, crop):
            return cv2.resize(img, (crop, crop), interpolation=cv2.INTER_LINEAR)
        return img
    if min(h, w) < crop:
        f = crop / min(h, w)
        img = cv2.resize(img, (max(crop, round(w * f)), max(crop, round(h * f))), interpolation=cv2.INTER_CUBIC)
    return img


@lru_cache(maxsize=64)
def _cached(path: str, min_side: int, small: str = "upscale") -> np.ndarray:
    img, _ = read_image(path)
    return fit_small(img, min_side, small)


def random_crop(img: np.ndarray, crop: int, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """A random ``crop``×``crop`` window; with ``flip``, flipped left-right with probability ½."""
    h, w = img.shape[:2]
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    out = img[y:y + crop, x:x + crop]
    return out[:, ::-1] if flip and rng.random() < 0.5 else out


class StepBatches(torch.utils.data.Dataset):
    """``dataset[step]`` is the (rainy, clean) batch of that step for this rank, in [-1, 1].

    Args:
        rainy: rainy image files.
        clean: unpaired clean image files.
        crop: crop side.
        batch_size: crops per batch (per rank).
        seed: run seed.
        rank: DDP rank (0 on one device).
        steps: number of steps (the dataset's length).
        flip: random left-right flips (released: none).
        small: ``squash`` or ``upscale``, see :func:`fit_small`.
    """

    def __init__(self, rainy: list[Path], clean: list[Path], crop: int, batch_size: int, seed: int,
                 rank: int = 0, steps: int = 1, flip: bool = True, small: str = "upscale") -> None:
        self.rainy, self.clean = [str(p) for p in rainy], [str(p) for p in clean]
        self.crop, self.batch_size, self.seed, self.rank, self.steps = crop, batch_size, seed, rank, steps
        self.flip, self.small = flip, small

    def __len__(self) -> int:
        return self.steps

    def _stack(self, files: list[str], rng: np.random.Generator) -> torch.Tensor:
        picks = rng.integers(0, len(files), self.batch_size)
        crops = [random_crop(_cached(files[i], self.crop, self.small), self.crop, rng, self.flip) for i in picks]
        arr = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))
        return torch.from_numpy(arr) * 2.0 - 1.0

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.rank, int(step)])
        return self._stack(self.rainy, rng), self._stack(self.clean, rng)


def worker_init(_: int) -> None:
    """DataLoader worker start: one OpenCV thread per worker."""
    cv2.setNumThreads(1)
