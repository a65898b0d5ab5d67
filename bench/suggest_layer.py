"""Rain-layer rules on the released NLCL G_B against rules-v4, on the same captures (issue 16, round 3b).

One command gives the "Rain-layer rules (released NLCL)" tables of docs/suggestions.md:

    python bench/suggest_layer.py --generator ../shared/reference/nlcl-official/latest_net_Back.pth \\
        --out bench/results/suggest_layer.json

Every capture is measured as ``rainset suggest --checkpoint`` measures it: the frame's own
measurements (:func:`rainset.suggest.validation.measure_capture`: the quality-85 1024-px preview
with the original as detail; what rules-v4 reads) and the rain layer R = O − G_B(O) of that
preview (:func:`rainset.rainstats.rain_layer_stats`), under ``rl_`` names. Sets (the captures of
:mod:`rainset.suggest.validation`, same seeds and random draws), measured once and cached as
JSON under ``--cache`` (``bench/results/``, git-ignored):

- renderer 1 seed 0, 16 scenes per type: the only set thresholds are tuned on;
- renderer 1 seed 1 (16 per type) and the renderer-2 tuning set (seed 940001, 10 scenes per
  type, 2 captures each): confidences only; the latter also is the renderer-2 side of the
  transfer table (which measurement keeps its renderer-1 threshold), never a test set;
- fresh renderer-2 test sets (seeds ``--fresh-seeds``, 8 scenes per type, 1 capture each), the
  real rain layers and the real photos of ``tests/data/real_rain_types.csv``: scored only.

``--sets NAME,...`` measures only those sets (to spread the measuring over processes) and stops.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from rainset.imageops import fit_long_side
from rainset.rainstats import ALGO_VERSION, rain_layer_stats
from rainset.suggest.features import merge_sources
from rainset.suggest.layer_rules import (
    CANDIDATES,
    LAYER_RULES_MODEL,
    RULES_V4_FEATURES,
    calibrate,
    choose,
    classify_layer,
    transfer_table,
    tune,
)
from rainset.suggest.rules import RULES_MODEL, THRESHOLDS, RuleDecision, classify
from rainset.suggest.shift import SPLITS, medians
from rainset.suggest.validation import (
    CAMERA_QUALITY,
    PREVIEW_QUALITY,
    PREVIEW_SIDE,
    RAIN_TYPES,
    LabelledSet,
    RulesScore,
    balanced_accuracy,
    confusion,
    expected_calibration_error,
    expected_overconfidence,
    load_set,
    measure_capture,
    read_real_types,
    recalls,
    save_set,
)
from rainset.suggestions import UNSURE_BELOW
from rainset.synth import add_rain, render_scene
from rainset.synth.depth_rain import render_depth_rain
from rainset.synth.real_layers import RAIN100, fixture_pair_layers, rain_over

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT.parent / "shared" / "reference" / "nlcl-official" / "latest_net_Back.pth"
TYPES_FILE = ROOT / "tests" / "data" / "real_rain_types.csv"
TAXONOMY = (*RAIN_TYPES, "not-usable")
COLUMNS = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable")
Capture = tuple[np.ndarray, str, str, str, dict]  # original RGB, rain type, scene, file, EXIF


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` through a JPEG of ``quality`` (the captures' camera files and previews)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def renderer1(scenes_per_type: int, seed: int) -> Iterator[Capture]:
    """The captures of :func:`rainset.suggest.validation.renderer1_set` (same draws), unmeasured."""
    exposures = (1 / 1000, 1 / 500, 1 / 250, 1 / 125, 1 / 60)
    streak_exposures = (1 / 30, 1 / 15, 1 / 8)
    for i in range(scenes_per_type):
        for k, rain_type in enumerate(RAIN_TYPES):
            n = i * len(RAIN_TYPES) + k
            clean = render_scene(np.random.default_rng([seed, 1, n]), 640, 480)
            rng = np.random.default_rng([seed, 2, n, 0])
            pool = streak_exposures if rain_type == "streak" else exposures
            exposure = float(pool[int(rng.integers(len(pool)))])
            rainy = add_rain(clean, rain_type, rng, exposure_time=exposure)
            yield (jpeg(rainy, CAMERA_QUALITY), rain_type, f"r1-{seed}-{n}", f"r1/{n}/0",
                   dict(exposure_time=exposure, f_number=2.8, iso=400))


def renderer2(scenes_per_type: int, seed: int, captures: int) -> Iterator[Capture]:
    """The captures of :func:`rainset.suggest.validation.renderer2_set` at 1600×1200 (same draws)."""
    for i in range(scenes_per_type):
        for k, rain_type in enumerate(RAIN_TYPES):
            n = i * len(RAIN_TYPES) + k
            clean = render_scene(np.random.default_rng([seed, 1, n]), 1600, 1200)
            depth = None
            for c in range(captures):
                frame = render_depth_rain(clean, rain_type, np.random.default_rng([seed, 2, n, c]), depth=depth,
                                          fog_scale=1.0)
                depth = frame.depth
                yield (jpeg(frame.image, CAMERA_QUALITY), rain_type, f"r2-{seed}-{n}", f"r2/{n}/{c}",
                       dict(exposure_time=frame.truth.exposure_time or 1 / 250,
                            f_number=frame.truth.f_number or 8.0, iso=200))


def real_layers(fixtures: Path, seed: int = 700_000, per_layer: int = 4) -> Iterator[Capture]:
    """The captures of :func:`rainset.suggest.validation.real_layer_set` (same draws)."""
    typed = {r["path"]: r["rain_type"] for r in read_real_types(TYPES_FILE)}
    rainy_path = {f"{kind}/{key}": rainy.format(key) for rainy, _, keys, kind in RAIN100 for key in keys}
    for k, layer in enumerate(fixture_pair_layers(fixtures)):
        for c in range(per_layer):
            rng = np.random.default_rng([seed, k, c])
            rainy = rain_over(render_scene(rng, 1600, 1200), layer, rng)
            yield (jpeg(rainy, CAMERA_QUALITY), typed[rainy_path[layer.name]], f"rl-{seed}-{k}-{c}",
                   f"{layer.name}/{c}", {})


def real_photos(fixtures: Path) -> Iterator[Capture]:
    """The real and derained photos of ``tests/data/real_rain_types.csv`` (the test set)."""
    for row in read_real_types(TYPES_FILE):
        if row["kind"] in ("real", "derained"):
            bgr = cv2.imread(str(fixtures / row["path"]), cv2.IMREAD_COLOR)
            if bgr is None:
                raise FileNotFoundError(f"{fixtures / row['path']}: not a readable image")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), row["rain_type"], row["scene"], row["path"], {}


def measure_both(captures: Iterator[Capture], generator: Path, name: str) -> LabelledSet:
    """Each capture's own measurements and its rain layer's (``rl_``), as ``rainset suggest --checkpoint``."""
    out = LabelledSet(name)
    for original, label, scene, file, exif in captures:
        preview = jpeg(fit_long_side(original, PREVIEW_SIDE, enlarge=False), PREVIEW_QUALITY)
        own = measure_capture(original, **exif)
        layer = rain_layer_stats(preview, generator, **exif).to_dict()
        out.add(merge_sources(own, layer), label, scene, file)
    return out


def set_makers(args: argparse.Namespace) -> dict[str, tuple[str, Callable[[], Iterator[Capture]]]]:
    """Cache name → (shown name, captures) of every set."""
    sets: dict[str, tuple[str, Callable[[], Iterator[Capture]]]] = {
        "renderer1-seed0-16": ("renderer 1, seed 0 (thresholds)", lambda: renderer1(16, 0)),
        "renderer1-seed1-16": ("renderer 1, seed 1 (calibration)", lambda: renderer1(16, 1)),
        f"renderer2-seed{args.tune_seed}-10x2": (f"renderer 2, seed {args.tune_seed} (calibration, transfer)",
                                                 lambda: renderer2(10, args.tune_seed, 2)),
    }
    for s in (int(v) for v in args.fresh_seeds.split(",")):
        sets[f"renderer2-seed{s}-{args.fresh_scenes}x1"] = (f"renderer 2, seed {s} (test)",
                                                            lambda s=s: renderer2(args.fresh_scenes, s, 1))
    if (args.fixtures / "SOURCES.md").is_file():
        sets["real-layers-700000x4"] = ("real rain layers (test)", lambda: real_layers(args.fixtures))
        sets["real-photos"] = ("real photos (test set)", lambda: real_photos(args.fixtures))
    return sets


def cached(cache: Path, key: str, shown: str, make: Callable[[], Iterator[Capture]], generator: Path,
           tag: str) -> LabelledSet:
    """The set measured once and kept as ``cache/layer-<tag>-<key>-a<ALGO_VERSION>.json``."""
    path = cache / f"layer-{tag}-{key}-a{ALGO_VERSION}.json"
    if path.is_file():
        data = load_set(path)
    else:
        t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        data = measure_both(make(), generator, key)
        save_set(data, path)
        print(f"measured {key}: {len(data.labels)} captures, {time.perf_counter() - t0:.0f} s wall, "
              f"{time.process_time() - c0:.0f} s CPU, load {load0:.1f} → {os.getloadavg()[0]:.1f}", file=sys.stderr)
    data.name = shown
    return data


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generator", type=Path, default=RELEASED, help="G_B: released latest_net_Back.pth (default)")
    ap.add_argument("--fresh-seeds", default="970001,970002")
    ap.add_argument("--fresh-scenes", type=int, default=8)
    ap.add_argument("--tune-seed", type=int, default=940001)
    ap.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "suggest_sets")
    ap.add_argument("--sets", default="", help="measure only these cache names (comma-separated), then stop")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=None)
    return ap.parse_args()


def main() -> None:
    args = parse()
    import torch  # heavy: only to set the thread count of G_B

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    tag = "released" if args.generator.resolve() == RELEASED.resolve() else args.generator.stem
    makers = set_makers(args)
    if args.sets:
        for key in args.sets.split(","):
            shown, make = makers[key]
            cached(args.cache, key, shown, make, args.generator, tag)
        return
    sets = {key: cached(args.cache, key, shown, make, args.generator, tag) for key, (shown, make) in makers.items()}
    report(args, sets)


def score(data: LabelledSet, decide: Callable[[dict], RuleDecision | None]) -> RulesScore:
    """The columns of the round-2 table for one classifier (``decide``) on one set."""
    decisions = [decide(v) for v in data.values]
    guess = [d.rain_type if d else None for d in decisions]
    conf = [d.confidence if d else 0.0 for d in decisions]
    right = [g == t for g, t in zip(guess, data.labels)]
    rec = recalls(data.labels, guess)
    shown = [i for i, c in enumerate(conf) if c >= UNSURE_BELOW]
    n = max(1, len(conf))
    rain = [rec[t] for t in ("drizzle", "heavy", "streak", "fog-mixed") if t in rec]
    return RulesScore(data.name, len(data.labels), len(set(data.scenes)), round(balanced_accuracy(data.labels, guess), 4),
                      round(float(np.mean(rain)), 4) if rain else math.nan, {k: round(v, 4) for k, v in rec.items()},
                      confusion(data.labels, guess, COLUMNS), COLUMNS,
                      round(expected_calibration_error(conf, right), 4), round(float(np.mean(conf)), 4),
                      round(1 - len(shown) / n, 4),
                      round(float(np.mean([right[i] for i in shown])), 4) if shown else math.nan,
                      round(len(shown) / n, 4), round(sum(right[i] for i in shown) / n, 4),
                      round(sum(not right[i] for i in shown) / n, 4), round(expected_overconfidence(conf, right), 4))


def pooled(parts: list[LabelledSet], name: str) -> LabelledSet:
    out = LabelledSet(name)
    for p in parts:
        for i in range(len(p.labels)):
            out.add(p.values[i], p.labels[i], p.scenes[i], p.files[i])
    return out


def row(rules: str, s: RulesScore) -> str:
    rec = " | ".join(f"{s.recall[c]:.2f}" if c in s.recall else "" for c in COLUMNS)
    acc = f"{s.sure_accuracy:.3f}" if s.sure_accuracy == s.sure_accuracy else "–"
    return (f"| {rules} | {s.source} | {s.captures} | {s.balanced_accuracy:.3f} | {s.coverage:.2f} | {acc} | "
            f"{s.shown_right:.3f} | {s.shown_wrong:.3f} | {s.ece:.3f} | {s.overconfidence:.3f} | {rec} |")


def confusion_lines(s: RulesScore) -> list[str]:
    lines = ["| truth \\ suggestion | " + " | ".join(COLUMNS) + " | recall |", "|---|" + "---|" * (len(COLUMNS) + 1)]
    for c, counts in zip(COLUMNS, s.confusion):
        if c in s.recall:
            lines.append(f"| {c} | " + " | ".join(map(str, counts)) + f" | {s.recall[c]:.2f} |")
    return lines


def report(args: argparse.Namespace, sets: dict[str, LabelledSet]) -> None:
    t0, load0 = time.perf_counter(), os.getloadavg()
    r1 = sets["renderer1-seed0-16"]
    r1_cal = sets["renderer1-seed1-16"]
    tune2 = sets[f"renderer2-seed{args.tune_seed}-10x2"]
    fresh = [sets[k] for k in sets if k.startswith("renderer2-seed") and k.endswith(f"-{args.fresh_scenes}x1")]
    tests = [*fresh, *(sets[k] for k in ("real-layers-700000x4", "real-photos") if k in sets)]
    table = transfer_table([*CANDIDATES, *RULES_V4_FEATURES.values()], r1.values, r1.labels,
                           tune2.values, tune2.labels)
    features = choose(table)
    layer = calibrate([("renderer-1 seed 1", r1_cal.values, r1_cal.labels),
                       (f"renderer-2 seed {args.tune_seed}", tune2.values, tune2.labels)],
                      TAXONOMY, tune(r1.values, r1.labels, features))
    print("## which measurement carries from renderer 1 (seed 0) to renderer 2 (seed "
          f"{args.tune_seed}): balanced accuracy renderer 1 → renderer 2\n")
    names = [f for f in (*CANDIDATES, *dict.fromkeys(RULES_V4_FEATURES.values()))]
    print("| measurement | " + " | ".join(s for s, _, _ in SPLITS) + " |")
    print("|---|" + "---|" * len(SPLITS))
    cell = {(r.feature, r.split): r for r in table}
    for f in names:
        cells = []
        for split, _, _ in SPLITS:
            r = cell.get((f, split))
            txt = "" if r is None else f"{r.tuning:.2f} → {r.test:.2f}{'' if r.direction > 0 else ' (below)'}"
            cells.append(f"**{txt}**" if r is not None and features[split] == f else txt)
        print(f"| `{f}` | " + " | ".join(cells) + " |")
    print("\n## medians per rain type, renderer 1 seed 0 / renderer 2 seed "
          f"{args.tune_seed}\n")
    m1, m2 = (medians(CANDIDATES, d.values, d.labels, RAIN_TYPES) for d in (r1, tune2))
    print("| measurement | " + " | ".join(RAIN_TYPES) + " |")
    print("|---|" + "---|" * len(RAIN_TYPES))
    for f in CANDIDATES:
        print(f"| `{f}` | " + " | ".join(f"{m1[f][t]:.3g} / {m2[f][t]:.3g}" for t in RAIN_TYPES) + " |")
    result_medians = {"renderer1": m1, "renderer2_tuning": m2}
    print("\nchosen:", features)
    print("layer thresholds:", json.dumps(layer.to_dict()))
    classifiers = {RULES_MODEL: lambda v: classify(v, TAXONOMY, THRESHOLDS),
                   LAYER_RULES_MODEL: lambda v: classify_layer(v, TAXONOMY, layer)}
    shown_sets = [*tests, pooled(fresh, "fresh renderer 2, both seeds"), r1_cal, tune2]
    result: dict = {"generator": str(args.generator), "features": features, "layer_thresholds": layer.to_dict(),
                    "transfer": [asdict(r) for r in table], "medians": result_medians, "scores": {}}
    print("\n| rules | set | captures | balanced accuracy | coverage | accuracy of shown | shown and right | "
          "shown and wrong | ECE | overconfident part of ECE | " + " | ".join(f"recall {c}" for c in COLUMNS) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(COLUMNS))
    for name, decide in classifiers.items():
        scores = [score(d, decide) for d in shown_sets]
        result["scores"][name] = {s.source: asdict(s) for s in scores}
        for s in scores:
            print(row(name, s))
    v4, ly = result["scores"][RULES_MODEL], result["scores"][LAYER_RULES_MODEL]
    mean = {k: float(np.mean([v[d.name]["balanced_accuracy"] for d in fresh])) for k, v in
            ((RULES_MODEL, v4), (LAYER_RULES_MODEL, ly))}
    real = "real photos (test set)"
    pool = "fresh renderer 2, both seeds"
    checks = {"fresh renderer-2 balanced accuracy higher": mean[LAYER_RULES_MODEL] > mean[RULES_MODEL]}
    if real in ly:
        checks["real photos balanced accuracy higher"] = ly[real]["balanced_accuracy"] > v4[real]["balanced_accuracy"]
        checks["real photos shown wrong not more"] = ly[real]["shown_wrong"] <= v4[real]["shown_wrong"]
    acc = ly[pool]["sure_accuracy"]
    checks["fresh renderer-2 accuracy of shown >= 0.8"] = acc == acc and acc >= 0.8
    result["criterion"] = {"mean_fresh_balanced_accuracy": mean, "checks": checks, "met": all(checks.values())}
    print(f"\nmean balanced accuracy on the fresh renderer-2 sets: {mean}")
    for k, v in checks.items():
        print(f"  {k}: {v}")
    print(f"criterion met: {all(checks.values())}")
    for name in classifiers:
        for d in (pool, real):
            if d in result["scores"][name]:
                print(f"\n{name}, {d} (rows truth, columns suggestion):")
                print("\n".join(confusion_lines(RulesScore(**result["scores"][name][d]))))
    result["machine"] = {"cpus": os.cpu_count(), "load_start": load0, "load_end": os.getloadavg(),
                         "score_seconds": round(time.perf_counter() - t0, 2)}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
