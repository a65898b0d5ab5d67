"""The classifier's inputs: rain measurements (``RainStats.to_dict()``) as a fixed numeric vector.

Each feature is one measurement, sometimes transformed so that a linear model can use it:

- ``streak_angle`` enters as its absolute value (left- and right-leaning rain are the same type);
- ``streak_length`` enters as ``log1p`` (lengths span two orders of magnitude);
- a streak angle or length that is missing (``None``/NaN: no streaks found) becomes 0.

Other missing values stay NaN here; the fitted model replaces them by its training mean and the
rules treat them as "not measured".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

RAIN_LAYER_PREFIX = "rl_"


@dataclass(frozen=True)
class Feature:
    """One input of the classifier: the measurement it reads and how it is transformed."""

    name: str
    transform: str  # "identity" | "abs" | "log1p" | "log1p1000"
    missing_as_zero: bool
    help: str


FEATURES: tuple[Feature, ...] = (
    Feature("streak_density", "identity", False, "energy of thin bright oriented structures"),
    Feature("streak_angle", "abs", True, "|dominant streak angle| in degrees from vertical"),
    Feature("streak_length", "log1p", True, "log(1 + streak length in pixels at a 1024-px long side)"),
    Feature("streak_coherence", "identity", False, "how aligned the streaks are (0..1)"),
    Feature("veil", "identity", False, "veiling haze strength (0..1)"),
    Feature("droplets", "identity", False, "lens-droplet blob score"),
    Feature("rain_sign", "identity", False, "excess of bright over dark residual outliers (-1..1), native resolution"),
    Feature("rain_spots", "log1p1000", False, "log(1 + 1000 × share of excess bright residual outliers)"),
    Feature("rain_aniso", "identity", False, "median tile anisotropy of the residual in the rain direction"),
    Feature("rain_aniso_long", "identity", False, "the same along 15-px lines"),
    Feature("rain_cover", "identity", False, "share of tiles with oriented residual in the rain direction"),
    Feature("rain_persist", "identity", False, "residual persisting along 15-px over 7-px lines (0..1)"),
    Feature("veil_edges", "identity", False, "dark-channel minimum over luminance maximum where the scene has structure"),
    Feature("rain_spots_half", "log1p1000", False, "log(1 + 1000 × excess bright outliers at half resolution)"),
)
# Not features, on purpose: luminance, contrast and night describe the scene and its light, not the
# rain; a model fitted on a few labelled scenes learns those scenes from them (issue 16).
SCENE_MEASUREMENTS = ("luminance", "contrast", "night")
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def number(value: object) -> float:
    """A measurement as a float; None, NaN, infinities and non-numbers become NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    v = float(value)
    return v if math.isfinite(v) else math.nan


def _transform(feature: Feature, value: object) -> float:
    v = number(value)
    if math.isnan(v):
        return 0.0 if feature.missing_as_zero else math.nan
    if feature.transform == "abs":
        return abs(v)
    if feature.transform == "log1p":
        return math.log1p(max(v, 0.0))
    if feature.transform == "log1p1000":
        return math.log1p(1000.0 * max(v, 0.0))
    return v


def feature_names(available: Sequence[Mapping[str, object]], *, rain_layer: bool = False) -> tuple[str, ...]:
    """The features a set of measurement dicts supports (those measured in at least one of them).

    With ``rain_layer`` the rain-layer measurements (keys prefixed ``rl_``) are added after the
    preview ones.
    """
    keys = {k for values in available for k, v in values.items() if not math.isnan(number(v))}
    names = [f.name for f in FEATURES if f.name in keys]
    if rain_layer:
        names += [RAIN_LAYER_PREFIX + f.name for f in FEATURES if RAIN_LAYER_PREFIX + f.name in keys]
    return tuple(names)


def _spec(name: str) -> Feature:
    base = name[len(RAIN_LAYER_PREFIX):] if name.startswith(RAIN_LAYER_PREFIX) else name
    for f in FEATURES:
        if f.name == base:
            return f
    raise ValueError(f"unknown feature {name!r}: expected one of {', '.join(FEATURE_NAMES)} (optionally rl_-prefixed)")


def vector(values: Mapping[str, object], names: Sequence[str]) -> np.ndarray:
    """The feature vector (float64, NaN where not measured) of one capture's measurements."""
    return np.array([_transform(_spec(n), values.get(n)) for n in names], dtype=np.float64)


def matrix(rows: Sequence[Mapping[str, object]], names: Sequence[str]) -> np.ndarray:
    """Feature vectors of many captures, one row each (shape ``len(rows) × len(names)``)."""
    if not rows:
        return np.zeros((0, len(names)), np.float64)
    return np.stack([vector(r, names) for r in rows])


def merge_sources(preview: Mapping[str, object], rain_layer: Mapping[str, object] | None) -> dict[str, object]:
    """One dict of a capture's preview measurements plus its rain-layer ones under ``rl_`` keys."""
    merged = dict(preview)
    for k, v in (rain_layer or {}).items():
        merged[RAIN_LAYER_PREFIX + k] = v
    return merged
