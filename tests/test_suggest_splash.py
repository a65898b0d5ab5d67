"""Round 5 (docs/suggestions.md): the splash measurement and rules-v5's split of rule 4 by it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rainset.rainstats import measure
from rainset.rainstats.splash import BOTTOM, splash_stats
from rainset.suggest.rules import RULES_V4, RULES_V5, THRESHOLDS, calibrated, classify
from rainset.suggest.validation import RAIN_TYPES

TAXONOMY = (*RAIN_TYPES, "not-usable")


def noisy(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(0.4 + 0.01 * rng.standard_normal((h, w)), 0, 1).astype(np.float32)


def add_marks(y: np.ndarray, rng: np.random.Generator, n: int, long: int, horizontal: bool, rows: tuple[int, int],
              level: float = 0.06) -> np.ndarray:
    """``n`` bright 1-px marks ``long`` px long, horizontal (splash arcs) or vertical (rain), in ``rows``."""
    h, w = y.shape
    for _ in range(n):
        r, c = int(rng.integers(*rows)), int(rng.integers(0, w - long))
        if horizontal:
            y[r, c:c + long] += level
        else:
            r = min(r, h - long)
            y[r:r + long, c] += level
    return np.clip(y, 0, 1)


def test_noise_alone_has_no_tilt():
    s = splash_stats(noisy(480, 640, 0))
    assert abs(s.splash_tilt) < 0.1


def test_flat_marks_on_the_ground_read_as_splashes_and_rain_everywhere_cancels():
    rng = np.random.default_rng(1)
    h, w = 480, 640
    ground = (int(h * (1 - BOTTOM)), h)
    rain = add_marks(noisy(h, w, 2), rng, 900, 12, horizontal=False, rows=(0, h))
    splashed = add_marks(rain.copy(), rng, 250, 9, horizontal=True, rows=ground)
    assert splash_stats(splashed).splash_tilt > 0.3
    assert abs(splash_stats(rain).splash_tilt) < 0.15  # vertical rain over the whole frame: no splash
    # the same rain on the ground only would tilt the other way: the measure compares bottom and rest
    only_ground = add_marks(noisy(h, w, 3), rng, 300, 12, horizontal=False, rows=ground)
    assert splash_stats(only_ground).splash_tilt < -0.3


def test_large_frames_are_binned_and_read_alike():
    rng = np.random.default_rng(4)
    small = add_marks(noisy(600, 800, 5), rng, 200, 9, horizontal=True, rows=(480, 600))
    big = np.kron(small, np.ones((2, 2), np.float32))  # 1600×1200, binned back to 800×600
    assert splash_stats(big).splash_tilt == pytest.approx(splash_stats(small).splash_tilt, abs=0.05)
    huge = np.kron(small, np.ones((5, 5), np.float32))  # 4000×3000 (a 12-MP original), binned 5×5 to 800×600
    assert splash_stats(huge).splash_tilt == pytest.approx(splash_stats(small).splash_tilt, abs=0.05)


def test_measure_stores_the_splash_measurement():
    rgb = np.repeat((noisy(120, 160, 6) * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    values = measure(rgb).to_dict()
    assert "splash_tilt" in values and values["splash_tilt"] is not None and math.isfinite(values["splash_tilt"])


RAIN = {"veil_edges": 0.3, "rain_sign": 0.3, "streak_length": 0.0, "streak_angle": None, "droplets": 0.0}


@pytest.mark.parametrize("splash, v5, v4", [(-0.4, "streak", "heavy"), (0.5, "heavy", "heavy"),
                                            (None, "heavy", "heavy")])
def test_rules_v5_split_rule_4_by_splashes(splash, v5, v4):
    values = {**RAIN, "rain_spots_half": 0.01, "splash_tilt": splash}
    assert classify(values, TAXONOMY, RULES_V5).rain_type == v5
    assert classify(values, TAXONOMY).rain_type == v5  # the default (rules-v6) decides as rules-v5
    assert THRESHOLDS.splash_max == RULES_V5.splash_max
    assert classify(values, TAXONOMY, RULES_V4).rain_type == v4


def test_rules_v5_leave_drizzle_and_long_streaks_alone():
    drizzle = {**RAIN, "rain_spots_half": 0.0, "splash_tilt": -0.4}
    assert classify(drizzle, TAXONOMY).rain_type == "drizzle"
    long_streak = {**RAIN, "streak_length": 150.0, "streak_angle": 10.0, "rain_spots_half": 0.01, "splash_tilt": 0.5}
    assert classify(long_streak, TAXONOMY).rain_type == "streak"
    assert "splash_tilt" not in " ".join(classify(long_streak, TAXONOMY).reason)


def test_rules_v5_heavy_is_as_sure_as_its_splashes():
    t = RULES_V5
    heavy = {**RAIN, "rain_spots_half": 0.05}
    near = classify({**heavy, "splash_tilt": t.splash_max + 0.1 * t.splash_width}, TAXONOMY, t)
    far = classify({**heavy, "splash_tilt": t.splash_max + 3 * t.splash_width}, TAXONOMY, t)
    assert near.rain_type == far.rain_type == "heavy"
    assert near.margin == pytest.approx(0.1, abs=1e-3) and near.confidence < far.confidence
    assert far.confidence == pytest.approx(calibrated(far.margin, t, "heavy"), abs=1e-4)


def test_only_rules_v5_store_the_splash_threshold():
    assert RULES_V5.to_dict()["splash_max"] == pytest.approx(0.0162)
    assert "splash_max" not in RULES_V4.to_dict() and "splash_width" not in RULES_V4.to_dict()


def test_a_frame_too_small_for_the_bands_is_not_measured():
    s = splash_stats(noisy(30, 60, 7))  # the bottom fifth is 6 rows, all in the 7-px border
    assert math.isnan(s.splash_tilt) and math.isnan(s.splash_bottom)
