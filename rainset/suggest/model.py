"""A readable fitted classifier: multinomial logistic regression on standardised measurements.

p(class | x) = softmax((W·z + b) / T), z = (x − mean) / scale, in plain numpy:

- ``mean`` and ``scale`` standardise each feature (a missing value becomes the mean, z = 0);
- ``W`` (one row per class, one column per feature) and ``b`` are fitted by accelerated gradient
  descent on the mean cross-entropy plus an L2 penalty ``l2/2·|W|²`` (convex: same data, same model);
- the temperature ``T`` calibrates the probabilities: it minimises the log-loss of out-of-fold
  predictions of a k-fold cross-validation **by scene** (``groups``: every scene's captures in one
  fold, so the model is always scored on scenes it did not learn; without groups each capture is
  its own scene), whose accuracy is kept as ``cv_accuracy``; with n scenes the temperature found
  there is shrunk towards 1 as ``T_cv ** (n / (n + 20))`` (the out-of-fold models saw fewer
  scenes than the final one, which makes a small store's cross-validation pessimistic).

A coefficient says how much one standard deviation of that feature raises the class's score;
``describe()`` prints them all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from rainset.errors import ConfigError
from rainset.suggest.folds import fold_count, scene_folds

MIN_PER_CLASS = 5
L2 = 0.01
SHRINK_SCENES = 20
_TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(10.0), 49))


@dataclass(frozen=True)
class SoftmaxModel:
    """Fitted parameters (all plain lists, so the model is JSON)."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], ...]  # classes × features
    intercept: tuple[float, ...]
    temperature: float
    l2: float
    n_train: int
    class_counts: dict[str, int]
    cv_accuracy: float | None

    @property
    def model_id(self) -> str:
        """12 hex digits of the SHA-256 of the parameters: names the model in suggestions."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"], d["features"] = list(self.classes), list(self.features)
        d["coef"] = [list(r) for r in self.coef]
        d["mean"], d["scale"], d["intercept"] = list(self.mean), list(self.scale), list(self.intercept)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SoftmaxModel":
        return cls(classes=tuple(d["classes"]), features=tuple(d["features"]), mean=tuple(d["mean"]),
                   scale=tuple(d["scale"]), coef=tuple(tuple(r) for r in d["coef"]),
                   intercept=tuple(d["intercept"]), temperature=float(d["temperature"]), l2=float(d["l2"]),
                   n_train=int(d["n_train"]), class_counts=dict(d["class_counts"]),
                   cv_accuracy=d.get("cv_accuracy"))

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated class scores (logits) of feature rows ``x`` (n × features)."""
        z = _standardise(np.atleast_2d(x), np.array(self.mean), np.array(self.scale))
        return z @ np.array(self.coef).T + np.array(self.intercept)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, one row per feature row, columns in ``classes`` order."""
        return _softmax(self.scores(x) / self.temperature)

    def describe(self) -> list[str]:
        """The model as text: standardisation, then one coefficient row per class."""
        w = max(12, *(len(f) for f in self.features))
        lines = [f"multinomial logistic regression on {self.n_train} labelled captures, "
                 f"temperature {self.temperature:.3f}, L2 {self.l2}, cross-validated accuracy "
                 + ("n/a" if self.cv_accuracy is None else f"{self.cv_accuracy:.3f}"),
                 f"{'feature':<{w}} {'mean':>10} {'scale':>10}   " + " ".join(f"{c:>10}" for c in self.classes)]
        for j, name in enumerate(self.features):
            lines.append(f"{name:<{w}} {self.mean[j]:>10.4g} {self.scale[j]:>10.4g}   "
                         + " ".join(f"{self.coef[k][j]:>+10.3f}" for k in range(len(self.classes))))
        lines.append(f"{'(intercept)':<{w}} {'':>10} {'':>10}   "
                     + " ".join(f"{b:>+10.3f}" for b in self.intercept))
        return lines


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    z = (x - mean) / scale
    return np.where(np.isnan(z), 0.0, z)


def _fit_weights(z: np.ndarray, y: np.ndarray, k: int, l2: float, iters: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Minimise mean cross-entropy + l2/2·|W|² by Nesterov-accelerated gradient descent."""
    n, d = z.shape
    onehot = np.eye(k)[y]
    zb = np.hstack([z, np.ones((n, 1))])
    lipschitz = 0.5 * np.linalg.norm(zb, 2) ** 2 / n + l2
    step = 1.0 / lipschitz
    theta = np.zeros((d + 1, k))
    prev = theta.copy()
    for t in range(1, iters + 1):
        look = theta + (t - 1) / (t + 2) * (theta - prev)
        grad = zb.T @ (_softmax(zb @ look) - onehot) / n
        grad[:d] += l2 * look[:d]
        prev, theta = theta, look - step * grad
        if np.abs(theta - prev).max() < 1e-7:
            break
    return theta[:d].T, theta[d]


def _calibrate(x: np.ndarray, y: np.ndarray, k_classes: int, l2: float,
               groups: Sequence[str] | None = None) -> tuple[float, float | None]:
    """(temperature, cross-validated accuracy) from out-of-fold logits, folds by scene."""
    scenes = [str(i) for i in range(len(y))] if groups is None else [str(g) for g in groups]
    labels = [str(v) for v in y]
    k = fold_count(scenes, labels)
    if k < 2:
        return 1.0, None
    logits = np.zeros((len(y), k_classes))
    for test in scene_folds(scenes, labels, k):
        if len(test) == 0:
            continue
        train = np.setdiff1d(np.arange(len(y)), test)
        mean, scale = _moments(x[train])
        w, b = _fit_weights(_standardise(x[train], mean, scale), y[train], k_classes, l2)
        logits[test] = _standardise(x[test], mean, scale) @ w.T + b
    nll = [-np.log(_softmax(logits / t)[np.arange(len(y)), y] + 1e-12).mean() for t in _TEMPERATURES]
    t_cv = float(_TEMPERATURES[int(np.argmin(nll))])
    # out-of-fold models learnt from fewer scenes than the final one, so with few scenes the
    # cross-validated temperature is pessimistic and noisy: shrink it towards 1 (in log) by the
    # weight n / (n + SHRINK_SCENES) of the n scenes seen
    n = len(set(scenes))
    weight = n / (n + SHRINK_SCENES)
    return float(np.exp(weight * np.log(t_cv))), float((logits.argmax(1) == y).mean())


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(all="ignore"):
        mean = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
        scale = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    scale = np.where(np.isnan(scale) | (scale < 1e-9), 1.0, scale)
    return mean, scale


def trainable_classes(labels: Sequence[str], allowed: Sequence[str],
                      min_per_class: int = MIN_PER_CLASS) -> tuple[str, ...]:
    """The classes (in ``allowed`` order) with at least ``min_per_class`` labels; ``unsure`` never."""
    counts = {c: 0 for c in allowed}
    for lab in labels:
        if lab in counts:
            counts[lab] += 1
    return tuple(c for c in allowed if c != "unsure" and counts[c] >= min_per_class)


def fit_model(x: np.ndarray, labels: Sequence[str], features: Sequence[str], allowed: Sequence[str], *,
              l2: float = L2, min_per_class: int = MIN_PER_CLASS,
              groups: Sequence[str] | None = None) -> SoftmaxModel:
    """Fit the classifier on feature rows ``x`` and their labels.

    ``groups`` names each row's scene (a store's dedupe group): the calibration's cross-validation
    keeps every scene in one fold. Without it each row is its own scene.

    Only classes of ``allowed`` (the store's taxonomy) with at least ``min_per_class`` labels are
    learnt; samples of other classes are left out.

    Raises:
        ConfigError: fewer than two classes have enough labels.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape != (len(labels), len(features)):
        raise ConfigError(f"fit_model: x has shape {x.shape}, expected ({len(labels)}, {len(features)})")
    classes = trainable_classes(labels, allowed, min_per_class)
    if len(classes) < 2:
        counts = {c: list(labels).count(c) for c in dict.fromkeys(labels)}
        raise ConfigError(f"too few labels to fit a model: need at least {min_per_class} consensus labels in each "
                          f"of two or more rain types, have {counts or 'none'}")
    keep = np.array([lab in classes for lab in labels])
    kept_groups = None if groups is None else [g for g, k in zip(groups, keep) if k]
    xs = x[keep]
    y = np.array([classes.index(lab) for lab, k in zip(labels, keep) if k])
    mean, scale = _moments(xs)
    w, b = _fit_weights(_standardise(xs, mean, scale), y, len(classes), l2)
    temperature, cv = _calibrate(xs, y, len(classes), l2, kept_groups)
    return SoftmaxModel(classes=classes, features=tuple(features), mean=tuple(map(float, mean)),
                        scale=tuple(map(float, scale)), coef=tuple(tuple(map(float, r)) for r in w),
                        intercept=tuple(map(float, b)), temperature=temperature, l2=l2, n_train=int(len(y)),
                        class_counts={c: int((y == i).sum()) for i, c in enumerate(classes)},
                        cv_accuracy=None if cv is None else round(cv, 4))
