"""Honest validation of the suggestions: every split by scene, never by capture (issue 16).

Three sources of captures with a known rain type and a known scene (the leakage family):

- :func:`renderer1_set`: :mod:`rainset.synth.rain` (the renderer the label-free rules are tuned on);
- :func:`renderer2_set`: :mod:`rainset.synth.depth_rain`, a second, independent renderer never
  used for tuning, at camera resolution (JPEG "originals" and their 1024-px previews);
- :func:`real_layer_set`: real rain layers (rainy − clean of the fixtures' Rain100H/L pairs,
  :mod:`rainset.synth.real_layers`) tiled at their own pixel size over renderer scenes at camera
  size, typed as their rainy photo is in ``tests/data/real_rain_types.csv`` (all ``streak``);
- :func:`real_set`: the fixtures' real photos typed by eye in ``tests/data/real_rain_types.csv``
  (committed before any tuning), scenes from its ``scene`` column (dedupe groups by eye).

Every capture is measured as ``measure_store`` does: :func:`rainset.rainstats.measure` on its
quality-85 JPEG preview (long side 1024) with the original as ``detail``.

Scores: :func:`balanced_accuracy` (mean recall over the types present), :func:`confusion`,
:func:`expected_calibration_error`; :func:`learning_curve` fits the model on the captures of N
scenes per type and scores it on the captures of the other scenes only; :func:`scene_folds`
gives the folds every cross-validation uses.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rainset.imageops import fit_long_side
from rainset.rainstats import measure
from rainset.synth import add_rain, render_scene
from rainset.suggest.features import feature_names, matrix
from rainset.suggest.folds import scene_folds  # noqa: F401 - the folds every cross-validation here uses
from rainset.suggest.model import fit_model
from rainset.suggest.rules import THRESHOLDS, Thresholds, classify
from rainset.synth.depth_rain import render_depth_rain
from rainset.synth.real_layers import RAIN100, fixture_pair_layers, rain_over

RAIN_TYPES: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")
PREVIEW_SIDE = 1024
PREVIEW_QUALITY = 85
CAMERA_QUALITY = 92


@dataclass
class LabelledSet:
    """Measured captures with their rain type and scene (``scenes[i]`` groups captures of one scene)."""

    name: str
    values: list[dict] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, values: dict, label: str, scene: str, file: str = "") -> None:
        self.values.append(values)
        self.labels.append(label)
        self.scenes.append(scene)
        self.files.append(file)

    def subset(self, keep: Sequence[int]) -> "LabelledSet":
        out = LabelledSet(self.name)
        for i in keep:
            out.add(self.values[i], self.labels[i], self.scenes[i], self.files[i])
        return out


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def measure_capture(original: np.ndarray, **exif: float) -> dict:
    """The stored measurements of one capture: its preview measured with the original as detail."""
    preview = _jpeg(fit_long_side(original, PREVIEW_SIDE, enlarge=False), PREVIEW_QUALITY)
    return measure(preview, detail=original, **exif).to_dict()


def renderer1_set(scenes_per_type: int, *, seed: int = 0, captures_per_scene: int = 1,
                  size: tuple[int, int] = (640, 480), types: Sequence[str] = RAIN_TYPES) -> LabelledSet:
    """Captures of the first renderer: one rain type per scene, new rain in every capture of a scene."""
    out = LabelledSet("renderer-1")
    exposures = (1 / 1000, 1 / 500, 1 / 250, 1 / 125, 1 / 60)
    streak_exposures = (1 / 30, 1 / 15, 1 / 8)
    for i in range(scenes_per_type):
        for k, rain_type in enumerate(types):
            n = i * len(types) + k
            clean = render_scene(np.random.default_rng([seed, 1, n]), *size)
            for c in range(captures_per_scene):
                rng = np.random.default_rng([seed, 2, n, c])
                pool = streak_exposures if rain_type == "streak" else exposures
                exposure = float(pool[int(rng.integers(len(pool)))])
                rainy = add_rain(clean, rain_type, rng, exposure_time=exposure)
                out.add(measure_capture(_jpeg(rainy, CAMERA_QUALITY), exposure_time=exposure, f_number=2.8, iso=400),
                        rain_type, f"r1-{seed}-{n}", f"r1/{n}/{c}")
    return out


def renderer2_set(scenes_per_type: int, *, seed: int = 500_000, captures_per_scene: int = 2,
                  size: tuple[int, int] = (1600, 1200), types: Sequence[str] = RAIN_TYPES,
                  progress: Callable[[int, int], None] | None = None) -> LabelledSet:
    """Captures of the second renderer (camera JPEGs at ``size``): one rain type per scene, a burst each."""
    out = LabelledSet("renderer-2")
    total, done = scenes_per_type * len(types) * captures_per_scene, 0
    for i in range(scenes_per_type):
        for k, rain_type in enumerate(types):
            n = i * len(types) + k
            scene_rng = np.random.default_rng([seed, 1, n])
            clean = render_scene(scene_rng, *size)
            depth = None
            for c in range(captures_per_scene):
                frame = render_depth_rain(clean, rain_type, np.random.default_rng([seed, 2, n, c]), depth=depth,
                                          fog_scale=1.0)
                depth = frame.depth
                exposure = frame.truth.exposure_time or 1 / 250
                out.add(measure_capture(_jpeg(frame.image, CAMERA_QUALITY), exposure_time=exposure,
                                        f_number=frame.truth.f_number or 8.0, iso=200),
                        rain_type, f"r2-{seed}-{n}", f"r2/{n}/{c}")
                done += 1
                if progress:
                    progress(done, total)
    return out


def read_real_types(path: Path) -> list[dict[str, str]]:
    """Rows of the real-photo typing file (path, rain_type, kind, scene, reason)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def real_set(fixtures: Path, types_file: Path, kinds: Sequence[str] = ("real", "derained")) -> LabelledSet:
    """The fixtures' photos of ``types_file`` whose kind is in ``kinds``, measured like captures."""
    out = LabelledSet("real")
    for row in read_real_types(types_file):
        if row["kind"] not in kinds:
            continue
        bgr = cv2.imread(str(fixtures / row["path"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{fixtures / row['path']}: not a readable image")
        out.add(measure_capture(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), row["rain_type"], row["scene"], row["path"])
    return out


def real_layer_set(fixtures: Path, types_file: Path, *, captures_per_layer: int = 2, seed: int = 700_000,
                   size: tuple[int, int] = (1600, 1200)) -> LabelledSet:
    """Real rain layers over renderer scenes (module docstring): each capture a new scene, its type the
    typing file's type of the rainy photo the layer came from."""
    typed = {r["path"]: r["rain_type"] for r in read_real_types(types_file)}
    rainy_path = {f"{kind}/{key}": rainy.format(key) for rainy, _, keys, kind in RAIN100 for key in keys}
    out = LabelledSet("real-layers")
    for k, layer in enumerate(fixture_pair_layers(fixtures)):
        label = typed.get(rainy_path.get(layer.name, ""))
        if label is None:
            raise ValueError(f"{layer.name}: its rainy photo is not typed in {types_file}")
        for c in range(captures_per_layer):
            rng = np.random.default_rng([seed, k, c])
            rainy = rain_over(render_scene(rng, *size), layer, rng)
            out.add(measure_capture(_jpeg(rainy, CAMERA_QUALITY)), label, f"rl-{seed}-{k}-{c}", f"{layer.name}/{c}")
    return out


# --- scores -------------------------------------------------------------------------------------


def confusion(truth: Sequence[str], suggested: Sequence[str | None], classes: Sequence[str]) -> list[list[int]]:
    """Rows: truth, columns: suggestion, in ``classes`` order (a suggestion outside them counts nowhere)."""
    index = {c: i for i, c in enumerate(classes)}
    out = [[0] * len(classes) for _ in classes]
    for t, s in zip(truth, suggested):
        if t in index and s in index:
            out[index[t]][index[s]] += 1
    return out


def recalls(truth: Sequence[str], suggested: Sequence[str | None]) -> dict[str, float]:
    """Recall of each type present in ``truth``."""
    out = {}
    for c in dict.fromkeys(truth):
        idx = [i for i, t in enumerate(truth) if t == c]
        out[c] = sum(suggested[i] == c for i in idx) / len(idx)
    return out


def balanced_accuracy(truth: Sequence[str], suggested: Sequence[str | None]) -> float:
    """Mean recall over the types present in ``truth``."""
    r = recalls(truth, suggested)
    return float(np.mean(list(r.values()))) if r else math.nan


def majority_baseline(truth: Sequence[str]) -> tuple[str, float, float]:
    """(majority type, its accuracy, its balanced accuracy = 1 / number of types present)."""
    types = list(dict.fromkeys(truth))
    top = max(types, key=truth.count)
    return top, truth.count(top) / len(truth), 1.0 / len(types)


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Σ over equal-width confidence bins of (share of captures) × |accuracy − mean confidence|."""
    conf = np.asarray(confidences, float)
    ok = np.asarray(correct, float)
    if conf.size == 0:
        return math.nan
    which = np.minimum((conf * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * abs(ok[sel].mean() - conf[sel].mean())
    return float(err)


def expected_overconfidence(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """The overconfident part of the ECE: Σ over bins of (share) × max(0, mean confidence − accuracy).

    An underconfident classifier (right more often than it claims) scores 0 here however large its
    ECE: it stays silent too often, but it never claims a wrong answer sure.
    """
    conf = np.asarray(confidences, float)
    ok = np.asarray(correct, float)
    if conf.size == 0:
        return math.nan
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum((which == b).mean() * max(0.0, conf[which == b].mean() - ok[which == b].mean())
                     for b in range(bins) if (which == b).any()))


def ece_floor(confidences: Sequence[float], *, draws: int = 2000, seed: int = 0, bins: int = 10) -> float:
    """The sampling floor of the ECE: its mean over ``draws`` imaginary outcomes in which each
    suggestion is right with exactly its confidence (a perfectly calibrated classifier).

    On a few dozen captures that mean is well above 0: it is how much of a measured ECE the
    set's size alone explains.
    """
    conf = np.asarray(confidences, float)
    if conf.size == 0:
        return math.nan
    rng = np.random.default_rng(seed)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    right = rng.random((draws, conf.size)) < conf
    err = np.zeros(draws)
    for b in range(bins):
        sel = which == b
        if sel.any():
            err += sel.mean() * np.abs(right[:, sel].mean(axis=1) - conf[sel].mean())
    return float(err.mean())


@dataclass(frozen=True)
class CurvePoint:
    """Fitted model trained on ``scenes_per_type`` labelled scenes per type, scored on the other scenes."""

    scenes_per_type: int
    train_captures: int
    test_captures: int
    balanced_accuracy: float
    accuracy: float
    ece: float
    repeats: int


def scene_split(scenes: Sequence[str], by_type: dict[str, list[str]], classes: Sequence[str], n: int,
                rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(train, test) capture indices: the captures of ``n`` random scenes per type to train on, every
    other scene's captures to test on — split by scene, never by capture."""
    train_scenes = {s for t in classes for s in rng.permutation(by_type.get(t, []))[:n]}
    train = [i for i, s in enumerate(scenes) if s in train_scenes]
    test = [i for i, s in enumerate(scenes) if s not in train_scenes]
    assert not {scenes[i] for i in train} & {scenes[i] for i in test}
    return train, test

def learning_curve(data: LabelledSet, sizes: Sequence[int], *, repeats: int = 3, classes: Sequence[str] = RAIN_TYPES,
                   seed: int = 0) -> tuple[list[CurvePoint], list[list[int]]]:
    """The fitted model after N labelled scenes per type, scored on captures of unseen scenes only.

    Returns the curve and the confusion matrix summed over the repeats of the smallest size.
    """
    by_type: dict[str, list[str]] = {}
    for s, t in zip(data.scenes, data.labels):
        if s not in by_type.setdefault(t, []):
            by_type[t].append(s)
    names = feature_names(data.values)
    points, first_confusion = [], [[0] * len(classes) for _ in classes]
    for n in sizes:
        bal, acc, ece, n_train, n_test = [], [], [], 0, 0
        for r in range(repeats):
            train, test = scene_split(data.scenes, by_type, classes, n, np.random.default_rng([seed, n, r]))
            model = fit_model(matrix([data.values[i] for i in train], names), [data.labels[i] for i in train], names,
                              classes, min_per_class=2, groups=[data.scenes[i] for i in train])
            probs = model.predict_proba(matrix([data.values[i] for i in test], names))
            guess = [model.classes[int(p.argmax())] for p in probs]
            truth = [data.labels[i] for i in test]
            bal.append(balanced_accuracy(truth, guess))
            acc.append(float(np.mean([g == t for g, t in zip(guess, truth)])))
            ece.append(expected_calibration_error(probs.max(axis=1), [g == t for g, t in zip(guess, truth)]))
            n_train, n_test = len(train), len(test)
            if n == sizes[0]:
                c = confusion(truth, guess, classes)
                first_confusion = [[a + b for a, b in zip(ra, rb)] for ra, rb in zip(first_confusion, c)]
        points.append(CurvePoint(n, n_train, n_test, round(float(np.mean(bal)), 4), round(float(np.mean(acc)), 4),
                                 round(float(np.mean(ece)), 4), repeats))
    return points, first_confusion


@dataclass(frozen=True)
class TransferPoint:
    """Fitted on N labelled scenes per type of one set; scored on its other scenes and on another set."""

    scenes_per_type: int
    train_captures: int
    unseen_captures: int
    unseen_balanced_accuracy: float  # the training set's other scenes
    unseen_ece: float
    other_captures: int
    other_balanced_accuracy: float  # every capture of the other set (another renderer)
    other_ece: float
    repeats: int


def _fit_score(data: LabelledSet, train: Sequence[int], tests: Sequence[tuple[LabelledSet, Sequence[int]]],
               names: Sequence[str], classes: Sequence[str]) -> list[tuple[float, float]]:
    model = fit_model(matrix([data.values[i] for i in train], names), [data.labels[i] for i in train], names,
                      classes, min_per_class=2, groups=[data.scenes[i] for i in train])
    out = []
    for test_set, idx in tests:
        probs = model.predict_proba(matrix([test_set.values[i] for i in idx], names))
        guess = [model.classes[int(p.argmax())] for p in probs]
        truth = [test_set.labels[i] for i in idx]
        out.append((balanced_accuracy(truth, guess),
                    expected_calibration_error(probs.max(axis=1), [g == t for g, t in zip(guess, truth)])))
    return out


def transfer_curve(data: LabelledSet, other: LabelledSet, sizes: Sequence[int], *, repeats: int = 3,
                   classes: Sequence[str] = RAIN_TYPES, seed: int = 0) -> list[TransferPoint]:
    """The fitted model after N labelled scenes per type of ``data``, scored on the other scenes of
    ``data`` and on every capture of ``other`` (a renderer it never saw)."""
    by_type: dict[str, list[str]] = {}
    for s, t in zip(data.scenes, data.labels):
        if s not in by_type.setdefault(t, []):
            by_type[t].append(s)
    names = feature_names(data.values)
    points = []
    for n in sizes:
        scores, n_train, n_test = [], 0, 0
        for r in range(repeats):
            train, test = scene_split(data.scenes, by_type, classes, n, np.random.default_rng([seed, n, r]))
            scores.append(_fit_score(data, train, [(data, test), (other, range(len(other.labels)))], names, classes))
            n_train, n_test = len(train), len(test)
        m = np.mean(np.array(scores), axis=0)
        points.append(TransferPoint(n, n_train, n_test, round(float(m[0, 0]), 4), round(float(m[0, 1]), 4),
                                    len(other.labels), round(float(m[1, 0]), 4), round(float(m[1, 1]), 4), repeats))
    return points


@dataclass(frozen=True)
class RulesScore:
    """The label-free rules on one labelled set."""

    source: str
    captures: int
    scenes: int
    balanced_accuracy: float  # mean recall over the types present
    balanced_accuracy_rain: float  # mean recall over drizzle, heavy, streak, fog-mixed (those present)
    recall: dict[str, float]
    confusion: list[list[int]]  # rows truth, columns suggestion, in ``classes`` order
    classes: tuple[str, ...]
    ece: float
    mean_confidence: float
    unsure_share: float  # suggestions below the unsure threshold
    sure_accuracy: float  # accuracy of the suggestions at or above it
    coverage: float = math.nan  # share of captures whose suggestion is shown (1 − unsure_share)
    shown_right: float = math.nan  # share of all captures shown and right (coverage × sure_accuracy)
    shown_wrong: float = math.nan  # share of all captures shown and wrong
    overconfidence: float = math.nan  # the overconfident part of the ECE (expected_overconfidence)
    ece_floor: float = math.nan  # the ECE a perfectly calibrated classifier would show here (ece_floor)


def score_rules(data: LabelledSet, taxonomy: Sequence[str], unsure_below: float,
                thresholds: Thresholds = THRESHOLDS, *, floor_draws: int = 0) -> RulesScore:
    """Balanced accuracy, confusion and calibration of the rules on ``data`` (with ``floor_draws``,
    also the ECE's sampling floor, :func:`ece_floor`)."""
    decisions = [classify(v, taxonomy, thresholds) for v in data.values]
    guess = [d.rain_type if d else None for d in decisions]
    conf = [d.confidence if d else 0.0 for d in decisions]
    right = [g == t for g, t in zip(guess, data.labels)]
    rec = recalls(data.labels, guess)
    rain = [rec[t] for t in ("drizzle", "heavy", "streak", "fog-mixed") if t in rec]
    classes = tuple(t for t in (*RAIN_TYPES, "not-usable") if t in taxonomy)
    sure = [i for i, c in enumerate(conf) if c >= unsure_below]
    return RulesScore(data.name, len(data.labels), len(set(data.scenes)), round(balanced_accuracy(data.labels, guess), 4),
                      round(float(np.mean(rain)), 4) if rain else math.nan, {k: round(v, 4) for k, v in rec.items()},
                      confusion(data.labels, guess, classes), classes,
                      round(expected_calibration_error(conf, right), 4), round(float(np.mean(conf)), 4),
                      round(1 - len(sure) / max(1, len(conf)), 4),
                      round(float(np.mean([right[i] for i in sure])), 4) if sure else math.nan,
                      round(len(sure) / max(1, len(conf)), 4),
                      round(sum(right[i] for i in sure) / max(1, len(conf)), 4),
                      round(sum(not right[i] for i in sure) / max(1, len(conf)), 4),
                      round(expected_overconfidence(conf, right), 4),
                      round(ece_floor(conf, draws=floor_draws), 4) if floor_draws else math.nan)


@dataclass(frozen=True)
class CalibrationChoice:
    """Which calibration becomes the default, by the round-3 criterion of docs/suggestions.md."""

    default: str
    eligible: tuple[str, ...]  # candidates with accurate enough shown suggestions and little overconfidence
    best: str | None  # the eligible candidate with the lowest ECE (ties: more shown and right)
    gain: float  # the baseline's ECE minus the best candidate's (NaN without an eligible candidate)


def choose_calibration(scores: Mapping[str, RulesScore], baseline: str, candidates: Sequence[str], *,
                       min_shown_accuracy: float = 0.90, max_overconfidence: float = 0.05, tie: float = 0.01,
                       min_gain: float = 0.02) -> CalibrationChoice:
    """Among ``candidates`` whose accuracy of shown ≥ ``min_shown_accuracy`` and overconfident part ≤
    ``max_overconfidence`` (on the criterion's set, ``scores``), the lowest ECE wins; within ``tie``
    of it, the most shown-and-right. It replaces ``baseline`` only when its ECE is at least
    ``min_gain`` lower."""
    eligible = tuple(m for m in candidates if scores[m].sure_accuracy >= min_shown_accuracy
                     and scores[m].overconfidence <= max_overconfidence)
    if not eligible:
        return CalibrationChoice(baseline, (), None, math.nan)
    lowest = min(scores[m].ece for m in eligible)
    best = max((m for m in eligible if scores[m].ece <= lowest + tie),
               key=lambda m: (scores[m].shown_right, -scores[m].ece))
    gain = round(scores[baseline].ece - scores[best].ece, 4)
    return CalibrationChoice(best if gain >= min_gain - 1e-9 else baseline, eligible, best, gain)


# --- measured sets on disk (the bench measures once, scores many rule sets) ----------------------


def save_set(data: LabelledSet, path: Path) -> None:
    """Write a measured set as JSON (measurements, labels, scenes, files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": data.name, "values": data.values, "labels": data.labels,
                                "scenes": data.scenes, "files": data.files}, default=float) + "\n")


def load_set(path: Path) -> LabelledSet:
    """Read a set written by :func:`save_set`."""
    raw = json.loads(path.read_text())
    return LabelledSet(raw["name"], raw["values"], raw["labels"], raw["scenes"], raw["files"])


def union(name: str, sets: Sequence[LabelledSet]) -> LabelledSet:
    """One set holding the captures of ``sets`` (scenes stay distinct: each set's scene names are prefixed)."""
    out = LabelledSet(name)
    for k, data in enumerate(sets):
        for v, lab, scene, f in zip(data.values, data.labels, data.scenes, data.files):
            out.add(v, lab, f"{k}:{scene}", f)
    return out
