"""Intrinsic dimension of non-local patch groups of the background and of the rain layer.

The TPAMI extension of NLCL observes that image patches have a higher intrinsic dimension than
rain patches and designs its (unpublished) asymmetric loss for that compactness gap. This module
measures the gap on real layers:

- a *non-local patch group* is what the trainer's layer-contrastive sampling sees: the ``group``
  patches (``patch``² × 3 values each) nearest to a random anchor patch inside a window of
  ``window`` patch centres (:func:`rainset.nlcl.sampling.nearest_patches`, ``centres=True``);
- each group's intrinsic dimension is estimated twice, with our own code: **TwoNN** (Facco et al.
  2017, maximum-likelihood form ``d = n / Σ log(r₂ / r₁)``) and the **Levina–Bickel** MLE (2005,
  ``k`` neighbours, per-point estimates pooled by averaging their inverses, as MacKay and
  Ghahramani suggest); duplicate patches are dropped first (a zero distance has no ratio);
- the layers come from a checkpoint's decomposition of rainy images (B = G_B(O), R = G_R(O), in the
  network's units) or from paired images (B = clean, R = rainy − clean).

Per source the report gives the median over groups of each estimate, the ratio background / rain,
and the optional temperature rule :func:`temperatures_from_ratio`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Capture
from rainset.errors import TrainError
from rainset.nlcl.derain import load_generator, read_input
from rainset.store import Store
from rainset.nlcl.sampling import nearest_patches, released_anchors


def _unique(points: torch.Tensor) -> torch.Tensor:
    return torch.unique(points.double(), dim=0)


def twonn(points: torch.Tensor) -> float:
    """TwoNN estimate of an (n, D) point set: ``n / Σ log(r₂/r₁)`` over the distinct points (nan below 3)."""
    x = _unique(points)
    if x.shape[0] < 3:
        return math.nan
    d = torch.cdist(x, x)
    d.fill_diagonal_(math.inf)
    r = d.topk(2, dim=1, largest=False).values
    logs = torch.log(r[:, 1] / r[:, 0])
    total = float(logs.sum())
    return x.shape[0] / total if total > 0 else math.inf


def levina_bickel(points: torch.Tensor, k: int = 10) -> float:
    """Levina–Bickel MLE with ``k`` neighbours over the distinct points; per-point inverses averaged
    (nan when there are not ``k + 1`` distinct points)."""
    x = _unique(points)
    if x.shape[0] < k + 1 or k < 2:
        return math.nan
    d = torch.cdist(x, x)
    d.fill_diagonal_(math.inf)
    t = d.topk(k, dim=1, largest=False).values              # (n, k), T_1 … T_k
    inv = torch.log(t[:, -1:] / t[:, :-1]).sum(1) / (k - 1)  # 1 / m_k(x) per point
    mean_inv = float(inv.mean())
    return 1.0 / mean_inv if mean_inv > 0 else math.inf


def patch_groups(layer: torch.Tensor, anchors: int, group: int, *, window: int = 40, patch: int = 16,
                 generator: torch.Generator) -> list[torch.Tensor]:
    """``anchors`` non-local groups of one (C, H, W) layer: each the (group, C·patch²) flattened patches
    nearest to a random anchor (centres drawn as the released sampler draws them)."""
    c, h, w = layer.shape
    rows, cols = released_anchors(anchors, h, w, patch, generator)
    batch = layer.double()[None].expand(anchors, c, h, w)
    near = nearest_patches(batch, rows, cols, group, window=window, patch=patch, centres=True)
    out = []
    for i in range(anchors):
        pieces = [layer[:, r:r + patch, q:q + patch].reshape(-1)
                  for r, q in zip(near.rows[i].tolist(), near.cols[i].tolist())]
        out.append(torch.stack(pieces).double())
    return out


@dataclass(frozen=True)
class LayerDims:
    """Estimates for one layer: medians over its groups (``groups`` with a finite estimate)."""

    twonn: float
    mle: float
    groups: int


def layer_dims(groups: Iterable[torch.Tensor], k: int = 10) -> LayerDims:
    """Median TwoNN and Levina–Bickel estimates over patch groups (non-finite ones left out)."""
    t, m = [], []
    for g in groups:
        a, b = twonn(g), levina_bickel(g, k)
        if math.isfinite(a) and math.isfinite(b):
            t.append(a)
            m.append(b)
    if not t:
        return LayerDims(math.nan, math.nan, 0)
    return LayerDims(round(float(np.median(t)), 3), round(float(np.median(m)), 3), len(t))


def temperatures_from_ratio(ratio: float, tau: float = 0.07) -> tuple[float, float]:
    """The optional rule: ``τ_b = τ·√ρ``, ``τ_r = τ/√ρ`` for ρ = background ID / rain ID.

    The more compact class (lower intrinsic dimension) gets the sharper (lower) temperature; the
    geometric mean stays ``τ`` and ρ = 1 gives ``τ_b = τ_r = τ``: the CVPR loss.
    """
    if not (ratio > 0 and math.isfinite(ratio)):
        raise TrainError(f"intrinsic-dimension ratio {ratio}: needs a positive finite ratio")
    s = math.sqrt(ratio)
    return round(tau * s, 5), round(tau / s, 5)


@dataclass(frozen=True)
class SourceDims:
    """One source's measurement (``decomposition`` of rainy images, or ``paired`` rainy − clean)."""

    source: str
    images: int
    background: LayerDims
    rain: LayerDims

    @property
    def ratio_twonn(self) -> float:
        return round(self.background.twonn / self.rain.twonn, 3) if self.rain.twonn else math.nan

    @property
    def ratio_mle(self) -> float:
        return round(self.background.mle / self.rain.mle, 3) if self.rain.mle else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "images": self.images, "background": asdict(self.background),
                "rain": asdict(self.rain), "ratio_twonn": self.ratio_twonn, "ratio_mle": self.ratio_mle}


@dataclass(frozen=True)
class IntrinsicDimReport:
    """What ``rainset nlcl intrinsic-dim`` measured, and the temperatures the rule derives."""

    sources: tuple[SourceDims, ...]
    window: int
    patch: int
    group: int
    k: int
    tau: float

    def rule_source(self) -> SourceDims | None:
        """The source the rule reads: ``paired`` (the true rain layer) when measured, else the first."""
        by = {s.source: s for s in self.sources}
        return by.get("paired", self.sources[0] if self.sources else None)

    def temperatures(self) -> tuple[float, float] | None:
        """(τ_b, τ_r) from the MLE ratio of :meth:`rule_source` (None when it is not finite)."""
        src = self.rule_source()
        ratio = src.ratio_mle if src is not None else math.nan
        return temperatures_from_ratio(ratio, self.tau) if ratio > 0 and math.isfinite(ratio) else None

    def to_dict(self) -> dict[str, Any]:
        temps = self.temperatures()
        return {"sources": [s.to_dict() for s in self.sources], "window": self.window, "patch": self.patch,
                "group": self.group, "k": self.k,
                "temperatures": None if temps is None else {"tau_b": temps[0], "tau_r": temps[1]}}

    def lines(self) -> list[str]:
        head = f"{'source':<14} {'images':>6} {'groups':>6} {'B TwoNN':>8} {'B MLE':>7} {'R TwoNN':>8} {'R MLE':>7} " \
               f"{'B/R TwoNN':>9} {'B/R MLE':>8}"
        lines = [f"intrinsic dimension of non-local patch groups ({self.group} patches of {self.patch}², "
                 f"window {self.window} centres; MLE k={self.k}; medians over groups)", head]
        for s in self.sources:
            lines.append(f"{s.source:<14} {s.images:>6} {s.background.groups:>6} {s.background.twonn:>8.2f} "
                         f"{s.background.mle:>7.2f} {s.rain.twonn:>8.2f} {s.rain.mle:>7.2f} "
                         f"{s.ratio_twonn:>9.2f} {s.ratio_mle:>8.2f}")
        temps = self.temperatures()
        if temps is not None:
            source = self.rule_source().source
            lines.append(f"rule tau_b = tau*sqrt(ratio), tau_r = tau/sqrt(ratio) (MLE ratio of {source}): "
                         f"asymmetric=true tau_b={temps[0]} tau_r={temps[1]}")
        return lines


def measure(pairs: Iterable[tuple[np.ndarray, np.ndarray]], source: str, *, anchors: int = 16, group: int = 128,
            window: int = 40, patch: int = 16, k: int = 10, seed: int = 0) -> SourceDims:
    """Estimates over (background, rain) layer pairs (H×W×3 float arrays, any common units)."""
    gen = torch.Generator().manual_seed(seed)
    bg: list[torch.Tensor] = []
    rain: list[torch.Tensor] = []
    n = 0
    for b, r in pairs:
        n += 1
        for arr, into in ((b, bg), (r, rain)):
            layer = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).double()
            h, w = layer.shape[1:]
            if min(h, w) < window + patch - 1 or min(h, w) < 2 * patch:
                raise TrainError(f"{source} image {n}: {w}×{h} is smaller than the {window + patch - 1}-pixel search "
                                 f"region")
            into.extend(patch_groups(layer, anchors, group, window=window, patch=patch, generator=gen))
    if n == 0:
        raise TrainError(f"{source}: no images to measure")
    return SourceDims(source, n, layer_dims(bg, k), layer_dims(rain, k))


def store_images(store: Store, limit: int = 0) -> Iterable[np.ndarray]:
    """The active captures of a store (representative originals, by capture id), as float RGB in [0, 1]."""
    with catalog_session(store.db_url) as session:
        query = select(Capture.representative_sha256).where(Capture.status == "active").order_by(Capture.id)
        shas = list(session.scalars(query.limit(limit) if limit > 0 else query))
    if not shas:
        raise TrainError(f"store {store.root}: no active captures to measure")
    for sha in shas:
        yield read_input(store.object_path(sha))[0]


def file_images(paths: Iterable[Path]) -> Iterable[np.ndarray]:
    """Image files (8/16-bit rasters or camera RAW) as float RGB in [0, 1]."""
    for p in paths:
        yield read_input(Path(p))[0]


def file_pairs(pairs: Iterable[tuple[Path, Path]]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(rainy, clean) file pairs as float RGB arrays in [0, 1]."""
    for rainy, clean in pairs:
        yield read_input(Path(rainy))[0], read_input(Path(clean))[0]


def centre_crop(img: np.ndarray, side: int) -> np.ndarray:
    """The central ``side``×``side`` window (or less, where the image is smaller)."""
    h, w = img.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return img[y:y + side, x:x + side]


def decompose(checkpoint: str | Path, images: Iterable[np.ndarray], *, side: int = 256,
              device: str | torch.device = "cpu") -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(B, R) of each rainy image (float RGB in [0, 1], centre-cropped to ``side``) through a checkpoint's
    G_B and G_R, in the network's [-1, 1] units, unclamped."""
    g_b, g_r = load_generator(checkpoint, device, "b"), load_generator(checkpoint, device, "r")
    for img in images:
        x = torch.from_numpy(np.ascontiguousarray(centre_crop(img, side).transpose(2, 0, 1)))[None].float()
        x = (x * 2 - 1).to(device)
        with torch.inference_mode():
            b, _ = g_b(x)
            r, _ = g_r(x)
        yield b[0].permute(1, 2, 0).cpu().numpy(), r[0].permute(1, 2, 0).cpu().numpy()


def paired_layers(pairs: Iterable[tuple[np.ndarray, np.ndarray]], *, side: int = 256
                  ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(B, R) = (clean, rainy − clean) of paired images (float RGB in [0, 1]), centre-cropped, in [-1, 1] units."""
    for rainy, clean in pairs:
        if rainy.shape != clean.shape:
            raise TrainError(f"paired images differ in size: {rainy.shape[1]}×{rainy.shape[0]} and "
                             f"{clean.shape[1]}×{clean.shape[0]}")
        o, b = centre_crop(rainy, side) * 2 - 1, centre_crop(clean, side) * 2 - 1
        yield b, o - b


def intrinsic_dim(*, decomposed: Iterable[tuple[np.ndarray, np.ndarray]] | None = None,
                  paired: Iterable[tuple[np.ndarray, np.ndarray]] | None = None, anchors: int = 16,
                  group: int = 128, window: int = 40, patch: int = 16, k: int = 10, seed: int = 0, tau: float = 0.07,
                  progress: Callable[[str], None] | None = None) -> IntrinsicDimReport:
    """Measure each given source (checkpoint decomposition, paired difference) into one report."""
    if group > window ** 2:
        raise TrainError(f"group {group} exceeds the {window ** 2} patch positions of a {window}-centre window")
    if k >= group:
        raise TrainError(f"k {k} must be smaller than the group size {group}")
    sources = []
    for name, layers in (("decomposition", decomposed), ("paired", paired)):
        if layers is None:
            continue
        if progress is not None:
            progress(name)
        sources.append(measure(layers, name, anchors=anchors, group=group, window=window, patch=patch, k=k, seed=seed))
    if not sources:
        raise TrainError("nothing to measure: give a checkpoint (decomposition) or clean images (pairs)")
    return IntrinsicDimReport(tuple(sources), window, patch, group, k, tau)
