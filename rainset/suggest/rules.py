"""Rules that need no labels: documented thresholds on the preview measurements.

Tried in order; the first rule whose test holds (and whose rain type is in the store's
taxonomy) decides:

1. ``streak_density < rain_min``: no rain. Then ``droplets ≥ droplets_min`` → ``not-usable``
   (lens droplets without rain, a reason of the taxonomy), else ``no-rain``.
2. ``veil ≥ veil_min`` → ``fog-mixed`` (rain with veiling haze).
3. ``streak_length ≥ streak_min`` and ``|streak_angle| < angle_max`` → ``streak`` (long motion
   streaks; long structures near horizontal are scene edges, not falling rain).
4. ``streak_density ≥ heavy_min`` → ``heavy``.
5. otherwise → ``drizzle``.

The confidence is a margin, not a probability: each test on the path scores
``0.5 + 0.5·tanh(|value − threshold| / width)`` and the weakest one is the confidence (a value
sitting on a threshold gives 0.5, one several widths away tends to 1).
The thresholds and widths were set on generated captures (``rainset.synth``, training seeds of
``rainset.suggest.evaluate``) and are listed with their reasons in docs/suggestions.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from rainset.suggest.features import number

RULES_MODEL = "rules-v1"


@dataclass(frozen=True)
class Thresholds:
    """The rules' thresholds and the width over which each one's margin saturates."""

    rain_min: float = 0.06
    rain_width: float = 0.015
    droplets_min: float = 0.05
    droplets_width: float = 0.02
    veil_min: float = 0.5
    veil_width: float = 0.08
    streak_min: float = 60.0
    streak_width: float = 15.0
    angle_max: float = 60.0
    angle_width: float = 10.0
    heavy_min: float = 0.27
    heavy_width: float = 0.05

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class RuleDecision:
    """The rain type the rules chose, their margin-based confidence and the tests that decided."""

    rain_type: str
    confidence: float
    reason: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"rain_type": self.rain_type, "confidence": self.confidence, "reason": list(self.reason)}


def _margin(value: float, threshold: float, width: float) -> float:
    return 0.5 + 0.5 * math.tanh(abs(value - threshold) / width)


def _test(name: str, value: float, threshold: float, width: float, below: bool = False) -> tuple[bool, float, str]:
    """(holds, margin, text) of ``value ≥ threshold`` (``value < threshold`` when ``below``).

    An unmeasured value never holds, with margin 0.5.
    """
    if math.isnan(value):
        return False, 0.5, f"{name} not measured"
    holds = (value < threshold) if below else (value >= threshold)
    sign = "≥" if value >= threshold else "<"
    return holds, _margin(value, threshold, width), f"{name} {value:.4g} {sign} {threshold:g}"


def classify(values: Mapping[str, object], taxonomy: Sequence[str],
             thresholds: Thresholds = THRESHOLDS) -> RuleDecision | None:
    """Apply the rules to one capture's measurements.

    Args:
        values: ``RainStats.to_dict()`` of the capture's preview.
        taxonomy: the store's rain types; a rule whose type is not among them is skipped.
        thresholds: the thresholds (default :data:`THRESHOLDS`).

    Returns:
        The decision, or None when the streak density was not measured or no rule's rain type
        is in the taxonomy.
    """
    t = thresholds
    density = number(values.get("streak_density"))
    if math.isnan(density):
        return None
    length = number(values.get("streak_length"))
    rain, m_rain, why_rain = _test("streak_density", density, t.rain_min, t.rain_width)
    path: list[tuple[float, str]] = [(m_rain, why_rain)]
    if not rain:
        drops_value = number(values.get("droplets"))
        drops, m_drops, why_drops = _test("droplets", drops_value, t.droplets_min, t.droplets_width)
        if drops and "not-usable" in taxonomy:
            return _decide("not-usable", [*path, (m_drops, why_drops)])
        if "no-rain" in taxonomy:
            return _decide("no-rain", path if math.isnan(drops_value) else [*path, (m_drops, why_drops)])
    angle = abs(number(values.get("streak_angle")))
    branches = (("fog-mixed", [_test("veil", number(values.get("veil")), t.veil_min, t.veil_width)]),
                ("streak", [_test("streak_length", length, t.streak_min, t.streak_width),
                            _test("|streak_angle|", angle, t.angle_max, t.angle_width, below=True)]),
                ("heavy", [_test("streak_density", density, t.heavy_min, t.heavy_width)]))
    for rain_type, tests in branches:
        if rain_type not in taxonomy:
            continue
        failed = [(m, why) for holds, m, why in tests if not holds]
        if not failed:
            return _decide(rain_type, [*path, *((m, why) for _, m, why in tests)])
        path.append(failed[0])
    if "drizzle" in taxonomy:
        return _decide("drizzle", path)
    return None


def _decide(rain_type: str, path: list[tuple[float, str]]) -> RuleDecision:
    confidence = min(m for m, _ in path)
    return RuleDecision(rain_type, round(confidence, 4), tuple(why for _, why in path))
