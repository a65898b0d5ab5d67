"""The issue's scoring protocol (rainset.pairs.score): translation + gain alignment, 24-px border."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rainset.pairs.score import aligned_psnr
from tests.pairs_helpers import moved
from tests.video_helpers import background


def test_alignment_undoes_a_shift_and_a_gain():
    truth = background().astype(np.float32)
    target = np.clip(moved(truth, 1.4, -0.6) * 1.05, 0, 255)
    raw_mse = float(np.mean((target[24:-24, 24:-24] - truth[24:-24, 24:-24]) ** 2))
    raw = 10 * math.log10(255**2 / raw_mse)
    s = aligned_psnr(target, truth)
    assert abs(s.dx - 1.4) < 0.2 and abs(s.dy + 0.6) < 0.2
    assert abs(s.gain - 1 / 1.05) < 0.01
    assert s.psnr > raw + 8.0 and s.border == 24


def test_psnr_of_known_noise():
    rng = np.random.default_rng(0)
    truth = background().astype(np.float32)
    noisy = truth + rng.normal(0, 4.0, truth.shape).astype(np.float32)
    s = aligned_psnr(noisy, truth)
    assert abs(s.psnr - 20 * math.log10(255 / 4.0)) < 0.3
    assert math.isinf(aligned_psnr(truth, truth).psnr)


def test_the_border_is_left_out():
    truth = background().astype(np.float32)
    spoiled = truth.copy()
    spoiled[:20] = 0  # damage only inside the 24-px border
    assert aligned_psnr(spoiled, truth).psnr > 60
    assert aligned_psnr(spoiled, truth, border=4).psnr < 30


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="sizes differ"):
        aligned_psnr(np.zeros((60, 80)), np.zeros((60, 81)))
    with pytest.raises(ValueError, match="nothing inside a 24-px border"):
        aligned_psnr(np.zeros((40, 80)), np.zeros((40, 80)))
