"""Robust low-rank + non-negative sparse decomposition of a registered static segment (our own code).

The registered frames of a segment, frames as rows and pixels (× channels) as columns, are split
as ``D = L + S + O + noise``:

- ``L = U V``, low rank (``rank``, default 1): the background under each frame's light. Row t of
  ``U`` is frame t's light, ``V`` the scene; rank 1 is "one picture times a gain per frame", rank
  2–3 also follows light that changes differently across a band.
- ``S ≥ 0``, sparse: rain. Rain only adds light, so only the residual *above* the background
  counts: entries more than λ = max(3, 2.5 σ) above ``L`` are rain, all of their excess (a hard
  threshold, GoDec-style; a soft one leaves ``f·λ/(1−f)`` of rain in ``L`` where rain covers a
  share f of the frames). σ is measured on the negative residuals, which rain never reaches.
- ``O``, outliers: what is much *darker* than the background (more than τ = max(20, 6 σ) grey
  levels) — a dark passer-by, a car's shadow; rain never darkens. Bright objects fall into ``S``.
  Both are left out when ``L`` is refitted; :mod:`rainset.pairs.masks` tells objects from rain
  afterwards.

Alternating minimisation: ``U`` starts at each frame's median ratio to a low per-pixel
percentile (normalised to median 1: rain lifts every ratio alike) and ``V`` at the middle of each
pixel's densest third of values once divided by ``U`` (the shortest window of N/3 sorted values:
the clean level, wherever rain pushes the others, up or down) — the thresholds follow the fit, so
a start inside the rain stays there (docs/pairs.md) —, then ``iterations`` times: residual → σ,
``S`` and ``O`` → refit on the entries left (rank 1: exact weighted least squares; higher ranks:
one ALS sweep with the left-out entries filled from the fit). The weighted fit averages every frame
that is not rain or an object, where a temporal percentile takes one order statistic, so
compression noise is averaged down too.

Tiles: the segment is spilled (registered, uint8) to a scratch file (:class:`~rainset.pairs.background.Spill`)
and decomposed in horizontal bands of full width, each fitted with ``context_rows`` extra rows
above and below and kept for its core rows, so the ``U`` of neighbouring bands agree at the seams.
Band height follows ``band_mib`` (the size of one float32 band of all frames; the decomposition
holds about five such arrays), so a 1080p or 4K segment runs in a few hundred MB. The result keeps
``V`` (``rank`` images) and each band's ``U`` — not one image per frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rainset.pairs.background import spill_registered


@dataclass(frozen=True)
class LowRankBackground:
    """The low-rank background of a segment in the reference frame's geometry.

    ``components``: (rank, H, W, C) float32, the ``V`` images; ``weights``: (bands, N, rank)
    float32, each band's ``U``; ``bands``: (start, stop) core rows of each band; ``light``: (N,)
    each frame's mean background light relative to the segment's mean; ``rain_fraction``: (N,)
    share of each frame's pixels set aside as rain (``S > 0``).
    """

    components: np.ndarray
    weights: np.ndarray
    bands: tuple[tuple[int, int], ...]
    light: np.ndarray
    rain_fraction: np.ndarray
    rank: int

    @property
    def frames(self) -> int:
        return int(self.weights.shape[1])

    def frame(self, t: int) -> np.ndarray:
        """Frame t's background (H×W×C float32, reference geometry, frame t's light)."""
        if not 0 <= t < self.frames:
            raise IndexError(f"frame {t} is outside the segment's {self.frames} frames")
        out = np.empty(self.components.shape[1:], np.float32)
        for b, (r0, r1) in enumerate(self.bands):  # U[t] V band by band, as a sum of scaled images
            np.multiply(self.components[0, r0:r1], self.weights[b, t, 0], out=out[r0:r1])
            for c in range(1, self.rank):
                out[r0:r1] += self.components[c, r0:r1] * self.weights[b, t, c]
        return out


def _noise_sigma(residual: np.ndarray, rng: np.random.Generator) -> float:
    """σ of the noise from the negative side of the residual (rain only adds light), on a sample."""
    flat = residual.reshape(-1)
    sample = flat[rng.integers(0, flat.size, min(flat.size, 200_000))]
    neg = -sample[sample < 0]
    return float(1.4826 * np.median(neg)) if neg.size else 1.0


def _fit_low_rank(x: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(U, V) with U V the best rank-``rank`` approximation of ``x`` (N×P), from the N×N Gram matrix."""
    gram = (x @ x.T).astype(np.float64)
    _, vecs = np.linalg.eigh(gram)
    u = vecs[:, ::-1][:, :rank].astype(np.float32)
    return u, u.T @ x


def _als_sweep(x: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One alternating-least-squares sweep of ``x ≈ U V``: U given V, then V given U."""
    ridge = 1e-6
    vvt = (v @ v.T).astype(np.float64)
    u = np.linalg.solve(vvt + ridge * np.trace(vvt) * np.eye(len(vvt)), (v @ x.T).astype(np.float64)).T
    u = u.astype(np.float32)
    utu = (u.T @ u).astype(np.float64)
    v = np.linalg.solve(utu + ridge * np.trace(utu) * np.eye(len(utu)), (u.T @ x).astype(np.float64))
    return u, v.astype(np.float32)


def _weighted_rank1(d: np.ndarray, keep: np.ndarray, u: np.ndarray, v: np.ndarray,
                    scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One exact weighted least-squares sweep of ``d ≈ u v`` (rank 1) over the entries ``keep``."""
    w = keep.astype(np.float32)
    np.multiply(d, w, out=scratch)  # kept data, zeros elsewhere
    u = (scratch @ v[0]) / np.maximum(w @ (v[0] * v[0]), 1e-6)
    den = (u * u) @ w
    few = w.sum(axis=0) < 3  # a value seen in fewer than 3 frames keeps its previous estimate
    v = np.where(few, v[0], (u @ scratch) / np.maximum(den, 1e-6))
    return u[:, None].astype(np.float32), v[None].astype(np.float32)


def _densest(zt: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``zt`` (P×N: a pixel's N values contiguous), the middle of its densest ``k`` values
    (the shortest window of k sorted values): the clean level of a pixel, wherever rain pushes the
    other values, up or down. Sorts ``zt`` in place (along rows: NumPy's vectorised sort)."""
    zt.sort(axis=1)
    widths = zt[:, k - 1:] - zt[:, : zt.shape[1] - k + 1]
    first = np.argmin(widths, axis=1)
    del widths
    return zt[np.arange(zt.shape[0]), first + k // 2]


def decompose_band(d: np.ndarray, *, rank: int = 1, iterations: int = 2, rain_sigmas: float = 2.5,
                   dark_sigmas: float = 6.0, min_dark: float = 20.0, min_rain: float = 3.0,
                   start_percentile: float = 25.0,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, V, rain) for one band: ``d`` (N×P float32) ≈ U V + S + O; ``rain`` (N×P bool) where S > 0.

    Start: U = each frame's median ratio to the per-pixel ``start_percentile`` (normalised to median
    1), V = the middle of each pixel's densest third of values after dividing by U
    (:func:`_densest`); both robust to rain (brightening or darkening) and objects. Each iteration
    measures the noise σ on the residual, sets aside rain (residual > λ) and dark outliers (< −τ)
    as missing, and refits: rank 1 by exact weighted least squares over the entries left, higher
    ranks by one ALS sweep with the missing entries filled from the current fit.
    """
    n = d.shape[0]
    rng = np.random.default_rng(seed)
    k = int(round(start_percentile / 100.0 * (n - 1)))
    x = np.empty_like(d)
    fit = np.empty_like(d)
    xt = x.reshape(-1)[: d.size].reshape(d.shape[1], n)  # the same memory, pixels as rows
    _transpose(d, xt)  # each pixel's values contiguous: partition and sort run along rows, several times faster
    xt.sort(axis=1)  # a vectorised sort of each row beats a partition
    level = xt[:, k].copy()  # a low percentile: only to measure each frame's light
    bright = np.flatnonzero(level >= 16.0)[::7]  # a sample of the pixels bright enough for a ratio
    gain = np.median(d[:, bright] / level[bright], axis=1) if bright.size else np.ones(n)
    gain /= np.median(gain)  # rain lifts every frame's ratio alike: keep the relative light
    del level, bright
    u = gain[:, None].astype(np.float32)
    _transpose(np.divide(d, u, out=fit), xt)
    v = _densest(xt, max(2, n // 3))[None]
    del xt
    if rank > 1:
        u, v = _fit_low_rank(np.minimum(d, u * v + 3.0, out=x), rank)
    keep = np.empty(d.shape, bool)
    lam = 0.0
    for _ in range(iterations):
        _product(u, v, fit)
        np.subtract(d, fit, out=x)  # the residual R
        sigma = max(0.5, _noise_sigma(x, rng))
        lam, tau = max(min_rain, rain_sigmas * sigma), max(min_dark, dark_sigmas * sigma)
        np.less_equal(x, lam, out=keep)  # not S (rain, residual > λ: the whole excess, a hard threshold)
        keep &= x >= -tau  # not O (dark outliers)
        if rank == 1:
            u, v = _weighted_rank1(d, keep, u, v, x)
        else:
            np.putmask(x, ~keep, 0.0)  # missing entries filled from L
            x += fit  # D − S − O
            u, v = _als_sweep(x, u, v)
    _product(u, v, fit)
    np.subtract(d, fit, out=x)
    return u, v, x > lam


def _transpose(a: np.ndarray, out: np.ndarray) -> None:
    """``out[...] = a.T`` for a 2-D float32 array (OpenCV's blocked transpose: a strided NumPy copy
    is 1.5–3× slower)."""
    if a.shape[0] < 2**31 and a.shape[1] < 2**31 and a.dtype == np.float32 and out.flags.c_contiguous:
        cv2.transpose(a, out)
    else:
        out[...] = a.T


def _product(u: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
    """``out = U V`` as a sum of outer products (several times faster than a k ≤ 3 matmul)."""
    np.multiply(u[:, :1], v[:1], out=out)
    for c in range(1, u.shape[1]):
        out += u[:, c:c + 1] * v[c:c + 1]


def lowrank_background(frames: Iterable[np.ndarray], shifts: np.ndarray | None = None, *, rank: int = 1,
                       iterations: int = 2, band_mib: float = 32.0, band_rows: int | None = None,
                       context_rows: int = 4, workdir: str | Path | None = None) -> LowRankBackground:
    """The low-rank + non-negative sparse background of a segment's frames after registration.

    Args:
        frames: the segment's RGB uint8 frames, consumed one at a time.
        shifts: (N, 2) shifts against the reference (None: no registration).
        rank: rank of the background (1: one scene × a light per frame; 2–3: light that varies
            across a band).
        iterations: alternating-minimisation iterations.
        band_mib: size of one float32 band of all frames (the decomposition holds about five); sets the
            band height unless ``band_rows`` is given.
        band_rows: core rows per band (None: from ``band_mib``; at least 8).
        context_rows: extra rows fitted above and below each band's core.
        workdir: folder for the scratch file (default: the system's temporary folder).

    Raises:
        ValueError: no frames, frames of different sizes, fewer shifts than frames, rank outside
            1..frames, or fewer than one iteration.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {iterations}")
    spill = spill_registered(frames, shifts, workdir)
    try:
        assert spill.shape is not None
        n, (h, w) = spill.count, spill.shape[:2]
        if not 1 <= rank <= n:
            raise ValueError(f"rank {rank} is outside 1..{n} (the segment's frames)")
        row_px = w * int(np.prod(spill.shape[2:]))
        if band_rows is None:
            band_rows = int(band_mib * 2**20 // (n * row_px * 4)) - 2 * context_rows
        band_rows = max(8, min(h, band_rows))
        buf = np.empty((n, min(h, band_rows + 2 * context_rows), *spill.shape[1:]), np.uint8)
        components = np.empty((rank, *spill.shape), np.float32)
        bands, weights = [], []
        rain_count = np.zeros(n, np.int64)
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            a0, a1 = max(0, r0 - context_rows), min(h, r1 + context_rows)
            d = spill.band(a0, a1, buf).reshape(n, -1).astype(np.float32)
            u, v, rain = decompose_band(d, rank=rank, iterations=iterations, seed=r0)
            del d
            core = slice((r0 - a0) * row_px, (r1 - a0) * row_px)
            components[:, r0:r1] = v[:, core].reshape(rank, r1 - r0, *spill.shape[1:])
            rain_count += rain[:, core].sum(axis=1)
            bands.append((r0, r1))
            weights.append(u)
        weights_arr = np.stack(weights).astype(np.float32)
        # each frame's light: the sum of its background over the frame, against the segment's mean
        totals = np.zeros(n, np.float64)
        for b, (r0, r1) in enumerate(bands):
            sums = components[:, r0:r1].reshape(rank, -1).sum(axis=1, dtype=np.float64)
            totals += weights_arr[b].astype(np.float64) @ sums
        light = totals / totals.mean() if totals.mean() > 0 else np.ones(n)
        return LowRankBackground(components=components, weights=weights_arr, bands=tuple(bands),
                                 light=light, rain_fraction=rain_count / (h * w * int(np.prod(spill.shape[2:]))),
                                 rank=rank)
    finally:
        spill.close()
