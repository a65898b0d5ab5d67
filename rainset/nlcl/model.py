"""NLCL networks: the two generators, the PatchGAN discriminator and the projection heads.

Shapes follow DESIGN.md: a generator is conv3×3 3→C, ``blocks`` residual blocks
(conv–IN–ReLU–conv–IN + skip), conv–IN–ReLU–conv, conv C→3; full resolution, no output
activation (about 0.32 M parameters at C=32, 16 blocks). This is the released NLCL generator
layer for layer (zero padding, biases everywhere, instance norm without affine parameters,
eps 1e-5); with ``head_relu=False`` (the default, and the ``paper`` config) it computes exactly
what the released weights compute, and :mod:`rainset.nlcl.released` maps their keys. The discriminator is a PatchGAN whose
block outputs double as the encoder of the layer-contrastive loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm(nn.Module):
    """Instance normalisation (no affine) whose statistics can be recorded once and then frozen.

    Training uses the per-image statistics like ``nn.InstanceNorm2d``. ``mode = "record"`` keeps
    the statistics of a pass and ``mode = "frozen"`` normalises with them (exact tiled inference,
    :mod:`rainset.nlcl.tiled`, does not use these modes: it gathers each layer's statistics over
    the whole image tile by tile and applies them itself, with this module's ``eps``).
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.mode = "train"
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "record":
            var, mean = torch.var_mean(x.float(), dim=(0, 2, 3), correction=0)
            self.stats = (mean.detach(), var.detach())
        if self.mode in ("record", "frozen"):
            if self.stats is None:
                raise RuntimeError("InstanceNorm in frozen mode without recorded statistics")
            mean, var = self.stats
            return F.instance_norm(x, mean.to(x.dtype), var.to(x.dtype), use_input_stats=False, eps=self.eps)
        return F.instance_norm(x, eps=self.eps)


# Largest activation (bytes) one training forward on CPU makes at a time. glibc serves blocks
# above 32 MiB with a fresh mmap and returns them to the kernel on free, so every such tensor
# page-faults its memory in again (zeroed by the kernel): at batch 8 and 256² crops a 32-channel
# activation is 64 MiB and a step spent a third of its time in the kernel. Running the batch in
# chunks below that size keeps the memory in the heap. Exact: instance norm is per sample.
CPU_CHUNK_BYTES = 24 * 2 ** 20


def batch_chunks(x: torch.Tensor, channels: int, training: bool) -> list[torch.Tensor]:
    """``x`` split along the batch so a ``channels``-wide activation stays under
    :data:`CPU_CHUNK_BYTES` (CPU training only; otherwise ``[x]``)."""
    if not training or x.device.type != "cpu" or x.shape[0] == 1:
        return [x]
    per_sample = channels * x.shape[2] * x.shape[3] * x.element_size()
    size = max(1, CPU_CHUNK_BYTES // per_sample)
    return list(x.split(size)) if size < x.shape[0] else [x]


def cat_features(lists: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Per-chunk feature lists joined back along the batch."""
    return [torch.cat(f) for f in zip(*lists)]


def cat_outputs(parts: list[tuple[torch.Tensor, list[torch.Tensor]]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Per-chunk ``(output, features)`` pairs joined back along the batch."""
    return torch.cat([p[0] for p in parts]), cat_features([p[1] for p in parts])


def conv3(cin: int, cout: int) -> nn.Conv2d:
    """A 3×3 convolution with zero padding 1 (keeps the size)."""
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """conv–IN–ReLU–conv–IN plus the identity skip."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3(ch, ch), InstanceNorm(), nn.ReLU(inplace=True), conv3(ch, ch), InstanceNorm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).add_(x)  # in place: one activation-sized allocation less per block


class Generator(nn.Module):
    """Full-resolution residual generator (G_B: rainy → clean layer, G_R: rainy → rain layer).

    Layer indices for :meth:`features`: 0 is the output of the first convolution (after the ReLU
    when ``head_relu``), ``i`` (1 … blocks) the output of residual block ``i``.

    ``head_relu``: a ReLU after the first convolution. The released generator has none (the
    default); rainset's checkpoints written before the ``gen_head_relu`` config field had one.
    """

    def __init__(self, channels: int = 32, blocks: int = 16, head_relu: bool = False) -> None:
        super().__init__()
        head: list[nn.Module] = [conv3(3, channels)]
        if head_relu:
            head.append(nn.ReLU(inplace=True))
        self.head = nn.Sequential(*head)  # parameters under head.0 either way
        self.head_relu = head_relu
        self.blocks = nn.ModuleList(ResBlock(channels) for _ in range(blocks))
        self.tail = nn.Sequential(conv3(channels, channels), InstanceNorm(), nn.ReLU(inplace=True),
                                  conv3(channels, channels), conv3(channels, 3))
        self.channels = channels

    def forward(self, x: torch.Tensor, layers: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the output and the features at ``layers`` (in the order given)."""
        chunks = batch_chunks(x, self.channels, self.training)
        if len(chunks) == 1:
            return self._forward(x, layers)
        return cat_outputs([self._forward(c, layers) for c in chunks])

    def _forward(self, x: torch.Tensor, layers: tuple[int, ...]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.head(x)
        found = {0: h}
        for i, block in enumerate(self.blocks, start=1):
            h = block(h)
            if i in layers:
                found[i] = h
        return self.tail(h), [found[i] for i in layers]

    def features(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Only the features at ``layers``; stops after the deepest one (the PatchNCE encoder)."""
        chunks = batch_chunks(x, self.channels, self.training)
        if len(chunks) > 1:
            return cat_features([self.features(c, layers) for c in chunks])
        h = self.head(x)
        found = {0: h}
        last = max(layers)
        for i, block in enumerate(self.blocks, start=1):
            if i > last:
                break
            h = block(h)
            found[i] = h
        return [found[i] for i in layers]


class BlurDownsample(nn.Module):
    """Anti-aliased downsampling: reflection pad 1, then a 3×3 binomial blur ([1, 2, 1] ⊗ [1, 2, 1] / 16),
    per channel, stride 2 (the released discriminator's ``Downsample``; its filter is a buffer there,
    a fixed constant here, not saved)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = (taps[:, None] * taps[None, :]) / 16
        self.register_buffer("filt", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt.to(x.dtype), stride=2, groups=self.channels)


class Discriminator(nn.Module):
    """PatchGAN: 4×4 convolutions, LeakyReLU(0.2), IN; ``layers`` downsampling blocks after the first.

    Two layouts, with the same parameter keys (``blocks.i.0`` the convolution of block ``i``,
    ``out`` the last):

    - ``antialias=True`` (the released ``no_antialias False``): every convolution has stride 1;
      blocks 0 … ``layers - 1`` end with a :class:`BlurDownsample`. For a 64² input the scores
      are 6×6.
    - ``antialias=False`` (rainset before the ``disc_antialias`` field): stride-2 convolutions in
      blocks 0 … ``layers - 1``, block ``layers`` at stride 1.

    ``forward(x, levels)`` returns the scores and the features at ``levels`` of one of two lists:

    - ``features="released"``: what the released ``D(x, [0, 3, 7, 11], encode_only=True)`` holds:
      level 0 the input itself, level 1 the first convolution's output after its LeakyReLU (that
      activation runs in place there), level ``i + 1`` (``i`` ≥ 1) the output of block ``i``'s
      convolution, before its instance norm.
    - ``features="blocks"``: level ``i`` the output of block ``i`` (after its activation and any
      downsampling), as rainset had it before the ``layer_features`` field.

    ``level_channels`` and ``level_strides`` describe the list in use (stride relative to the input).
    """

    def __init__(self, channels: int = 64, layers: int = 3, antialias: bool = False,
                 features: str = "blocks") -> None:
        super().__init__()
        if features not in ("released", "blocks"):
            raise ValueError(f"discriminator features must be released or blocks, not {features!r}")
        stride_first = 1 if antialias else 2
        first: list[nn.Module] = [nn.Conv2d(3, channels, 4, stride_first, 1), nn.LeakyReLU(0.2, inplace=True)]
        if antialias:
            first.append(BlurDownsample(channels))
        blocks: list[nn.Module] = [nn.Sequential(*first)]
        ch = channels
        for i in range(1, layers + 1):
            nxt = channels * min(2 ** i, 8)
            down = i < layers
            body: list[nn.Module] = [nn.Conv2d(ch, nxt, 4, 2 if down and not antialias else 1, 1), InstanceNorm(),
                                     nn.LeakyReLU(0.2, inplace=True)]
            if down and antialias:
                body.append(BlurDownsample(nxt))
            blocks.append(nn.Sequential(*body))
            ch = nxt
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(ch, 1, 4, 1, 1)
        self.antialias = antialias
        self.feature_kind = features
        widths = [b[0].out_channels for b in blocks]
        block_strides = [2 ** (i + 1) if i < layers else 2 ** layers for i in range(len(blocks))]
        if features == "blocks":
            self.level_channels = widths
            self.level_strides = block_strides
        else:  # the input, then block i's convolution output (anti-aliased: at the stride of block i's input)
            self.level_channels = [3, *widths]
            self.level_strides = [1, 1, *block_strides[:-1]] if antialias else [1, *block_strides]

    def forward(self, x: torch.Tensor, levels: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        # block 0's output: C channels at 1/4 of the pixels, as many values as C/4 at full size
        chunks = batch_chunks(x, self.blocks[0][0].out_channels // 4, self.training)
        if len(chunks) > 1:
            return cat_outputs([self.forward(c, levels) for c in chunks])
        h, found = self._run(x, levels, len(self.blocks))
        return self.out(h), [found[i] for i in levels]

    def features(self, x: torch.Tensor, levels: tuple[int, ...]) -> list[torch.Tensor]:
        """Only the features at ``levels``; stops after the block that makes the deepest one."""
        chunks = batch_chunks(x, self.blocks[0][0].out_channels // 4, self.training)
        if len(chunks) > 1:
            return cat_features([self.features(c, levels) for c in chunks])
        deepest = max(levels)
        stop = deepest + 1 if self.feature_kind == "blocks" else deepest
        _, found = self._run(x, levels, min(stop, len(self.blocks)))
        return [found[i] for i in levels]

    def _run(self, x: torch.Tensor, levels: tuple[int, ...], n_blocks: int) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        found: dict[int, torch.Tensor] = {}
        released = self.feature_kind == "released"
        if released and 0 in levels:
            found[0] = x
        h = x
        for i, block in enumerate(self.blocks[:n_blocks]):
            if not released:
                h = block(h)
                if i in levels:
                    found[i] = h
                continue
            for j, layer in enumerate(block):
                h = layer(h)
                # block 0: the conv output as the in-place LeakyReLU leaves it; later blocks: before the IN
                if i + 1 in levels and j == (1 if i == 0 else 0):
                    found[i + 1] = h
        return h, found


class ProjectionHead(nn.Module):
    """Linear(C→dim)–ReLU–Linear(dim→dim), L2-normalised output."""

    def __init__(self, cin: int, dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cin, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x.float()), dim=-1)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Normal(0, std) weights and zero biases for every convolution and linear layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_xavier(module: nn.Module, gain: float = 0.02) -> None:
    """Xavier-normal weights (``gain``) and zero biases for every convolution and linear layer: the
    released init of the discriminator and the projection heads (``init_type xavier``, ``init_gain 0.02``)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
