"""Full-resolution inference of G_B: one piece when the image is small, exact tiles otherwise.

An image of at most ``whole_pixels`` (2 MP) runs through the generator in one piece. A larger
one goes through :mod:`rainset.nlcl.tiled`: the network runs segment by segment over the whole
image, each instance normalisation gets the exact statistics of its whole input (gathered tile by
tile) and intermediate activations stream through scratch files on disk. The tiled result
equals the untiled forward pass (within 1e-4, tested) at any size, in memory bounded by the tile.

Files: 8- and 16-bit rasters are read with OpenCV; camera RAW files (by content and extension)
are fully demosaiced through LibRaw (:func:`rainset.capture.decode_full`) to 16-bit RGB. Outputs
are lossless by default (``auto``: PNG for 8-bit input, 16-bit TIFF for 16-bit and RAW input).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rainset.capture import RAW_EXTENSIONS, decode_full, sniff_format
from rainset.errors import ConfigError, TrainError
from rainset.nlcl.checkpoint import is_rainset_checkpoint, pick_device, read_torch_file
from rainset.nlcl.config import config_from_dict
from rainset.nlcl.data import IMAGE_EXTS, read_image, write_image
from rainset.nlcl.model import Generator
from rainset.nlcl.released import generator_from_released, is_released_generator
from rainset.nlcl.tiled import tiled_forward

OUTPUT_FORMATS = ("auto", "png", "tiff", "same")
# Suffixes that cannot hold 16-bit samples: a 16-bit input written "same" goes to PNG instead.
EIGHT_BIT_ONLY = frozenset({".jpg", ".jpeg", ".webp", ".bmp"})
# Largest RAW the reader accepts (pixels declared in its header), as the store's default setting.
MAX_RAW_PIXELS = 250_000_000


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



def _run(gen: Generator, x: np.ndarray, device: torch.device, amp: bool) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)
    with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
        out, _ = gen(t * 2 - 1)
    return ((out.float()[0] + 1) / 2).permute(1, 2, 0).cpu().numpy()


@torch.inference_mode()
def derain_array(gen: Generator, rgb: np.ndarray, *, tile: int = 512, blend: int = 0,
                 whole_pixels: int = 2_000_000, device: str | torch.device = "cpu", amp: bool = True,
                 force_tiles: bool = False, scratch_dir: str | Path | None = None,
                 scratch_dtype: str = "float32") -> np.ndarray:
    """Derain one H×W×3 float image in [0, 1]; returns the same shape, clipped to [0, 1].

    Args:
        gen: G_B (see :func:`load_generator`).
        rgb: the rainy image.
        tile: side of a tile of the exact tiled pass (memory grows with its square).
        blend: no longer used (tiles are exact, there are no seams to blend); kept so old calls work.
        whole_pixels: images up to this many pixels (or no larger than one tile) run in one piece.
        device: where to run.
        amp: float16 autocast on CUDA for the one-piece pass (the tiled pass is float32).
        force_tiles: tile even an image that would run in one piece (for tests).
        scratch_dir: folder for the tiled pass's scratch files (default: the temporary folder).
        scratch_dtype: float32 (exact) or float16 scratch for the tiled pass.
    """
    del blend
    device = torch.device(device)
    h, w = rgb.shape[:2]
    if not force_tiles and ((h <= tile and w <= tile) or h * w <= whole_pixels):
        return np.clip(_run(gen, rgb, device, amp), 0, 1)
    out = tiled_forward(gen, rgb * np.float32(2) - np.float32(1), tile=tile, scratch_dir=scratch_dir,
                        scratch_dtype=scratch_dtype, device=device)
    out += 1
    out /= 2
    return np.clip(out, 0, 1, out=out)


def expand_inputs(inputs: list[str | Path], exts: frozenset[str] = IMAGE_EXTS) -> list[Path]:
    """Files as given, folders expanded to their files with a suffix in ``exts``; raises TrainError
    for a missing path."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in exts and q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            raise TrainError(f"{p}: no such file or folder")
    if not files:
        raise TrainError(f"no images among {', '.join(map(str, inputs))}")
    return files


def is_raw(path: Path) -> bool:
    """Whether a file is a camera RAW (by its first bytes and extension, as ingest decides)."""
    with open(path, "rb") as f:
        head = f.read(64)
    return sniff_format(head, path.name) == "raw"


def read_input(path: Path) -> tuple[np.ndarray, int]:
    """An input as H×W×3 float32 RGB in [0, 1] and its bit depth; RAW files are fully demosaiced
    (16 bits). Raises TrainError or RejectError naming the file."""
    if not is_raw(path):
        return read_image(path)
    img = decode_full(path.read_bytes(), str(path), "raw", orientation=None, max_pixels=MAX_RAW_PIXELS)
    return img.astype(np.float32) * np.float32(1 / 65535), 16


def output_name(path: Path, raw: bool, fmt: str) -> str:
    """The output file name of an input under ``fmt`` (the suffix of ``auto`` is decided later,
    from the bit depth, so it is left as ``.*``)."""
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"output format {fmt!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    if fmt == "same":
        if raw:
            raise ConfigError(f"{path}: --format same cannot write a camera RAW file; use png or tiff")
        return path.name
    return path.stem + {"auto": ".*", "png": ".png", "tiff": ".tiff"}[fmt]


def output_target(path: Path, out_dir: Path, bits: int, raw: bool, fmt: str) -> tuple[Path, int]:
    """Where and at what bit depth (8 or 16) to write the derained ``path``."""
    bits = 16 if raw else bits
    if fmt == "auto":
        return out_dir / (path.stem + (".png" if bits == 8 else ".tiff")), bits
    target = out_dir / output_name(path, raw, fmt)
    if bits == 16 and target.suffix.lower() in EIGHT_BIT_ONLY:
        target = target.with_suffix(".png")
    return target, bits


def derain_files(checkpoint: str | Path, inputs: list[str | Path], out_dir: str | Path, *, tile: int = 512,
                 blend: int = 0, fmt: str = "auto", device: str = "auto", scratch_dir: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Derain image files (or folders of them, RAW files included) into ``out_dir``.

    ``fmt``: ``auto`` (default, lossless: PNG for 8-bit inputs, 16-bit TIFF for 16-bit and RAW
    inputs), ``png`` or ``tiff`` (8 or 16 bits as the input; RAW gives 16), ``same`` (the input's
    name and format; a 16-bit input in a format without 16 bits becomes PNG; RAW is refused).
    Names are checked before anything is derained: two inputs that would write the same file
    raise ConfigError.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"output format {fmt!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    dev = pick_device(device)
    gen = load_generator(checkpoint, dev)
    files = expand_inputs(inputs, IMAGE_EXTS | RAW_EXTENSIONS)
    raws = [is_raw(f) for f in files]
    seen: dict[str, Path] = {}
    for f, raw in zip(files, raws):
        name = output_name(f, raw, fmt).lower()
        if name in seen:
            raise ConfigError(f"{seen[name]} and {f} would both be written as {name} in {out_dir}")
        seen[name] = f
    out = Path(out_dir)
    written = []
    for i, (f, raw) in enumerate(zip(files, raws)):
        rgb, bits = read_input(f)
        result = derain_array(gen, rgb, tile=tile, blend=blend, device=dev, scratch_dir=scratch_dir)
        target, bits = output_target(f, out, bits, raw, fmt)
        write_image(target, result, bits)
        written.append(target)
        if progress is not None:
            progress(i + 1, len(files))
    return written
