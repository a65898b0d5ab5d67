"""Rules that need no labels: documented thresholds on scene-invariant measurements (``rules-v6``).

Tried in order; the first rule whose test holds (and whose rain type is in the store's
taxonomy) decides:

1. ``veil_edges ≥ fog_min`` → ``fog-mixed`` (the scene's own dark parts are lifted towards the
   airlight: a veil).
2. ``rain_sign < rain_min``: no rain. Then ``droplets ≥ droplets_min`` → ``not-usable`` (lens
   droplets without rain, a reason of the taxonomy), else ``no-rain``.
3. ``streak_length ≥ streak_min`` and ``|streak_angle| < angle_max`` → ``streak``.
4. ``rain_spots_half ≥ heavy_min`` (dense rain that survives halving the resolution; ``rules-v2``
   read ``rain_spots``, how white the drops are, which moves with the renderer): ``streak`` when
   the ground shows no splashes (``splash_tilt < splash_max``, ``rules-v5``), else ``heavy``.
5. otherwise → ``drizzle``.

The thresholds were chosen on captures of the first renderer only (:mod:`rainset.synth.rain`,
``bench/suggest_accuracy.py --tune``: each threshold maximises the balanced accuracy of its own
split there); the second renderer and the real photos never served to set them.

**Confidence is a probability.** The margin of a decision is the smallest distance, in widths,
of a value on its path to that test's threshold; for each decided type, ``sigmoid(a + b·margin)``
is fitted (logistic regression of "the rules were right" on the margin) on first-renderer scenes
other than the thresholds' and, separately, on a second-renderer tuning set; the confidence is
the lower of the two (``rules-v4``, ``rules-v5``): a type that one renderer's rain sends to the
wrong rule is unsure everywhere. ``rules-v6`` (rules-v5's decisions) fits one sigmoid per decided type
on both renderers' decisions, each renderer weighted equally (``pooled``, calibration round 6: the
lower of the two was underconfident on rain neither had seen). ``rules-v3`` (same decisions as
``rules-v4``) had one calibration for all types, on renderer 1; ``rules-v4`` had rules-v3's decisions,
without rule 4's splash test (issue 16, round 5). A confidence below
:data:`rainset.suggestions.UNSURE_BELOW` is shown as unsure: no pre-selection in the labelling UI.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rainset.suggest.features import number

RULES_MODEL = "rules-v6"


@dataclass(frozen=True)
class Thresholds:
    """The rules' thresholds, the width that scales each one's margin, and the margin calibration."""

    # set from ``bench/suggest_accuracy.py --tune`` (renderer 1, 16 scenes per type, seeds 0 and 1)
    fog_min: float = 0.6578
    fog_width: float = 0.0918
    rain_min: float = 0.0487
    rain_width: float = 0.1163
    droplets_min: float = 0.05
    droplets_width: float = 0.02
    streak_min: float = 67.5194
    streak_width: float = 40.4995
    angle_max: float = 60.0
    angle_width: float = 10.0
    heavy_min: float = 0.0019  # on ``heavy_feature``
    heavy_width: float = 0.0055
    cal_a: float = -0.4057  # confidence = sigmoid(cal_a + cal_b · margin in widths) ...
    cal_b: float = 1.4689
    heavy_feature: str = "rain_spots_half"  # rules-v3; rules-v2 read ``rain_spots``
    # rules-v5: rule 4's rain is streak when ``splash_tilt < splash_max`` (no splashes on the ground);
    # NaN: no splash test (rules-v4 and older)
    splash_max: float = math.nan
    splash_width: float = 0.1039
    # ... unless the decided type has entries here: (rain type, a, b, calibration set), one per set;
    # the confidence is then the lowest of that type's sigmoid(a + b · margin) (docs/suggestions.md)
    by_type: tuple[tuple[str, float, float, str], ...] = ()
    # ... or, before both, steps: (rain type, margin from, probability): the confidence of a decision
    # for that type is the probability of its last step starting at or below the margin (isotonic)
    steps: tuple[tuple[str, float, float], ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["by_type"] = [list(e) for e in self.by_type]
        out["steps"] = [list(e) for e in self.steps]
        if not self.steps:  # rules-v4 and older: the dict they were stored with
            del out["steps"]
        if not math.isfinite(self.splash_max):  # rules-v4 and older: no splash test
            del out["splash_max"], out["splash_width"]
        return out


RULES_V2 = Thresholds(heavy_feature="rain_spots", heavy_min=0.0227, heavy_width=0.0073, cal_a=0.0137, cal_b=1.4104)
"""rules-v2 as released (git history of this file): heavy on ``rain_spots ≥ 0.0227``."""

RULES_V3 = Thresholds()
"""rules-v3 as first released: heavy on ``rain_spots_half ≥ 0.0019``, one margin calibration on renderer 1."""

RULES_V4 = Thresholds(by_type=(
    # ``python bench/suggest_rules.py``: calibrate_by_type on renderer 1 (seed 1, 16 scenes per type)
    # and on the renderer-2 tuning set (seed 940001, 10 scenes per type, 2 captures each)
    ("drizzle", 0.6947, -0.0068, "renderer-1 seed 1"),
    ("fog-mixed", 1.9096, 0.6731, "renderer-1 seed 1"),
    ("heavy", 0.4806, 0.1625, "renderer-1 seed 1"),
    ("no-rain", -0.4471, 0.6935, "renderer-1 seed 1"),
    ("streak", 1.6859, 0.7283, "renderer-1 seed 1"),
    ("drizzle", 0.1495, 0.019, "renderer-2 seed 940001"),
    ("fog-mixed", 2.8585, 0.252, "renderer-2 seed 940001"),
    ("heavy", -1.0388, 0.8748, "renderer-2 seed 940001"),
    ("no-rain", 1.4478, 0.7608, "renderer-2 seed 940001"),
    ("streak", -1.5694, -0.4443, "renderer-2 seed 940001"),
))
"""rules-v4, the default: rules-v3's decisions (chosen over rules-v2's by the criterion of
docs/suggestions.md), each decided type's confidence the lower of its renderer-1 and renderer-2
calibrations."""

RULES_V5 = Thresholds(splash_max=0.0162, splash_width=0.1039, by_type=(
    # ``python bench/suggest_splash.py``: calibrate_by_type on renderer 1 (seed 1, 16 scenes per type)
    # and on the renderer-2 tuning sets (seeds 940001 + 940002, 10 scenes per type, 2 captures each)
    ("drizzle", 0.6947, -0.0068, "renderer-1 seed 1"),
    ("fog-mixed", 1.9096, 0.6731, "renderer-1 seed 1"),
    ("heavy", 1.4338, 0.7162, "renderer-1 seed 1"),
    ("no-rain", -0.4471, 0.6935, "renderer-1 seed 1"),
    ("streak", -0.6335, 1.1496, "renderer-1 seed 1"),
    ("drizzle", 0.1889, 0.1558, "renderer-2 seeds 940001+940002"),
    ("fog-mixed", 3.5991, 0.1261, "renderer-2 seeds 940001+940002"),
    ("heavy", 1.8535, 0.5005, "renderer-2 seeds 940001+940002"),
    ("no-rain", 1.6213, 0.7232, "renderer-2 seeds 940001+940002"),
    ("streak", -0.1994, 0.1415, "renderer-2 seeds 940001+940002"),
))
"""rules-v5: rules-v4's decisions with rule 4 split by ``splash_tilt`` (threshold set on
renderer 1 seed 0; adopted by the criterion of docs/suggestions.md, "Round 5"), each decided type's
confidence the lower of its renderer-1 and renderer-2 calibrations."""

RULES_V6 = Thresholds(splash_max=0.0162, splash_width=0.1039, by_type=(
    # ``python bench/suggest_calibration6.py``: calibrate_pooled on rules-v5's fitting data (renderer 1
    # seed 1, 16 scenes per type; renderer-2 seeds 940001 + 940002, 10 scenes per type, 2 captures each),
    # each renderer weighted equally
    ("drizzle", 0.5166, 0.0465, "pooled renderer-1 seed 1 + renderer-2 seeds 940001+940002"),
    ("fog-mixed", 3.8235, 0.1778, "pooled renderer-1 seed 1 + renderer-2 seeds 940001+940002"),
    ("heavy", 1.9408, 0.5, "pooled renderer-1 seed 1 + renderer-2 seeds 940001+940002"),
    ("no-rain", 0.2548, 0.7462, "pooled renderer-1 seed 1 + renderer-2 seeds 940001+940002"),
    ("streak", -0.4802, 0.8785, "pooled renderer-1 seed 1 + renderer-2 seeds 940001+940002"),
))
"""rules-v6, the default: rules-v5's thresholds and decisions, each decided type's confidence one
sigmoid fitted on both renderers' decisions, each renderer weighted equally (``pooled``; chosen by
the criterion of docs/suggestions.md, "Calibration round 6")."""

THRESHOLDS = RULES_V6


@dataclass(frozen=True)
class RuleDecision:
    """The rain type the rules chose, its calibrated confidence, its margin and the tests that decided."""

    rain_type: str
    confidence: float
    reason: tuple[str, ...]
    margin: float = 0.0

    def to_dict(self) -> dict:
        return {"rain_type": self.rain_type, "confidence": self.confidence, "margin": self.margin,
                "reason": list(self.reason)}


def _test(name: str, value: float, threshold: float, width: float, below: bool = False) -> tuple[bool, float, str]:
    """(holds, margin in widths, text) of ``value ≥ threshold`` (``value < threshold`` when ``below``).

    An unmeasured value never holds, with margin 0.
    """
    if math.isnan(value):
        return False, 0.0, f"{name} not measured"
    holds = (value < threshold) if below else (value >= threshold)
    sign = "≥" if value >= threshold else "<"
    return holds, abs(value - threshold) / width, f"{name} {value:.4g} {sign} {threshold:g}"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def calibrated(margin: float, t: Thresholds = THRESHOLDS, rain_type: str | None = None) -> float:
    """The probability that a decision for ``rain_type`` with this margin (in widths) is right.

    With steps for ``rain_type`` (``t.steps``): the probability of the last step starting at or
    below ``margin`` (the first step below all of them). Else with calibrations per type
    (``t.by_type``) for ``rain_type``: the lowest of them (the calibration set on which that
    decision is least reliable); else ``sigmoid(cal_a + cal_b·margin)``.
    """
    steps = sorted((start, p) for kind, start, p in t.steps if kind == rain_type)
    own = [_sigmoid(a + b * margin) for kind, a, b, _ in t.by_type if kind == rain_type]
    if steps:
        p = steps[0][1]
        for start, q in steps:
            if start <= margin:
                p = q
    else:
        p = min(own) if own else _sigmoid(t.cal_a + t.cal_b * margin)
    return min(0.999, p)  # never a certainty


def classify(values: Mapping[str, object], taxonomy: Sequence[str],
             thresholds: Thresholds = THRESHOLDS) -> RuleDecision | None:
    """Apply the rules to one capture's measurements.

    Args:
        values: ``RainStats.to_dict()`` of the capture.
        taxonomy: the store's rain types; a rule whose type is not among them is skipped.
        thresholds: the thresholds (default :data:`THRESHOLDS`).

    Returns:
        The decision, or None when ``rain_sign`` was not measured (measurements older than
        ``ALGO_VERSION`` 3) or no rule's rain type is in the taxonomy.
    """
    t = thresholds
    sign = number(values.get("rain_sign"))
    if math.isnan(sign):
        return None
    angle = abs(number(values.get("streak_angle")))
    heavy = _test(t.heavy_feature, number(values.get(t.heavy_feature)), t.heavy_min, t.heavy_width)
    splash = ([("streak", [heavy, _test("splash_tilt", number(values.get("splash_tilt")), t.splash_max,
                                         t.splash_width, below=True)])]
              if math.isfinite(t.splash_max) else [])
    return walk_tree(values, taxonomy, t,
                     _test("veil_edges", number(values.get("veil_edges")), t.fog_min, t.fog_width),
                     _test("rain_sign", sign, t.rain_min, t.rain_width),
                     (("streak", [_test("streak_length", number(values.get("streak_length")), t.streak_min,
                                        t.streak_width),
                                  _test("|streak_angle|", angle, t.angle_max, t.angle_width, below=True)]),
                      *splash,
                      ("heavy", [heavy])))


Test = tuple[bool, float, str]  # holds, margin in widths, why


def walk_tree(values: Mapping[str, object], taxonomy: Sequence[str], t: Any, fog: Test, rain: Test,
              branches: Sequence[tuple[str, Sequence[Test]]]) -> RuleDecision | None:
    """The rules' tree on tests already made (the rules and :mod:`rainset.suggest.layer_rules` share it).

    ``fog`` decides fog-mixed; without ``rain``, ``t``'s droplets test decides not-usable, else
    no-rain; then the first of ``branches`` (rain type, its tests) whose tests all hold; else drizzle.
    A rule whose type is not in ``taxonomy`` is skipped. ``t``: the thresholds (droplets, calibration).
    """
    holds, m_fog, why_fog = fog
    if holds and "fog-mixed" in taxonomy:
        return _decide("fog-mixed", [(m_fog, why_fog)], t)
    path: list[tuple[float, str]] = [(m_fog, why_fog), (rain[1], rain[2])]
    if not rain[0]:
        drops_value = number(values.get("droplets"))
        drops, m_drops, why_drops = _test("droplets", drops_value, t.droplets_min, t.droplets_width)
        if drops and "not-usable" in taxonomy:
            return _decide("not-usable", [*path, (m_drops, why_drops)], t)
        if "no-rain" in taxonomy:
            return _decide("no-rain", path if math.isnan(drops_value) else [*path, (m_drops, why_drops)], t)
    for rain_type, tests in branches:
        if rain_type not in taxonomy:
            continue
        failed = [(m, why) for ok, m, why in tests if not ok]
        if not failed:
            return _decide(rain_type, [*path, *((m, why) for _, m, why in tests)], t)
        path.append(failed[0])
    if "drizzle" in taxonomy:
        return _decide("drizzle", path, t)
    return None


def _decide(rain_type: str, path: list[tuple[float, str]], t: Thresholds) -> RuleDecision:
    margin = min(m for m, _ in path)
    return RuleDecision(rain_type, round(calibrated(margin, t, rain_type), 4), tuple(why for _, why in path), round(margin, 4))
