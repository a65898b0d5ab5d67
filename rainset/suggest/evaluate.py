"""Accuracy of the suggestions on generated captures of known rain type, on a configuration not fitted on.

Two generator configurations of :mod:`rainset.synth`:

- ``train``: scene seeds from 0, the default rain parameters, 640×480 frames, the demo's
  exposure times (1/1000–1/60 s; streaks 1/30–1/8 s);
- ``test`` (held out): scene seeds from 100 000, the shifted rain parameters
  (``add_rain(held_out=True)``: fewer, longer, fainter drops, other wind angles, thinner haze),
  720×540 frames and other exposure times (1/800–1/90 s; streaks 1/25–1/6 s).

Every frame goes through a JPEG preview (quality 85, as ingest writes it) and
:func:`rainset.rainstats.measure`. The fitted model learns on ``train`` only; the rules were set on
renderer-1 scenes only; both are scored on ``test`` with accuracy and a confusion matrix. This is
one renderer's held-out configuration (``bench/suggest.py`` reads it); the honest checks, split by
scene and on a second renderer and real photos, are :mod:`rainset.suggest.validation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from rainset.rainstats import measure
from rainset.suggest.features import feature_names, matrix
from rainset.suggest.model import SoftmaxModel, fit_model
from rainset.suggest.rules import classify
from rainset.synth import add_rain, render_scene

CLASSES: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")


@dataclass(frozen=True)
class SynthConfig:
    """One generator configuration: seeds, rain parameters, frame size, exposure times."""

    name: str
    seed: int
    held_out: bool
    size: tuple[int, int]
    exposures: tuple[float, ...]
    streak_exposures: tuple[float, ...]


TRAIN = SynthConfig("train", 0, False, (640, 480), (1 / 1000, 1 / 500, 1 / 250, 1 / 125, 1 / 60),
                    (1 / 30, 1 / 15, 1 / 8))
TEST = SynthConfig("test", 100_000, True, (720, 540), (1 / 800, 1 / 400, 1 / 200, 1 / 90),
                   (1 / 25, 1 / 10, 1 / 6))


@dataclass(frozen=True)
class Scores:
    """Accuracy and confusion matrix (rows: truth, columns: suggestion, in ``classes`` order)."""

    accuracy: float
    confusion: list[list[int]]
    per_class_recall: dict[str, float]
    mean_confidence: float | None = None  # calibrated probabilities (fitted model and rules alike)


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of the fitted model and of the rules on the held-out configuration."""

    classes: tuple[str, ...]
    n_train: int
    n_test: int
    chance: float  # accuracy of always answering the most frequent test class
    fitted: Scores
    rules: Scores
    cv_accuracy: float | None
    model: dict
    train_config: dict
    test_config: dict

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"held-out accuracy on {self.n_test} generated captures (fitted on {self.n_train} others): "
               f"fitted model {self.fitted.accuracy:.3f}, rules {self.rules.accuracy:.3f}, chance {self.chance:.3f}",
               f"mean confidence: fitted model {self.fitted.mean_confidence} (a calibrated probability), "
               f"rules {self.rules.mean_confidence} (a calibrated probability)"]
        for title, s in (("fitted", self.fitted), ("rules", self.rules)):
            out.append(f"{title} confusion (rows truth, columns suggestion): " + " ".join(self.classes))
            out += [f"  {c:<10} " + " ".join(f"{v:>4}" for v in row) for c, row in zip(self.classes, s.confusion)]
        return out


def _preview(rgb: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def synth_measurements(config: SynthConfig, per_class: int,
                       classes: Sequence[str] = CLASSES) -> tuple[list[dict], list[str]]:
    """Generate ``per_class`` frames of each rain type and measure their JPEG previews."""
    width, height = config.size
    values, labels = [], []
    for i in range(per_class):
        for k, rain_type in enumerate(classes):
            n = i * len(classes) + k
            clean = render_scene(np.random.default_rng([config.seed, 1, n]), width, height)
            rng = np.random.default_rng([config.seed, 2, n])
            pool = config.streak_exposures if rain_type == "streak" else config.exposures
            exposure = float(pool[int(rng.integers(len(pool)))])
            rainy = add_rain(clean, rain_type, rng, exposure_time=exposure, held_out=config.held_out)
            values.append(measure(_preview(rainy), exposure_time=exposure, f_number=2.8, iso=400).to_dict())
            labels.append(rain_type)
    return values, labels


def scores(truth: Sequence[str], suggested: Sequence[str | None], classes: Sequence[str],
           confidences: Sequence[float] | None = None) -> Scores:
    """Accuracy and confusion matrix; a missing suggestion (None) counts as wrong and appears in no column."""
    index = {c: i for i, c in enumerate(classes)}
    confusion = [[0] * len(classes) for _ in classes]
    for t, s in zip(truth, suggested):
        if s in index:
            confusion[index[t]][index[s]] += 1
    correct = sum(t == s for t, s in zip(truth, suggested))
    recall = {c: round(confusion[i][i] / max(1, sum(1 for t in truth if t == c)), 4) for i, c in enumerate(classes)}
    mean = round(float(np.mean(confidences)), 4) if confidences is not None and len(confidences) else None
    return Scores(round(correct / max(1, len(truth)), 4), confusion, recall, mean)


def evaluate(train_per_class: int = 30, test_per_class: int = 20, classes: Sequence[str] = CLASSES,
             train: SynthConfig = TRAIN, test: SynthConfig = TEST) -> AccuracyReport:
    """Fit on ``train`` frames, score the model and the rules on ``test`` frames."""
    xs, ys = synth_measurements(train, train_per_class, classes)
    xt, yt = synth_measurements(test, test_per_class, classes)
    names = feature_names(xs)
    model: SoftmaxModel = fit_model(matrix(xs, names), ys, names, classes)
    probs = model.predict_proba(matrix(xt, names))
    fitted = [model.classes[int(p.argmax())] for p in probs]
    decisions = [classify(v, classes) for v in xt]
    rules = [(d.rain_type if d else None) for d in decisions]
    chance = max(yt.count(c) for c in classes) / len(yt)
    return AccuracyReport(tuple(classes), len(ys), len(yt), round(chance, 4),
                          scores(yt, fitted, classes, [float(p.max()) for p in probs]),
                          scores(yt, rules, classes, [d.confidence if d else 0.5 for d in decisions]),
                          model.cv_accuracy, model.to_dict(), asdict(train), asdict(test))
