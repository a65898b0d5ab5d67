"""Tests of the second rain renderer (rainset.synth.depth_rain): drops falling through depth,
refraction photometry, depth veil, bursts with new rain, captures with EXIF for dedupe evaluation."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from rainset.synth.depth_rain import (
    DEPTH_RAIN_TYPES,
    environment_light,
    render_burst,
    render_depth_rain,
    write_depth_captures,
)
from rainset.synth.scene import render_scene
from rainset.synth.variants import KEEP_EXIF

SIZE = (640, 480)


@pytest.fixture(scope="module")
def background() -> np.ndarray:
    return render_scene(np.random.default_rng(7), *SIZE)


@pytest.fixture(scope="module")
def rendered(background: np.ndarray) -> dict:
    return {t: render_depth_rain(background, t, np.random.default_rng([3, k]))
            for k, t in enumerate(DEPTH_RAIN_TYPES)}


def _components(layer: np.ndarray, thr: float = 0.02) -> list[tuple[float, float]]:
    """(width, length) of each connected component of ``layer > thr``, from its opacity-weighted
    second moments (a bar of width w has a minor-axis variance of w²/12)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((layer > thr).astype(np.uint8), connectivity=8)
    ys, xs = np.nonzero(lab)
    labels = lab[ys, xs]
    out = []
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < 3:
            continue
        m = labels == k
        cov = np.cov(np.stack([xs[m], ys[m]]).astype(float), aweights=layer[ys[m], xs[m]].astype(float))
        lo, hi = np.linalg.eigvalsh(cov)
        out.append((float(np.sqrt(12 * max(lo, 0.0))), float(np.sqrt(12 * max(hi, 0.0)))))
    return out


def _detail(rgb: np.ndarray) -> float:
    """Local contrast: standard deviation of the grey image minus its 5-px blur."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((g - cv2.GaussianBlur(g, (0, 0), 5)).std())


def test_deterministic_for_a_seed(background: np.ndarray) -> None:
    a = render_depth_rain(background, "heavy", np.random.default_rng(11))
    b = render_depth_rain(background, "heavy", np.random.default_rng(11))
    c = render_depth_rain(background, "heavy", np.random.default_rng(12))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.rain, b.rain)
    assert a.truth == b.truth
    assert not np.array_equal(a.rain, c.rain)


def test_captures_deterministic_for_a_seed(tmp_path: Path) -> None:
    def digests(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}
    kw = dict(sources=1, bursts=1, burst_len=2, size=(320, 240), variants=("jpeg70", "png"))
    write_depth_captures(tmp_path / "a", seed=5, **kw)
    write_depth_captures(tmp_path / "b", seed=5, **kw)
    write_depth_captures(tmp_path / "c", seed=6, **kw)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert digests(tmp_path / "a") != digests(tmp_path / "c")


def test_no_rain_is_the_background_and_unknown_type_is_refused(background: np.ndarray, rendered: dict) -> None:
    assert np.array_equal(rendered["no-rain"].image, background)
    assert not rendered["no-rain"].rain.any()
    with pytest.raises(ValueError, match="unknown rain type 'hail'"):
        render_depth_rain(background, "hail", np.random.default_rng(0))


def test_rain_types_differ_in_simple_statistics(background: np.ndarray, rendered: dict) -> None:
    covered = {t: float((r.rain > 0.05).mean()) for t, r in rendered.items()}
    veil = {t: float(1.0 - r.transmission.mean()) for t, r in rendered.items()}
    detail = {t: _detail(r.image) / _detail(background) for t, r in rendered.items()}
    length = {t: float(np.percentile([c[1] for c in _components(r.rain)], 75)) for t, r in rendered.items()
              if t != "no-rain"}
    print(covered, veil, detail, length)
    assert covered["heavy"] > 1.5 * covered["drizzle"] > 0
    assert covered["drizzle"] > covered["fog-mixed"] > covered["no-rain"] == 0
    assert veil["fog-mixed"] > 2 * veil["heavy"] > 0  # a thick veil, a thin rain-accumulation veil
    assert veil["drizzle"] == veil["streak"] == 0
    assert detail["fog-mixed"] < 0.8 < detail["drizzle"]  # the veil costs local contrast
    assert length["streak"] > 2 * max(length["drizzle"], length["heavy"])  # long exposure


def test_near_drops_are_longer_and_wider_than_far_ones(background: np.ndarray) -> None:
    """Perspective: the same drops seen from a camera whose focus and depths are scaled."""
    big = render_depth_rain(np.zeros((960, 1280, 3), np.uint8) + 60, "heavy", np.random.default_rng(4))
    comps = _components(big.rain, thr=0.04)
    widths, lengths = np.array([c[0] for c in comps]), np.array([c[1] for c in comps])
    wide = widths > np.percentile(widths, 90)
    thin = widths < np.percentile(widths, 50)
    assert lengths[wide].mean() > 1.5 * lengths[thin].mean()  # wide (near) drops have long streaks


def test_splashes_are_optional_and_on_the_ground(background: np.ndarray) -> None:
    dry = render_depth_rain(background, "drizzle", np.random.default_rng(8))
    wet = render_depth_rain(background, "drizzle", np.random.default_rng(8), splashes=True)
    added = wet.rain - dry.rain
    assert dry.truth.splashes == 0 < wet.truth.splashes
    assert added.max() > 0.2
    rows = np.nonzero((added > 0.02).any(axis=1))[0]
    assert rows.min() > 0.7 * background.shape[0]  # crowns and droplets stay near the ground


def test_streaks_refract_the_environment_instead_of_adding_white() -> None:
    """Dark ground under a bright sky (left) and under a dark facade (right): the same streaks
    brighten the left much more; each pixel is the background mixed with the blurred, shifted
    environment sample by the rain opacity."""
    h, w = 480, 640
    bg = np.full((h, w, 3), 20, np.uint8)
    bg[: h // 2, : w // 2] = 235
    bg[: h // 2, w // 2:] = 30
    r = render_depth_rain(bg, "streak", np.random.default_rng(9))
    base = bg.astype(np.float32) / 255
    env = environment_light(base)
    model = base + r.rain[..., None] * (env - base)
    assert np.abs(r.image.astype(np.float32) / 255 - model).max() <= 1.0 / 255 + 1e-6
    rows = slice(int(h * 0.8), h)
    alpha = r.rain[rows]
    gain = (r.image[rows].astype(np.float32).mean(2) / 255 - base[rows].mean(2)) / np.maximum(alpha, 1e-6)
    streak = alpha > 0.1
    left, right = streak[:, : w // 4], streak[:, 3 * w // 4:]
    assert left.sum() > 50 and right.sum() > 50
    g_left, g_right = float(gain[:, : w // 4][left].mean()), float(gain[:, 3 * w // 4:][right].mean())
    assert g_left > 3 * g_right  # not a constant brightening
    assert g_right < 0.5 * (1 - 20 / 255)  # a white screen blend would add ~(1 − background)


def test_burst_has_identical_backgrounds_and_new_rain(background: np.ndarray) -> None:
    frames = render_burst(background, "drizzle", seed=4, frames=3)
    for f in frames[1:]:
        assert np.array_equal(f.clean, frames[0].clean) and np.array_equal(f.depth, frames[0].depth)
        assert f.truth.airlight == frames[0].truth.airlight and f.truth.fog_beta == frames[0].truth.fog_beta
        a, b = frames[0].rain > 0.05, f.rain > 0.05
        assert a.sum() > 100 and b.sum() > 100
        assert (a & b).sum() < 0.2 * min(a.sum(), b.sum())  # different drops
        assert not np.array_equal(f.image, frames[0].image)
    fog = render_burst(background, "fog-mixed", seed=4, frames=2)
    assert fog[0].truth.fog_beta > 0 and np.array_equal(fog[0].transmission, fog[1].transmission)
    assert not np.array_equal(fog[0].rain, fog[1].rain)


def _exif_time(path: Path) -> tuple[datetime, str] | None:
    exif = Image.open(path).getexif().get_ifd(0x8769)
    if 0x9003 not in exif:
        return None
    when = datetime.strptime(exif[0x9003], "%Y:%m:%d %H:%M:%S")
    return when.replace(microsecond=int(exif[0x9291]) * 1000), exif[0xA431]


def test_burst_exif_times_are_1_to_3_seconds_apart_and_copies_keep_the_time(tmp_path: Path) -> None:
    truth = write_depth_captures(tmp_path / "caps", sources=2, bursts=3, burst_len=0, size=(320, 240), seed=2)
    root = Path(truth.root)
    bursts: dict[str, list[tuple[datetime, str]]] = {}
    for f in truth.files:
        if f.variant == "burst":
            bursts.setdefault(f.scene, []).append(_exif_time(root / f.path))
    assert len(bursts) == 3 and all(2 <= len(v) <= 4 for v in bursts.values())
    for frames in bursts.values():
        assert len({serial for _, serial in frames}) == 1
        for (t0, _), (t1, _) in zip(frames, frames[1:]):
            assert 1.0 <= (t1 - t0).total_seconds() <= 3.0
    originals = {f.frame: _exif_time(root / f.path) for f in truth.files if f.variant == "original"}
    for f in truth.files:
        if f.variant in KEEP_EXIF:
            assert _exif_time(root / f.path) == originals[f.frame]
        elif f.variant not in ("original", "burst"):
            assert _exif_time(root / f.path) is None
    resized = next(f for f in truth.files if f.variant == "resize50")
    assert Image.open(root / resized.path).size == (160, 120)
    stripped = write_depth_captures(tmp_path / "bare", sources=1, bursts=1, burst_len=2, size=(320, 240),
                                    seed=2, exif=False)
    assert all(_exif_time(Path(stripped.root) / f.path) is None for f in stripped.files)


@pytest.mark.slow
def test_drizzle_streaks_are_1_to_2_px_wide_at_12_mp() -> None:
    bg = np.full((3000, 4000, 3), 70, np.uint8)
    r = render_depth_rain(bg, "drizzle", np.random.default_rng(1))
    comps = _components(r.rain[1200:1800, 1600:2400])
    widths = np.array([c[0] for c in comps])
    assert len(widths) > 50
    assert 1.0 <= float(np.median(widths)) <= 2.0
    assert float(np.percentile(widths, 90)) <= 2.2
