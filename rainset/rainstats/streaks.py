"""Rain streaks: density, dominant angle, coherence and length of thin bright oriented structures.

Input is a *thin-bright map* T (float32, ≥ 0) at the analysis size (512-px long side, half the
1024-px working size: fast, and 1-px streaks survive the area averaging as fainter lines). On
a photo T is the white top-hat of the luminance (:func:`thin_bright`: what is brighter than its
3×3 opening), on an NLCL rain layer the positive part of the layer itself; both are divided by
the frame's contrast (1st–99th percentile of luminance), so T does not change with exposure or
a uniform haze.

1. **density**: a bank of erosions with 5-px lines in 8 directions keeps what persists along a
   line (streaks persist along their direction, noise and dots do not). The streak energy is the
   mean persistent response in the best direction minus its mean over all directions (isotropic
   texture persists equally everywhere), mapped to 0..1 by ``1 - exp(-energy / 0.01)``.
2. **angle**: a per-pixel structure tensor (Scharr gradients, σ = 1.5 integration) gives each
   pixel a line direction and a coherence; the angle is the peak of the histogram of directions
   weighted by T (3×3 max) × coherence², 1° bins smoothed by σ = 2°, interpolated. The peak
   (not the mean) keeps scene lines in other directions from pulling it.
3. **coherence**: of the structure tensor summed over the frame with the same T weights: 1 when
   all thin bright structures are parallel, 0 when they point every way.
4. **length**: on S, the opening of T with the best direction's line, the larger of two
   estimates that both err short: the autocorrelation of S (clipped at the 95th percentile of
   its lit pixels, so a few bright scene lines do not dominate) along the angle — for segments
   of length L it falls linearly, so L follows from where it halves relative to lag 4, beyond
   which scene texture has decorrelated — and the median extent along the angle of S's
   elongated connected parts. Reported in pixels at the working size.

Rain falls: only directions within ``MAX_TILT`` (70°) of vertical count as streaks (the best
direction for the density, the histogram peak for the angle). Near-horizontal thin bright lines
(road markings, kerbs, window sills, wires) are the scene's; without this limit they gave clean
street scenes a horizontal "streak" angle and as much density as the rainy version.

Angles are degrees from vertical, positive when the streak leans right going down (as in
:mod:`rainset.synth.rain`), in [-70, 70]. Below a minimum streak energy there are no streaks:
angle NaN, length 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_BANK = 8  # directions of the persistence bank (every 22.5°)
_PERSIST = 5  # line length (pixels at the 512-px analysis size) a structure must persist along
_TOPHAT = 3  # structuring element (pixels at the analysis size): thinner bright things are "thin"
_DENSITY_SCALE = 0.01  # streak energy giving density 1 - 1/e
_MIN_ENERGY = 6e-4  # below this streak energy there are no streaks (angle NaN, length 0)
_CLIP_PERCENTILE = 95.0  # the streak map is clipped here (of its lit pixels) before the autocorrelation
_REF_LAG = 4  # the autocorrelation is read relative to this lag: scene texture decorrelates before it
_MAX_LAG = 200  # longest autocorrelation lag looked at (pixels at the analysis size)
_TENSOR_SIGMA = 1.5  # integration scale of the per-pixel structure tensor (analysis pixels)
_HIST_KERNEL = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)  # smooths the angle histogram (σ = 2°)
ANALYSIS_SIDE = 512  # streaks are analysed at this long side; lengths are reported at 1024
MAX_TILT = 70.0  # rain falls: streak directions further than this from vertical are scene lines


@dataclass(frozen=True)
class StreakStats:
    """Streak measurements of one frame (length in pixels at the 1024-px working size)."""

    density: float
    angle: float
    length: float
    coherence: float
    energy: float  # raw mean streak energy before the 0..1 mapping


def thin_bright(y: np.ndarray, scale: float) -> np.ndarray:
    """White top-hat of luminance ``y`` (thin bright structures), divided by the frame contrast ``scale``."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_TOPHAT, _TOPHAT))
    return cv2.morphologyEx(y, cv2.MORPH_TOPHAT, kernel) * np.float32(1.0 / scale)


def line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A binary 8-connected line of ``length`` pixels through the centre, ``angle_deg`` from vertical."""
    size = length | 1
    kernel = np.zeros((size, size), np.uint8)
    c = size // 2
    sin, cos = math.sin(math.radians(angle_deg)), math.cos(math.radians(angle_deg))
    reach = (length - 1) / 2 / max(abs(sin), abs(cos))  # every direction gets ``length`` pixels
    dx, dy = sin * reach, cos * reach
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1, 1, cv2.LINE_8)
    return kernel


_KERNELS = [(a, line_kernel(_PERSIST, a)) for a in np.arange(_BANK) * (180.0 / _BANK) - 90.0 + 180.0 / _BANK]
_FALLING = [i for i, (a, _) in enumerate(_KERNELS) if abs(a) <= MAX_TILT]  # bank directions rain can take
_HIST_FALLING = np.abs((np.arange(180) + 90) % 180 - 90) <= MAX_TILT  # histogram bins rain can take


def _tensor_angle(gx: np.ndarray, gy: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(line angle from vertical in degrees, coherence 0..1) of the weighted global structure tensor."""
    jxx = float(np.sum(weight * gx * gx))
    jyy = float(np.sum(weight * gy * gy))
    jxy = float(np.sum(weight * gx * gy))
    trace = jxx + jyy
    if trace <= 1e-12:
        return math.nan, 0.0
    phi = 0.5 * math.degrees(math.atan2(2.0 * jxy, jxx - jyy))  # dominant gradient direction
    angle = -phi  # the line is perpendicular to the gradient; y points down
    angle = (angle + 90.0) % 180.0 - 90.0
    if angle == -90.0:
        angle = 90.0
    return angle, math.hypot(jxx - jyy, 2.0 * jxy) / trace


def _autocorr_length(s: np.ndarray, angle_deg: float) -> float:
    """Length (pixels of ``s``) from the autocorrelation of ``s`` along ``angle_deg``."""
    lit = s[s > 0]
    if lit.size == 0:
        return 0.0
    # clipped: a few long, very bright scene lines (building edges) must not outweigh many streaks
    z = np.minimum(s, np.float32(np.percentile(lit, _CLIP_PERCENTILE)))
    z = cv2.GaussianBlur(z, (0, 0), 1.0)  # a little width makes the profile tolerate a small angle error
    z -= float(z.mean())
    h, w = z.shape
    reach = min(_MAX_LAG, h - 1, w - 1)
    # zero-padded by the longest lag: the lags looked at do not wrap around
    fh, fw = cv2.getOptimalDFTSize(h + reach + 1), cv2.getOptimalDFTSize(w + reach + 1)
    pad = np.zeros((fh + 1, fw + 1), np.float32)  # one spare row and column for interpolation
    pad[:h, :w] = z
    spec = cv2.dft(pad[:fh, :fw])  # real input: packed (CCS) spectrum, half the work
    ac = np.empty_like(pad)
    ac[:fh, :fw] = cv2.idft(cv2.mulSpectrums(spec, spec, 0, conjB=True), flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    if ac[0, 0] <= 0:
        return 0.0
    ac[fh, :fw], ac[:, fw] = ac[0, :fw], ac[:, 0]
    lags = np.arange(0, reach + 1, dtype=np.float32)
    rows = []
    for a in (angle_deg - 1.0, angle_deg, angle_deg + 1.0):  # the angle is known to about a degree
        dx, dy = math.sin(math.radians(a)), math.cos(math.radians(a))
        rows.append((((lags * dx) % fw).astype(np.float32), ((lags * dy) % fh).astype(np.float32)))
    mx = np.stack([r[0] for r in rows])  # negative lags wrap to the end of the autocorrelation
    my = np.stack([r[1] for r in rows])
    prof = cv2.remap(ac, mx, my, cv2.INTER_LINEAR).max(axis=0)
    ref = float(prof[_REF_LAG])
    if ref <= 0:
        return 0.0
    below = np.nonzero(prof[_REF_LAG:] < 0.5 * ref)[0]
    if below.size == 0:
        return float(2 * lags[-1])
    i = int(below[0]) + _REF_LAG
    a, b = float(prof[i - 1]), float(prof[i])
    half = (i - 1) + (a - 0.5 * ref) / (a - b) if a != b else float(i)
    # a triangle 1 - s/L halves its value at REF_LAG when s = L/2 + REF_LAG/2
    return max(0.0, 2.0 * half - _REF_LAG)


def _component_length(s: np.ndarray, angle_deg: float) -> float:
    """Median extent along ``angle_deg`` of the elongated connected parts of the streak map ``s``."""
    mask = (s > max(float(s.mean() + 2.0 * s.std()), 0.02)).astype(np.uint8)
    _, labels = cv2.connectedComponents(mask, connectivity=8)
    ys, xs = np.nonzero(labels)
    if ys.size == 0:
        return 0.0
    lab = labels[ys, xs]
    dx, dy = math.sin(math.radians(angle_deg)), math.cos(math.radians(angle_deg))
    order = np.argsort(lab, kind="stable")
    along = (xs * dx + ys * dy)[order]
    across = (xs * dy - ys * dx)[order]
    starts = np.r_[0, np.nonzero(np.diff(lab[order]))[0] + 1]
    extent = np.maximum.reduceat(along, starts) - np.minimum.reduceat(along, starts) + 1.0
    width = np.maximum.reduceat(across, starts) - np.minimum.reduceat(across, starts) + 1.0
    keep = (extent >= 3.0 * width) & (extent >= _PERSIST)
    return float(np.median(extent[keep])) if keep.any() else 0.0


def _orientation_field(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gx, gy, per-pixel line angle in degrees from vertical, per-pixel coherence) of map ``t``."""
    smooth = cv2.GaussianBlur(t, (0, 0), 0.8)
    gx = cv2.Scharr(smooth, cv2.CV_32F, 1, 0)  # Scharr: nearly isotropic, no bias towards the axes
    gy = cv2.Scharr(smooth, cv2.CV_32F, 0, 1)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), _TENSOR_SIGMA)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), _TENSOR_SIGMA)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), _TENSOR_SIGMA)
    diff = jxx - jyy
    coherence = cv2.magnitude(diff, 2.0 * jxy) / (jxx + jyy + 1e-12)
    angle = cv2.phase(diff, -2.0 * jxy, angleInDegrees=True) * 0.5  # 0..180, line angle from vertical
    return gx, gy, angle, coherence


def _mode_angle(angle: np.ndarray, weight: np.ndarray) -> float:
    """The peak of the weighted histogram of per-pixel angles (1° bins, smoothed, interpolated)."""
    idx = np.rint(angle).astype(np.int32) % 180
    hist = np.bincount(idx.ravel(), weight.ravel(), 180)
    wrap = np.concatenate([hist[-6:], hist, hist[:6]])
    smooth = np.convolve(wrap, _HIST_KERNEL, "same")[6:-6]
    i = int(np.argmax(np.where(_HIST_FALLING, smooth, -1.0)))  # the peak among directions rain can take
    y0, y1, y2 = smooth[i - 1], smooth[i], smooth[(i + 1) % 180]
    curve = y0 - 2.0 * y1 + y2
    peak = i + (0.5 * (y0 - y2) / curve if curve < 0 else 0.0)
    return float((peak + 90.0) % 180.0 - 90.0)


def streak_stats(t: np.ndarray, length_unit: float = 1.0) -> StreakStats:
    """Streak measurements of a thin-bright map ``t`` (see the module docstring).

    Args:
        t: the thin-bright map at the analysis size (long side :data:`ANALYSIS_SIDE`).
        length_unit: working-size pixels per analysis pixel (lengths are reported at the working size).
    """
    eroded = [cv2.erode(t, k) for _, k in _KERNELS]
    energies = np.array([float(e.mean()) for e in eroded])
    best = max(_FALLING, key=lambda i: energies[i])  # near-horizontal lines are the scene's, not rain
    energy = max(0.0, float(energies[best] - energies.mean()))  # isotropic texture persists everywhere
    gx, gy, angles, local_coherence = _orientation_field(t)
    spread = cv2.dilate(t, np.ones((3, 3), np.uint8))  # the streak's flanks carry its gradient
    _, coherence = _tensor_angle(gx, gy, spread)
    density = 1.0 - math.exp(-energy / _DENSITY_SCALE)
    if energy < _MIN_ENERGY:
        return StreakStats(density, math.nan, 0.0, coherence, energy)
    angle = _mode_angle(angles, spread * local_coherence * local_coherence)
    if angle == -90.0:
        angle = 90.0
    s = cv2.dilate(eroded[best], _KERNELS[best][1])  # opening along the dominant direction
    length = length_unit * max(_autocorr_length(s, angle), _component_length(s, angle))
    return StreakStats(density, angle, length, coherence, energy)
