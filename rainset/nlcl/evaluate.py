"""Evaluation: PSNR and SSIM on paired sets (RGB and the Y channel, as deraining papers report),
and a no-reference rain-streak measure for real rain without ground truth.

SSIM follows Wang et al. 2004 with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03,
population statistics, averaged over the image without the 5-pixel border; that is what
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)`` computes, and the tests check we agree with it.

Masked metrics (real pairs from video, docs/trainer.md "Evaluating on real pairs"): a pair's
validity mask marks the pixels whose pseudo-clean target is trusted (moving objects, failed
registration are not). Masked PSNR is the MSE over the valid pixels only (all channels). Masked
SSIM computes the local statistics with the Gaussian window weighted by the mask (normalised
convolution: ``mu = G(m·x) / G(m)``, the same for the second moments), so an invalid pixel never
enters any statistic, and averages the SSIM map over the valid pixels (without the 5-pixel border,
as above). With an all-valid mask both are exactly the plain PSNR and SSIM.

No-reference measure ("streak energy"): no BRISQUE package installs and runs offline here (the
``brisque`` wheel ships its model but fails on current NumPy), so we use our own, documented in
docs/trainer.md: thin bright near-vertical structures are what rain adds, so we take the luminance
minus its horizontal morphological opening of width ``length`` (the opening keeps everything wider
than a streak: a white top-hat), keep the positive part, keep only what persists along a line of ``length`` pixels within 30° of
the vertical (an erosion with line kernels: sensor noise does not persist, streaks do), and report
the mean in 1/1000 of full scale. Lower is less rain; it is a relative measure for comparing inputs and outputs of the
same scenes, not an absolute quality score.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from rainset.errors import TrainError

_C1, _C2 = (0.01) ** 2, (0.03) ** 2


def to_y(rgb01: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma on the 16–235 scale (MATLAB ``rgb2ycbcr``), from RGB in [0, 1]."""
    r, g, b = rgb01[..., 0], rgb01[..., 1], rgb01[..., 2]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


def _gauss(x: np.ndarray) -> np.ndarray:
    k = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    k = (k / k.sum()).astype(np.float64)
    return cv2.sepFilter2D(x, cv2.CV_64F, k, k, borderType=cv2.BORDER_REFLECT)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of two H×W or H×W×C images (channels averaged)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise TrainError(f"SSIM needs equal shapes, got {a.shape} and {b.shape}")
    if a.ndim == 3:
        return float(np.mean([ssim(a[..., c], b[..., c], data_range) for c in range(a.shape[2])]))
    c1, c2 = _C1 * data_range ** 2, _C2 * data_range ** 2
    mu_a, mu_b = _gauss(a), _gauss(b)
    va = _gauss(a * a) - mu_a ** 2
    vb = _gauss(b * b) - mu_b ** 2
    cov = _gauss(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(s[5:-5, 5:-5].mean())


def _valid(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A boolean H×W validity mask (``mask`` > 0, or True) checked against an image's size."""
    valid = np.asarray(mask) > 0
    if valid.ndim == 3:
        valid = valid[..., 0]
    if valid.shape != tuple(shape[:2]):
        raise TrainError(f"mask {valid.shape[1]}×{valid.shape[0]} and image {shape[1]}×{shape[0]} differ in size")
    return valid


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray, data_range: float = 1.0) -> float | None:
    """PSNR over the valid pixels (``mask`` > 0) only; None when no pixel is valid."""
    valid = _valid(mask, np.shape(a))
    if not valid.any():
        return None
    diff = np.asarray(a, np.float64)[valid] - np.asarray(b, np.float64)[valid]
    mse = float(np.mean(diff ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


def _masked_ssim_map(a: np.ndarray, b: np.ndarray, m: np.ndarray, data_range: float) -> np.ndarray:
    c1, c2 = _C1 * data_range ** 2, _C2 * data_range ** 2
    a, b = a * m, b * m  # invalid pixels are zero and weightless: their values never matter
    weight = _gauss(m)
    safe = np.where(weight > 0, weight, 1.0)
    mu_a, mu_b = _gauss(a) / safe, _gauss(b) / safe
    va = _gauss(a * a) / safe - mu_a ** 2
    vb = _gauss(b * b) / safe - mu_b ** 2
    cov = _gauss(a * b) / safe - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray, data_range: float = 1.0) -> float | None:
    """SSIM with mask-weighted local statistics, its map averaged over the valid pixels (module
    docstring); channels averaged. None when no valid pixel lies inside the 5-pixel border."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise TrainError(f"SSIM needs equal shapes, got {a.shape} and {b.shape}")
    valid = _valid(mask, a.shape)
    inner = np.zeros_like(valid)
    inner[5:-5, 5:-5] = valid[5:-5, 5:-5]
    if not inner.any():
        return None
    m = valid.astype(np.float64)
    planes = [a[..., c] for c in range(a.shape[2])] if a.ndim == 3 else [a]
    others = [b[..., c] for c in range(b.shape[2])] if b.ndim == 3 else [b]
    return float(np.mean([_masked_ssim_map(x, y, m, data_range)[inner].mean() for x, y in zip(planes, others)]))


def _line(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length, length), np.uint8)
    c = length // 2
    dx, dy = np.sin(np.radians(angle_deg)) * c, np.cos(np.radians(angle_deg)) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1)
    return k


def streak_energy(rgb01: np.ndarray, length: int = 9) -> float:
    """No-reference rain-streak energy of an RGB image in [0, 1] (see the module docstring)."""
    y = (to_y(rgb01).astype(np.float32) - 16.0) / 219.0
    width = np.ones((1, max(3, length | 1)), np.uint8)
    thin = np.clip(y - cv2.dilate(cv2.erode(y, width), width), 0, None)  # white top-hat across
    # Keep only what persists along a line of `length` pixels near the vertical (noise does not).
    along = np.max([cv2.erode(thin, _line(length | 1, a)) for a in (-30, -15, 0, 15, 30)], axis=0)
    return float(along.mean() * 1000.0)


@dataclass(frozen=True)
class ImageScores:
    """Scores of one image (PSNR/SSIM are None without ground truth)."""

    name: str
    psnr_rgb: float | None
    ssim_rgb: float | None
    psnr_y: float | None
    ssim_y: float | None
    streak: float


def score_image(name: str, pred: np.ndarray, truth: np.ndarray | None) -> ImageScores:
    """All measures for one image (RGB in [0, 1]); PSNR/SSIM only with a truth of the same size."""
    if truth is None:
        return ImageScores(name, None, None, None, None, round(streak_energy(pred), 4))
    if truth.shape != pred.shape:
        raise TrainError(f"{name}: prediction {pred.shape[1]}×{pred.shape[0]} and truth "
                         f"{truth.shape[1]}×{truth.shape[0]} differ in size")
    py, ty = to_y(pred), to_y(truth)
    return ImageScores(name, round(psnr(pred, truth, 1.0), 4), round(ssim(pred, truth, 1.0), 5),
                       round(psnr(py, ty, 255.0), 4), round(ssim(py, ty, 255.0), 5), round(streak_energy(pred), 4))


@dataclass(frozen=True)
class EvalReport:
    """Per-image scores and their means (``rainset evaluate --json``)."""

    images: tuple[ImageScores, ...]
    mean: dict[str, float | None]

    def to_dict(self) -> dict:
        return {"images": [asdict(s) for s in self.images], "mean": self.mean}

    def lines(self) -> list[str]:
        """The human-readable table (``rainset evaluate``): one row per image, then the means."""
        keys = ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "streak")
        lines = [f"{'image':<28} " + " ".join(f"{k:>9}" for k in keys)]
        for s in self.images:
            vals = [getattr(s, k) for k in keys]
            lines.append(f"{s.name[:28]:<28} " + " ".join(f"{'-' if v is None else f'{v:.4f}':>9}" for v in vals))
        lines.append(f"{'mean':<28} " + " ".join(f"{'-' if self.mean[k] is None else f'{self.mean[k]:.4f}':>9}"
                                                 for k in keys))
        return lines


def _key(path: Path) -> str:
    digits = re.findall(r"\d+", path.stem)
    return (digits[-1].lstrip("0") or "0") if digits else path.stem


def pair_files(pred: list[Path], truth: list[Path]) -> list[tuple[Path, Path]]:
    """Pair by file stem, else by the last number in the name (``rain-001`` ↔ ``norain-001``)."""
    by_stem = {p.stem: p for p in truth}
    if all(p.stem in by_stem for p in pred):
        return [(p, by_stem[p.stem]) for p in pred]
    by_num: dict[str, Path] = {}
    for t in truth:
        if _key(t) in by_num:
            raise TrainError(f"{t}: two truth images share the number {_key(t)}; name them like the inputs")
        by_num[_key(t)] = t
    missing = [p.name for p in pred if _key(p) not in by_num]
    if missing:
        raise TrainError(f"no ground truth for {', '.join(missing[:5])} (pair by equal names or numbers)")
    return [(p, by_num[_key(p)]) for p in pred]


def summarise(scores: list[ImageScores]) -> EvalReport:
    """Means over images of every score that all images have."""
    mean: dict[str, float | None] = {}
    for key in ("psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "streak"):
        vals = [getattr(s, key) for s in scores]
        mean[key] = None if any(v is None for v in vals) else round(float(np.mean(vals)), 4)
    return EvalReport(tuple(scores), mean)


def evaluate_images(inputs: list[Path], truth: list[Path] | None = None, *,
                    transform: Callable[[np.ndarray], np.ndarray] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> EvalReport:
    """Score images (optionally after ``transform``, e.g. deraining) against paired truth images."""
    from rainset.nlcl.data import read_image  # heavy: torch (optional train extra); the metrics need none

    pairs: list[tuple[Path, Path | None]] = list(pair_files(inputs, truth)) if truth else [(p, None) for p in inputs]
    scores = []
    for i, (p, t) in enumerate(pairs):
        img, _ = read_image(p)
        if transform is not None:
            img = transform(img)
        scores.append(score_image(p.name, img, read_image(t)[0] if t is not None else None))
        if progress is not None:
            progress(i + 1, len(pairs))
    return summarise(scores)
