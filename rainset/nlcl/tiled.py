"""Exact tiled inference of an NLCL generator, in memory bounded by the tile, not the image.

The generator is a stack of same-size 3×3 convolutions, pointwise activations, residual skips and
instance normalisations. Everything but the normalisation is local: an output pixel depends on the
input within the receptive radius. An instance normalisation needs the per-channel mean and
variance of its whole input, which depends on everything before it. So the network is cut at
every normalisation into *segments* and run segment by segment over the whole image:

1. each segment runs tile by tile; a tile is read with a halo of the segment's own receptive
   radius (1–3 pixels here: the convolutions since the last stored activation), so its core is
   exactly what the untiled network computes;
2. the core is written to a scratch array (the input of the normalisation that closes the
   segment) and its per-channel moments are merged into exact whole-image statistics (float64,
   Chan's parallel update);
3. the next segment starts by normalising what it reads with those statistics.

Residual skips whose two ends fall in different segments are stored the same way. Scratch arrays
are H×W×C files in a temporary folder, read and written row by row (see :class:`Scratch` for why
not a memory map), so resident memory is the image, the output and a few tile-sized tensors,
whatever the image size. At most four scratch arrays exist at once (the
activation read and the one written, the skip read and the one written).

The result equals the untiled forward pass up to float rounding (tested within 1e-4; float16
scratch halves the disk traffic at a measured cost, see docs/trainer.md).
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rainset.errors import TrainError
from rainset.nlcl.model import InstanceNorm, ResBlock

# Modules that act on each pixel alone (no spatial context, no global statistics).
POINTWISE = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Identity)
SCRATCH_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class Step:
    """One operation of the flattened generator.

    ``kind`` is ``local`` (a module with ``radius`` pixels of context), ``norm`` (an instance
    normalisation), ``push`` (remember the activation for a residual skip) or ``add`` (add back the
    activation pushed with the same ``slot``).
    """

    kind: str
    module: nn.Module | None = None
    radius: int = 0
    slot: int = -1


@dataclass(frozen=True)
class Segment:
    """The steps between two normalisations.

    ``opens`` is the normalisation applied first (statistics from the previous segment; None for
    the first segment), ``closes`` the one whose input statistics this segment gathers (None for
    the last segment, which writes the output); ``radius`` is the halo a tile needs.
    """

    steps: tuple[Step, ...]
    opens: Step | None
    closes: Step | None
    radius: int


@dataclass(frozen=True)
class TilePlan:
    """A generator cut into segments; ``stored_skips`` are the slots whose skip crosses a cut."""

    segments: tuple[Segment, ...]
    stored_skips: frozenset[int]

    @property
    def radius(self) -> int:
        """The largest halo of any segment."""
        return max(s.radius for s in self.segments)

    def to_dict(self) -> dict:
        return {"segments": len(self.segments), "radii": [s.radius for s in self.segments],
                "stored_skips": len(self.stored_skips)}


def conv_radius(conv: nn.Conv2d) -> int:
    """Context radius of a stride-1 'same' zero-padded convolution; TrainError for anything else."""
    k, d, p = conv.kernel_size, conv.dilation, conv.padding
    same = isinstance(p, tuple) and all(kk % 2 == 1 and pp == dd * (kk // 2) for kk, dd, pp in zip(k, d, p))
    if conv.stride != (1, 1) or conv.padding_mode != "zeros" or not same or k[0] != k[1] or d[0] != d[1]:
        raise TrainError(f"cannot tile {conv}: only stride-1, square, zero-padded 'same' convolutions are supported")
    return d[0] * (k[0] // 2)


def flatten(gen: nn.Module) -> list[Step]:
    """The generator's forward pass as steps: ``gen.head``, each of ``gen.blocks``, ``gen.tail``."""
    steps: list[Step] = []
    slots = itertools.count()

    def walk(m: nn.Module) -> None:
        if isinstance(m, (nn.Sequential, nn.ModuleList)):
            for child in m:
                walk(child)
        elif isinstance(m, ResBlock):  # body(x) + x
            slot = next(slots)
            steps.append(Step("push", slot=slot))
            walk(m.body)
            steps.append(Step("add", slot=slot))
        elif isinstance(m, nn.Conv2d):
            steps.append(Step("local", m, conv_radius(m)))
        elif isinstance(m, InstanceNorm) or (isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats):
            steps.append(Step("norm", m))
        elif isinstance(m, POINTWISE):
            steps.append(Step("local", m, 0))
        else:
            raise TrainError(f"cannot tile a generator holding {type(m).__name__}: not a convolution, "
                             "pointwise activation, instance norm or residual block")

    for part in (gen.head, gen.blocks, gen.tail):
        walk(part)
    return steps


def plan(gen: nn.Module) -> TilePlan:
    """Cut the flattened generator at its normalisations."""
    segments: list[Segment] = []
    current: list[Step] = []
    opens: Step | None = None
    where: dict[tuple[str, int], int] = {}
    for step in flatten(gen):
        if step.kind == "norm":
            segments.append(Segment(tuple(current), opens, step, sum(s.radius for s in current)))
            current, opens = [], step
            continue
        if step.kind in ("push", "add"):
            where[(step.kind, step.slot)] = len(segments)
        current.append(step)
    segments.append(Segment(tuple(current), opens, None, sum(s.radius for s in current)))
    stored = frozenset(slot for kind, slot in where if kind == "push" and where[("add", slot)] != where[("push", slot)])
    return TilePlan(tuple(segments), stored)


class Scratch:
    """An H×W×C array in a file of ``folder``, read and written by rows with ``pread``/``pwrite``.

    Not memory-mapped on purpose: a mapping makes every page a tile touches resident in this
    process, and the kernel maps whole page-cache folios (measured on Linux 6.18: a 130×130 tile
    read made its 130 full image rows resident, memory ~ tile height × image width). With
    explicit reads the data lives in the page cache (evictable, written back to disk under
    pressure) and the process holds only the tile it asked for.
    """

    def __init__(self, folder: str | Path, shape: tuple[int, int, int], dtype: type) -> None:
        self.fd, name = tempfile.mkstemp(dir=folder, suffix=".scratch")
        self.path = Path(name)
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.pixel_bytes = shape[2] * self.dtype.itemsize
        os.ftruncate(self.fd, shape[0] * shape[1] * self.pixel_bytes)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Rows y0:y1, columns x0:x1 as a new float32 array."""
        out = np.empty((y1 - y0, x1 - x0, self.shape[2]), self.dtype)
        size = out[0].nbytes
        for i, y in enumerate(range(y0, y1)):
            if os.preadv(self.fd, [memoryview(out[i]).cast("B")], (y * self.shape[1] + x0) * self.pixel_bytes) != size:
                raise TrainError(f"{self.path}: scratch file read came back short")
        return out if self.dtype == np.float32 else out.astype(np.float32)

    def write(self, y0: int, x0: int, values: np.ndarray) -> None:
        """Store an h×w×C array with its top-left corner at (y0, x0)."""
        values = np.ascontiguousarray(values, self.dtype)
        for i in range(values.shape[0]):
            os.pwrite(self.fd, memoryview(values[i]).cast("B"), ((y0 + i) * self.shape[1] + x0) * self.pixel_bytes)

    def close(self) -> None:
        """Delete the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.path.unlink(missing_ok=True)


class Moments:
    """Exact per-channel mean and variance merged over tiles (float64, Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = torch.zeros(0, dtype=torch.float64)
        self.m2 = torch.zeros(0, dtype=torch.float64)

    def add(self, values: np.ndarray) -> None:
        """Merge the values of an h×w×C float32 array.

        Sums are taken relative to the array's first pixel (so a large mean does not cancel the
        spread), the squares by one matrix product (BLAS: 5× faster than ``var_mean`` here;
        1e-6 relative agreement of the variance with a float64 pass).
        """
        v = torch.from_numpy(values).reshape(-1, values.shape[-1])
        ref = v[0].clone()
        d = v - ref
        k = v.shape[0]
        shift = d.sum(0).double() / k
        mean = ref.double() + shift
        m2 = (torch.mm(d.t(), d).diagonal().double() - k * shift * shift).clamp_(min=0)
        if self.n == 0:
            self.n, self.mean, self.m2 = k, mean, m2
            return
        total = self.n + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.n * k / total)
        self.n = total

    def normaliser(self, norm: nn.Module, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, shift)`` per channel so that ``x * scale + shift`` is the normalised ``x``."""
        inv = 1.0 / torch.sqrt(self.m2 / self.n + norm.eps)
        scale, shift = inv, -self.mean * inv
        weight = getattr(norm, "weight", None)
        if weight is not None:
            w = weight.detach().double().cpu()
            scale, shift = scale * w, shift * w + norm.bias.detach().double().cpu()
        return (scale.float().to(device)[None, :, None, None], shift.float().to(device)[None, :, None, None])


def tiles(h: int, w: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Core regions ``(y0, y1, x0, x1)`` covering an h×w image in tile×tile pieces, row by row."""
    return [(y, min(y + tile, h), x, min(x + tile, w)) for y in range(0, h, tile) for x in range(0, w, tile)]


def to_tensor(arr: np.ndarray, device: torch.device) -> torch.Tensor:
    """An h×w×C array as a 1×C×h×w tensor (channels-last memory, no copy on CPU)."""
    return torch.from_numpy(arr).permute(2, 0, 1)[None].to(device)


def to_array(t: torch.Tensor) -> np.ndarray:
    """A 1×C×h×w tensor as a contiguous h×w×C float32 array."""
    return np.ascontiguousarray(t[0].permute(1, 2, 0).float().cpu().numpy())


@torch.inference_mode()
def tiled_forward(gen: nn.Module, image: np.ndarray, *, tile: int = 512, scratch_dir: str | Path | None = None,
                  scratch_dtype: str = "float32", device: str | torch.device = "cpu") -> np.ndarray:
    """The generator's output on an H×W×C float32 image (network units), computed tile by tile.

    Args:
        gen: a generator with ``head``, ``blocks`` and ``tail`` (in eval mode).
        image: the network input, H×W×C float32.
        tile: side of a tile's core (its halo is the segment's receptive radius).
        scratch_dir: where the scratch files go (default: the system temporary folder); needs
            up to 4 × H × W × channels × 4 bytes (2 bytes with float16 scratch).
        scratch_dtype: float32 (exact) or float16 (half the disk traffic, small rounding error).
        device: where the tiles run.

    Returns:
        H×W×C_out float32.
    """
    if tile < 1:
        raise TrainError(f"tile side must be at least 1, got {tile}")
    if scratch_dtype not in SCRATCH_DTYPES:
        raise TrainError(f"scratch dtype {scratch_dtype!r} is not one of {', '.join(SCRATCH_DTYPES)}")
    dtype = SCRATCH_DTYPES[scratch_dtype]
    device = torch.device(device)
    tp = plan(gen)
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise TrainError(f"cannot derain an empty {h}×{w} image")
    grid = tiles(h, w, tile)
    with tempfile.TemporaryDirectory(prefix="rainset-tiles-", dir=scratch_dir) as folder:
        source: np.ndarray | Scratch = image
        normaliser: tuple[torch.Tensor, torch.Tensor] | None = None
        skips: dict[int, Scratch] = {}
        output: np.ndarray | None = None
        try:
            for seg in tp.segments:
                target: Scratch | None = None
                moments = Moments()
                r = seg.radius
                for y0, y1, x0, x1 in grid:
                    ry0, ry1, rx0, rx1 = max(0, y0 - r), min(h, y1 + r), max(0, x0 - r), min(w, x1 + r)
                    if isinstance(source, Scratch):
                        t = to_tensor(source.read(ry0, ry1, rx0, rx1), device)
                    else:
                        t = to_tensor(np.array(source[ry0:ry1, rx0:rx1], np.float32), device)
                    if normaliser is not None:
                        t = t * normaliser[0] + normaliser[1]
                    held: dict[int, torch.Tensor] = {}
                    for step in seg.steps:
                        if step.kind == "local":
                            t = step.module(t)
                        elif step.kind == "push" and step.slot in tp.stored_skips:
                            if step.slot not in skips:
                                skips[step.slot] = Scratch(folder, (h, w, t.shape[1]), dtype)
                            skips[step.slot].write(y0, x0, to_array(t[..., y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]))
                        elif step.kind == "push":
                            held[step.slot] = t.clone()  # later modules may work in place
                        elif step.slot in held:
                            t = t + held.pop(step.slot)
                        else:
                            t = t + to_tensor(skips[step.slot].read(ry0, ry1, rx0, rx1), device)
                    core = t[..., y0 - ry0:y1 - ry0, x0 - rx0:x1 - rx0]
                    if seg.closes is None:
                        if output is None:
                            output = np.empty((h, w, core.shape[1]), np.float32)
                        output[y0:y1, x0:x1] = to_array(core)
                    else:
                        values = to_array(core)
                        moments.add(values)
                        if target is None:
                            target = Scratch(folder, (h, w, core.shape[1]), dtype)
                        target.write(y0, x0, values)
                for step in seg.steps:
                    if step.kind == "add" and step.slot in skips:
                        skips.pop(step.slot).close()
                if isinstance(source, Scratch):
                    source.close()
                if target is not None and seg.closes is not None:
                    source, normaliser = target, moments.normaliser(seg.closes.module, device)
        finally:
            for scratch in (source, *skips.values()):
                if isinstance(scratch, Scratch):
                    scratch.close()
    assert output is not None
    return output
