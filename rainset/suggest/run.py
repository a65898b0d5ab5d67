"""``rainset suggest``: measure what is missing, choose a classifier, write one suggestion per capture.

Suggestions are never labels: they go to the ``suggestions`` table only (one current row per
active capture), never to ``labels``, and manifests never export them as ``rain_type``.

A fitted model is stored once, as a ``versions`` row of kind ``suggest-model`` named
``suggest-<model id>`` whose ``info`` holds every parameter (:class:`SoftmaxModel`); each
suggestion's ``info`` names it (``model_version``) and keeps the class probabilities, so a
suggestion can be reproduced from the catalog alone. Rule suggestions keep the tests that decided.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Capture, GroupMember, Version
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import ConfigError
from rainset.labels.consensus import current_labels
from rainset.labels.taxonomy import store_taxonomy
from rainset.rainstats import load_stats, measure_store
from rainset.store import Store
from rainset.suggest.features import feature_names, matrix, merge_sources
from rainset.suggest.model import SoftmaxModel, fit_model, trainable_classes
from rainset.suggest.rules import RULES_MODEL, THRESHOLDS, classify

MODELS = ("auto", "rules", "fitted")
MODEL_KIND = "suggest-model"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SuggestResult:
    """What ``rainset suggest`` did (its ``--json`` output)."""

    model: str  # rules-v1 or logreg-<model id>
    kind: str  # rules | fitted
    features: str  # preview | rain-layer
    model_version: str | None  # versions row of the fitted model
    captures: int  # active captures
    measured: int  # measurements written by this run (previews, rain layers)
    suggested: int
    unmeasured: int  # active captures without measurements: no suggestion
    changed: int  # suggestions written or replaced (0 on an identical re-run)
    by_type: dict[str, int]
    mean_confidence: float | None
    labelled: int  # captures with a consensus label
    agree_with_labels: int  # of those, suggestion == consensus (on fitted models: training data)
    cv_accuracy: float | None  # the fitted model's cross-validated accuracy
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        conf = "n/a" if self.mean_confidence is None else f"{self.mean_confidence:.2f}"
        types = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_type.items())) or "none"
        cv = "" if self.cv_accuracy is None else f", cross-validated accuracy {self.cv_accuracy:.3f}"
        lines = [f"suggest: {self.suggested} of {self.captures} captures with {self.model} on {self.features} "
                 f"measurements ({types}); mean confidence {conf}{cv}; {self.changed} changed, "
                 f"{self.measured} measured in {self.seconds:.1f} s"]
        if self.labelled:
            lines.append(f"  suggestions equal to the consensus label on {self.agree_with_labels}/{self.labelled} "
                         "labelled captures")
        if self.unmeasured:
            lines.append(f"  {self.unmeasured} captures without measurements (no preview): no suggestion")
        return lines


@dataclass(frozen=True)
class _Choice:
    rain_type: str
    confidence: float
    info: dict[str, Any]


def _active_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Capture.id).where(Capture.status == "active").order_by(Capture.id)))


def load_measurements(session: Session, ids: list[str], *, rain_layer: bool) -> dict[str, dict[str, Any]]:
    """Preview measurements of each capture that has them, plus ``rl_``-prefixed rain-layer ones."""
    preview = load_stats(session, ids, source="preview")
    layer = load_stats(session, ids, source="rain-layer") if rain_layer else {}
    return {cid: merge_sources(v, layer.get(cid)) for cid, v in preview.items()}


def scene_groups(session: Session, ids: list[str]) -> dict[str, str]:
    """Capture id → its scene: the connected component of the dedupe groups (clusters, bursts, scenes)
    it belongs to, named by its smallest capture id; a capture in no group is its own scene."""
    parent: dict[str, str] = {cid: cid for cid in ids}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    members: dict[int, list[str]] = {}
    for gid, cid in session.execute(select(GroupMember.group_id, GroupMember.capture_id)):
        if cid in parent:
            members.setdefault(gid, []).append(cid)
    for group in members.values():
        for other in group[1:]:
            a, b = find(group[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {cid: find(cid) for cid in ids}


def _fit(values: dict[str, dict[str, Any]], labels: dict[str, str], taxonomy: tuple[str, ...],
         rain_layer: bool, scenes: dict[str, str] | None = None) -> SoftmaxModel:
    names = feature_names(list(values.values()), rain_layer=rain_layer)
    train = [cid for cid in sorted(labels) if cid in values]
    groups = [scenes.get(c, c) for c in train] if scenes is not None else None
    return fit_model(matrix([values[c] for c in train], names), [labels[c] for c in train], names, taxonomy,
                     groups=groups)


def _fit_check(labels: list[str], taxonomy: tuple[str, ...]) -> None:
    """Raise the fitting error early when the labels cannot give two classes."""
    if len(trainable_classes(labels, taxonomy)) < 2:
        fit_model(np.zeros((len(labels), 0)), labels, (), taxonomy)


def _store_model(session: Session, model: SoftmaxModel, features: str) -> str:
    name = f"suggest-{model.model_id}"
    if session.scalar(select(Version.id).where(Version.kind == MODEL_KIND, Version.name == name)) is None:
        session.add(Version(name=name, kind=MODEL_KIND, parent=None, path="",
                            info={**model.to_dict(), "features_source": features, "model_id": model.model_id}))
        session.flush()
    return name


def stored_model(session: Session, name: str | None = None) -> SoftmaxModel | None:
    """A fitted model from its ``versions`` row (default: the newest), or None when there is none."""
    query = select(Version).where(Version.kind == MODEL_KIND)
    query = query.where(Version.name == name) if name else query.order_by(Version.id.desc()).limit(1)
    row = session.scalar(query)
    return SoftmaxModel.from_dict(row.info) if row else None


def _choose_kind(model: str, labels: dict[str, str], values: dict[str, Any], taxonomy: tuple[str, ...]) -> str:
    if model not in MODELS:
        raise ConfigError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    if model != "auto":
        return model
    labelled = [lab for cid, lab in labels.items() if cid in values]
    return "fitted" if len(trainable_classes(labelled, taxonomy)) >= 2 else "rules"


def _classify_all(values: dict[str, dict[str, Any]], kind: str, fitted: SoftmaxModel | None, version: str | None,
                  taxonomy: tuple[str, ...]) -> dict[str, _Choice]:
    choices: dict[str, _Choice] = {}
    ids = sorted(values)
    if kind == "fitted" and fitted is not None:
        probs = fitted.predict_proba(matrix([values[c] for c in ids], fitted.features)) if ids else []
        for cid, p in zip(ids, probs):
            k = int(p.argmax())
            choices[cid] = _Choice(fitted.classes[k], round(float(p[k]), 4),
                                   {"model_version": version,
                                    "probabilities": {c: round(float(v), 4) for c, v in zip(fitted.classes, p)}})
        return choices
    for cid in ids:
        decision = classify(values[cid], taxonomy)
        if decision is not None:
            choices[cid] = _Choice(decision.rain_type, decision.confidence,
                                   {"reason": list(decision.reason), "margin": decision.margin,
                                    "thresholds": THRESHOLDS.to_dict()})
    return choices


def _write(session: Session, choices: dict[str, _Choice], model: str, features: str) -> int:
    """Upsert the suggestions; drop those of captures no longer active or no longer suggested."""
    existing = {s.capture_id: s for s in session.scalars(select(Suggestion))}
    stale = [cid for cid in existing if cid not in choices]
    for start in range(0, len(stale), 500):
        session.execute(delete(Suggestion).where(Suggestion.capture_id.in_(stale[start:start + 500])))
    changed = 0
    for cid, c in choices.items():
        row = existing.get(cid)
        if row is not None and (row.rain_type, row.confidence, row.model, row.features, row.info) == (
                c.rain_type, c.confidence, model, features, c.info):
            continue
        changed += 1
        if row is None:
            session.add(Suggestion(capture_id=cid, rain_type=c.rain_type, confidence=c.confidence, model=model,
                                   features=features, info=c.info))
        else:
            row.rain_type, row.confidence, row.model, row.features, row.info = (
                c.rain_type, c.confidence, model, features, c.info)
    session.flush()
    return changed + len(stale)


def suggest_store(store: Store, *, checkpoint: str | Path | None = None, model: str = "auto",
                  progress: Progress | None = None) -> SuggestResult:
    """Suggest a rain type for every active capture of ``store``.

    Measures what is missing first (:func:`rainset.rainstats.measure_store`), then classifies
    with the rules (``model="rules"``), a model fitted on the store's consensus labels
    (``"fitted"``), or the fitted model when at least two rain types have enough labels and the
    rules otherwise (``"auto"``).

    Args:
        store: the store.
        checkpoint: an NLCL checkpoint: its rain-layer measurements become extra features.
        model: ``auto``, ``rules`` or ``fitted``.
        progress: ``progress(done, total)`` callback of the measuring step.

    Raises:
        ConfigError: an unknown ``model``, or ``fitted`` without enough labels.
    """
    t0 = time.perf_counter()
    if model not in MODELS:
        raise ConfigError(f"--model {model!r}: expected one of {', '.join(MODELS)}")
    taxonomy = store_taxonomy(store).rain_types
    if model == "fitted":  # refuse before measuring anything
        with catalog_session(store.db_url) as session:
            _fit_check([lab.rain_type for lab in current_labels(session, _active_ids(session)).values()
                        if lab.rain_type], taxonomy)
    measured = measure_store(store, checkpoint=checkpoint, progress=progress)
    with catalog_session(store.db_url) as session:
        active = _active_ids(session)
        values = load_measurements(session, active, rain_layer=checkpoint is not None)
        consensus = {cid: lab.rain_type for cid, lab in current_labels(session, active).items() if lab.rain_type}
        kind = _choose_kind(model, consensus, values, taxonomy)
        rain_layer = checkpoint is not None and any(k.startswith("rl_") for v in values.values() for k in v)
        fitted = _fit(values, consensus, taxonomy, rain_layer, scene_groups(session, active)) \
            if kind == "fitted" else None
        features = "rain-layer" if fitted is not None and any(f.startswith("rl_") for f in fitted.features) \
            else "preview"
        version = _store_model(session, fitted, features) if fitted is not None else None
        name = f"logreg-{fitted.model_id}" if fitted is not None else RULES_MODEL
        choices = _classify_all(values, kind, fitted, version, taxonomy)
        changed = _write(session, choices, name, features)
    labelled = [cid for cid in consensus if cid in choices]
    confs = [c.confidence for c in choices.values()]
    return SuggestResult(
        model=name, kind=kind, features=features, model_version=version, captures=len(active),
        measured=measured.measured + measured.layer_measured, suggested=len(choices),
        unmeasured=len(active) - len(values),
        changed=changed, by_type=dict(sorted(Counter(c.rain_type for c in choices.values()).items())),
        mean_confidence=round(sum(confs) / len(confs), 4) if confs else None, labelled=len(labelled),
        agree_with_labels=sum(choices[c].rain_type == consensus[c] for c in labelled),
        cv_accuracy=fitted.cv_accuracy if fitted is not None else None, seconds=round(time.perf_counter() - t0, 2))
