"""Blind typing of generated captures by eye (issue 16, round 5): neutral names, a separate key, a score.

A set of captures whose rain type is known is shown under shuffled neutral names (``r2-07``), the
answer key kept in a separate file; a person types each image into a CSV (``name,rain_type,reason``)
before opening the key; :func:`score_typing` then compares the two. ``bench/suggest_eye.py`` renders
the images and runs the rules on the same captures.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rainset.errors import TypingError
from rainset.suggest.validation import RAIN_TYPES, balanced_accuracy, confusion, recalls

RAIN4: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed")


@dataclass(frozen=True)
class Blinded:
    """One capture under its neutral name: ``index`` is its place in the rendering order."""

    name: str
    index: int


def blind_names(count: int, prefix: str, seed: int) -> list[Blinded]:
    """``count`` captures (rendering order 0..count−1) under names ``prefix-01``… in a shuffled order:
    ``result[j]`` is the j-th name and the capture it shows. Every capture gets exactly one name."""
    order = np.random.default_rng(seed).permutation(count)
    width = max(2, len(str(count)))
    return [Blinded(f"{prefix}-{j + 1:0{width}d}", int(i)) for j, i in enumerate(order)]


def write_key(path: Path, key: Mapping[str, Mapping]) -> None:
    """The answer key: neutral name → what is known about the capture (``rain_type``, scene, …)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(key.items())), indent=1, default=float) + "\n")


def read_key(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text())


def read_typing(path: Path) -> dict[str, str]:
    """Neutral name → the rain type typed by eye, from a ``name,rain_type,reason`` CSV."""
    out: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name = row["name"].strip()
            if name in out:
                raise TypingError(f"{path}: {name} typed twice")
            out[name] = row["rain_type"].strip()
    return out


@dataclass(frozen=True)
class TypingScore:
    """Typed (by eye or by rules) against the key, on one set."""

    source: str
    images: int
    right: int
    balanced_accuracy: float  # mean recall over the five types present
    four_types: float  # mean recall over drizzle, heavy, streak, fog-mixed (those present)
    recall: dict[str, float]
    confusion: list[list[int]]  # rows truth, columns typed, in ``classes`` order
    classes: tuple[str, ...]


def score_typing(source: str, truth: Mapping[str, str], typed: Mapping[str, str | None],
                 classes: Sequence[str] = (*RAIN_TYPES, "not-usable")) -> TypingScore:
    """Score ``typed`` (name → type) against ``truth`` (name → type): every name of the key must be
    typed, and nothing else."""
    missing = sorted(set(truth) - set(typed))
    extra = sorted(set(typed) - set(truth))
    if missing or extra:
        raise TypingError(f"{source}: typing does not match the key (missing {missing[:5]}, unknown {extra[:5]})")
    names = sorted(truth)
    t = [truth[n] for n in names]
    g = [typed[n] for n in names]
    rec = recalls(t, g)
    rain = [rec[c] for c in RAIN4 if c in rec]
    return TypingScore(source, len(names), sum(a == b for a, b in zip(t, g)), round(balanced_accuracy(t, g), 4),
                       round(float(np.mean(rain)), 4) if rain else float("nan"),
                       {k: round(v, 4) for k, v in rec.items()}, confusion(t, g, classes), tuple(classes))
