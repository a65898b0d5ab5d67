"""Registered temporal-median targets (rainset.pairs.background) scored with the issue's protocol."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rainset.pairs.background import (light_gain, pseudo_clean, register, temporal_background, temporal_percentile,
                                      unregister)
from rainset.pairs.motion import estimate_motion
from rainset.pairs.score import aligned_psnr
from tests.pairs_helpers import footage, moved, through_h264


@pytest.fixture(scope="module")
def segment(tmp_path_factory):
    fo = footage(48, seed=3)
    frames = through_h264(fo.frames, tmp_path_factory.mktemp("pairs") / "segment.mp4")
    return fo, frames, estimate_motion(frames)


def test_registered_percentile_beats_the_rainy_frame_and_the_plain_median(segment):
    fo, frames, track = segment
    registered = temporal_background(iter(frames), track.shifts, band_rows=40)
    registered_median = temporal_background(iter(frames), track.shifts, percentile=50)
    plain = temporal_background(iter(frames), None, percentile=50)  # the plain median
    rows = []
    for i in (4, 16, 28, 40):
        rainy = aligned_psnr(frames[i], fo.truth[i]).psnr
        unreg = aligned_psnr(pseudo_clean(frames[i], plain).image, fo.truth[i]).psnr
        reg = aligned_psnr(pseudo_clean(frames[i], registered, tuple(track.shifts[i]), index=i).image,
                           fo.truth[i]).psnr
        med = aligned_psnr(pseudo_clean(frames[i], registered_median, tuple(track.shifts[i])).image,
                           fo.truth[i]).psnr
        rows.append((rainy, unreg, reg, med))
    rainy, unreg, reg, med = np.array(rows).mean(axis=0)
    print(f"\nPSNR dB (mean of 4 frames): rainy {rainy:.2f}, unregistered median {unreg:.2f}, "
          f"registered median {med:.2f}, registered p40 {reg:.2f}")
    assert reg > rainy + 4.0
    assert reg > unreg + 3.0
    assert med > rainy + 4.0 and med > unreg + 3.0


def test_target_keeps_each_frames_light(segment):
    fo, frames, track = segment
    bg = temporal_background(frames, track.shifts)
    targets = [pseudo_clean(frames[i], bg, tuple(track.shifts[i]), index=i) for i in (0, 12, 36)]
    # light goes 1.00 -> 1.08 -> 0.92 over the clip; the fitted gains follow the true ratios
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        want = fo.light[targets[b].index] / fo.light[targets[a].index]
        got = targets[b].gain / targets[a].gain
        assert abs(got - want) < 0.01, (a, b, got, want)
    assert all(0.0 < t.rain_fraction < 0.5 for t in targets)
    assert targets[1].image.dtype == np.uint8 and targets[1].image.shape == frames[0].shape


def test_bands_do_not_change_the_result(segment):
    _, frames, track = segment
    small = temporal_background(frames[:12], track.shifts[:12], band_rows=7)
    whole = temporal_background(frames[:12], track.shifts[:12], band_rows=10_000)
    assert small.frames == 12 and np.array_equal(small.image, whole.image)
    low = temporal_background(frames[:12], track.shifts[:12], percentile=20)
    assert (low.image <= small.image).all() and (low.image < small.image).any()  # rain only adds light
    median = temporal_background(frames[:12], track.shifts[:12], percentile=50)
    assert (small.image <= median.image).all() and small.percentile == 40.0


def test_register_and_unregister_are_inverse_moves():
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur((rng.random((60, 80, 3)) * 255).astype(np.float32), (0, 0), 2.0)
    frame = moved(scene, 1.5, -2.0)
    back = register(frame, (1.5, -2.0))
    assert np.abs(back[8:-8, 8:-8] - scene[8:-8, 8:-8]).mean() < 2  # interpolation blur only
    there = unregister(scene, (1.5, -2.0))
    assert np.abs(there[8:-8, 8:-8] - frame[8:-8, 8:-8]).mean() < 2
    assert np.abs(back[8:-8, 8:-8] - scene[8:-8, 8:-8]).mean() < np.abs(frame - scene)[8:-8, 8:-8].mean() / 2


def test_gain_ignores_rain_and_bad_input_is_refused():
    rng = np.random.default_rng(1)
    bg = rng.uniform(40, 200, (50, 70, 3)).astype(np.float32)
    frame = bg * 1.06
    frame[::5] += 80  # streaks on a fifth of the rows
    gain, rain = light_gain(np.clip(frame, 0, 255), bg)
    assert abs(gain - 1.06) < 0.005 and 0.15 < rain < 0.3
    with pytest.raises(ValueError, match="no background pixel"):
        light_gain(frame, np.zeros_like(bg))
    with pytest.raises(ValueError, match="percentile 120"):
        temporal_background([bg.astype(np.uint8)], percentile=120)
    with pytest.raises(ValueError, match="no frames"):
        temporal_background([])
    with pytest.raises(ValueError, match="1 shifts"):
        temporal_background([bg.astype(np.uint8)] * 2, np.zeros((1, 2)))


@pytest.mark.parametrize("n", [1, 2, 9, 48])
def test_temporal_percentile_is_numpys(n: int) -> None:
    band = np.random.default_rng(n).integers(0, 256, (n, 5, 7, 3), dtype=np.uint8)
    for p in (0.0, 25.0, 40.0, 50.0, 77.7, 100.0):
        expected = np.median(band, axis=0) if p == 50.0 else np.percentile(band, p, axis=0)
        assert np.array_equal(temporal_percentile(band, p, chunk=16), expected.astype(np.float32)), p


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_register_is_a_bicubic_warp(dtype) -> None:
    image = cv2.resize(np.random.default_rng(5).integers(0, 256, (24, 32, 3), dtype=np.uint8), (128, 96),
                       interpolation=cv2.INTER_CUBIC).astype(dtype)
    for shift in [(1.3, -0.7), (-2.55, 2.9), (0.0, 0.0), (0.01, 4.2)]:
        m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
        warp = cv2.warpAffine(image, m, (128, 96), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        got = register(image, shift)
        assert got.shape == image.shape and got.dtype == image.dtype
        assert np.abs(got.astype(np.float64) - warp).max() <= (1.0 if dtype == np.uint8 else 0.01), shift
