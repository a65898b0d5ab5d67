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

Calibration round 3 (docs/suggestions.md), the decisions of several renderers pooled per decided
type with every renderer weighted equally (:func:`renderer_decisions`):

- :func:`calibrate_pooled`: one ``sigmoid(a + b·margin)`` per type;
- :func:`calibrate_isotonic`: a non-decreasing step function of the margin per type
  (pool-adjacent-violators, steps of at least ``min_weight`` decisions, Laplace-smoothed);
- :func:`calibrate_type_prior`: one constant per type (its share of right decisions, smoothed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from rainset.suggest.features import number
from rainset.suggest.rules import RuleDecision, Thresholds, classify

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


def _logistic(m: np.ndarray, y: np.ndarray, l2: float, iters: int,
              weight: np.ndarray | None = None) -> tuple[float, float]:
    """(a, b) minimising the (weighted) mean log-loss of sigmoid(a + b·m) + l2·b² (Newton steps: convex)."""
    w = np.zeros(2)
    x = np.stack([np.ones_like(m), m], axis=1)
    sw = np.ones_like(m) if weight is None else np.asarray(weight, float)
    total = float(sw.sum())
    reg = np.array([1e-6, 2 * l2])
    for _ in range(min(iters, 100)):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -60, 60)))
        grad = x.T @ (sw * (p - y)) / total + reg * w
        hess = (x.T * (sw * p * (1 - p))) @ x / total + np.diag(reg + 1e-9)
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
    base = replace(thresholds, by_type=(), steps=())
    entries = fit_by_type(sets, lambda v: classify(v, taxonomy, base), l2=l2, prior=prior, iters=iters)
    return replace(thresholds, by_type=entries, steps=())


def fit_by_type(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                decide: Callable[[Mapping[str, object]], RuleDecision | None], *, l2: float = 0.05,
                prior: float = 2.0, iters: int = 3000) -> tuple[tuple[str, float, float, str], ...]:
    """``(type, a, b, set name)`` for each set and each type ``decide`` decides on it: ``P(right) =
    sigmoid(a + b·margin)`` fitted on that type's decisions with ``prior`` half-right pseudo-decisions
    at margin 0 and L2 ``l2`` on ``b`` (:func:`calibrate_by_type`, and the layer rules' calibration)."""
    entries = []
    for name, values, labels in sets:
        per_type: dict[str, tuple[list[float], list[float]]] = {}
        for v, lab in zip(values, labels):
            d = decide(v)
            if d is not None:
                ms, ys = per_type.setdefault(d.rain_type, ([], []))
                ms.append(d.margin)
                ys.append(float(d.rain_type == lab))
        for rain_type, (ms, ys) in sorted(per_type.items()):
            m = np.asarray([*ms, *([0.0] * int(prior))], float)
            y = np.asarray([*ys, *([0.5] * int(prior))], float)
            a, b = _logistic(m, y, l2, iters)
            entries.append((rain_type, round(a, 4), round(b, 4), name))
    return tuple(entries)


# --- calibration round 3: renderers pooled, each weighted equally --------------------------------


@dataclass(frozen=True)
class TypeDecisions:
    """The rules' decisions for one rain type on the calibration data, pooled over renderers.

    ``weight`` gives every renderer that decided this type the same total weight, and sums to the
    number of decisions (so a penalty or a pseudo-count weighs as much as with unweighted data).
    """

    rain_type: str
    margin: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    renderers: tuple[str, ...]


def renderer_decisions(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                       taxonomy: Sequence[str], thresholds: Thresholds) -> dict[str, TypeDecisions]:
    """Per decided type, the decisions of ``thresholds`` on ``sets`` = (renderer, measurements, labels).

    Sets that name the same renderer are one renderer. Within a type, each renderer's decisions
    weigh ``n / (R · n_r)`` each (``n`` decisions of the type, ``R`` renderers deciding it, ``n_r`` of
    them on that renderer): every renderer counts the same, however many captures it brought.
    """
    base = replace(thresholds, by_type=(), steps=())
    found: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for renderer, values, labels in sets:
        for v, lab in zip(values, labels):
            d = classify(v, taxonomy, base)
            if d is not None:
                ms, ys = found.setdefault(d.rain_type, {}).setdefault(renderer, ([], []))
                ms.append(d.margin)
                ys.append(float(d.rain_type == lab))
    out = {}
    for rain_type, by_renderer in sorted(found.items()):
        n = sum(len(ms) for ms, _ in by_renderer.values())
        margin, right, weight = [], [], []
        for ms, ys in by_renderer.values():
            margin += ms
            right += ys
            weight += [n / (len(by_renderer) * len(ms))] * len(ms)
        out[rain_type] = TypeDecisions(rain_type, np.asarray(margin, float), np.asarray(right, float),
                                       np.asarray(weight, float), tuple(by_renderer))
    return out


def _source(d: TypeDecisions) -> str:
    return "pooled " + " + ".join(d.renderers)


def calibrate_pooled(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                     taxonomy: Sequence[str], thresholds: Thresholds, *, l2: float = 0.05, prior: float = 2.0,
                     iters: int = 3000) -> Thresholds:
    """``thresholds`` with one ``(type, a, b, source)`` entry per decided type: ``sigmoid(a + b·margin)``
    fitted on every renderer's decisions of that type at once, renderers weighted equally
    (:func:`renderer_decisions`), ``prior`` pseudo-decisions half right at margin 0, L2 ``l2`` on ``b``."""
    entries = []
    for rain_type, d in renderer_decisions(sets, taxonomy, thresholds).items():
        k = int(prior)
        m = np.concatenate([d.margin, np.zeros(k)])
        y = np.concatenate([d.right, np.full(k, 0.5)])
        w = np.concatenate([d.weight, np.ones(k)])
        a, b = _logistic(m, y, l2, iters, w)
        entries.append((rain_type, round(a, 4), round(b, 4), _source(d)))
    return replace(thresholds, by_type=tuple(entries), steps=())


def _smoothed(right: float, weight: float) -> float:
    return (right + 1.0) / (weight + 2.0)


def isotonic_steps(margin: Sequence[float], right: Sequence[float], weight: Sequence[float] | None = None, *,
                   min_weight: float = 5.0) -> list[tuple[float, float]]:
    """``[(margin from, probability), …]``: P(right) as a non-decreasing step function of the margin.

    Pool-adjacent-violators on the (weighted) right/wrong decisions sorted by margin (ties pooled); a step
    holding less than ``min_weight`` decisions' weight is merged into its lower neighbour (the
    upper one for the first step); each step's probability is (right + 1) / (weight + 2), made
    non-decreasing again after that smoothing. The first step starts at margin 0, every other one
    halfway between the highest margin of the step below and its own lowest.
    """
    m = np.asarray(margin, float)
    y = np.asarray(right, float)
    w = np.ones_like(m) if weight is None else np.asarray(weight, float)
    if m.size == 0:
        return [(0.0, 0.5)]
    blocks: list[list[float]] = []  # [lowest margin, weighted right, weight, highest margin]
    for value in np.unique(m):  # decisions at the same margin are one point
        at = m == value
        blocks.append([float(value), float(np.sum(w[at] * y[at])), float(np.sum(w[at])), float(value)])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            top = blocks.pop()
            blocks[-1][1] += top[1]
            blocks[-1][2] += top[2]
            blocks[-1][3] = top[3]
    while len(blocks) > 1:
        small = [i for i, b in enumerate(blocks) if b[2] < min_weight - 1e-9]
        if not small:
            break
        i = small[0]
        j = i - 1 if i > 0 else 1
        lo, hi = min(i, j), max(i, j)
        blocks[lo] = [blocks[lo][0], blocks[lo][1] + blocks[hi][1], blocks[lo][2] + blocks[hi][2], blocks[hi][3]]
        del blocks[hi]
    out, best = [], 0.0
    for k, (low, r, wt, _) in enumerate(blocks):
        best = max(best, _smoothed(r, wt))
        out.append((0.0 if k == 0 else (blocks[k - 1][3] + low) / 2, best))
    return out


def calibrate_isotonic(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                       taxonomy: Sequence[str], thresholds: Thresholds, *, min_weight: float = 5.0) -> Thresholds:
    """``thresholds`` with ``steps`` per decided type (:func:`isotonic_steps` on :func:`renderer_decisions`)."""
    steps = []
    for rain_type, d in renderer_decisions(sets, taxonomy, thresholds).items():
        steps += [(rain_type, round(start, 4), round(p, 4))
                  for start, p in isotonic_steps(d.margin, d.right, d.weight, min_weight=min_weight)]
    return replace(thresholds, by_type=(), steps=tuple(steps))


def calibrate_type_prior(sets: Sequence[tuple[str, Sequence[Mapping[str, object]], Sequence[str]]],
                         taxonomy: Sequence[str], thresholds: Thresholds) -> Thresholds:
    """``thresholds`` with one constant per decided type: the renderer-weighted share of its decisions
    that were right, (right + 1) / (decisions + 2), stored as ``(type, logit p, 0, source)``."""
    entries = []
    for rain_type, d in renderer_decisions(sets, taxonomy, thresholds).items():
        p = _smoothed(float(np.sum(d.weight * d.right)), float(np.sum(d.weight)))
        entries.append((rain_type, round(math.log(p / (1 - p)), 4), 0.0, _source(d)))
    return replace(thresholds, by_type=tuple(entries), steps=())
