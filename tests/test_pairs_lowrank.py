"""Low-rank + non-negative sparse targets (rainset.pairs.lowrank) on real H.264 footage, and their properties."""

from __future__ import annotations

import numpy as np
import pytest

from rainset.pairs.lowrank import decompose_band, lowrank_background
from rainset.pairs.motion import estimate_motion
from rainset.pairs.score import aligned_psnr
from rainset.pairs.targets import segment_targets
from tests.pairs_helpers import footage, through_h264


@pytest.fixture(scope="module")
def segment(tmp_path_factory):
    fo = footage(48, seed=3)
    frames = through_h264(fo.frames, tmp_path_factory.mktemp("lowrank") / "segment.mp4")
    return fo, frames, estimate_motion(frames)


def test_lowrank_beats_the_rainy_frame_and_matches_the_median(segment):
    fo, frames, track = segment
    scores = {}
    for method in ("median", "lowrank"):
        targets = list(segment_targets(lambda: iter(frames), track.shifts, method=method))
        scores[method] = np.mean([aligned_psnr(targets[i].image, fo.truth[i]).psnr for i in (4, 16, 28, 40)])
    rainy = np.mean([aligned_psnr(frames[i], fo.truth[i]).psnr for i in (4, 16, 28, 40)])
    print(f"\nPSNR dB (mean of 4 frames): rainy {rainy:.2f}, median {scores['median']:.2f}, "
          f"lowrank {scores['lowrank']:.2f}")
    assert scores["lowrank"] > rainy + 5.0
    assert scores["lowrank"] > scores["median"] - 1.0


def test_light_change_is_followed(segment):
    fo, frames, track = segment
    low = lowrank_background(iter(frames), track.shifts)
    # light goes 1.00 -> 1.08 -> 0.92 over the clip; each frame's background follows the true ratio
    for a, b in [(0, 12), (0, 36), (12, 36)]:
        want = fo.light[b] / fo.light[a]
        assert abs(low.light[b] / low.light[a] - want) < 0.01, (a, b, low.light[b] / low.light[a], want)
    inner = (slice(24, -24), slice(24, -24))
    bright, dark = low.frame(12)[inner], low.frame(36)[inner]
    assert abs(float(bright.mean() / dark.mean()) - fo.light[12] / fo.light[36]) < 0.01
    assert low.rank == 1 and low.frames == 48 and 0.0 < float(low.rain_fraction.mean()) < 0.3


def test_bands_give_the_answer_of_one_band(segment):
    fo, frames, track = segment
    whole = lowrank_background(iter(frames[:16]), track.shifts[:16], band_rows=10_000)
    bands = lowrank_background(iter(frames[:16]), track.shifts[:16], band_rows=9, context_rows=4)
    assert len(whole.bands) == 1 and len(bands.bands) == -(-frames[0].shape[0] // 9)
    for t in (0, 7, 15):
        a, b = whole.frame(t), bands.frame(t)
        diff = np.abs(b - a)
        # each band measures its own noise level, so a few pixels near the rain threshold flip
        assert diff.mean() < 0.3 and np.percentile(diff, 99) < 2.5, (t, diff.mean(), diff.max())
        truth = fo.truth[0] * (fo.light[t] / fo.light[0])  # the scene in the reference's (frame 0's) geometry
        pa, pb = aligned_psnr(a, truth).psnr, aligned_psnr(b, truth).psnr
        print(f"frame {t}: one band {pa:.2f} dB, bands {pb:.2f} dB, mean |difference| {diff.mean():.3f}")
        assert abs(pa - pb) < 0.15, (t, pa, pb)


def test_rain_is_non_negative_and_dark_outliers_stay_out_of_the_background():
    rng = np.random.default_rng(0)
    n, p = 40, 6000
    scene = rng.uniform(40, 200, p).astype(np.float32)
    light = (1.0 + 0.08 * np.sin(np.linspace(0, 2 * np.pi, n))).astype(np.float32)
    clean = light[:, None] * scene[None]
    rain = (rng.random((n, p)) < 0.15) * rng.uniform(20, 120, (n, p)).astype(np.float32)
    dark = np.zeros((n, p), bool)
    dark[10:14, :800] = True  # a dark object over a few frames
    d = clean + rain + rng.normal(0, 1.0, (n, p)).astype(np.float32)
    d[dark] = 25.0
    u, v, is_rain = decompose_band(d.copy())
    fit = u @ v
    assert np.abs(fit - clean).mean() < 0.6  # the median of the same data is ~2 levels too bright
    assert np.abs(np.median(d, axis=0)[None] - clean).mean() > 1.5
    assert not is_rain[d < fit].any()  # rain is only ever above the background
    assert is_rain[(rain > 20) & ~dark].mean() > 0.95
    assert not is_rain[dark].any()
    assert np.abs(fit[dark] - clean[dark]).mean() < 1.0  # the dark object did not pull the background down


def test_bad_input_is_refused():
    frames = [np.full((20, 30, 3), 100, np.uint8)] * 3
    with pytest.raises(ValueError, match="rank 4 is outside 1..3"):
        lowrank_background(frames, rank=4)
    with pytest.raises(ValueError, match="iterations"):
        lowrank_background(frames, iterations=0)
    with pytest.raises(ValueError, match="no frames"):
        lowrank_background([])
    low = lowrank_background(frames)
    assert np.abs(low.frame(2) - 100.0).max() < 0.5
    with pytest.raises(IndexError, match="frame 3 is outside"):
        low.frame(3)
