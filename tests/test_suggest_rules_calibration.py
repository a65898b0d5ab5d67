"""Calibration round 3 (docs/suggestions.md): the rules' confidences from several renderers pooled,
each renderer weighted equally; isotonic steps; one constant per type; the ECE's sampling floor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rainset.suggest.rules import RULES_V3, RULES_V4, calibrated, classify
from rainset.suggest.tuning import (
    calibrate_isotonic,
    calibrate_pooled,
    calibrate_type_prior,
    isotonic_steps,
    renderer_decisions,
)
from rainset.suggest.validation import (
    RAIN_TYPES,
    RulesScore,
    choose_calibration,
    ece_floor,
    expected_calibration_error,
)

TAXONOMY = (*RAIN_TYPES, "not-usable")
T = RULES_V3


def fog_captures(margins: np.ndarray, right: np.ndarray) -> tuple[list[dict], list[str]]:
    """Measurements the rules decide ``fog-mixed`` at exactly these margins; labelled fog-mixed where
    ``right``, else heavy."""
    values = [{"rain_sign": 0.3, "veil_edges": T.fog_min + float(m) * T.fog_width} for m in margins]
    labels = ["fog-mixed" if r else "heavy" for r in right]
    return values, labels


def logistic_draw(n: int, a: float, b: float, seed: int) -> tuple[list[dict], list[str]]:
    rng = np.random.default_rng(seed)
    m = rng.uniform(0, 4, n)
    right = rng.random(n) < 1 / (1 + np.exp(-(a + b * m)))
    return fog_captures(m, right)


def test_synthetic_captures_are_decided_at_their_margin() -> None:
    values, _ = fog_captures(np.array([0.0, 1.5, 3.0]), np.array([True] * 3))
    margins = [classify(v, TAXONOMY, T).margin for v in values]
    assert [classify(v, TAXONOMY, T).rain_type for v in values] == ["fog-mixed"] * 3
    assert margins == pytest.approx([0.0, 1.5, 3.0], abs=1e-3)


def test_pooled_calibration_recovers_a_known_logistic_from_two_renderers() -> None:
    # both renderers draw from the same sigmoid(-1 + 1.2·margin), one with 5 times the captures
    v1, l1 = logistic_draw(4000, -1.0, 1.2, seed=1)
    v2, l2 = logistic_draw(800, -1.0, 1.2, seed=2)
    t = calibrate_pooled([("r1", v1, l1), ("r2", v2, l2)], TAXONOMY, T, l2=0.0, prior=0)
    (kind, a, b, source), = t.by_type
    assert kind == "fog-mixed" and source == "pooled r1 + r2"
    assert a == pytest.approx(-1.0, abs=0.15) and b == pytest.approx(1.2, abs=0.15)
    assert calibrated(2.0, t, "fog-mixed") == pytest.approx(1 / (1 + math.exp(-(a + 2 * b))), abs=1e-9)


def test_each_renderer_weighs_the_same_whatever_its_size() -> None:
    # renderer 1: 1000 fog decisions, all right; renderer 2: 100, all wrong -> half right
    v1, l1 = fog_captures(np.full(1000, 1.0), np.ones(1000, bool))
    v2, l2 = fog_captures(np.full(100, 1.0), np.zeros(100, bool))
    sets = [("r1", v1, l1), ("r2", v2, l2)]
    d = renderer_decisions(sets, TAXONOMY, T)["fog-mixed"]
    assert d.renderers == ("r1", "r2") and d.weight.sum() == pytest.approx(1100)
    assert np.sum(d.weight[:1000]) == pytest.approx(np.sum(d.weight[1000:]))
    prior = calibrate_type_prior(sets, TAXONOMY, T)
    assert calibrated(0.0, prior, "fog-mixed") == pytest.approx(0.5, abs=1e-3)
    assert calibrated(3.0, prior, "fog-mixed") == calibrated(0.0, prior, "fog-mixed")  # margin ignored
    # the same two renderers unweighted would claim 1000/1100
    alone = calibrate_type_prior([("r", v1 + v2, l1 + l2)], TAXONOMY, T)
    assert calibrated(0.0, alone, "fog-mixed") == pytest.approx(1001 / 1102, abs=1e-3)


def test_isotonic_steps_are_monotone_merged_and_smoothed() -> None:
    m = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 1.0, 1.1, 1.2, 1.3, 1.4, 2.0, 2.1, 2.2, 2.3, 2.4, 5.0])
    y = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0], float)
    steps = isotonic_steps(m, y, min_weight=5)
    starts = [s for s, _ in steps]
    probs = [p for _, p in steps]
    assert starts[0] == 0.0 and starts == sorted(starts)
    assert probs == sorted(probs) and all(0 < p < 1 for p in probs)
    # the lone wrong decision at margin 5 is pooled with its neighbours, not a step of its own at 0
    assert probs[-1] > 0.7
    # every step holds at least 5 decisions: here 16 decisions, so at most 3 steps
    assert 1 < len(steps) <= 3
    # (right + 1) / (decisions + 2) of one single step when everything is pooled
    one = isotonic_steps(m, y, min_weight=100)
    assert one == [(0.0, pytest.approx((y.sum() + 1) / (len(y) + 2)))]


def test_isotonic_calibration_is_read_as_steps() -> None:
    values, labels = fog_captures(np.array([0.2] * 10 + [2.0] * 10), np.array([False] * 6 + [True] * 14))
    t = calibrate_isotonic([("r1", values, labels)], TAXONOMY, T)
    assert not t.by_type and {k for k, _, _ in t.steps} == {"fog-mixed"}
    low, high = calibrated(0.2, t, "fog-mixed"), calibrated(2.5, t, "fog-mixed")
    assert low == pytest.approx(5 / 12, abs=1e-3) and high == pytest.approx(11 / 12, abs=1e-3)
    assert classify(values[-1], TAXONOMY, t).confidence == pytest.approx(11 / 12, abs=1e-3)
    assert "steps" in t.to_dict()
    # steps are read in margin order whatever order they are stored in
    shuffled = T.__class__(steps=(("heavy", 1.0, 0.8), ("heavy", 0.0, 0.2)))
    assert calibrated(0.5, shuffled, "heavy") == 0.2 and calibrated(2.0, shuffled, "heavy") == 0.8


def test_older_rules_keep_their_stored_dict() -> None:
    assert "steps" not in RULES_V4.to_dict() and "by_type" in RULES_V4.to_dict()


def test_ece_floor_is_what_chance_alone_gives_a_calibrated_classifier() -> None:
    assert ece_floor([1.0] * 40) == 0.0
    small, large = ece_floor([0.7] * 40), ece_floor([0.7] * 4000)
    assert small > 0.03 > large  # about 0.8·sqrt(0.21 / n)
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.3, 1.0, 40)
    measured = [expected_calibration_error(conf, rng.random(40) < conf) for _ in range(300)]
    assert float(np.mean(measured)) == pytest.approx(ece_floor(conf), abs=0.02)


def score(ece: float, shown_accuracy: float, overconfidence: float, shown_right: float = 0.4) -> RulesScore:
    return RulesScore("set", 120, 120, 0.6, 0.6, {}, [], (), ece, 0.6, 0.5, shown_accuracy, 0.5, shown_right,
                      0.0, overconfidence)


def test_the_criterion_never_buys_calibration_error_with_confident_wrong_answers() -> None:
    scores = {"v4": score(0.15, 0.98, 0.03), "wrong-but-calibrated": score(0.05, 0.80, 0.04),
              "overconfident": score(0.06, 0.95, 0.08), "better": score(0.11, 0.95, 0.02, 0.45),
              "as-good": score(0.115, 0.96, 0.01, 0.50)}
    choice = choose_calibration(scores, "v4", ["wrong-but-calibrated", "overconfident", "better", "as-good"])
    assert choice.eligible == ("better", "as-good")
    assert choice.best == "as-good" and choice.default == "as-good"  # within 0.01 ECE: more shown and right
    assert choice.gain == pytest.approx(0.035)
    # a gain under 0.02 keeps the baseline
    small = choose_calibration({**scores, "as-good": score(0.14, 0.96, 0.01)}, "v4", ["as-good"])
    assert small.best == "as-good" and small.default == "v4"
    assert choose_calibration(scores, "v4", ["overconfident"]).default == "v4"
