"""Moving-object masks (rainset.pairs.masks): a dark passer-by is masked, rain streaks are not."""

from __future__ import annotations

import numpy as np
import pytest

from rainset.pairs.masks import border_mask, moving_objects, validity_mask
from rainset.pairs.motion import estimate_motion
from rainset.pairs.targets import METHODS, segment_targets
from rainset.pairs.score import aligned_psnr
from rainset.synth.rain import rain_layer
from tests.pairs_helpers import footage, through_h264


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    fo = footage(36, seed=3, person=True)
    frames = through_h264(fo.frames, tmp_path_factory.mktemp("masks") / "crossing.mp4")
    return fo, frames, estimate_motion(frames)


@pytest.mark.parametrize("method", METHODS)
def test_a_dark_passer_by_is_masked(crossing, method: str) -> None:
    fo, frames, track = crossing
    hit = total = 0
    for t in segment_targets(lambda: iter(frames), track.shifts, method=method):
        cover = fo.person[t.index]
        if cover is None:  # no person: little beyond the warp border is masked
            assert (~t.mask & border_mask(t.mask.shape, t.shift)).mean() < 0.02
            continue
        on = cover > 0.5
        hit += int((~t.mask[on]).sum())
        total += int(on.sum())
        # the target shows the empty scene there: it is right outside the mask
        if on.sum() > 500:
            assert t.objects >= 1
            assert aligned_psnr(t.image, fo.truth[t.index], mask=t.mask).psnr > 33.0
    assert total > 0 and hit / total >= 0.9, hit / total


def test_rain_streaks_alone_are_not_masked(tmp_path) -> None:
    fo = footage(24, seed=5, rain=0.8)
    frames = through_h264(fo.frames, tmp_path / "rain.mp4")
    track = estimate_motion(frames)
    for t in segment_targets(lambda: iter(frames), track.shifts, method="lowrank"):
        objects = moving_objects(frames[t.index], t.image)
        assert objects.fraction < 0.02, (t.index, objects.fraction)
    # the same rain, drawn wider (a 640-px frame, 2-px streaks with defocus): still thin against the opening
    rng = np.random.default_rng(0)
    target = np.full((360, 640, 3), 90, np.uint8)
    for i in range(4):
        layer = rain_layer((360, 640), "streak", np.random.default_rng(100 + i))
        rainy = np.clip(target + 255.0 * 0.8 * layer[..., None] + rng.normal(0, 1.5, target.shape), 0, 255)
        assert moving_objects(rainy.astype(np.uint8), target).fraction < 0.02


def test_dark_and_bright_blobs_are_objects_thin_lines_are_not() -> None:
    target = np.full((240, 320, 3), 120, np.uint8)
    frame = target.copy()
    frame[100:160, 40:70] = 30  # a dark figure
    frame[20:60, 200:260] = 230  # a bright car
    frame[:, 150:151] = 255  # a one-pixel streak the whole height
    frame[170:230, 280:282] = 250  # a two-pixel streak
    found = moving_objects(frame, target)
    assert found.count == 2
    assert found.objects[100:160, 40:70].all() and found.objects[20:60, 200:260].all()
    assert not found.objects[:, 150].any() and not found.objects[170:230, 280:282].any()
    assert found.objects[98, 55] and not found.objects[60:90, 120].any()  # dilated a little, not far
    mask, objects = validity_mask(frame, target, (1.2, 0.0))
    assert objects.count == 2 and not mask[:2].any() and mask[120, 120]
    assert np.array_equal(mask & ~objects.objects, mask)
    assert border_mask(frame.shape, (0.0, 0.0)).all()
    with pytest.raises(ValueError, match="sizes differ"):
        moving_objects(frame, target[:100])


def test_the_score_counts_only_the_masked_pixels() -> None:
    rng = np.random.default_rng(2)
    truth = rng.uniform(40, 200, (120, 160, 3)).astype(np.float32)
    target = truth + rng.normal(0, 1.0, truth.shape).astype(np.float32)
    target[50:80, 60:100] = 20.0  # a wrong patch (a passer-by the target does not show)
    mask = np.ones(truth.shape[:2], bool)
    mask[45:85, 55:105] = False
    whole = aligned_psnr(target, truth, border=10).psnr
    inside = aligned_psnr(target, truth, border=10, mask=mask).psnr
    assert inside > whole + 10.0 and whole < 25.0
    with pytest.raises(ValueError, match="mask is"):
        aligned_psnr(target, truth, mask=mask[:10])
    with pytest.raises(ValueError, match="no pixel"):
        aligned_psnr(target, truth, border=10, mask=np.zeros_like(mask))
