"""Line integration per tile: long faint straight lines that fall the same way over the whole frame.

Faint streaks (renderer 2's dwell-time opacity, environment-lit, in sensor noise) are below the
noise pixel by pixel; summed along their own direction they are not. On the scene-removed
residual ``r = y − median₅(y)`` (as :mod:`rainset.rainstats.invariant`), each tile's residual is
averaged along lines of two lengths (``SHORT`` = 16 and ``LONG`` = 96 px at the frame's own
resolution) in directions −60°..60° from vertical (every ``STEP``°):

- a direction's **energy** at length L: L × the mean square of the L-long line averages in the
  tile (one pixel per row, so every direction averages as many pixels). White noise gives the same
  energy at every length and direction; a straight line longer than L adds energy in proportion to
  L in its own direction; a dash shorter than L adds the same at both lengths.
- each tile's **gain** in a direction: its energy at the long length over that at the short one
  (noise, however correlated, gives the same gain in every direction); its **best direction**:
  the largest gain.
- ``line_angle``: the direction most tiles prefer (a vote, ±``AGREE``° counted as the same);
  ``line_agree``: the share of tiles whose best direction is within ``AGREE``° of it (rain falls
  one way everywhere; a scene's straight edges point every way from tile to tile);
  ``line_gain``: over the agreeing tiles, each at its best direction, the energy above the
  median direction's at the long length over the same at the short length: up to
  ``LONG / SHORT`` = 6 for lines longer than 96 px, about 1 for dashes and for no lines at all
  (``PRIOR`` noise units per tile are added to both, so that a near-zero excess is not a ratio);
  ``line_excess``: that long-length energy above the median direction's, summed over the
  agreeing tiles, per tile (in noise units: how much line there is); ``line_tiles``: the tiles
  measured.

Not read by the rules: as a streak test it did not carry from renderer 1 to renderer 2, and a few
strong straight scene lines give a high ``line_gain`` too (docs/suggestions.md, "Round 4").

Scale: frames whose long side is at least ``BIN_FROM`` px are area-averaged 2×2 after the residual
is taken (line integrals lose almost nothing to it) and the lengths halved, so lengths are native
pixels either way. The residual is divided by each tile's noise (1.4826 × median |r|) and clipped
at ±``CLIP``: no absolute brightness or contrast enters, and a strong edge weighs no more than
a line ``CLIP`` noise units bright.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from rainset.rainstats.invariant import finite_values

LINES_VERSION = 1  # bump when the measurement changes (bench caches are keyed on it)
SHORT = 16  # line lengths (native pixels)
LONG = 96
STEP = 5.0  # degrees between directions
MAX_ANGLE = 60.0  # directions looked at: −60..60° from vertical
AGREE = 10.0  # a tile agrees with the frame when its best direction is this close
TILE = 96  # tile side (pixels after binning)
BIN_FROM = 1280  # frames with this long side or more are binned 2×2 after the residual
CLIP = 3.0  # residual clipped at ± this many noise units
MAX_TILES = 24
PRIOR = 0.25  # noise units per tile added to both excesses of line_gain (no lines: gain 1, not 0/0)
ANGLES = np.arange(-MAX_ANGLE, MAX_ANGLE + 0.5 * STEP, STEP)


@dataclass(frozen=True)
class LineStats:
    """The line-integration measurements (module docstring); NaN where no tile fits."""

    line_angle: float
    line_agree: float
    line_gain: float
    line_excess: float
    line_tiles: int

    def to_dict(self) -> dict[str, float | None]:
        return finite_values(self)


def _centres(h: int, w: int, reach_y: int, half: int, tile: int) -> list[tuple[int, int]]:
    """Centres of tiles about ``tile`` apart: rows ``reach_y`` from the top and bottom, tiles inside the frame."""
    if h < 2 * reach_y + 1 or w < 2 * half:
        return []
    ny = max(1, (h - 2 * reach_y) // tile + 1)
    nx = max(1, (w - 2 * half) // tile + 1)
    while ny * nx > MAX_TILES:
        if nx >= ny:
            nx -= 1
        else:
            ny -= 1
    ys = np.linspace(reach_y, h - 1 - reach_y, ny).round().astype(int) if ny > 1 else np.array([h // 2])
    xs = np.linspace(half, w - half, nx).round().astype(int) if nx > 1 else np.array([w // 2])
    return [(int(y), int(x)) for y in ys for x in xs]


def _offsets(reach_y: int, angles: np.ndarray = ANGLES) -> np.ndarray:
    """(directions, rows) horizontal offset of the digital line through a tile row at each direction."""
    rows = np.arange(-reach_y, reach_y + 1)
    return np.rint(rows[None, :] * np.tan(np.radians(angles))[:, None]).astype(np.int64)


def line_energies(r: np.ndarray, valid: np.ndarray, cy: int, cx: int, short: int, long_: int,
                  offsets: np.ndarray, tile: int = TILE) -> np.ndarray:
    """(3, 2, directions) line energies of the tile centred at (cy, cx): all, bright part, dark part ×
    short, long length × direction; a direction's energy is the line length × the mean square of
    its line averages (white noise: the same at every length and direction).

    ``r``: the padded residual (NaN-free, 0 outside the frame), ``valid``: 1 inside the frame; a
    line average counts only where all its pixels are inside. One pixel per row: every direction
    averages the same number of pixels, so noise gives the same energy in every direction.
    """
    half = tile // 2
    reach_y = (offsets.shape[1] - 1) // 2
    rows = np.arange(cy - reach_y, cy + reach_y + 1)
    cols = cx + np.arange(-half, half)[None, None, :] + offsets[:, :, None]  # directions × rows × tile
    band = r[rows[None, :, None], cols]
    ok = valid[rows[None, :, None], cols]
    zero = np.zeros((offsets.shape[0], 1, tile), np.float32)
    cs = np.concatenate([zero, np.cumsum(band, axis=1, dtype=np.float32)], axis=1)
    cv = np.concatenate([zero, np.cumsum(ok, axis=1, dtype=np.float32)], axis=1)
    energies = np.empty((3, 2, offsets.shape[0]))  # (all, bright part, dark part) × (short, long) × directions
    for j, n in enumerate((short, long_)):
        start = reach_y - half - n // 2
        sums = cs[:, start + n:start + n + tile] - cs[:, start:start + tile]
        full = (cv[:, start + n:start + n + tile] - cv[:, start:start + tile]) > n - 0.5
        count = np.maximum(full.sum(axis=(1, 2)), 1) * n  # n × mean square of the averages
        pos = np.where(full, np.maximum(sums, 0.0), 0.0)
        neg = np.where(full, np.minimum(sums, 0.0), 0.0)
        energies[1, j] = (pos * pos).sum(axis=(1, 2)) / count
        energies[2, j] = (neg * neg).sum(axis=(1, 2)) / count
        energies[0, j] = energies[1, j] + energies[2, j]
    return energies


def tile_energies(y: np.ndarray, short_px: int = SHORT, long_px: int = LONG,
                  angles: np.ndarray = ANGLES) -> np.ndarray:
    """(tiles, 3, 2, directions): each tile's line energies (:func:`line_energies`) of luminance ``y``
    at lengths ``short_px``, ``long_px`` (native pixels) in ``angles`` (degrees from vertical)."""
    y = np.ascontiguousarray(y, dtype=np.float32)
    r = y - cv2.medianBlur(y, 5)
    scale = 2 if max(y.shape) >= BIN_FROM else 1
    if scale == 2:
        h, w = (r.shape[0] // 2) * 2, (r.shape[1] // 2) * 2
        r = cv2.resize(r[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    short, long_ = short_px // scale, long_px // scale
    half = TILE // 2
    reach_y = half + long_ // 2 + 1
    offsets = _offsets(reach_y, angles)
    pad = int(np.abs(offsets).max()) + 1
    out = []
    for cy, cx in _centres(*r.shape, reach_y, half, TILE):
        rows = slice(cy - reach_y, cy + reach_y + 1)
        lo, hi = cx - half - pad, cx + half + pad
        win = np.zeros((2 * reach_y + 1, hi - lo), np.float32)
        ok = np.zeros_like(win)
        a, b = max(lo, 0), min(hi, r.shape[1])
        win[:, a - lo:b - lo] = r[rows, a:b]
        ok[:, a - lo:b - lo] = 1.0
        sigma = max(1.4826 * float(np.median(np.abs(r[rows, a:b]))), 1e-4)
        win = np.clip(win / sigma, -CLIP, CLIP)
        out.append(line_energies(win, ok, reach_y, cx - lo, short, long_, offsets))
    return np.stack(out) if out else np.zeros((0, 3, 2, len(angles)))


def line_stats(y: np.ndarray) -> LineStats:
    """Line-integration measurements of float32 luminance ``y`` at the frame's own resolution."""
    return summarise(tile_energies(y))


def summarise(e: np.ndarray) -> LineStats:
    """The frame's line measurements from its tiles' energies (:func:`tile_energies`)."""
    if len(e) == 0:
        return LineStats(math.nan, math.nan, math.nan, math.nan, 0)
    g = e[:, 0, 1] / np.maximum(e[:, 0, 0], 1e-12)  # tiles × directions: long over short (noise: the same everywhere)
    best = np.argmax(g, axis=1)
    near = int(round(AGREE / STEP))
    votes = np.array([np.sum(np.abs(best - k) <= near) for k in range(ANGLES.size)])
    frame = int(np.argmax(votes))
    agree = np.nonzero(np.abs(best - frame) <= near)[0]
    # each agreeing tile at its own best direction: energy above the median direction's, short and long
    x_short = e[agree, 0, 0, best[agree]] - np.median(e[agree, 0, 0], axis=1)
    x_long = e[agree, 0, 1, best[agree]] - np.median(e[agree, 0, 1], axis=1)
    s_short, s_long = float(np.sum(x_short)), float(np.sum(x_long))
    prior = PRIOR * len(agree)  # both lengths start from PRIOR noise units per tile: no lines, gain 1
    gain = (max(s_long, 0.0) + prior) / (max(s_short, 0.0) + prior)
    return LineStats(float(ANGLES[frame]), len(agree) / len(e), float(gain),
                     s_long / len(e), len(e))
