"""Calibration round 6 (docs/suggestions.md): rules-v6 is rules-v5's decisions with ``pooled`` confidences."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from rainset.suggest.rules import RULES_MODEL, RULES_V5, RULES_V6, THRESHOLDS, calibrated, classify
from rainset.suggest.tuning import calibrate_pooled
from rainset.suggest.validation import RAIN_TYPES, renderer1_set, renderer2_set
from rainset.suggestions import UNSURE_BELOW

TAXONOMY = (*RAIN_TYPES, "not-usable")
T = RULES_V6


def random_values(n: int, seed: int) -> list[dict]:
    """Measurements spread over every rule's threshold (each drawn within ±3 widths of it)."""
    rng = np.random.default_rng(seed)

    def around(threshold: float, width: float) -> float:
        return float(threshold + rng.uniform(-3, 3) * width)
    return [{"veil_edges": around(T.fog_min, T.fog_width), "rain_sign": around(T.rain_min, T.rain_width),
             "droplets": around(T.droplets_min, T.droplets_width),
             "streak_length": around(T.streak_min, T.streak_width),
             "streak_angle": around(T.angle_max, T.angle_width) * float(rng.choice([-1, 1])),
             "rain_spots_half": around(T.heavy_min, T.heavy_width),
             "splash_tilt": around(T.splash_max, T.splash_width)} for _ in range(n)]


def test_rules_v6_is_the_default_and_keeps_rules_v5s_thresholds() -> None:
    assert RULES_MODEL == "rules-v6" and THRESHOLDS is RULES_V6
    assert replace(RULES_V6, by_type=()) == replace(RULES_V5, by_type=())
    assert RULES_V6.by_type != RULES_V5.by_type


def test_rules_v6_decide_as_rules_v5_with_other_confidences() -> None:
    values = random_values(400, seed=1)
    v5 = [classify(v, TAXONOMY, RULES_V5) for v in values]
    v6 = [classify(v, TAXONOMY) for v in values]
    assert [(d.rain_type, d.margin, d.reason) for d in v6] == [(d.rain_type, d.margin, d.reason) for d in v5]
    assert {d.rain_type for d in v6} >= set(RAIN_TYPES)  # every rule was reached
    assert any(a.confidence != b.confidence for a, b in zip(v5, v6))


def test_rules_v6_claim_one_pooled_sigmoid_per_type() -> None:
    kinds = [kind for kind, _, _, _ in T.by_type]
    assert sorted(kinds) == sorted(RAIN_TYPES) and len(set(kinds)) == len(kinds)
    assert all(source.startswith("pooled ") for _, _, _, source in T.by_type)
    for kind, a, b, _ in T.by_type:
        for m in (0.0, 1.0, 3.0):
            assert calibrated(m, T, kind) == pytest.approx(min(0.999, 1 / (1 + math.exp(-(a + b * m)))))
    # a streak decision on its threshold is still not shown
    assert calibrated(0.0, T, "streak") < UNSURE_BELOW


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_rules_v6_confidences_are_what_pooled_fits_on_the_fitting_data() -> None:
    # rules-v5's fitting data (bench/suggest_calibration6.py): renderer 1 seed 1, renderer-2 seeds 940001 + 940002
    r1 = renderer1_set(16, seed=1)
    r2 = [renderer2_set(10, seed=s, captures_per_scene=2) for s in (940001, 940002)]
    fit = [("renderer-1 seed 1", r1.values, r1.labels),
           ("renderer-2 seeds 940001+940002", r2[0].values + r2[1].values, r2[0].labels + r2[1].labels)]
    refit = calibrate_pooled(fit, TAXONOMY, RULES_V5)
    assert [(k, s) for k, _, _, s in refit.by_type] == [(k, s) for k, _, _, s in T.by_type]
    for (_, a, b, _), (_, a6, b6, _) in zip(refit.by_type, T.by_type):
        assert (a, b) == pytest.approx((a6, b6), abs=2e-3)
    assert replace(refit, by_type=()) == replace(T, by_type=())
