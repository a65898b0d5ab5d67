"""Evidence at the scale of the rain: full-resolution tiles of a candidate pair the previews accepted.

A 1–2 px streak in a 4000×3000 frame is gone at preview size, so two exposures of one scene with
fresh fine rain (drizzle, thin streaks, light streaks in fog) look identical on the previews. A
pair the preview test calls ``near-duplicate`` is therefore looked at again where such streaks
survive:

1. **Scale**: the pair is compared at the resolution of the smaller original (a copy resized
   smaller compares at its own size); the larger one is decoded reduced where it can be (JPEG DCT
   scaling through Pillow's ``draft``: a 12 MP original against its 50 % copy is decoded at
   2000×1500, never at 12 MP then resized). Each original is decoded once per run (a small cache).
2. **Tiles**: the 1024-px previews are compared with the preview warp (scaled, no new alignment)
   in the streak band below (:func:`selection_map`); the :data:`FINE_TILES` tiles of
   :data:`FINE_TILE` px with the largest response are taken, one per cell of a 3×3 grid first.
3. **Alignment**: the affine warp found by ECC on the previews, scaled up to the decoded frames,
   plus a shift found by ECC on each tile.
4. **Streak band**: per tile, gain and offset are fitted; both tiles band-passed (Gaussian σ
   :data:`FINE_BLUR` minus σ :data:`BAND_SIGMA`: JPEG noise and slow tone changes out, 1–2 px
   streaks in) and the other's band scaled by a local gain (:func:`local_gain`); pixels near
   clipped ones left out. The tolerant difference (how far a pixel lies outside the range of the
   other tile's 3×3 neighbourhood: misregistration and resampling do not count), both ways, is
   averaged along short lines of :data:`LINE_LENGTH` px at five angles around the vertical
   (:func:`line_response`): a streak is a line, so its residual adds up along it, while JPEG
   noise and re-encoding errors do not. A tile's score is the fraction of its pixels whose line
   response exceeds :data:`LINE_TOLERANCE` grey levels, taken with each frame warped onto the
   other and the smaller kept (resampling softens the warped frame); the pair's score is the
   largest over tiles.
5. **More tiles when in doubt**: a pair whose score is above zero but not over
   :data:`FINE_MAX_SCORE` (faint rain: few light streaks in fog) gets up to
   :data:`FINE_MORE_TILES` more tiles, the next by response, :data:`FINE_MORE_BATCH` at a time,
   stopping as soon as the score is over the limit. Copies score 0 and pay nothing more.

Copies (re-encode, resize, crop, brightness, PNG, a small rotation) keep a near-zero score; two
exposures with fresh rain differ along thin streaks. ``score`` > :data:`FINE_MAX_SCORE` makes a
preview near-duplicate ``same-scene``. Thresholds were tuned on the first renderer
(:mod:`rainset.synth.rain`) at 12 MP; see docs/dedupe.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from rainset.capture.orient import apply_orientation

FINE_TILE = 256  # tile side at the comparison scale
FINE_TILES = 6  # tiles per pair
FINE_MORE_TILES = 18  # more tiles, at most, for a pair whose score is above zero but not over the limit
FINE_MORE_BATCH = 6  # ... looked at this many at a time, stopping once the score is over the limit
FINE_BLUR = 1.0  # σ of the light blur in the band (JPEG noise and resampling out)
BAND_SIGMA = 4.0  # σ of the wide blur subtracted (the band's low edge)
GAIN_SIGMA = 8.0  # window of the local gain fit
CLIPPED = 245.0  # pixels this bright in either frame (and their neighbours) are left out
_CLIP_GROW = 2 * int(math.ceil(2 * BAND_SIGMA)) + 1
LINE_LENGTH = 11  # px along which the residual is averaged
LINE_ANGLES = (-24.0, -12.0, 0.0, 12.0, 24.0)  # degrees from vertical
LINE_TOLERANCE = 2.0  # grey levels of line-averaged tolerant difference
RELATIVE_TOLERANCE = 0.5  # ... and this share of the weaker frame's own line strength
FINE_MAX_SCORE = 0.0001  # fraction of tile pixels (about 7 px of a 256-px tile); above it: two exposures
MIN_FINE_SCALE = 1.5  # skip the tiles when the smaller original is not this much larger than its preview


@dataclass(frozen=True)
class FineEvidence:
    """The streak-band comparison of one pair: score, tiles compared, and the comparison size."""

    score: float
    tiles: int
    size: tuple[int, int]  # (width, height) of the reference frame the tiles were cut from


def decode_grey(path: str | Path, size: tuple[int, int], orientation: int | None = None) -> np.ndarray:
    """Decode ``path`` as grey, upright, at the smallest JPEG reduction not below ``size`` (w, h, upright).

    JPEGs decode through Pillow's ``draft`` (DCT scaling: 1/2, 1/4, 1/8 at no extra cost); other
    formats decode whole. Raises OSError when the file cannot be read.
    """
    with Image.open(path) as im:
        stored = size if orientation not in (5, 6, 7, 8) else (size[1], size[0])
        if im.format == "JPEG":
            im.draft("L", stored)
        grey = np.asarray(im.convert("L"))
    return apply_orientation(grey, orientation)


def _to_decoded(common: tuple[int, int], decoded: tuple[int, int]) -> np.ndarray:
    """3×3 map from preview-comparison pixel coordinates to decoded-frame coordinates (pixel centres)."""
    sx, sy = decoded[0] / common[0], decoded[1] / common[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)


def _line_offsets() -> list[list[tuple[int, int]]]:
    """Per angle of :data:`LINE_ANGLES`, the (dx, dy) pixel offsets of a line of :data:`LINE_LENGTH` px."""
    half = LINE_LENGTH // 2
    return [[(round(k * math.tan(math.radians(angle))), k) for k in range(-half, half + 1)] for angle in LINE_ANGLES]


_OFFSETS = _line_offsets()


def band(tile: np.ndarray) -> np.ndarray:
    """The thin-streak band of a float tile: lightly blurred (σ :data:`FINE_BLUR`) minus its wide blur
    (σ :data:`BAND_SIGMA`): JPEG noise and slow brightness changes (a channel clipped by a
    brightened copy) go, 1–2 px streaks stay."""
    return cv2.GaussianBlur(tile, (0, 0), FINE_BLUR) - cv2.GaussianBlur(tile, (0, 0), BAND_SIGMA)


def streak_fraction(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Fraction of valid pixels where ``a`` and ``b`` (aligned band-passed tiles) differ along a thin line:
    line response over :data:`LINE_TOLERANCE`, and over :data:`RELATIVE_TOLERANCE` of the weaker
    frame's own line strength there (a streak both frames hold, resampled differently, differs by a
    part of itself; a streak one frame lacks stands over that frame's background)."""
    n = max(1, int(valid.sum()))
    strength = np.minimum(_line_mean(np.abs(a)), _line_mean(np.abs(b)))
    limit = np.maximum(LINE_TOLERANCE, RELATIVE_TOLERANCE * strength)
    return float(np.count_nonzero((line_response(a, b) > limit) & valid)) / n


def _line_mean(diff: np.ndarray) -> np.ndarray:
    """Per pixel, the largest mean of ``diff`` along a line of :data:`LINE_LENGTH` px at the angles of
    :data:`LINE_ANGLES`."""
    h, w = diff.shape
    pad = max(max(abs(dx), abs(dy)) for line in _OFFSETS for dx, dy in line)
    padded = cv2.copyMakeBorder(diff, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    out = np.zeros_like(diff)
    acc = np.empty_like(diff)
    for line in _OFFSETS:
        acc.fill(0.0)
        for dx, dy in line:
            acc += padded[pad + dy:pad + dy + h, pad + dx:pad + dx + w]
        np.maximum(out, acc, out=out)
    return out / float(LINE_LENGTH)


def line_response(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the largest mean along a short line (five angles about the vertical) of the tolerant
    difference of ``a`` and ``b``, both ways summed (a streak of either frame)."""
    k = np.ones((3, 3), np.uint8)
    a_max, a_min = cv2.dilate(a, k), cv2.erode(a, k)
    b_max, b_min = cv2.dilate(b, k), cv2.erode(b, k)
    diff = (np.maximum(np.maximum(a - b_max, a_min - b), 0.0)  # a brighter (a's streaks over b)
            + np.maximum(np.maximum(b - a_max, b_min - a), 0.0))  # b brighter
    return _line_mean(diff)


def selection_map(ref_prev: np.ndarray, mov_prev: np.ndarray, warp: np.ndarray, common: tuple[int, int]) -> np.ndarray:
    """Where the previews (long side up to 1024) differ along thin lines, in ``ref_prev``'s frame.

    ``mov_prev`` is warped onto ``ref_prev`` with the preview comparison's warp (scaled; no new
    alignment), gain fitted, and the line response of the band-passed tolerant difference taken,
    as on the tiles. Streaks are faint here, but this is where tiles are worth decoding.
    """
    rh, rw = ref_prev.shape
    mh, mw = mov_prev.shape
    w3 = np.vstack([warp.astype(np.float64), [0, 0, 1]])
    m = (_to_decoded(common, (mw, mh)) @ w3 @ np.linalg.inv(_to_decoded(common, (rw, rh))))[:2].astype(np.float32)
    moved = cv2.warpAffine(mov_prev.astype(np.float32), m, (rw, rh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    valid = cv2.warpAffine(np.full(mov_prev.shape, 255, np.uint8), m, (rw, rh),
                           flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    valid = cv2.erode(valid.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    r = ref_prev.astype(np.float32)
    if valid.sum() < 16:
        return np.zeros_like(r)
    xs, ys = moved[valid], r[valid]
    var = float(xs.var())
    gain = float(((xs - xs.mean()) * (ys - ys.mean())).mean() / var) if var > 1e-6 else 1.0
    fitted = (moved - xs.mean()) * gain + ys.mean()
    return np.where(valid, line_response(band(r), band(fitted)), 0.0).astype(np.float32)


def _pick_tiles(score_map: np.ndarray, ref_size: tuple[int, int], count: int, tile: int) -> list[tuple[int, int]]:
    """Top-left corners (in the reference frame) of ``count`` tiles where ``score_map`` (any size, same
    view) sums highest, at most one per cell of a 3×3 grid first, then any."""
    w, h = ref_size
    nx, ny = max(1, (w - tile // 2) // tile), max(1, (h - tile // 2) // tile)
    x0s = np.linspace(tile // 4, max(tile // 4, w - tile - tile // 4), nx).round().astype(int)
    y0s = np.linspace(tile // 4, max(tile // 4, h - tile - tile // 4), ny).round().astype(int)
    sh, sw = score_map.shape
    fx, fy = sw / w, sh / h
    integral = cv2.integral(score_map.astype(np.float32))
    scored = []
    for y in y0s:
        for x in x0s:
            ax, ay = int(x * fx), int(y * fy)
            bx, by = max(ax + 1, min(sw, int((x + tile) * fx))), max(ay + 1, min(sh, int((y + tile) * fy)))
            s = integral[by, bx] - integral[ay, bx] - integral[by, ax] + integral[ay, ax]
            cell = (min(2, 3 * int(x) // max(1, w)), min(2, 3 * int(y) // max(1, h)))
            scored.append((float(s), int(x), int(y), cell))
    scored.sort(key=lambda t: -t[0])
    chosen: list[tuple[int, int]] = []
    cells: set[tuple[int, int]] = set()
    for _, x, y, cell in scored:  # spread first
        if len(chosen) < count and cell not in cells:
            chosen.append((x, y))
            cells.add(cell)
    for _, x, y, _ in scored:
        if len(chosen) < count and (x, y) not in chosen:
            chosen.append((x, y))
    return chosen


def _refine(ref: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """Shift (2×3, inverse map) that moves ``moved`` onto ``ref``, by ECC on the tile; identity if it fails.

    The preview warp already holds scale, rotation and shear; scaled up, what is left over a tile is
    a shift of a pixel or two."""
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-3)
    try:
        _, warp = cv2.findTransformECC(ref, moved, warp, cv2.MOTION_TRANSLATION, criteria, None, 3)
    except cv2.error:
        return np.eye(2, 3, dtype=np.float32)
    if abs(warp[0, 2]) > 8 or abs(warp[1, 2]) > 8:
        return np.eye(2, 3, dtype=np.float32)  # ran away: keep the preview alignment
    return warp


def _inside(m: np.ndarray, tw: int, th: int, mw: int, mh: int) -> np.ndarray:
    """uint8 mask of the tile pixels that the map ``m`` (2×3) sends inside a ``mw``×``mh`` frame."""
    ys, xs = np.mgrid[0:th, 0:tw].astype(np.float32)
    x = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    y = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    return ((x >= 0) & (x <= mw - 1) & (y >= 0) & (y <= mh - 1)).astype(np.uint8)


def _tile_score(ref: np.ndarray, mov: np.ndarray, ref_to_mov: np.ndarray, x: int, y: int, tile: int,
                refine: bool = True) -> tuple[float, np.ndarray] | None:
    """Streak-band score of ``mov`` warped onto the tile of ``ref`` at (x, y), and the (refined) map
    used; None when the tile is mostly outside ``mov``."""
    r = ref[y:y + tile, x:x + tile].astype(np.float32)
    th, tw = r.shape
    mh, mw = mov.shape
    shift = np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP

    def warp(m3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = m3[:2].astype(np.float32)
        moved = cv2.warpAffine(mov, m, (tw, th), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return moved.astype(np.float32), _inside(m, tw, th, mw, mh)

    m3 = ref_to_mov @ shift
    moved, valid = warp(m3)
    if np.count_nonzero(valid) < 0.5 * valid.size:
        return None
    if refine:
        fix = _refine(cv2.GaussianBlur(r, (0, 0), 1.0), cv2.GaussianBlur(moved, (0, 0), 1.0))
        if not np.allclose(fix, np.eye(2, 3)):
            m3 = m3 @ np.vstack([fix, [0, 0, 1]]).astype(np.float64)
            moved, valid = warp(m3)
    ok = cv2.erode(valid, np.ones((5, 5), np.uint8)) > 0
    clipped = ((r >= CLIPPED) | (moved >= CLIPPED)).astype(np.uint8)  # a brightened copy clips where the original did not
    ok &= cv2.dilate(clipped, np.ones((_CLIP_GROW, _CLIP_GROW), np.uint8)) == 0  # and the band spreads it
    if ok.sum() < 0.5 * ok.size:
        return None
    xs, ys = moved[ok], r[ok]
    var = float(xs.var())
    gain = float(((xs - xs.mean()) * (ys - ys.mean())).mean() / var) if var > 1e-6 else 1.0
    fitted = (moved - xs.mean()) * gain + ys.mean()
    a, b = band(r), band(fitted.astype(np.float32))
    return streak_fraction(a, b * local_gain(a, b), ok), m3 @ np.linalg.inv(shift)


def compare_tiles(ref: np.ndarray, mov: np.ndarray, ref_to_mov: np.ndarray, corners: list[tuple[int, int]],
                  tile: int = FINE_TILE) -> float:
    """The streak-band score of a pair over the given tiles: the largest over tiles.

    Each tile is compared both ways (``mov`` resampled onto ``ref``'s grid, and ``ref`` onto
    ``mov``'s, with the alignment refined the first way) and the smaller score kept: resampling
    softens the frame that is warped, so a crisp frame against a resampled copy of itself (a
    rotated copy) differs one way only, while fresh rain differs both ways.

    Args:
        ref, mov: grey uint8 frames at about the same scale.
        ref_to_mov: 3×3 map from ``ref`` pixel coordinates to ``mov`` pixel coordinates.
        corners: top-left corners of the tiles in ``ref``.
    """
    mh, mw = mov.shape
    scores = []
    for x, y in corners:
        one = _tile_score(ref, mov, ref_to_mov, x, y, tile)
        if one is None:
            continue
        refined = one[1]
        cx, cy, _ = refined @ np.array([x + tile / 2, y + tile / 2, 1.0])
        mx = int(min(max(0, round(cx - tile / 2)), max(0, mw - tile)))
        my = int(min(max(0, round(cy - tile / 2)), max(0, mh - tile)))
        other = _tile_score(mov, ref, np.linalg.inv(refined), mx, my, tile, refine=False)
        scores.append(one[0] if other is None else min(one[0], other[0]))
    return max(scores) if scores else 0.0


def local_gain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the gain that best maps band ``b`` onto band ``a`` in a window (σ :data:`GAIN_SIGMA`),
    clipped to 0.67–1.5: a tone curve or a channel clipped by a brightened copy scales texture
    differently in different places; a thin streak is too small to move it."""
    num = cv2.GaussianBlur(a * b, (0, 0), GAIN_SIGMA)
    den = cv2.GaussianBlur(b * b, (0, 0), GAIN_SIGMA)
    return np.clip(num / np.maximum(den, 1.0), 0.67, 1.5)


def fine_evidence(load: Callable[[tuple[int, int]], np.ndarray], ref_full: tuple[int, int],
                  load_mov: Callable[[tuple[int, int]], np.ndarray], mov_full: tuple[int, int],
                  warp: np.ndarray, common: tuple[int, int], ref_prev: np.ndarray, mov_prev: np.ndarray,
                  tiles: int = FINE_TILES, tile: int = FINE_TILE,
                  more_tiles: int = FINE_MORE_TILES) -> FineEvidence | None:
    """Compare a pair the previews accepted on full-resolution tiles.

    Args:
        load: ``load(size)`` decodes the reference original (the smaller of the two) at ≥ ``size``.
        ref_full: its full (width, height), upright.
        load_mov, mov_full: the same for the other original.
        warp: 2×3 ECC warp of the preview comparison (inverse map: reference → other, in the
            comparison's pixel coordinates).
        common: (width, height) of the preview comparison.
        ref_prev, mov_prev: the grey previews (they pick the tiles).
        tiles: tiles looked at first.
        more_tiles: at most this many more (the next by response) while the score is above zero
            but not over :data:`FINE_MAX_SCORE`; copies score 0 and get none.

    Returns:
        The evidence, or None when the smaller original is not much larger than its preview
        (the preview test already saw it at full scale).
    """
    if max(ref_full) < MIN_FINE_SCALE * max(ref_prev.shape) or min(ref_full) < tile:
        return None
    corners = _pick_tiles(selection_map(ref_prev, mov_prev, warp, common), ref_full, tiles + more_tiles, tile)
    ref = load(ref_full)
    mov = load_mov(ref_full if mov_full[0] * mov_full[1] >= ref_full[0] * ref_full[1] else mov_full)
    ratio = math.sqrt(mov.size / ref.size)
    if ratio > 1.25:  # decoded larger than needed (no DCT scaling, or not a power of two): one area resize
        mov = cv2.resize(mov, (max(1, round(mov.shape[1] / ratio)), max(1, round(mov.shape[0] / ratio))),
                         interpolation=cv2.INTER_AREA)
    rh, rw = ref.shape
    mh, mw = mov.shape
    w3 = np.vstack([warp.astype(np.float64), [0, 0, 1]])
    ref_to_mov = _to_decoded(common, (mw, mh)) @ w3 @ np.linalg.inv(_to_decoded(common, (rw, rh)))
    if (rw, rh) != tuple(ref_full):  # the reference decoded at another size than recorded: rescale corners
        corners = [(min(rw - tile, round(x * rw / ref_full[0])), min(rh - tile, round(y * rh / ref_full[1])))
                   for x, y in corners]
    score, used = compare_tiles(ref, mov, ref_to_mov, corners[:tiles], tile), min(tiles, len(corners))
    while 0.0 < score <= FINE_MAX_SCORE and used < len(corners):  # in doubt: look at more of the frame
        batch = corners[used:used + FINE_MORE_BATCH]
        score, used = max(score, compare_tiles(ref, mov, ref_to_mov, batch, tile)), used + len(batch)
    return FineEvidence(score, used, (rw, rh))
