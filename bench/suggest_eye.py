"""Can the eye type the renderers' rain? A blind human ceiling for the suggestions (issue 16, round 5).

One command renders the two blind sets, and the same command with ``--score`` scores a typing of them
(docs/suggestions.md, "Round 5: how well the eye types each renderer"):

    python bench/suggest_eye.py                      # images + answer key (prints no type)
    # ... type every image into bench/results/suggest_eye_typing.csv (name,rain_type,reason) ...
    python bench/suggest_eye.py --score --out bench/results/suggest_eye.json

Sets (the captures of :mod:`rainset.suggest.validation`, same random draws, via
``bench/suggest_layer.py``'s generators), 6 scenes per type × 5 types, 1 capture each:

- renderer 2 (:mod:`rainset.synth.depth_rain`), seed 990001, 1600×1200 camera JPEGs → names ``r2-NN``;
- renderer 1 (:mod:`rainset.synth.rain`), seed 990002, 640×480 camera JPEGs → names ``r1-NN``.

For each capture, under ``--cache/images``: ``NAME.jpg``, the preview exactly as the store keeps it
(long side 1024, never enlarged, JPEG quality 85), and ``NAME-crop.png``, the centre 512×512 of the
camera JPEG at 100 % (renderer 1's 640×480 frames give 512×480); ``NAME-preview.png`` is the
preview JPEG decoded, stored losslessly for viewers that show PNG only. Names are shuffled per set
(:func:`rainset.suggest.blind.blind_names`); the answer key (type, scene, and the rules' decisions on
the same capture, measured as ``rainset suggest`` measures it) goes to a separate file,
``--cache/key.json``, which rendering never prints. Rendering and measuring run in this one process.

``--score`` reads the key and the typing and prints, per renderer, balanced accuracy over the five
types and over the four rain types, recall per type and the confusion matrix, for the eye and for
the rules on the same images (rules-v4, the round's baseline, and the default rules-v5).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rainset.suggest.blind import RAIN4, TypingScore, read_key, read_typing, score_typing, write_blind_set, write_key
from rainset.suggest.rules import RULES_MODEL, RULES_V4, THRESHOLDS, classify
from rainset.suggest.validation import RAIN_TYPES, measure_capture
from run_record import finish_run  # bench/ is on sys.path
from suggest_layer import renderer1, renderer2  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = (*RAIN_TYPES, "not-usable")
SCENES_PER_TYPE = 6
SETS = (("r2", "renderer 2 (depth_rain), seed 990001", 990001), ("r1", "renderer 1 (rain), seed 990002", 990002))


def captures(prefix: str, seed: int):
    return renderer2(SCENES_PER_TYPE, seed, 1) if prefix == "r2" else renderer1(SCENES_PER_TYPE, seed)


RULES = {"rules-v4": RULES_V4, RULES_MODEL: THRESHOLDS}  # the round's baseline, and the default (rules-v5's decisions)


def rules_decision(original: np.ndarray, exif: dict) -> dict:
    """The rules on the capture, measured as ``rainset suggest`` measures it (the key's ``rules``:
    rules-v4, the round's baseline, and the default rules)."""
    values = measure_capture(original, **exif)
    out = {}
    for model, t in RULES.items():
        d = classify(values, TAXONOMY, t)
        out[model] = {"rain_type": d.rain_type if d else None, "confidence": d.confidence if d else None}
    return {"rules": out, "measurements": values}


def render(cache: Path) -> Path:
    """Write every set's previews and crops under neutral names, and the key; returns the key's path."""
    images, key_path = cache / "images", cache / "key.json"
    if key_path.is_file():
        print(f"{key_path} exists: nothing rendered", file=sys.stderr)
        return key_path
    key: dict[str, dict] = {}
    for prefix, _, seed in SETS:
        t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        count = SCENES_PER_TYPE * len(RAIN_TYPES)
        key.update(write_blind_set(captures(prefix, seed), count, prefix, seed, images, rules_decision))
        print(f"{prefix}: {count} captures rendered and measured, {time.perf_counter() - t0:.0f} s wall, "
              f"{time.process_time() - c0:.0f} s CPU, load {load0:.1f} → {os.getloadavg()[0]:.1f}", file=sys.stderr)
    write_key(key_path, key)
    print(f"images: {images} ({len(key)} previews + crops); key (do not open before typing): {key_path}")
    return key_path


def table(scores: list[TypingScore]) -> list[str]:
    out = ["| set | typed by | images | right | balanced accuracy (5 types) | four rain types | " +
           " | ".join(f"recall {t}" for t in RAIN_TYPES) + " |", "|---|---|---|---|---|---|" + "---|" * len(RAIN_TYPES)]
    for s in scores:
        rec = " | ".join(f"{s.recall[t]:.2f}" if t in s.recall else "" for t in RAIN_TYPES)
        out.append(f"| {s.source} | {s.images} | {s.right} | {s.balanced_accuracy:.3f} | {s.four_types:.3f} | {rec} |")
    return out


def confusion_lines(s: TypingScore) -> list[str]:
    cols = [c for j, c in enumerate(s.classes) if any(row[j] for row in s.confusion) or c in RAIN_TYPES]
    idx = [s.classes.index(c) for c in cols]
    out = [f"\n{s.source} (rows truth, columns typed):\n", "| truth \\ typed | " + " | ".join(cols) + " |",
           "|---|" + "---|" * len(cols)]
    for t, row in zip(s.classes, s.confusion):
        if sum(row):
            out.append(f"| {t} | " + " | ".join(str(row[j]) for j in idx) + " |")
    return out


def score(key_path: Path, typing_path: Path) -> dict:
    key, typed = read_key(key_path), read_typing(typing_path)
    result: dict = {"typing": str(typing_path), "scores": {}, "key": key}
    scores = []
    for prefix, shown, _ in SETS:
        names = [n for n in key if n.startswith(prefix + "-")]
        truth = {n: key[n]["rain_type"] for n in names}
        eye = score_typing(f"{shown} | eye", truth, {n: t for n, t in typed.items() if n.startswith(prefix + "-")},
                           TAXONOMY)
        scores.append(eye)
        result["scores"][prefix] = {"eye": asdict(eye)}
        for model in key[names[0]]["rules"]:
            rules = score_typing(f"{shown} | {model}", truth, {n: key[n]["rules"][model]["rain_type"] for n in names},
                                 TAXONOMY)
            scores.append(rules)
            result["scores"][prefix][model] = asdict(rules)
    print("\n".join(table(scores)))
    for s in scores:
        print("\n".join(confusion_lines(s)))
    print("\nfour rain types:", ", ".join(RAIN4))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/s17-eye-cache"))
    ap.add_argument("--score", action="store_true", help="score the typing against the key (opens the key)")
    ap.add_argument("--typing", type=Path, default=ROOT / "bench" / "results" / "suggest_eye_typing.csv")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0, load0 = time.perf_counter(), os.getloadavg()
    key_path = render(args.cache)
    if args.score:
        finish_run(score(key_path, args.typing), args.out, t0, load0)


if __name__ == "__main__":
    main()
