"""Camera motion and static segments (rainset.pairs.motion) on real-photo footage through H.264."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rainset.pairs.motion import crop_boxes, estimate_motion, static_segments
from rainset.synth.depth_rain import render_depth_rain, scene_depth
from tests.pairs_helpers import footage, moved, through_h264
from tests.video_helpers import background


@pytest.fixture(scope="module")
def shaky(tmp_path_factory):
    fo = footage(32, seed=1)
    return fo, through_h264(fo.frames, tmp_path_factory.mktemp("pairs") / "shaky.mp4")


def test_phase_correlation_recovers_the_shake_within_half_a_pixel(shaky):
    fo, frames = shaky
    track = estimate_motion(iter(frames))
    truth = fo.shifts - fo.shifts[0]
    assert np.ptp(truth, axis=0).max() > 2.0  # the shake is real, not a still camera
    err = np.abs(track.shifts - truth)
    assert err.max() < 0.5, f"worst shift error {err.max():.3f} px"
    assert track.shifts.shape == (32, 2) and track.response.min() > 0.2 and track.reference == 0


def test_a_chosen_reference_frame_moves_the_origin(shaky):
    fo, frames = shaky
    track = estimate_motion(frames, reference=frames[10])
    assert np.abs(track.shifts - (fo.shifts - fo.shifts[10])).max() < 0.5
    assert np.hypot(*track.shifts[10]) < 0.1 and track.reference is None


def test_segments_split_at_an_injected_pan(tmp_path):
    fo = footage(40, seed=2, pan_at=20, pan_px=6.0, pan_frames=4)
    frames = through_h264(fo.frames, tmp_path / "pan.mp4")
    track = estimate_motion(frames)
    segments = static_segments(track.shifts, track.steps)
    assert [s.start for s in segments][:1] == [0] and len(segments) == 2, segments
    first, second = segments
    assert first.stop == 20  # the first frame that panned ends the still part
    assert second.start in (23, 24) and second.stop == 40  # the camera holds still again after the pan
    assert first.shake < 8.0 and second.shake < 8.0


def test_shake_within_three_pixels_stays_one_segment():
    rng = np.random.default_rng(0)
    path = np.clip(np.cumsum(rng.normal(0, 0.7, (48, 2)), axis=0), -3, 3)
    segments = static_segments(path)
    assert [(s.start, s.stop) for s in segments] == [(0, 48)]


def test_jump_drift_and_short_runs():
    still = np.zeros((30, 2))
    jump = still.copy()
    jump[12:] += (15.0, 0.0)  # a jump of 15 px at frame 12
    assert [(s.start, s.stop) for s in static_segments(jump)] == [(0, 12), (12, 30)]
    drift = np.stack([np.arange(30) * 0.5, np.zeros(30)], axis=1)  # 0.5 px/frame: each step is small
    cut = static_segments(drift, max_shake=8.0, min_frames=1)
    assert len(cut) >= 2 and all(s.shake <= 4.0 + 1e-9 for s in cut)
    assert static_segments(jump, min_frames=20) == []  # both runs too short for a median


def test_no_frames_and_mixed_sizes_are_errors():
    with pytest.raises(ValueError, match="no frames"):
        estimate_motion([])
    frames = [np.zeros((40, 60, 3), np.uint8), np.zeros((40, 61, 3), np.uint8)]
    with pytest.raises(ValueError, match="frame 1 is 61x40"):
        estimate_motion(frames)


def test_crops_spread_over_a_large_frame_and_collapse_on_a_small_one():
    boxes = crop_boxes((1152, 2048), 512, 3)
    assert len(boxes) == 9 and all(0 <= y and y + h <= 1152 and 0 <= x and x + w <= 2048 for y, x, h, w in boxes)
    assert len({(y, x) for y, x, _, _ in boxes}) == 9  # nine different places, not the centre nine times
    assert crop_boxes((240, 320), 512, 3) == [(0, 0, 240, 320)]  # a small frame: one crop, the whole frame
    assert crop_boxes((1152, 2048), 512, 1) == [(320, 768, 512, 512)]  # grid 1: the centre


@pytest.mark.slow
def test_multi_crop_refinement_recovers_a_shift_on_a_2048_px_frame_with_rain():
    """Rain drawn at a physical size (the second renderer) and a dark object walking through the
    frame's centre, 60 px a frame: the coarse phase answer is off by tenths of a pixel, a centre crop
    alone follows the object, the median of the 3 × 3 crops holds the camera within 0.1 px."""
    scene = cv2.resize(background(), (2048, 1152), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    depth = scene_depth((1152, 2048), np.random.default_rng(7))
    true = np.array([(0.0, 0.0), (1.37, -2.21), (-2.62, 0.48), (0.83, 1.91)])
    frames = []
    for i, (dx, dy) in enumerate(true):
        clean = moved(scene, dx, dy)
        clean[400:800, 800 + 60 * i:960 + 60 * i] = (40, 30, 25)
        rainy = render_depth_rain(np.clip(clean, 0, 255).round().astype(np.uint8), "streak", np.random.default_rng(50 + i),
                                  depth=depth, airlight=np.float32([0.8, 0.82, 0.85]), fog_scale=0.0).image
        assert (rainy.astype(np.int16) - clean.round() > 20).any()  # the rain is there, bright
        frames.append(rainy)
    err = np.abs(estimate_motion(frames).shifts - true)
    assert err.max() < 0.1, f"worst shift error {err.max():.3f} px"
    centre_only = np.abs(estimate_motion(frames, grid=1).shifts - true).max()
    coarse = np.abs(estimate_motion(frames, refine=False).shifts - true).max()
    assert centre_only > 0.1 and coarse > 0.1, (centre_only, coarse)  # the crops' median is what does it
