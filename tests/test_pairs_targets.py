"""The segment_targets entry point: one target per frame, masks, methods."""

from __future__ import annotations

import numpy as np
import pytest

from rainset.pairs.targets import METHODS, border_mask, segment_targets


def _frames(n: int = 10, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    bg = rng.integers(30, 220, (60, 80, 3)).astype(np.uint8)
    rain = [(rng.random((60, 80, 1)) < 0.03) * 90 for _ in range(n)]
    return bg, [np.clip(bg.astype(int) + r, 0, 255).astype(np.uint8) for r in rain]


@pytest.mark.parametrize("method", METHODS)
def test_one_target_per_frame_close_to_the_background(method: str) -> None:
    bg, frames = _frames()
    out = list(segment_targets(lambda: iter(frames), np.zeros((len(frames), 2)), method=method))
    assert [t.index for t in out] == list(range(len(frames)))
    for t in out:
        assert t.image.shape == bg.shape and t.image.dtype == np.uint8
        assert t.mask.shape == bg.shape[:2] and t.mask.dtype == bool
        assert np.abs(t.image.astype(int) - bg)[t.mask].mean() < 2.0
        assert abs(t.gain - 1.0) < 0.02


def test_border_mask_covers_the_warp_border() -> None:
    m = border_mask((20, 30, 3), (1.4, -0.2))
    assert not m[:2].any() and not m[-2:].any() and not m[:, :2].any() and not m[:, -2:].any()
    assert m[2:-2, 2:-2].all()
    assert border_mask((5, 5), (0.0, 0.0)).all()


def test_unknown_method_is_refused() -> None:
    _, frames = _frames(3)
    with pytest.raises(ValueError, match="unknown pairs method 'nope'"):
        list(segment_targets(lambda: iter(frames), np.zeros((3, 2)), method="nope"))


@pytest.mark.parametrize("method", METHODS)
def test_kept_frames_give_the_targets_of_a_second_read(method: str, tmp_path) -> None:
    _, frames = _frames(9, seed=3)
    shifts = np.random.default_rng(4).uniform(-1.5, 1.5, (9, 2))
    opened = []

    def open_frames():
        opened.append(1)
        return iter(frames)

    kept = list(segment_targets(open_frames, shifts, method=method, workdir=tmp_path))
    assert len(opened) == 1  # decoded once, the second pass read back from the scratch file
    twice = list(segment_targets(lambda: iter(frames), shifts, method=method, keep_frames=False))
    for a, b in zip(kept, twice, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.gain == b.gain
    assert list(tmp_path.iterdir()) == []  # scratch files gone
