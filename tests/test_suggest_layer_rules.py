"""rules-layer-v1 (rainset.suggest.layer_rules): the rules' tree over chosen measurements, tuned and calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from rainset.suggest.layer_rules import (
    RULES_V4_FEATURES,
    LayerThresholds,
    SplitTest,
    calibrate,
    choose,
    classify_layer,
    fit_split,
    transfer_table,
    tune,
)
from rainset.suggest.rules import RuleDecision, calibrated
from rainset.suggest.shift import Transfer

TAXONOMY = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable")

T = LayerThresholds(tests=(
    SplitTest("fog-mixed / rest", "veil_edges", 0.6, 0.1),
    SplitTest("rain / no-rain", "rl_rain_sign", 0.1, 0.1),
    SplitTest("streak / heavy+drizzle", "rl_rain_persist", 0.5, 0.1),
    SplitTest("heavy / drizzle", "rl_rain_cover", 0.3, 0.1, above=False),
))


def capture(**kw: float) -> dict:
    base = {"veil_edges": 0.3, "rl_rain_sign": 0.5, "rl_rain_persist": 0.2, "rl_rain_cover": 0.6, "droplets": 0.0}
    return base | kw


@pytest.mark.parametrize("values, expected", [
    (capture(veil_edges=0.8), "fog-mixed"),
    (capture(rl_rain_sign=-0.2), "no-rain"),
    (capture(rl_rain_sign=-0.2, droplets=0.2), "not-usable"),
    (capture(rl_rain_persist=0.9), "streak"),
    (capture(rl_rain_cover=0.1), "heavy"),  # below the threshold: the heavy side of this test
    (capture(), "drizzle"),
])
def test_the_tree_decides_on_the_chosen_measurements(values, expected):
    d = classify_layer(values, TAXONOMY, T)
    assert isinstance(d, RuleDecision) and d.rain_type == expected
    assert 0.0 < d.confidence < 1.0 and d.margin >= 0.0 and d.reason


def test_missing_rain_layer_gives_no_decision_and_the_taxonomy_is_respected():
    assert classify_layer({"veil_edges": 0.3}, TAXONOMY, T) is None
    d = classify_layer(capture(rl_rain_persist=0.9), ("drizzle", "heavy", "no-rain"), T)
    assert d is not None and d.rain_type == "drizzle"  # no streak type in this store
    assert classify_layer(capture(veil_edges=0.8), ("no-rain",), T) is None


def test_margin_is_the_closest_test_on_the_path():
    d = classify_layer(capture(rl_rain_persist=0.9, rl_rain_sign=0.15), TAXONOMY, T)
    assert d.rain_type == "streak" and d.margin == pytest.approx(0.5)  # rain_sign 0.05 above 0.1, width 0.1


def test_streak_length_keeps_the_angle_test():
    t = LayerThresholds(tests=(T.tests[0], T.tests[1], SplitTest("streak / heavy+drizzle", "streak_length", 60, 20),
                               T.tests[3]))
    assert classify_layer(capture(streak_length=100, streak_angle=10), TAXONOMY, t).rain_type == "streak"
    assert classify_layer(capture(streak_length=100, streak_angle=80), TAXONOMY, t).rain_type != "streak"


def test_fit_split_finds_the_direction_and_the_threshold():
    rng = np.random.default_rng(0)
    values = [{"x": float(v)} for v in rng.uniform(0, 1, 20)] + [{"x": float(v)} for v in rng.uniform(2, 3, 20)]
    labels = ["heavy"] * 20 + ["drizzle"] * 20
    t = fit_split("x", "heavy / drizzle", values, labels)
    assert t is not None and not t.above and 1.0 < t.threshold < 2.0
    assert t.width == pytest.approx(abs(np.median([v["x"] for v in values[:20]]) -
                                        np.median([v["x"] for v in values[20:]])) / 4, rel=1e-3)
    assert fit_split("missing", "heavy / drizzle", values, labels) is None


def test_choose_takes_the_measurement_that_carries_and_ties_keep_rules_v4():
    fog, rain, streak, heavy = RULES_V4_FEATURES
    rows = [Transfer("veil_edges", fog, 0, 1, 0.95, 0.55), Transfer("rl_rain_cover", fog, 0, 1, 0.80, 0.75),
            Transfer("rl_veil", fog, 0, 1, 0.75, 0.75), Transfer("contrast", fog, 0, 1, 1.0, 1.0),
            Transfer("rain_sign", rain, 0, 1, 0.9, 0.9), Transfer("rl_veil", rain, 0, 1, 0.9, 0.9),
            Transfer("streak_length", streak, 0, 1, 0.6, 0.5), Transfer("rl_veil", streak, 0, -1, 0.7, 0.6),
            Transfer("rain_spots_half", heavy, 0, 1, 0.7, 0.7), Transfer("rl_rain_spots_half", heavy, 0, 1, 0.7, 0.8),
            Transfer("veil_edges", heavy, 0, 1, 0.99, 0.99)]  # another split's own measurement: no candidate here
    assert choose(rows) == {fog: "rl_rain_cover",  # min 0.75 beats 0.55; contrast is no candidate
                            rain: "rain_sign", streak: "rl_veil", heavy: "rain_spots_half"}  # ties keep rules-v4's


def synthetic(n: int, shift: float, seed: int) -> tuple[list[dict], list[str]]:
    """Captures whose types separate on rl_a always and on rl_b only when ``shift`` is 0."""
    rng = np.random.default_rng(seed)
    values, labels = [], []
    centre = {"fog-mixed": 4, "no-rain": -1, "streak": 3, "heavy": 2, "drizzle": 1}
    for rain_type, c in centre.items():
        for _ in range(n):
            values.append({"veil_edges": 0.9 if rain_type == "fog-mixed" else 0.3,
                           "rain_sign": float(rng.normal(c, 0.1)), "streak_length": float(rng.normal(c, 0.1)), "streak_angle": 0.0,
                           "rain_spots_half": float(rng.normal(c, 0.1)),
                           "rl_rain_persist": float(rng.normal(c, 0.1)),
                           "rl_rain_cover": float(rng.normal(c + (shift if c >= 2 else 0), 0.1))})
            labels.append(rain_type)
    return values, labels


def test_tuned_and_calibrated_rules_on_synthetic_sets():
    r1, l1 = synthetic(10, 0.0, 1)
    r2, l2 = synthetic(10, -1.5, 2)  # rl_rain_cover moves with the "renderer"
    table = transfer_table(["rl_rain_persist", "rl_rain_cover", *RULES_V4_FEATURES.values()], r1, l1, r2, l2)
    cover = [r for r in table if r.feature == "rl_rain_cover" and r.split == "heavy / drizzle"][0]
    assert cover.tuning == 1.0 and cover.test < 0.6
    chosen = choose(table)
    assert chosen["heavy / drizzle"] != "rl_rain_cover"
    t = tune(r1, l1, chosen)
    assert [x.feature for x in t.tests] == [chosen[s] for s in RULES_V4_FEATURES]
    assert LayerThresholds.from_dict(t.to_dict()) == t
    cal = calibrate([("one", r1, l1), ("two", r2, l2)], TAXONOMY, t)
    assert {e[3] for e in cal.by_type} == {"one", "two"} and LayerThresholds.from_dict(cal.to_dict()) == cal
    right = [classify_layer(v, TAXONOMY, cal).rain_type == lab for v, lab in zip(r2, l2)]
    assert np.mean(right) > 0.9
    assert calibrated(2.0, cal, "heavy") == min(
        calibrated(2.0, LayerThresholds(tests=cal.tests, by_type=(e,)), "heavy") for e in cal.by_type if e[0] == "heavy")
