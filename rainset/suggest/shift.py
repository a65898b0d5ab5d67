"""Which measurements move with the renderer rather than the rain (issue 16, docs/suggestions.md).

For each measurement and each of the rules' splits (fog-mixed against the rest, rain against
no rain, streak against heavy and drizzle, heavy against drizzle): the threshold that separates
the split best on the *tuning* set (renderer 1), and the balanced accuracy of that same threshold
on the tuning set and on a *test* set (renderer 2). A measurement that separates a split on
renderer 1 but falls to 0.5 on renderer 2 measures how the renderer draws rain, not the rain.
Also the median of every measurement per rain type in each set (the table in the docs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rainset.suggest.features import number
from rainset.suggest.tuning import best_threshold

SPLITS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("fog-mixed / rest", ("fog-mixed",), ("drizzle", "heavy", "streak", "no-rain")),
    ("rain / no-rain", ("drizzle", "heavy", "streak"), ("no-rain",)),
    ("streak / heavy+drizzle", ("streak",), ("drizzle", "heavy")),
    ("heavy / drizzle", ("heavy",), ("drizzle",)),
)


@dataclass(frozen=True)
class Transfer:
    """One measurement on one split: threshold set on the tuning set, balanced accuracy on both sets."""

    feature: str
    split: str
    threshold: float
    direction: int  # +1: the positive types lie at or above the threshold, −1: below
    tuning: float
    test: float


def feature_values(values: Sequence[Mapping[str, object]], labels: Sequence[str], feature: str,
                   types: Sequence[str]) -> np.ndarray:
    """The measured (not NaN) values of ``feature`` over the captures labelled one of ``types``."""
    out = np.array([number(v.get(feature)) for v, lab in zip(values, labels) if lab in types], float)
    return out[~np.isnan(out)]


def split_balanced(pos: np.ndarray, neg: np.ndarray, threshold: float, direction: int) -> float:
    """Balanced accuracy of calling ``pos`` at or above ``threshold`` (``direction`` > 0) or below it."""
    if not pos.size or not neg.size:
        return math.nan
    score = (np.mean(pos >= threshold) + np.mean(neg < threshold)) / 2
    return float(score if direction > 0 else 1 - score)


def transfer(features: Sequence[str], tune_values: Sequence[Mapping[str, object]], tune_labels: Sequence[str],
             test_values: Sequence[Mapping[str, object]], test_labels: Sequence[str]) -> list[Transfer]:
    """A :class:`Transfer` per measurement and split (module docstring)."""
    out = []
    for name, pos_types, neg_types in SPLITS:
        for f in features:
            p, n = (feature_values(tune_values, tune_labels, f, types) for types in (pos_types, neg_types))
            if not p.size or not n.size:
                continue
            t = best_threshold(p, n)
            direction = 1 if split_balanced(p, n, t, 1) >= 0.5 else -1
            p2, n2 = (feature_values(test_values, test_labels, f, types) for types in (pos_types, neg_types))
            out.append(Transfer(f, name, round(t, 6), direction, round(split_balanced(p, n, t, direction), 4),
                                round(split_balanced(p2, n2, t, direction), 4)))
    return out


def medians(features: Sequence[str], values: Sequence[Mapping[str, object]], labels: Sequence[str],
            types: Sequence[str]) -> dict[str, dict[str, float]]:
    """{feature: {rain type: median}} (NaN where a type has no measured value)."""
    out: dict[str, dict[str, float]] = {}
    for f in features:
        out[f] = {}
        for t in types:
            v = feature_values(values, labels, f, (t,))
            out[f][t] = round(float(np.median(v)), 6) if v.size else math.nan
    return out
