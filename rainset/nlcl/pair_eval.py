"""Scoring a checkpoint on real pairs from video (``rainset evaluate --manifest NAME`` / ``--pairs NAME``).

Each pair is a rainy frame, its pseudo-clean target and a validity mask. The derained frame and,
as the baseline, the rainy input itself are scored against the target with masked PSNR and SSIM
(RGB and the Y channel; :func:`rainset.nlcl.evaluate.masked_psnr`, :func:`masked_ssim`): masked
pixels (moving objects, unreliable targets) count for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from rainset.errors import TrainError
from rainset.manifests.pair_rows import load_pairset
from rainset.manifests.schema import SPLITS
from rainset.manifests.versions import open_version
from rainset.nlcl.evaluate import masked_psnr, masked_ssim, to_y
from rainset.store import Store

SCORES = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y")


@dataclass(frozen=True)
class PairFiles:
    """One pair to score: its name (the pair id), split (from a version) and local files."""

    name: str
    split: str | None
    rainy: Path
    clean: Path
    mask: Path


def pairs_of_version(store: Store, name: str, split: str | None = None) -> list[PairFiles]:
    """The pairs of the pairs version ``name`` (``split``: only that split), in sample id order.

    Raises:
        ManifestError: no such version. TrainError: not a pairs version, an unknown split, or no pair left.
    """
    if split is not None and split not in SPLITS:
        raise TrainError(f"--split {split!r}: choose from {', '.join(SPLITS)}")
    version = open_version(store, name)
    if not version.info.get("pairs"):
        raise TrainError(f"manifest version {name!r} holds no pairs (export one with 'rainset export NAME --pairs "
                         "PAIRS', or give --pairs PAIRS)")
    rows = sorted(version.rows(["sample_id", "split", "rainy_path", "clean_path", "mask_path"]),
                  key=lambda r: r["sample_id"])
    chosen = [PairFiles(r["sample_id"], r["split"], store.root / r["rainy_path"], store.root / r["clean_path"],
                        store.root / r["mask_path"]) for r in rows if split is None or r["split"] == split]
    if not chosen:
        raise TrainError(f"manifest version {name!r}: no pair in split {split!r}" if split else
                         f"manifest version {name!r}: no pair to score")
    return chosen


def pairs_of_set(store: Store, name: str) -> list[PairFiles]:
    """The accepted pairs of the pair set ``STORE/pairs/NAME`` (ManifestError: unknown, none accepted)."""
    loaded = load_pairset(store, name)
    return [PairFiles(p.pair_id, None, loaded.folder / p.rainy, loaded.folder / p.clean, loaded.folder / p.mask)
            for p in sorted(loaded.pairset.accepted(), key=lambda p: p.pair_id)]


@dataclass(frozen=True)
class PairScores:
    """Masked scores of one pair: the derained frame's and the rainy input's (``input_*``, the baseline)."""

    name: str
    split: str | None
    valid_fraction: float
    psnr_rgb: float | None
    ssim_rgb: float | None
    psnr_y: float | None
    ssim_y: float | None
    input_psnr_rgb: float | None
    input_ssim_rgb: float | None
    input_psnr_y: float | None
    input_ssim_y: float | None


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


def masked_scores(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, float | None]:
    """Masked PSNR and SSIM (RGB in [0, 1], and Y on 16–235) of ``pred`` against ``truth``."""
    py, ty = to_y(pred), to_y(truth)
    return {"psnr_rgb": _round(masked_psnr(pred, truth, mask, 1.0), 4),
            "ssim_rgb": _round(masked_ssim(pred, truth, mask, 1.0), 5),
            "psnr_y": _round(masked_psnr(py, ty, mask, 255.0), 4),
            "ssim_y": _round(masked_ssim(py, ty, mask, 255.0), 5)}


def score_pair(name: str, split: str | None, derained: np.ndarray, rainy: np.ndarray, clean: np.ndarray,
               mask: np.ndarray) -> PairScores:
    """The :class:`PairScores` of one pair (images H×W×3 float RGB in [0, 1], mask H×W, > 0 = valid)."""
    for what, img in (("derained", derained), ("rainy", rainy)):
        if img.shape != clean.shape:
            raise TrainError(f"pair {name}: {what} {img.shape[1]}×{img.shape[0]} and clean "
                             f"{clean.shape[1]}×{clean.shape[0]} differ in size")
    out = masked_scores(derained, clean, mask)
    base = masked_scores(rainy, clean, mask)
    return PairScores(name, split, round(float((np.asarray(mask) > 0).mean()), 5), **out,
                      **{f"input_{k}": v for k, v in base.items()})


@dataclass(frozen=True)
class PairEvalReport:
    """Per-pair masked scores and their means (``rainset evaluate --manifest/--pairs --json``)."""

    source: str
    pairs: tuple[PairScores, ...]
    mean: dict[str, float | None]

    def to_dict(self) -> dict:
        return {"source": self.source, "pairs": [asdict(p) for p in self.pairs], "mean": self.mean}

    def lines(self) -> list[str]:
        keys = (*SCORES, *(f"input_{k}" for k in SCORES))
        head = [f"{self.source}: {len(self.pairs)} pairs, scored within their masks (input_*: the rainy frame)",
                f"{'pair':<24} {'valid':>6} " + " ".join(f"{k:>15}" for k in keys)]
        cell = lambda v: f"{'-' if v is None else f'{v:.4f}':>15}"  # noqa: E731
        rows = [f"{p.name[:24]:<24} {p.valid_fraction:>6.3f} " + " ".join(cell(getattr(p, k)) for k in keys)
                for p in self.pairs]
        return head + rows + [f"{'mean':<24} {'':>6} " + " ".join(cell(self.mean[k]) for k in keys)]


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return round(float(np.mean(kept)), 4) if kept else None


def read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise TrainError(f"{path}: cannot read the pair's mask")
    return mask


def evaluate_pairs(source: str, pairs: list[PairFiles], transform: Callable[[np.ndarray], np.ndarray], *,
                   progress: Callable[[int, int], None] | None = None) -> PairEvalReport:
    """Derain each pair's rainy frame with ``transform`` and score it and the rainy frame within the mask.

    Means leave out pairs without a valid pixel and infinite PSNRs (identical images).

    Raises:
        TrainError: a pair file is missing or cannot be decoded, or the three differ in size.
    """
    from rainset.nlcl.data import read_image  # heavy: torch (optional train extra); the metrics need none

    scores = []
    for i, pair in enumerate(pairs):
        for path in (pair.rainy, pair.clean, pair.mask):
            if not path.is_file():
                raise TrainError(f"pair {pair.name}: file {path} is missing")
        rainy, _ = read_image(pair.rainy)
        clean, _ = read_image(pair.clean)
        scores.append(score_pair(pair.name, pair.split, transform(rainy), rainy, clean, read_mask(pair.mask)))
        if progress is not None:
            progress(i + 1, len(pairs))
    keys = (*SCORES, *(f"input_{k}" for k in SCORES), "valid_fraction")
    mean = {k: _mean([getattr(s, k) for s in scores]) for k in keys}
    return PairEvalReport(source, tuple(scores), mean)
