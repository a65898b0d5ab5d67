"""Full-resolution inference through overlapping tiles with smooth blending.

The generator uses instance normalisation, whose statistics span the whole image; a tile alone
would normalise with its own statistics and show seams. So inference runs in two passes:

1. a statistics pass records every normalisation layer's mean and variance on the whole image
   (downscaled to at most ``stats_pixels`` when it is larger, so memory stays bounded);
2. the tiled pass normalises every tile with those statistics. Each tile is read with a margin of
   at least the generator's receptive-field radius, so the pixels it contributes are the ones the
   untiled network would compute; neighbouring tiles overlap by ``blend`` pixels and are mixed with
   linear ramps.

Where the whole image fits in the statistics pass, tiled and untiled results agree to float
rounding. An image no larger than one tile, or small enough for the statistics pass to see it at
full resolution (at most ``stats_pixels``), is run in one piece: that pass already needs the
whole-image memory, so tiling it would only double the work (1024×512 on 2 CPU cores: 17 s tiled
at 512, 6.5 s in one piece).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from rainset.errors import TrainError
from rainset.nlcl.checkpoint import is_rainset_checkpoint, pick_device, read_torch_file
from rainset.nlcl.config import config_from_dict
from rainset.nlcl.data import IMAGE_EXTS, read_image, write_image
from rainset.nlcl.model import Generator, InstanceNorm
from rainset.nlcl.released import generator_from_released, is_released_generator


def load_generator(checkpoint: str | Path, device: str | torch.device = "cpu", which: str = "b") -> Generator:
    """A generator in eval mode from a rainset checkpoint (G_B, or G_R with ``which="r"``) or from a
    released NLCL generator state dict (``latest_net_Back.pth``: the file's own generator).

    A rainset checkpoint's config says its architecture (checkpoints saved before
    ``gen_head_relu`` existed have the ReLU head, see :data:`rainset.nlcl.config.LEGACY_VALUES`).

    Raises:
        TrainError: naming the file when it is neither, or its weights do not fit.
    """
    if which not in ("b", "r"):
        raise TrainError(f"generator {which!r}: choose b (background) or r (rain)")
    state = read_torch_file(checkpoint)
    if is_rainset_checkpoint(state):
        cfg = config_from_dict(state["config"])
        gen = Generator(cfg.gen_channels, cfg.gen_blocks, cfg.gen_head_relu)
        prefix = f"g_{which}."
        try:
            gen.load_state_dict({k[len(prefix):]: v for k, v in state["gen"].items() if k.startswith(prefix)})
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1].strip()
            raise TrainError(f"{checkpoint}: its G_{which.upper()} weights do not fit its config ({first})") from None
    elif is_released_generator(state):
        gen = generator_from_released(state, checkpoint)
    else:
        raise TrainError(f"{checkpoint}: neither a rainset NLCL checkpoint nor a released NLCL generator "
                         f"state dict (gen.0 … keys, like latest_net_Back.pth)")
    return gen.to(device).eval()


def receptive_radius(gen: Generator) -> int:
    """Pixels of context a 3×3-convolution stack needs on each side (one per convolution)."""
    return sum(1 for m in gen.modules() if isinstance(m, torch.nn.Conv2d))


@contextmanager
def norm_mode(gen: Generator, mode: str) -> Iterator[None]:
    """Set every InstanceNorm of ``gen`` to ``mode`` (record / frozen) for the duration."""
    norms = [m for m in gen.modules() if isinstance(m, InstanceNorm)]
    for m in norms:
        m.mode = mode
    try:
        yield
    finally:
        for m in norms:
            m.mode = "train"


def _ramp(start: int, stop: int, size: int, blend: int) -> np.ndarray:
    w = np.ones(stop - start, np.float32)
    if blend > 0:
        ramp = (np.arange(blend, dtype=np.float32) + 0.5) / blend
        n = min(blend, stop - start)
        if start > 0:
            w[:n] = np.minimum(w[:n], ramp[:n])
        if stop < size:
            w[-n:] = np.minimum(w[-n:], ramp[:n][::-1])
    return w


def _starts(size: int, tile: int, blend: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - blend
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def _run(gen: Generator, x: np.ndarray, device: torch.device, amp: bool) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
        out, _ = gen(t * 2 - 1)
    return ((out.float()[0] + 1) / 2).permute(1, 2, 0).cpu().numpy()


@torch.inference_mode()
def derain_array(gen: Generator, rgb: np.ndarray, *, tile: int = 512, blend: int = 32,
                 stats_pixels: int = 2_000_000, device: str | torch.device = "cpu", amp: bool = True,
                 force_tiles: bool = False) -> np.ndarray:
    """Derain one H×W×3 float image in [0, 1]; returns the same shape, clipped to [0, 1].

    Args:
        gen: G_B (see :func:`load_generator`).
        rgb: the rainy image.
        tile: side of the output region of a tile.
        blend: overlap of neighbouring tiles, mixed with linear ramps.
        stats_pixels: largest image size for the statistics pass (larger ones are downscaled);
            images up to this size run in one piece.
        device: where to run.
        amp: float16 autocast on CUDA.
        force_tiles: tile even when the image fits one tile (for tests).
    """
    device = torch.device(device)
    h, w = rgb.shape[:2]
    if not force_tiles and ((h <= tile and w <= tile) or h * w <= stats_pixels):
        return np.clip(_run(gen, rgb, device, amp), 0, 1)
    if blend >= tile:
        raise TrainError(f"tile overlap {blend} must be smaller than the tile {tile}")
    small = rgb
    if h * w > stats_pixels:
        f = (stats_pixels / (h * w)) ** 0.5
        small = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    with norm_mode(gen, "record"):
        _run(gen, small, device, amp)
    pad = receptive_radius(gen)
    acc = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w, 1), np.float32)
    with norm_mode(gen, "frozen"):
        for y in _starts(h, tile, blend):
            for x in _starts(w, tile, blend):
                y1, x1 = min(y + tile, h), min(x + tile, w)
                ry0, rx0, ry1, rx1 = max(0, y - pad), max(0, x - pad), min(h, y1 + pad), min(w, x1 + pad)
                out = _run(gen, rgb[ry0:ry1, rx0:rx1], device, amp)[y - ry0:y1 - ry0, x - rx0:x1 - rx0]
                wt = _ramp(y, y1, h, blend)[:, None, None] * _ramp(x, x1, w, blend)[None, :, None]
                acc[y:y1, x:x1] += out * wt
                weight[y:y1, x:x1] += wt
    return np.clip(acc / weight, 0, 1)


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their images; raises TrainError for a missing path."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTS and q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            raise TrainError(f"{p}: no such file or folder")
    if not files:
        raise TrainError(f"no images among {', '.join(map(str, inputs))}")
    return files


def derain_files(checkpoint: str | Path, inputs: list[str | Path], out_dir: str | Path, *, tile: int = 512,
                 blend: int = 32, device: str = "auto", progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Derain image files (or folders of them) into ``out_dir`` under the same names.

    8-bit inputs give 8-bit outputs; 16-bit inputs give 16-bit outputs (JPEG inputs are written
    as 16-bit PNG then, since JPEG has no 16-bit form).
    """
    dev = pick_device(device)
    gen = load_generator(checkpoint, dev)
    files = expand_inputs(inputs)
    out = Path(out_dir)
    written = []
    for i, f in enumerate(files):
        rgb, bits = read_image(f)
        result = derain_array(gen, rgb, tile=tile, blend=blend, device=dev)
        target = out / f.name
        if bits == 16 and f.suffix.lower() in (".jpg", ".jpeg", ".webp", ".bmp"):
            target = target.with_suffix(".png")
        write_image(target, result, bits)
        written.append(target)
        if progress is not None:
            progress(i + 1, len(files))
    return written
