"""The suggestion classifiers on hand-made measurements: the rules, the fitted model, the features."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.errors import ConfigError
from rainset.suggest.evaluate import scores
from rainset.suggest.features import feature_names, matrix, merge_sources, vector
from rainset.suggest.model import MIN_PER_CLASS, SoftmaxModel, fit_model
from rainset.suggest.rules import RULES_V2, RULES_V3, RULES_V4, RULES_V5, THRESHOLDS, calibrated, classify
from rainset.suggest.tuning import calibrate_by_type
from rainset.suggestions import UNSURE_BELOW

TAXONOMY = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure")
T = THRESHOLDS


def stats(**kw: float | None) -> dict[str, float | None]:
    """A measurement dict sitting in the 'drizzle' region of every rule unless overridden."""
    base = {"streak_density": 0.1, "streak_angle": 8.0, "streak_length": T.streak_min / 3, "streak_coherence": 0.4,
            "veil": 0.3, "droplets": 0.0, "night": 0.1, "luminance": 0.45, "contrast": 0.15,
            "rain_sign": T.rain_min + 3 * T.rain_width, "rain_spots_half": T.heavy_min / 3,
            "veil_edges": T.fog_min - 3 * T.fog_width}
    return {**base, **kw}


@pytest.mark.parametrize("values, expected", [
    (stats(), "drizzle"),
    (stats(rain_sign=T.rain_min - 3 * T.rain_width), "no-rain"),
    (stats(rain_sign=T.rain_min - 3 * T.rain_width, droplets=T.droplets_min * 1.5), "not-usable"),
    (stats(veil_edges=T.fog_min + 3 * T.fog_width), "fog-mixed"),
    (stats(streak_length=T.streak_min + 3 * T.streak_width), "streak"),
    (stats(rain_spots_half=T.heavy_min + 3 * T.heavy_width), "heavy"),
    # order: a veil wins over no rain and long streaks, long streaks over dense rain
    (stats(veil_edges=T.fog_min * 1.2, rain_sign=-0.5, streak_length=T.streak_min * 2), "fog-mixed"),
    (stats(streak_length=T.streak_min * 2, rain_spots_half=T.heavy_min * 2), "streak"),
    # long but near-horizontal structures are scene edges, not rain streaks
    (stats(streak_length=T.streak_min * 2, streak_angle=-(T.angle_max + 3 * T.angle_width)), "drizzle"),
])
def test_rules_pick_the_documented_type(values: dict, expected: str) -> None:
    decision = classify(values, TAXONOMY)
    assert decision is not None and decision.rain_type == expected
    assert 0.0 < decision.confidence < 1.0 and decision.reason


def test_rule_confidence_is_a_calibrated_probability_of_the_margin() -> None:
    near = classify(stats(veil_edges=T.fog_min + 0.01 * T.fog_width), TAXONOMY)
    far = classify(stats(veil_edges=T.fog_min + 5 * T.fog_width), TAXONOMY)
    assert near.rain_type == far.rain_type == "fog-mixed"
    assert near.margin == pytest.approx(0.01, abs=1e-3) and far.margin == pytest.approx(5, abs=1e-3)
    assert near.confidence == pytest.approx(calibrated(near.margin, T, "fog-mixed"), abs=1e-4)
    assert far.confidence > near.confidence  # a larger margin is more often right, on both renderers
    # rules-v5 (``min``): each decided type is as sure as on the calibration set where it is least
    # reliable (rules-v6, the default, pools the renderers instead: tests/test_suggest_calibration6.py)
    for rain_type in ("drizzle", "heavy", "streak", "fog-mixed", "no-rain"):
        own = [(a, b) for kind, a, b, _ in RULES_V5.by_type if kind == rain_type]
        assert len(own) == 2, rain_type  # renderer 1 and the renderer-2 tuning set
        for m in (0.0, 1.0, 3.0):
            lowest = min(1 / (1 + math.exp(-(a + b * m))) for a, b in own)
            assert calibrated(m, RULES_V5, rain_type) == pytest.approx(min(0.999, lowest))
    # renderer 2 sends streak and drizzle to the wrong rule: on a threshold, rules-v5 shows neither
    streak = classify(stats(streak_length=T.streak_min + 0.01 * T.streak_width), TAXONOMY, RULES_V5)
    assert streak.rain_type == "streak" and streak.confidence < UNSURE_BELOW
    assert calibrated(0.0, RULES_V5, "drizzle") < UNSURE_BELOW
    # on a threshold a streak decision is unsure under every calibration (right half the time or less)
    assert classify(stats(streak_length=T.streak_min + 0.01 * T.streak_width), TAXONOMY).confidence < UNSURE_BELOW
    # rules-v4 sent renderer 2's streaks to heavy too; rules-v5's heavy needs splashes, and is shown
    assert calibrated(0.0, RULES_V4, "heavy") < UNSURE_BELOW <= calibrated(0.0, T, "heavy")
    # a type without per-type entries falls back to the global calibration
    assert calibrated(1.0, T, "not-usable") == pytest.approx(calibrated(1.0, RULES_V3))


def test_calibrate_by_type_makes_a_type_wrong_on_one_set_unsure() -> None:
    taxonomy = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")
    rng = np.random.default_rng(0)
    heavy = [stats(rain_spots_half=T.heavy_min + rng.uniform(0.5, 3) * T.heavy_width) for _ in range(40)]
    fog = [stats(veil_edges=T.fog_min + rng.uniform(0.5, 3) * T.fog_width) for _ in range(40)]
    values = heavy + fog
    # set "a": every decision right; set "b": the heavy decisions are drizzle in truth
    t = calibrate_by_type([("a", values, ["heavy"] * 40 + ["fog-mixed"] * 40),
                           ("b", values, ["drizzle"] * 40 + ["fog-mixed"] * 40)], taxonomy, RULES_V3)
    assert {(kind, name) for kind, _, _, name in t.by_type} == {("heavy", "a"), ("heavy", "b"),
                                                                ("fog-mixed", "a"), ("fog-mixed", "b")}
    assert classify(heavy[0], taxonomy, t).confidence < 0.2  # wrong on one set: unsure everywhere
    assert classify(fog[0], taxonomy, t).confidence > 0.8  # right on both: sure
    assert classify(heavy[0], taxonomy, RULES_V3).confidence > 0.6  # the single calibration claimed it sure


def test_rules_v2_decide_heavy_on_full_resolution_spots() -> None:
    values = stats(rain_spots=RULES_V2.heavy_min * 2, rain_spots_half=0.0)
    assert classify(values, TAXONOMY, RULES_V2).rain_type == "heavy"
    assert classify(values, TAXONOMY, RULES_V3).rain_type == "drizzle"
    assert RULES_V2.heavy_feature == "rain_spots" and T.heavy_feature == RULES_V3.heavy_feature == "rain_spots_half"


def test_rules_follow_the_taxonomy_and_missing_values() -> None:
    # a store without fog-mixed: the veiled frame falls to the next rule that holds
    hazy = stats(veil_edges=T.fog_min * 1.2, rain_spots_half=T.heavy_min * 2)
    assert classify(hazy, [t for t in TAXONOMY if t != "fog-mixed"]).rain_type == "heavy"
    # measurements older than ALGO_VERSION 3 (no rain_sign): no suggestion rather than a guess
    assert classify(stats(rain_sign=None), TAXONOMY) is None
    only = classify({"rain_sign": T.rain_min + T.rain_width}, TAXONOMY)
    assert only.rain_type == "drizzle" and any("not measured" in r for r in only.reason)
    # 'unsure' is never a rule's answer
    assert classify(stats(), ("unsure",)) is None


@settings(max_examples=60, deadline=None)
@given(st.floats(-1, 1), st.floats(-90, 90), st.floats(0, 400), st.floats(0, 1), st.floats(0, 0.2), st.floats(0, 1))
def test_rules_always_answer_a_taxonomy_type(sign: float, angle: float, length: float, veil: float, spots: float,
                                             drops: float) -> None:
    d = classify(stats(rain_sign=sign, streak_angle=angle, streak_length=length, veil_edges=veil, rain_spots_half=spots,
                       droplets=drops), TAXONOMY)
    assert d is not None and d.rain_type in TAXONOMY and d.rain_type != "unsure" and 0 < d.confidence < 1


def test_features_transform_angle_length_and_missing() -> None:
    names = ("streak_angle", "streak_length", "veil")
    v = vector({"streak_angle": -30.0, "streak_length": math.e - 1, "veil": None}, names)
    assert v[0] == 30.0 and v[1] == pytest.approx(1.0) and math.isnan(v[2])
    assert list(vector({}, names)[:2]) == [0.0, 0.0]  # no streaks: angle and length 0
    merged = merge_sources({"veil": 0.2}, {"veil": 0.7})
    assert feature_names([merged], rain_layer=True) == ("veil", "rl_veil")
    assert feature_names([merged]) == ("veil",)
    with pytest.raises(ValueError, match="unknown feature"):
        vector({}, ["nope"])


def _blobs(rng: np.random.Generator, per_class: int, classes: list[str], spread: float) -> tuple[np.ndarray, list[str]]:
    centres = rng.normal(0, 3, (len(classes), 4))
    x = np.vstack([rng.normal(c, spread, (per_class, 4)) for c in centres])
    return x, [c for c in classes for _ in range(per_class)]


def test_fitted_model_separates_separable_classes_and_round_trips() -> None:
    rng = np.random.default_rng(7)
    classes = ["drizzle", "heavy", "streak", "no-rain"]
    x, y = _blobs(rng, 40, classes, 0.5)
    model = fit_model(x, y, ["a", "b", "c", "d"], TAXONOMY)
    assert set(model.classes) == set(classes) and model.cv_accuracy >= 0.95
    xt, yt = _blobs(np.random.default_rng(7), 40, classes, 0.5)  # same centres, new draws below
    xt = xt + np.random.default_rng(8).normal(0, 0.1, xt.shape)
    pred = [model.classes[i] for i in model.predict_proba(xt).argmax(1)]
    assert scores(yt, pred, classes).accuracy >= 0.95
    p = model.predict_proba(xt)
    assert np.allclose(p.sum(1), 1.0) and p.max(1).mean() > 0.8
    again = SoftmaxModel.from_dict(model.to_dict())
    assert again.model_id == model.model_id and np.allclose(again.predict_proba(xt), p)
    assert len(model.describe()) == 2 + 4 + 1  # header, column names, one line per feature, intercepts


def test_fitted_model_probabilities_are_calibrated_on_overlapping_classes() -> None:
    rng = np.random.default_rng(3)
    x, y = _blobs(rng, 150, ["drizzle", "heavy"], 2.5)  # strongly overlapping
    model = fit_model(x, y, list("abcd"), TAXONOMY, groups=[str(i // 10) for i in range(len(y))])
    xt, yt = _blobs(np.random.default_rng(3), 150, ["drizzle", "heavy"], 2.5)
    xt = xt + np.random.default_rng(4).normal(0, 0.5, xt.shape)
    p = model.predict_proba(xt)
    pred = np.array(model.classes)[p.argmax(1)]
    confident = p.max(1)
    # mean confidence within 0.1 of the accuracy it claims
    assert abs(confident.mean() - (pred == np.array(yt)).mean()) < 0.1


def test_fitted_model_refuses_too_few_labels_and_skips_small_classes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 2))
    few = ["heavy"] * MIN_PER_CLASS + ["drizzle"] * (MIN_PER_CLASS - 1) + ["streak"] * 3
    with pytest.raises(ConfigError, match="too few labels"):
        fit_model(x, few, ["a", "b"], TAXONOMY)
    ok = ["heavy"] * 5 + ["drizzle"] * 5 + ["unsure"] * 2
    model = fit_model(x, ok, ["a", "b"], TAXONOMY)
    assert model.classes == ("drizzle", "heavy") and model.n_train == 10  # 'unsure' is never learnt
    outside = ["heavy"] * 6 + ["sleet"] * 6  # not in the taxonomy
    with pytest.raises(ConfigError):
        fit_model(x, outside, ["a", "b"], TAXONOMY)
    with pytest.raises(ConfigError, match="shape"):
        fit_model(x, ok[:5], ["a", "b"], TAXONOMY)


def test_scores_confusion_matrix() -> None:
    s = scores(["a", "a", "b", "b"], ["a", "b", "b", None], ["a", "b"])
    assert s.accuracy == 0.5 and s.confusion == [[1, 1], [0, 1]] and s.per_class_recall == {"a": 0.5, "b": 0.5}


def test_feature_matrix_of_nothing() -> None:
    assert matrix([], ["veil"]).shape == (0, 1)
