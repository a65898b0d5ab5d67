"""rules-v2 against rules-v3, as released and with shift-aware confidences, on sets nobody tuned on.

One command gives the round-2 table of docs/suggestions.md ("Shown suggestions on sets nobody
had seen"):

    python bench/suggest_rules.py --out bench/results/suggest_rules.json

Sets (``rainset.suggest.validation``; measured once, cached as JSON under ``--cache``):

- fresh renderer-2 test sets, seeds ``--fresh-seeds`` (930001, 930002, 930003): scored only;
- renderer-2 tuning set, seed ``--tune-seed`` (940001): calibrates confidences, never scored;
- renderer 1, seed 1: calibrates confidences (as the first release did), scored for reference;
- real rain layers and the real photos of ``tests/data/real_rain_types.csv``: scored only, and
  never used to choose or calibrate anything.

Rule sets: ``rules-v2`` and ``rules-v3`` decisions (``rainset.suggest.rules.RULES_V2``/``RULES_V3``),
each with its released confidence and with the per-type confidence of
``rainset.suggest.tuning.calibrate_by_type`` (lowest of renderer 1 and the renderer-2 tuning set).
The criterion declared in the docs (mean shown-and-right over the fresh sets, calibrated rule
sets) picks the default; the script prints which one it is and the calibration entries to put
into ``rainset.suggest.rules``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rainset.rainstats import ALGO_VERSION
from rainset.suggest.rules import RULES_MODEL, RULES_V2, RULES_V3, THRESHOLDS, Thresholds, classify
from rainset.suggest.tuning import calibrate_by_type
from rainset.suggest.validation import (
    RAIN_TYPES,
    LabelledSet,
    load_set,
    real_layer_set,
    real_set,
    renderer1_set,
    renderer2_set,
    save_set,
    score_rules,
)
from rainset.suggestions import UNSURE_BELOW

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = (*RAIN_TYPES, "not-usable")
COLUMNS = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable")


def cached(cache: Path, name: str, make: Callable[[], LabelledSet]) -> LabelledSet:
    """The set measured once and kept as ``cache/name-a<ALGO_VERSION>.json`` (a new algorithm re-measures)."""
    path = cache / f"{name}-a{ALGO_VERSION}.json"
    if path.is_file():
        return load_set(path)
    t0 = time.perf_counter()
    data = make()
    save_set(data, path)
    print(f"measured {name}: {len(data.labels)} captures, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return data


def shown_at(data: LabelledSet, t: Thresholds, cut: float) -> tuple[float, float]:
    """(coverage, accuracy of shown) of ``t`` on ``data`` at confidence threshold ``cut``."""
    d = [classify(v, TAXONOMY, t) for v in data.values]
    shown = [i for i, x in enumerate(d) if x is not None and x.confidence >= cut]
    acc = float(np.mean([d[i].rain_type == data.labels[i] for i in shown])) if shown else float("nan")
    return len(shown) / len(d), acc


def row(rules: str, s) -> str:
    rec = " | ".join(f"{s.recall[c]:.2f}" if c in s.recall else "" for c in COLUMNS)
    acc = f"{s.sure_accuracy:.3f}" if s.sure_accuracy == s.sure_accuracy else "–"
    return (f"| {rules} | {s.source} | {s.captures} | {s.balanced_accuracy:.3f} | {s.coverage:.2f} | {acc} | "
            f"{s.shown_right:.3f} | {s.shown_wrong:.3f} | {s.ece:.3f} | {s.overconfidence:.3f} | {rec} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fresh-seeds", default="930001,930002,930003")
    ap.add_argument("--fresh-scenes", type=int, default=8, help="fresh renderer-2 scenes per type (1 capture each)")
    ap.add_argument("--tune-seed", type=int, default=940001)
    ap.add_argument("--tune-scenes", type=int, default=10)
    ap.add_argument("--tune-captures", type=int, default=2)
    ap.add_argument("--r1-scenes", type=int, default=16)
    ap.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--cache", type=Path, default=ROOT / "bench" / "results" / "suggest_sets")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    load0, t0 = os.getloadavg(), time.perf_counter()
    size = (1600, 1200)
    fresh = [cached(args.cache, f"renderer2-seed{s}-{args.fresh_scenes}x1",
                    lambda s=s: renderer2_set(args.fresh_scenes, seed=s, captures_per_scene=1, size=size))
             for s in (int(v) for v in args.fresh_seeds.split(","))]
    for s, data in zip(args.fresh_seeds.split(","), fresh):
        data.name = f"renderer 2, seed {s}"
    tune = cached(args.cache, f"renderer2-seed{args.tune_seed}-{args.tune_scenes}x{args.tune_captures}",
                  lambda: renderer2_set(args.tune_scenes, seed=args.tune_seed, captures_per_scene=args.tune_captures,
                                        size=size))
    r1 = cached(args.cache, f"renderer1-seed1-{args.r1_scenes}", lambda: renderer1_set(args.r1_scenes, seed=1))
    r1.name = "renderer 1, seed 1 (calibration)"
    others = [r1]
    types_file = ROOT / "tests" / "data" / "real_rain_types.csv"
    if (args.fixtures / "SOURCES.md").is_file():
        layers = cached(args.cache, "real-layers-700000x4",
                        lambda: real_layer_set(args.fixtures, types_file, captures_per_layer=4))
        layers.name = "real rain layers"
        real = cached(args.cache, "real-photos", lambda: real_set(args.fixtures, types_file))
        real.name = "real photos (test set)"
        others += [layers, real]
    else:
        print(f"{args.fixtures}: no fixtures, real layers and photos skipped", file=sys.stderr)
    cal_sets = [("renderer-1 seed 1", r1.values, r1.labels),
                (f"renderer-2 seed {args.tune_seed}", tune.values, tune.labels)]
    rule_sets = {"rules-v2 as released": RULES_V2, "rules-v3 as released": RULES_V3,
                 "rules-v2, shift-calibrated": calibrate_by_type(cal_sets, TAXONOMY, RULES_V2),
                 "rules-v3, shift-calibrated": calibrate_by_type(cal_sets, TAXONOMY, RULES_V3)}
    result: dict = {"unsure_below": UNSURE_BELOW, "rule_sets": {k: v.to_dict() for k, v in rule_sets.items()},
                    "scores": {}, "criterion": {}}
    lines = ["| rules | set | captures | balanced accuracy | coverage | accuracy of shown | shown and right | "
             "shown and wrong | ECE | overconfident part of ECE | " + " | ".join(f"recall {c}" for c in COLUMNS) + " |",
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(COLUMNS)]
    for name, t in rule_sets.items():
        scores = [score_rules(d, TAXONOMY, UNSURE_BELOW, t) for d in (*fresh, *others)]
        result["scores"][name] = [asdict(s) for s in scores]
        lines += [row(name, s) for s in scores]
        f = scores[:len(fresh)]
        mean = {k: round(float(np.nanmean([getattr(s, k) for s in f])), 4)
                for k in ("balanced_accuracy", "coverage", "sure_accuracy", "shown_right", "shown_wrong", "ece",
                          "overconfidence")}
        result["criterion"][name] = mean
        lines.append(f"| {name} | **mean of the fresh renderer-2 sets** | {sum(s.captures for s in f)} | "
                     f"{mean['balanced_accuracy']:.3f} | {mean['coverage']:.2f} | {mean['sure_accuracy']:.3f} | "
                     f"**{mean['shown_right']:.3f}** | {mean['shown_wrong']:.3f} | {mean['ece']:.3f} | "
                     f"{mean['overconfidence']:.3f} |" +
                     " |" * len(COLUMNS))
    print("\n".join(lines))
    c2, c3 = (result["criterion"][f"rules-{v}, shift-calibrated"] for v in ("v2", "v3"))
    if abs(c2["shown_right"] - c3["shown_right"]) <= 0.02:
        winner = "v2" if c2["shown_wrong"] < c3["shown_wrong"] else "v3"
    else:
        winner = "v2" if c2["shown_right"] > c3["shown_right"] else "v3"
    result["winner"] = f"rules-{winner}"
    chosen = rule_sets[f"rules-{winner}, shift-calibrated"]
    print(f"\ncriterion (mean shown-and-right on the fresh sets, shift-calibrated): rules-v2 {c2['shown_right']:.3f} "
          f"(shown wrong {c2['shown_wrong']:.3f}), rules-v3 {c3['shown_right']:.3f} (shown wrong "
          f"{c3['shown_wrong']:.3f}): default rules-{winner}")
    result["default_matches"] = THRESHOLDS == chosen
    print(f"per-type calibration entries (rainset.suggest.rules; the default {RULES_MODEL} "
          f"{'holds exactly these' if THRESHOLDS == chosen else 'DIFFERS: paste these'}):")
    for e in chosen.by_type:
        print(f"    {e!r},")
    cuts = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]
    result["tuning_set_cuts"] = {str(c): shown_at(tune, chosen, c) for c in cuts}
    print("on the renderer-2 tuning set (coverage, accuracy of shown) by confidence threshold:",
          {c: tuple(round(x, 3) for x in v) for c, v in result["tuning_set_cuts"].items()})
    seconds = time.perf_counter() - t0
    result["machine"] = {"cpus": os.cpu_count(), "load_start": load0, "load_end": os.getloadavg(),
                         "seconds": round(seconds, 1)}
    print(f"{seconds:.1f} s; load average at start {load0}, at end {os.getloadavg()}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
