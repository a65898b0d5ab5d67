"""rules-v2 against rules-v3, as released and with shift-aware confidences, on sets nobody tuned on.

One command gives the round-2 table of docs/suggestions.md ("Shown suggestions on sets nobody
had seen"):

    python bench/suggest_rules.py --out bench/results/suggest_rules.json

and, with ``--round 3``, the calibration-round-3 table ("Calibration round 3"): rules-v3's
decisions with each calibration method of :mod:`rainset.suggest.tuning` fitted on renderer 1 seed 1
and the renderer-2 tuning seeds 940001 and 940002, scored on the new renderer-2 seeds 960001–960003
(the criterion's sets), the round-2 seeds 930001–930003, the real rain layers and the real photos:

    python bench/suggest_rules.py --round 3 --out bench/results/suggest_calibration.json

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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rainset.rainstats import ALGO_VERSION
from rainset.suggest.rules import RULES_MODEL, RULES_V2, RULES_V3, RULES_V4, THRESHOLDS, Thresholds, classify
from rainset.suggest.tuning import calibrate_by_type, calibrate_isotonic, calibrate_pooled, calibrate_type_prior
from rainset.suggest.validation import (
    RAIN_TYPES,
    LabelledSet,
    choose_calibration,
    load_set,
    real_layer_set,
    real_set,
    renderer1_set,
    renderer2_set,
    save_set,
    score_rules,
    union,
)
from rainset.suggestions import UNSURE_BELOW
from run_record import finish_run  # bench/ is on sys.path

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
    ap.add_argument("--round", type=int, choices=(2, 3), default=2, help="2: rules-v2 against rules-v3 (round 2); "
                    "3: calibration methods (round 3)")
    ap.add_argument("--new-seeds", default="960001,960002,960003", help="round 3: the criterion's fresh renderer-2 seeds")
    ap.add_argument("--tune-seed2", type=int, default=940002, help="round 3: second renderer-2 tuning seed")
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
    if args.round == 3:
        calibration_round(args)
        return
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
    _finish(args, result, tune, chosen, [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8], "the renderer-2 tuning set", t0, load0)


def real_sets(args: argparse.Namespace) -> list[LabelledSet]:
    """The real rain layers and the real photos (reported only), or none without the fixtures."""
    types_file = ROOT / "tests" / "data" / "real_rain_types.csv"
    if not (args.fixtures / "SOURCES.md").is_file():
        print(f"{args.fixtures}: no fixtures, real layers and photos skipped", file=sys.stderr)
        return []
    layers = cached(args.cache, "real-layers-700000x4",
                    lambda: real_layer_set(args.fixtures, types_file, captures_per_layer=4))
    layers.name = "real rain layers"
    real = cached(args.cache, "real-photos", lambda: real_set(args.fixtures, types_file))
    real.name = "real photos (test set)"
    return [layers, real]


SCORE_KEYS = ("balanced_accuracy", "coverage", "sure_accuracy", "shown_right", "shown_wrong", "ece", "ece_floor",
              "overconfidence")


def row3(method: str, s) -> str:
    acc = f"{s.sure_accuracy:.3f}" if s.sure_accuracy == s.sure_accuracy else "–"
    return (f"| {method} | {s.source} | {s.captures} | {s.balanced_accuracy:.3f} | {s.coverage:.2f} | {acc} | "
            f"{s.shown_right:.3f} | {s.shown_wrong:.3f} | {s.ece:.3f} | {s.ece_floor:.3f} | {s.overconfidence:.3f} |")


def calibration_round(args: argparse.Namespace) -> None:
    """Round 3 (module docstring): every calibration method on the same decisions and the same sets."""
    load0, t0 = os.getloadavg(), time.perf_counter()
    size = (1600, 1200)

    def r2(seed: int, scenes: int, captures: int) -> LabelledSet:
        data = cached(args.cache, f"renderer2-seed{seed}-{scenes}x{captures}",
                      lambda: renderer2_set(scenes, seed=seed, captures_per_scene=captures, size=size))
        data.name = f"renderer 2, seed {seed}"
        return data

    new = [r2(int(s), args.fresh_scenes, 1) for s in args.new_seeds.split(",")]
    old = [r2(int(s), args.fresh_scenes, 1) for s in args.fresh_seeds.split(",")]
    tune = union("renderer 2 tuning", [r2(args.tune_seed, args.tune_scenes, args.tune_captures),
                                       r2(args.tune_seed2, args.tune_scenes, args.tune_captures)])
    r1 = cached(args.cache, f"renderer1-seed1-{args.r1_scenes}", lambda: renderer1_set(args.r1_scenes, seed=1))
    r1.name = "renderer 1, seed 1 (fitting data)"
    new_union = union(f"**renderer 2, seeds {args.new_seeds.replace(',', ', ')} together (criterion)**", new)
    old_union = union(f"renderer 2, seeds {args.fresh_seeds.replace(',', ', ')} together (round 2)", old)
    score_sets = [*new, new_union, *old, old_union, r1, *real_sets(args)]
    r2_name = f"renderer-2 seeds {args.tune_seed}+{args.tune_seed2}"
    fit = [("renderer-1 seed 1", r1.values, r1.labels), (r2_name, tune.values, tune.labels)]
    methods = {"min (rules-v4 as released)": RULES_V4,
               "min, refitted": calibrate_by_type(fit, TAXONOMY, RULES_V3),
               "pooled": calibrate_pooled(fit, TAXONOMY, RULES_V3),
               "isotonic": calibrate_isotonic(fit, TAXONOMY, RULES_V3),
               "type-prior": calibrate_type_prior(fit, TAXONOMY, RULES_V3),
               "renderer-2 only (reference)": calibrate_by_type(fit[1:], TAXONOMY, RULES_V3)}
    result: dict = {"unsure_below": UNSURE_BELOW, "methods": {k: v.to_dict() for k, v in methods.items()},
                    "scores": {}, "union_new": {}, "mean_new": {}}
    lines = ["| method | set | captures | balanced accuracy | coverage | accuracy of shown | shown and right | "
             "shown and wrong | ECE | ECE floor | overconfident part |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    union_scores = {}
    for name, t in methods.items():
        scores = [score_rules(d, TAXONOMY, UNSURE_BELOW, t, floor_draws=2000) for d in score_sets]
        union_scores[name] = scores[len(new)]
        result["scores"][name] = [asdict(s) for s in scores]
        result["union_new"][name] = {k: getattr(scores[len(new)], k) for k in SCORE_KEYS}
        result["mean_new"][name] = {k: round(float(np.nanmean([getattr(s, k) for s in scores[:len(new)]])), 4)
                                    for k in SCORE_KEYS}
        lines += [row3(name, s) for s in scores]
    print("\n".join(lines))
    print("\nmean of the per-set scores over the new seeds:")
    for name, m in result["mean_new"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    baseline = "min (rules-v4 as released)"
    candidates = [m for m in methods if m not in (baseline, "renderer-2 only (reference)")]
    choice = choose_calibration(union_scores, baseline, candidates)
    winner = choice.default
    result["choice"] = asdict(choice)
    print(f"\ncriterion (union of seeds {args.new_seeds}): eligible {list(choice.eligible)}, best {choice.best} "
          f"(ECE {choice.gain:+.3f} against {baseline}); default: {winner}")
    chosen = methods[winner]
    print("its calibration (rainset.suggest.rules):")
    for e in (*chosen.by_type, *chosen.steps):
        print(f"    {e!r},")
    _finish(args, result, tune, chosen, [0.5, 0.55, 0.6, 0.65, 0.7], "the renderer-2 tuning sets (fitting data)", t0,
            load0)


def _finish(args: argparse.Namespace, result: dict, tune, chosen, cuts: list[float], tune_name: str,  # noqa: ANN001
            t0: float, load0: tuple) -> None:
    """Shown coverage and accuracy on the tuning set by confidence cut; the machine; write ``--out``."""
    result["tuning_set_cuts"] = {str(c): shown_at(tune, chosen, c) for c in cuts}
    print(f"on {tune_name} (coverage, accuracy of shown) by confidence threshold:",
          {c: tuple(round(x, 3) for x in v) for c, v in result["tuning_set_cuts"].items()})
    finish_run(result, args.out, t0, load0)


if __name__ == "__main__":
    main()
