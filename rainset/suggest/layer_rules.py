"""Label-free rules over rain-layer measurements (``rl_``) of the released NLCL G_B (``rules-layer-v1``).

An experiment measured by ``bench/suggest_layer.py``, not used by ``rainset suggest``: its gain over
rules-v4 on unseen rain was within the noise (docs/suggestions.md, "Rain-layer rules (released NLCL)").

The tree of :mod:`rainset.suggest.rules`, one measurement per split (docs/suggestions.md,
"Rain-layer rules (released NLCL)"):

1. fog-mixed / rest → ``fog-mixed``;
2. rain / no-rain: no rain → ``not-usable`` when rules-v4's droplets test holds, else ``no-rain``;
3. streak / heavy + drizzle → ``streak`` (with rules-v4's angle test when the measurement is
   ``streak_length``);
4. heavy / drizzle → ``heavy``;
5. otherwise ``drizzle``.

Each split reads the measurement that carries best from renderer 1 to renderer 2
(:func:`choose`): among the rain-layer measurements (:data:`CANDIDATES`) and rules-v4's own
measurement of that split, the one with the highest min(balanced accuracy on renderer 1, the
same threshold's balanced accuracy on the renderer-2 tuning set). Thresholds, directions and
widths are set on renderer 1 only; confidences as rules-v4's (:func:`calibrate`: per decided type,
the lower of the calibration sets' ``sigmoid(a + b·margin)``). Decisions are
:class:`rainset.suggest.rules.RuleDecision`, as :func:`rainset.suggest.rules.classify` gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from rainset.suggest.features import RAIN_LAYER_PREFIX, number
from rainset.suggest.rules import THRESHOLDS, RuleDecision, _test, walk_tree
from rainset.suggest.shift import SPLITS, Transfer, feature_values, split_balanced
from rainset.suggest.tuning import best_threshold, fit_by_type

LAYER_RULES_MODEL = "rules-layer-v1"
CANDIDATES: tuple[str, ...] = tuple(RAIN_LAYER_PREFIX + k for k in (
    "streak_density", "streak_length", "streak_coherence", "veil", "droplets", "rain_sign", "rain_spots",
    "rain_spots_half", "rain_aniso", "rain_aniso_long", "rain_cover", "rain_persist"))
"""The rain-layer measurements the splits may read (declared in docs/suggestions.md before measuring)."""
RULES_V4_FEATURES: dict[str, str] = {"fog-mixed / rest": "veil_edges", "rain / no-rain": "rain_sign",
                                     "streak / heavy+drizzle": "streak_length", "heavy / drizzle": "rain_spots_half"}
"""rules-v4's own measurement of each split: also a candidate for that split."""


@dataclass(frozen=True)
class SplitTest:
    """One split's test: the split's positive side is ``feature ≥ threshold`` (``< threshold`` unless ``above``)."""

    split: str
    feature: str
    threshold: float
    width: float
    above: bool = True


@dataclass(frozen=True)
class LayerThresholds:
    """The four split tests (in :data:`rainset.suggest.shift.SPLITS` order), rules-v4's droplets and angle
    tests, and the confidence calibration (the fields :func:`rainset.suggest.rules.calibrated` reads)."""

    tests: tuple[SplitTest, ...]
    droplets_min: float = THRESHOLDS.droplets_min
    droplets_width: float = THRESHOLDS.droplets_width
    angle_max: float = THRESHOLDS.angle_max
    angle_width: float = THRESHOLDS.angle_width
    cal_a: float = THRESHOLDS.cal_a
    cal_b: float = THRESHOLDS.cal_b
    by_type: tuple[tuple[str, float, float, str], ...] = ()
    steps: tuple[tuple[str, float, float], ...] = ()  # unused here: rules-v4's calibrations are logistic

    def to_dict(self) -> dict:
        return {"tests": [asdict(t) for t in self.tests], "droplets_min": self.droplets_min,
                "droplets_width": self.droplets_width, "angle_max": self.angle_max, "angle_width": self.angle_width,
                "cal_a": self.cal_a, "cal_b": self.cal_b, "by_type": [list(e) for e in self.by_type]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "LayerThresholds":
        return cls(tests=tuple(SplitTest(**t) for t in data["tests"]),
                   **{k: data[k] for k in ("droplets_min", "droplets_width", "angle_max", "angle_width",
                                           "cal_a", "cal_b")},
                   by_type=tuple(tuple(e) for e in data.get("by_type", ())))


def _split_test(t: SplitTest, values: Mapping[str, object]) -> tuple[bool, float, str]:
    return _test(t.feature, number(values.get(t.feature)), t.threshold, t.width, below=not t.above)


def classify_layer(values: Mapping[str, object], taxonomy: Sequence[str],
                   thresholds: LayerThresholds) -> RuleDecision | None:
    """The layer rules on one capture's merged measurements (frame's and ``rl_``).

    Returns None when the rain / no-rain measurement is missing (no rain layer measured) or no
    rule's rain type is in the taxonomy.
    """
    t = thresholds
    fog_t, rain_t, streak_t, heavy_t = t.tests
    if math.isnan(number(values.get(rain_t.feature))):
        return None
    streak_tests = [_split_test(streak_t, values)]
    if streak_t.feature == "streak_length":
        streak_tests.append(_test("|streak_angle|", abs(number(values.get("streak_angle"))), t.angle_max,
                                  t.angle_width, below=True))
    return walk_tree(values, taxonomy, t, _split_test(fog_t, values), _split_test(rain_t, values),
                     (("streak", streak_tests), ("heavy", [_split_test(heavy_t, values)])))


def fit_split(feature: str, split: str, values: Sequence[Mapping[str, object]],
              labels: Sequence[str]) -> SplitTest | None:
    """The best threshold of ``feature`` for ``split`` on these captures, in whichever direction separates
    better; width a quarter of the distance between the two sides' medians. None when a side is unmeasured."""
    _, pos_types, neg_types = next(s for s in SPLITS if s[0] == split)
    p, n = feature_values(values, labels, feature, pos_types), feature_values(values, labels, feature, neg_types)
    if not p.size or not n.size:
        return None
    up, down = best_threshold(p, n), best_threshold(n, p)
    above = split_balanced(p, n, up, 1) >= split_balanced(p, n, down, -1)
    width = max(abs(float(np.median(p)) - float(np.median(n))) / 4, 1e-4)
    return SplitTest(split, feature, round(up if above else down, 6), round(width, 6), above)


def transfer_table(features: Sequence[str], tune_values: Sequence[Mapping[str, object]], tune_labels: Sequence[str],
                   test_values: Sequence[Mapping[str, object]], test_labels: Sequence[str]) -> list[Transfer]:
    """Per split and measurement: the threshold set on the tuning set (either direction), its balanced
    accuracy there and on the test set (the renderer-1 → renderer-2 table of docs/suggestions.md)."""
    out = []
    for split, pos_types, neg_types in SPLITS:
        for f in features:
            t = fit_split(f, split, tune_values, tune_labels)
            if t is None:
                continue
            p2, n2 = (feature_values(test_values, test_labels, f, types) for types in (pos_types, neg_types))
            p1, n1 = (feature_values(tune_values, tune_labels, f, types) for types in (pos_types, neg_types))
            out.append(Transfer(f, split, t.threshold, 1 if t.above else -1,
                                round(split_balanced(p1, n1, t.threshold, 1 if t.above else -1), 4),
                                round(split_balanced(p2, n2, t.threshold, 1 if t.above else -1), 4)))
    return out


def choose(table: Sequence[Transfer]) -> dict[str, str]:
    """Split → the measurement it reads: the highest min(tuning, test) balanced accuracy among
    :data:`CANDIDATES` and rules-v4's own measurement of the split; a tie keeps rules-v4's."""
    out = {}
    for split, _, _ in SPLITS:
        own = RULES_V4_FEATURES[split]
        rows = [r for r in table if r.split == split and (r.feature in CANDIDATES or r.feature == own)
                and not math.isnan(r.tuning) and not math.isnan(r.test)]
        best = max(rows, key=lambda r: (min(r.tuning, r.test), r.feature == own))
        out[split] = best.feature
    return out


def tune(values: Sequence[Mapping[str, object]], labels: Sequence[str], features: Mapping[str, str]) -> LayerThresholds:
    """Thresholds of the chosen measurements (``features``: split → measurement), set on ``values`` only."""
    tests = []
    for split, _, _ in SPLITS:
        t = fit_split(features[split], split, values, labels)
        if t is None:
            raise ValueError(f"{features[split]}: not measured on both sides of {split}")
        tests.append(t)
    return LayerThresholds(tests=tuple(tests))


def calibrate(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]], taxonomy: Sequence[str],
              thresholds: LayerThresholds, *, l2: float = 0.05, prior: float = 2.0) -> LayerThresholds:
    """``thresholds`` with one ``(type, a, b, set name)`` per decided type and calibration set, fitted as
    :func:`rainset.suggest.tuning.calibrate_by_type` fits rules-v4's (``prior`` half-right pseudo-decisions
    at margin 0, L2 ``l2`` on ``b``)."""
    base = replace(thresholds, by_type=())
    return replace(thresholds, by_type=fit_by_type(sets, lambda v: classify_layer(v, taxonomy, base), l2=l2, prior=prior))


LAYER_RULES = LayerThresholds(
    # ``python bench/suggest_layer.py``: chosen by the renderer-1 → renderer-2 (seed 940001) transfer table,
    # thresholds on renderer 1 seed 0, confidences on renderer 1 seed 1 and renderer 2 seed 940001
    tests=(SplitTest("fog-mixed / rest", "veil_edges", 0.657806, 0.091821),
           SplitTest("rain / no-rain", "rain_sign", 0.048679, 0.116263),
           SplitTest("streak / heavy+drizzle", "rl_streak_length", 143.784163, 1.08125, above=False),
           SplitTest("heavy / drizzle", "rain_spots_half", 0.001907, 0.005539)),
    by_type=(("drizzle", 1.0526, 0.335, "renderer-1 seed 1"),
             ("fog-mixed", 1.91, 0.673, "renderer-1 seed 1"),
             ("heavy", -0.5173, 0.005, "renderer-1 seed 1"),
             ("no-rain", -0.4471, 0.6935, "renderer-1 seed 1"),
             ("streak", -1.4312, 0.3923, "renderer-1 seed 1"),
             ("drizzle", -0.3981, -0.0586, "renderer-2 seed 940001"),
             ("fog-mixed", 2.8586, 0.2519, "renderer-2 seed 940001"),
             ("heavy", -0.1654, 1.1231, "renderer-2 seed 940001"),
             ("no-rain", 1.4476, 0.7608, "renderer-2 seed 940001"),
             ("streak", -0.7084, 0.238, "renderer-2 seed 940001")))
"""rules-layer-v1 as measured (docs/suggestions.md, "Rain-layer rules (released NLCL)"): its gain over
rules-v4 was within the noise, so ``rainset suggest`` does not use it."""
