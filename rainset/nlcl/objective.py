"""The generator side of NLCL as one module, so one forward and one backward make a step.

:class:`GeneratorSide` holds G_B, G_R and the projection heads (the parameters the generator
step updates); its ``forward`` computes every generator loss. The discriminator is passed in,
frozen, and only used for scores and features. Wrapping this one module in
DistributedDataParallel gives a single gradient all-reduce per step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from rainset.nlcl import losses
from rainset.nlcl.model import Discriminator, Generator, ProjectionHead, init_weights, init_xavier
from rainset.nlcl.sampling import features_at, nearest_patches, random_anchors, released_anchors

if TYPE_CHECKING:
    from rainset.nlcl.config import TrainConfig


class GeneratorSide(nn.Module):
    """G_B, G_R, the layer-contrastive heads (one per D level; with ``separate_heads`` a second
    set, ``layer_heads_r``, projects the R samples) and the location heads (one per G_B layer
    used by PatchNCE).

    Init (``cfg.init``): ``released`` leaves the generators at PyTorch's default and gives the
    heads xavier-normal, gain 0.02; ``normal`` draws everything from N(0, 0.02).
    """

    def __init__(self, cfg: "TrainConfig", disc: Discriminator) -> None:
        super().__init__()
        self.cfg = cfg
        self.g_b = Generator(cfg.gen_channels, cfg.gen_blocks, cfg.gen_head_relu)
        self.g_r = Generator(cfg.gen_channels, cfg.gen_blocks, cfg.gen_head_relu)
        self.layer_heads = nn.ModuleList()
        self.loc_heads = nn.ModuleList()
        if cfg.contrastive:
            self.layer_heads.extend(ProjectionHead(disc.level_channels[i], cfg.head_dim) for i in cfg.layer_levels)
            self.loc_heads.extend(ProjectionHead(cfg.gen_channels, cfg.head_dim) for _ in cfg.nce_layers)
        if cfg.contrastive and cfg.separate_heads:  # absent otherwise: old checkpoints keep their keys
            self.layer_heads_r = nn.ModuleList(ProjectionHead(disc.level_channels[i], cfg.head_dim)
                                               for i in cfg.layer_levels)
        self.level_strides = [disc.level_strides[i] for i in cfg.layer_levels]
        if cfg.init == "released":
            init_xavier(self.layer_heads), init_xavier(self.loc_heads)
            if cfg.contrastive and cfg.separate_heads:
                init_xavier(self.layer_heads_r)
        else:
            init_weights(self)

    def heads_r(self) -> nn.ModuleList:
        """The heads that project R samples: ``layer_heads_r`` with ``separate_heads``, else the shared set."""
        return self.layer_heads_r if self.cfg.separate_heads else self.layer_heads

    def forward(self, rainy: torch.Tensor, clean: torch.Tensor, disc: Discriminator, gen: torch.Generator,
                before_losses: Callable[[torch.Tensor], None] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Compute B, R and the generator losses (weighted total under ``"total"``).

        Args:
            rainy: (N, 3, H, W) rainy crops O in [-1, 1].
            clean: (N, 3, H, W) unpaired clean crops.
            disc: the discriminator, frozen by the caller (requires_grad False).
            gen: CPU generator for anchors and PatchNCE locations (seeded per step).
            before_losses: called with the detached B once B and R exist and before any loss
                reads D (the released order: the D step runs here, so the losses meet the
                updated D and B is made once).
        """
        cfg, n = self.cfg, rainy.shape[0]
        layers = tuple(cfg.nce_layers) if cfg.contrastive else ()
        if cfg.contrastive and cfg.nce_identity:
            out, feats = self.g_b(torch.cat([rainy, clean]), layers)
            b, idt = out[:n], out[n:]
        else:
            b, feats = self.g_b(rainy, layers)
            idt = None
        r, _ = self.g_r(rainy)
        if before_losses is not None:
            before_losses(b.detach())
        parts: dict[str, torch.Tensor] = {
            "gan": losses.lsgan_g(disc(b)[0]),
            "consistency": losses.consistency(b, r, rainy),
            "sparsity": losses.sparsity(rainy, b),
        }
        total = cfg.lambda_gan * parts["gan"] + cfg.lambda_consistency * parts["consistency"] \
            + cfg.lambda_sparsity * parts["sparsity"]
        if cfg.contrastive:
            parts["location"] = self.location_loss(b, idt, feats, gen)
            parts["layer"] = self.layer_loss(b, r, disc, gen)
            total = total + cfg.lambda_location * parts["location"] + cfg.lambda_layer * parts["layer"]
        parts["total"] = total
        return b, r, parts

    def anchors(self, n: int, h: int, w: int, gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` anchor patches (top-left rows, columns): the released draw with ``window_span=centres``."""
        draw = released_anchors if self.cfg.window_span == "centres" else random_anchors
        return draw(n, h, w, self.cfg.patch, gen, device)

    def nce_locations(self, key0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """(M, S) flat PatchNCE locations of each source image.

        ``nonlocal``: the centres of the ``nce_locations`` patches nearest to one random anchor,
        searched on ``key0`` (the first nce layer's features of the source, layer 0 as released);
        ``uniform``: random distinct locations.
        """
        cfg = self.cfg
        m, _, h, w = key0.shape
        if cfg.nce_sampling == "uniform":
            s = min(cfg.nce_locations, h * w)
            return torch.stack([torch.randperm(h * w, generator=gen)[:s] for _ in range(m)]).to(key0.device)
        rows, cols = self.anchors(m, h, w, gen, key0.device)
        near = nearest_patches(key0.detach(), rows, cols, cfg.nce_locations, window=cfg.window, patch=cfg.patch,
                               centres=cfg.window_span == "centres")
        half = cfg.patch // 2
        return (near.rows + half) * w + (near.cols + half)

    def location_loss(self, b: torch.Tensor, idt: torch.Tensor | None, key_feats: list[torch.Tensor],
                      gen: torch.Generator) -> torch.Tensor:
        """PatchNCE between G_B's features of B (queries) and of O (keys), plus the identity term
        between G_B(C) and C when enabled; mean over layers (and over the two terms). The locations
        (:meth:`nce_locations`) are chosen on the keys' first layer and shared by every layer."""
        cfg = self.cfg
        outputs = b if idt is None else torch.cat([b, idt])
        query_feats = self.g_b.features(outputs, tuple(cfg.nce_layers))
        m = outputs.shape[0]
        locs = self.nce_locations(key_feats[0], gen)
        s = locs.shape[1]
        total = b.new_zeros((), dtype=torch.float32)
        for head, fq, fk in zip(self.loc_heads, query_feats, key_feats):
            idx = locs[:, None, :].expand(m, fq.shape[1], s)
            q = head(fq.flatten(2).gather(2, idx).transpose(1, 2))
            k = head(fk.flatten(2).gather(2, idx).transpose(1, 2)).detach()
            total = total + losses.patch_nce(q, k, cfg.nce_tau)
        return total / len(self.loc_heads)

    def layer_loss(self, b: torch.Tensor, r: torch.Tensor, disc: Discriminator, gen: torch.Generator) -> torch.Tensor:
        """Non-local sampling on B and R around their anchors (``layer_anchors``: independent, as
        released, or one shared), D features at the patch centres, projection heads, SupCon
        (symmetric or asymmetric); mean over D levels."""
        cfg = self.cfg
        a = cfg.anchors
        n, _, h, w = b.shape
        rows_b, cols_b = self.anchors(n * a, h, w, gen, b.device)
        rows_r, cols_r = (self.anchors(n * a, h, w, gen, b.device) if cfg.layer_anchors == "independent"
                          else (rows_b, cols_b))
        centres = cfg.window_span == "centres"
        b_rep, r_rep = b.repeat_interleave(a, 0), r.repeat_interleave(a, 0)
        near_b = nearest_patches(b_rep, rows_b, cols_b, cfg.k_b, window=cfg.window, patch=cfg.patch, centres=centres)
        near_r = nearest_patches(r_rep, rows_r, cols_r, cfg.k_r, window=cfg.window, patch=cfg.patch, centres=centres)
        feats = disc.features(torch.cat([b, r]), tuple(cfg.layer_levels))
        total = b.new_zeros((), dtype=torch.float32)
        for head_b, head_r, f, stride in zip(self.layer_heads, self.heads_r(), feats, self.level_strides):
            fb, fr = f[:n].repeat_interleave(a, 0), f[n:].repeat_interleave(a, 0)
            z_b = head_b(features_at(fb, near_b.rows, near_b.cols, stride, cfg.patch))
            z_r = head_r(features_at(fr, near_r.rows, near_r.cols, stride, cfg.patch))
            total = total + losses.layer_contrastive(
                z_b, z_r, tau=cfg.tau, asymmetric=cfg.asymmetric, tau_b=cfg.tau_b, tau_r=cfg.tau_r,
                weight_b=cfg.weight_b, weight_r=cfg.weight_r, form=cfg.asymmetric_form)
        return total / len(self.layer_heads)


def discriminator_loss(disc: nn.Module, clean: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN loss of D on clean crops (real) and detached B (fake), in one forward."""
    scores, _ = disc(torch.cat([clean, fake.detach()]))
    n = clean.shape[0]
    return losses.lsgan_d(scores[:n], scores[n:])
