"""How the label-free rules' numbers were chosen (``bench/suggest_accuracy.py --tune``), on renderer 1 only.

- :func:`tune_thresholds`: each threshold maximises the balanced accuracy of its own split among
  the captures that reach that rule (fog-mixed against the rest; rain against no rain; streak
  against heavy and drizzle; heavy against drizzle); its width is a quarter of the distance
  between the two classes' medians.
- :func:`calibrate_margins`: ``a``, ``b`` of ``P(right) = sigmoid(a + b·margin)`` by logistic
  regression of the rules' correctness on their margin, on *other* scenes than the thresholds.
- :func:`calibrate_by_type`: the same per decided rain type, on each of several calibration sets
  (renderer 1 and a renderer-2 tuning set): the rules then claim, for each type, the lowest of
  the sets' probabilities (renderer shift makes a type's decisions unreliable on one renderer).
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
    ("heavy_min", "heavy_width", None, ("heavy",), ("drizzle",)),  # None: ``Thresholds.heavy_feature``
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
        feature = feature or start.heavy_feature
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
    a, b = _logistic(np.asarray(margins), np.asarray(right), 0.0, iters)
    return replace(thresholds, cal_a=round(a, 4), cal_b=round(b, 4))


def _logistic(m: np.ndarray, y: np.ndarray, l2: float, iters: int) -> tuple[float, float]:
    """(a, b) minimising the mean log-loss of sigmoid(a + b·m) + l2·b² (Newton steps: convex)."""
    w = np.zeros(2)
    x = np.stack([np.ones_like(m), m], axis=1)
    reg = np.array([1e-6, 2 * l2])
    for _ in range(min(iters, 100)):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -60, 60)))
        grad = x.T @ (p - y) / len(y) + reg * w
        hess = (x.T * (p * (1 - p))) @ x / len(y) + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def calibrate_by_type(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                      taxonomy: Sequence[str], thresholds: Thresholds, *, l2: float = 0.05, prior: float = 2.0,
                      iters: int = 3000) -> Thresholds:
    """``thresholds`` with one ``(type, a, b, set name)`` entry per decided type and calibration set.

    ``sets``: (name, measurements, labels). For each set and each type the rules decide on it,
    ``P(right) = sigmoid(a + b·margin)`` is fitted on that type's decisions, with ``prior``
    pseudo-decisions at margin 0, half right (so a type decided a few times is not claimed sure),
    and an L2 penalty ``l2`` on ``b``. The global ``cal_a``, ``cal_b`` are kept for types no set decided.
    """
    base = replace(thresholds, by_type=())
    entries = []
    for name, values, labels in sets:
        per_type: dict[str, tuple[list[float], list[float]]] = {}
        for v, lab in zip(values, labels):
            d = classify(v, taxonomy, base)
            if d is not None:
                ms, ys = per_type.setdefault(d.rain_type, ([], []))
                ms.append(d.margin)
                ys.append(float(d.rain_type == lab))
        for rain_type, (ms, ys) in sorted(per_type.items()):
            m = np.asarray([*ms, *([0.0] * int(prior))], float)
            y = np.asarray([*ys, *([0.5] * int(prior))], float)
            a, b = _logistic(m, y, l2, iters)
            entries.append((rain_type, round(a, 4), round(b, 4), name))
    return replace(thresholds, by_type=tuple(entries))
