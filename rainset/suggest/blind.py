"""Blind typing of generated captures by eye (issue 16, round 5): neutral names, a separate key, a score.

A set of captures whose rain type is known is shown under shuffled neutral names (``r2-07``), the
answer key kept in a separate file; a person types each image into a CSV (``name,rain_type,reason``)
before opening the key; :func:`score_typing` then compares the two. ``bench/suggest_eye.py`` renders
the images and runs the rules on the same captures.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rainset.errors import TypingError
from rainset.imageops import fit_long_side
from rainset.suggest.validation import PREVIEW_QUALITY, PREVIEW_SIDE, RAIN_TYPES, balanced_accuracy, confusion, recalls

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


CROP = 512

# one capture: original RGB, rain type, scene, file, EXIF (bench/suggest_layer.py's Capture)
Capture = tuple[np.ndarray, str, str, str, dict]


def centre_crop(img: np.ndarray, side: int = CROP) -> np.ndarray:
    """The centre ``side``×``side`` of ``img`` at 100 % (as much of it as the frame holds)."""
    h, w = img.shape[:2]
    ch, cw = min(side, h), min(side, w)
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def write_blind_set(captures: Iterable[Capture], count: int, prefix: str, seed: int, folder: Path,
                    describe: Callable[[np.ndarray, dict], dict] | None = None) -> dict[str, dict]:
    """Write ``count`` captures under their neutral names (:func:`blind_names`) into ``folder``:
    ``NAME.jpg``, the preview as the store keeps it (long side 1024, never enlarged, JPEG quality 85);
    ``NAME-preview.png``, that preview decoded, stored losslessly (for viewers that show PNG only);
    ``NAME-crop.png``, the centre 512×512 of the original at 100 %. Returns the key entries (name →
    rain type, scene, file, size, and ``describe(original, exif)``'s keys), for :func:`write_key`."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {b.index: b.name for b in blind_names(count, prefix, seed)}
    key: dict[str, dict] = {}
    for i, (original, label, scene, file, exif) in enumerate(captures):
        if i not in names:
            raise ValueError(f"{prefix}: more than {count} captures")
        name = names[i]
        preview = cv2.cvtColor(fit_long_side(original, PREVIEW_SIDE, enlarge=False), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"{name}.jpg"), preview, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
        cv2.imwrite(str(folder / f"{name}-preview.png"), cv2.imread(str(folder / f"{name}.jpg"), cv2.IMREAD_COLOR))
        cv2.imwrite(str(folder / f"{name}-crop.png"), cv2.cvtColor(centre_crop(original), cv2.COLOR_RGB2BGR))
        key[name] = {"rain_type": label, "scene": scene, "file": file, "size": [original.shape[1], original.shape[0]],
                     **(describe(original, exif) if describe else {})}
    if len(key) != count:
        raise ValueError(f"{prefix}: {len(key)} captures, {count} expected")
    return key


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
