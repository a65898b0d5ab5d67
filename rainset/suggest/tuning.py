"""How the label-free rules' numbers were chosen (``bench/suggest_accuracy.py --tune``), on renderer 1 only.

- :func:`tune_thresholds`: each threshold maximises the balanced accuracy of its own split among
  the captures that reach that rule (fog-mixed against the rest; rain against no rain; streak
  against heavy and drizzle; heavy against drizzle); its width is a quarter of the distance
  between the two classes' medians.
- :func:`calibrate_margins`: ``a``, ``b`` of ``P(right) = sigmoid(a + b·margin)`` by logistic
  regression of the rules' correctness on their margin, on *other* scenes than the thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from rainset.suggest.features import number
from rainset.suggest.rules import Thresholds, classify

_SPLITS = (  # (threshold, width, feature, positive types, negative types, transform)
    ("fog_min", "fog_width", "veil_edges", ("fog-mixed",), ("drizzle", "heavy", "streak", "no-rain")),
    ("rain_min", "rain_width", "rain_sign", ("drizzle", "heavy", "streak"), ("no-rain",)),
    ("streak_min", "streak_width", "streak_length", ("streak",), ("drizzle", "heavy")),
    ("heavy_min", "heavy_width", "rain_spots_half", ("heavy",), ("drizzle",)),
)


def best_threshold(pos: Sequence[float], neg: Sequence[float]) -> float:
    """The threshold t maximising (share of ``pos`` ≥ t + share of ``neg`` < t) / 2 (midpoint of the best gap)."""
    p, n = np.asarray(pos, float), np.asarray(neg, float)
    p, n = p[~np.isnan(p)], n[~np.isnan(n)]
    values = np.unique(np.concatenate([p, n]))
    if values.size < 2:
        return float(values[0]) if values.size else math.nan
    cands = (values[:-1] + values[1:]) / 2
    score = [(np.mean(p >= c) + np.mean(n < c)) / 2 for c in cands]
    return float(cands[int(np.argmax(score))])


def tune_thresholds(values: Sequence[Mapping[str, object]], labels: Sequence[str],
                    start: Thresholds = Thresholds()) -> Thresholds:
    """Thresholds and widths chosen on ``values`` (module docstring)."""
    out = start
    for thr, width, feature, pos_types, neg_types in _SPLITS:
        pos = [number(v.get(feature)) for v, lab in zip(values, labels) if lab in pos_types]
        neg = [number(v.get(feature)) for v, lab in zip(values, labels) if lab in neg_types]
        t = best_threshold(pos, neg)
        spread = abs(float(np.nanmedian(pos)) - float(np.nanmedian(neg))) / 4 if pos and neg else 1.0
        out = replace(out, **{thr: round(t, 4), width: round(max(spread, 1e-4), 4)})
    return out


def calibrate_margins(values: Sequence[Mapping[str, object]], labels: Sequence[str], taxonomy: Sequence[str],
                      thresholds: Thresholds, iters: int = 3000) -> Thresholds:
    """``thresholds`` with ``cal_a``, ``cal_b`` fitted on these captures (module docstring)."""
    margins, right = [], []
    for v, lab in zip(values, labels):
        d = classify(v, taxonomy, thresholds)
        if d is not None:
            margins.append(d.margin)
            right.append(float(d.rain_type == lab))
    m, y = np.asarray(margins), np.asarray(right)
    a, b = 0.0, 0.0
    for _ in range(iters):  # plain gradient descent on the mean log-loss (convex)
        p = 1.0 / (1.0 + np.exp(-(a + b * m)))
        a -= 0.5 * float(np.mean(p - y))
        b -= 0.5 * float(np.mean((p - y) * m))
    return replace(thresholds, cal_a=round(a, 4), cal_b=round(b, 4))
