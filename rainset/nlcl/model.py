"""NLCL networks: the two generators, the PatchGAN discriminator and the projection heads.

Shapes follow DESIGN.md: a generator is conv3×3 3→C, ``blocks`` residual blocks
(conv–IN–ReLU–conv–IN + skip), conv–IN–ReLU–conv, conv C→3; full resolution, no output
activation (about 0.32 M parameters at C=32, 16 blocks). The discriminator is a PatchGAN whose
block outputs double as the encoder of the layer-contrastive loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InstanceNorm(nn.Module):
    """Instance normalisation (no affine) whose statistics can be recorded once and then frozen.

    Training uses the per-image statistics like ``nn.InstanceNorm2d``. Tiled inference
    (:mod:`rainset.nlcl.derain`) first records the statistics of the whole image
    (``mode = "record"``) and then normalises every tile with them (``mode = "frozen"``), so a
    tiled result equals the untiled one.
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


def conv3(cin: int, cout: int) -> nn.Conv2d:
    """A 3×3 convolution with zero padding 1 (keeps the size)."""
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResBlock(nn.Module):
    """conv–IN–ReLU–conv–IN plus the identity skip."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv3(ch, ch), InstanceNorm(), nn.ReLU(inplace=True), conv3(ch, ch), InstanceNorm())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Generator(nn.Module):
    """Full-resolution residual generator (G_B: rainy → clean layer, G_R: rainy → rain layer).

    Layer indices for :meth:`features`: 0 is the output of the first convolution (after ReLU),
    ``i`` (1 … blocks) the output of residual block ``i``.
    """

    def __init__(self, channels: int = 32, blocks: int = 16) -> None:
        super().__init__()
        self.head = nn.Sequential(conv3(3, channels), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList(ResBlock(channels) for _ in range(blocks))
        self.tail = nn.Sequential(conv3(channels, channels), InstanceNorm(), nn.ReLU(inplace=True),
                                  conv3(channels, channels), conv3(channels, 3))
        self.channels = channels

    def forward(self, x: torch.Tensor, layers: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Return the output and the features at ``layers`` (in the order given)."""
        h = self.head(x)
        found = {0: h}
        for i, block in enumerate(self.blocks, start=1):
            h = block(h)
            if i in layers:
                found[i] = h
        return self.tail(h), [found[i] for i in layers]

    def features(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Only the features at ``layers``; stops after the deepest one (the PatchNCE encoder)."""
        h = self.head(x)
        found = {0: h}
        last = max(layers)
        for i, block in enumerate(self.blocks, start=1):
            if i > last:
                break
            h = block(h)
            found[i] = h
        return [found[i] for i in layers]


class Discriminator(nn.Module):
    """PatchGAN: 4×4 convolutions, stride 2 for the first ``layers`` blocks, LeakyReLU(0.2), IN.

    ``forward`` returns the patch scores and the outputs of the blocks listed in ``levels``
    (block ``i`` has stride ``2**(i+1)`` for ``i < layers``).
    """

    def __init__(self, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))]
        ch = channels
        for i in range(1, layers + 1):
            nxt = channels * min(2 ** i, 8)
            stride = 2 if i < layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, 4, stride, 1), InstanceNorm(), nn.LeakyReLU(0.2, inplace=True)))
            ch = nxt
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(ch, 1, 4, 1, 1)
        self.level_channels = [b[0].out_channels for b in blocks]
        self.level_strides = [2 ** (i + 1) if i < layers else 2 ** layers for i in range(len(blocks))]

    def forward(self, x: torch.Tensor, levels: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in levels:
                feats.append(h)
        return self.out(h), feats

    def features(self, x: torch.Tensor, levels: tuple[int, ...]) -> list[torch.Tensor]:
        """Only the block outputs at ``levels``; stops after the deepest one."""
        feats = []
        h = x
        for i, block in enumerate(self.blocks):
            if i > max(levels):
                break
            h = block(h)
            if i in levels:
                feats.append(h)
        return feats


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


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
