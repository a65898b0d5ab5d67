"""Rain-type suggestions on scenes, renderers and real photos they never saw (issue 16).

Every split is by scene (``rainset.suggest.validation``), never by capture:

0. with ``--tune``: which measurements move with the renderer rather than the rain
   (``rainset.suggest.shift``: per-type medians on renderer 1 and 2, and each split's renderer-1
   threshold scored on renderer 2);
1. label-free rules (the default, ``rules-v5``), whose thresholds were tuned on renderer 1 only, scored on
   renderer 2 (``rainset.synth.depth_rain``: drizzle, heavy, streak, fog-mixed balanced, plus
   no-rain): balanced accuracy, confusion, expected calibration error (ECE);
2. the fitted model after N labelled scenes per type of renderer 2, scored on the captures of
   the other renderer-2 scenes only (learning curve), with its ECE;
3. the rules on real rain layers (``rainset.synth.real_layers``: Rain100H/L rainy − clean, tiled
   over renderer scenes at 1600×1200; all typed ``streak``);
4. the rules on the real photos typed by eye in ``tests/data/real_rain_types.csv``: balanced
   accuracy against the majority-class baseline, and which types the fixtures cannot test.

``--tune`` re-derives the rules' thresholds from renderer-1 scenes (seed 0) and their margin
calibration from other renderer-1 scenes (seed 1), and prints them next to the ones in
``rainset.suggest.rules`` (which were set from exactly this output).

    python bench/suggest_accuracy.py --r2-scenes 30 --out bench/results/suggest_accuracy.json
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rainset.suggest.features import FEATURE_NAMES
from rainset.suggest.rules import THRESHOLDS
from rainset.suggest.shift import medians, transfer
from rainset.suggest.tuning import calibrate_margins, tune_thresholds
from rainset.suggest.validation import (
    RAIN_TYPES,
    learning_curve,
    majority_baseline,
    real_layer_set,
    transfer_curve,
    real_set,
    renderer1_set,
    renderer2_set,
    score_rules,
)
from rainset.suggestions import UNSURE_BELOW
from run_record import finish_run  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = (*RAIN_TYPES, "not-usable")


def table(score, title: str) -> list[str]:
    """A Markdown confusion table of a rules score."""
    cls = score.classes
    present = [c for c in cls if any(score.confusion[cls.index(c)])]
    out = [f"{title}", "", "| truth \\ suggestion | " + " | ".join(cls) + " | recall |",
           "|---|" + "---|" * (len(cls) + 1)]
    for c in present:
        row = score.confusion[cls.index(c)]
        out.append(f"| {c} | " + " | ".join(str(v) for v in row) + f" | {score.recall.get(c, 0):.2f} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--r1-scenes", type=int, default=16, help="renderer-1 scenes per type for --tune (each half)")
    ap.add_argument("--r2-scenes", type=int, default=30, help="renderer-2 scenes per type")
    ap.add_argument("--r2-captures", type=int, default=2, help="captures per renderer-2 scene (a burst)")
    ap.add_argument("--r2-size", default="1600x1200", help="renderer-2 camera frame size")
    ap.add_argument("--curve", default="2,3,5,10,25", help="labelled scenes per type of the learning curve")
    ap.add_argument("--repeats", type=int, default=3, help="random draws of labelled scenes per curve point")
    ap.add_argument("--r1-curve-scenes", type=int, default=30,
                    help="renderer-1 scenes per type for the cross-renderer learning curve (0: skip it)")
    ap.add_argument("--layer-captures", type=int, default=4, help="captures per real rain layer")
    ap.add_argument("--tune", action="store_true", help="re-derive the rules' thresholds on renderer 1")
    ap.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result: dict = {"thresholds": THRESHOLDS.to_dict(), "unsure_below": UNSURE_BELOW}
    if args.tune:
        tune = renderer1_set(args.r1_scenes, seed=0)
        cal = renderer1_set(args.r1_scenes, seed=1)
        tuned = calibrate_margins(cal.values, cal.labels, TAXONOMY, tune_thresholds(tune.values, tune.labels))
        result["tuned"] = tuned.to_dict()
        print("thresholds tuned on renderer 1:", tuned)
        print("thresholds in rainset.suggest.rules:", THRESHOLDS)
        r1 = score_rules(cal, TAXONOMY, UNSURE_BELOW)
        result["rules_renderer1_calibration_scenes"] = asdict(r1)
        print(f"renderer 1 (calibration scenes): balanced {r1.balanced_accuracy:.3f}, ECE {r1.ece:.3f}")
    w, h = (int(v) for v in args.r2_size.split("x"))
    r2 = renderer2_set(args.r2_scenes, captures_per_scene=args.r2_captures, size=(w, h),
                       progress=lambda d, n: print(f"\rrenderer 2: {d}/{n}", end="", file=sys.stderr))
    print(file=sys.stderr)
    if args.tune:
        shown = [*FEATURE_NAMES, "luminance", "contrast", "night"]
        result["shift_medians"] = {"renderer-1": medians(shown, tune.values, tune.labels, RAIN_TYPES),
                                   "renderer-2": medians(shown, r2.values, r2.labels, RAIN_TYPES)}
        result["shift_transfer"] = [asdict(t) for t in transfer(shown, tune.values, tune.labels, r2.values, r2.labels)]
        for t in result["shift_transfer"]:
            print(f"{t['split']:24s} {t['feature']:18s} renderer 1 {t['tuning']:.2f} -> renderer 2 {t['test']:.2f}")
    s2 = score_rules(r2, TAXONOMY, UNSURE_BELOW)
    result["rules_renderer2"] = asdict(s2)
    print(f"rules on renderer 2 ({s2.captures} captures, {s2.scenes} scenes): balanced accuracy "
          f"{s2.balanced_accuracy:.3f} (four rain types {s2.balanced_accuracy_rain:.3f}), ECE {s2.ece:.3f}, "
          f"unsure {s2.unsure_share:.2f}, accuracy when sure {s2.sure_accuracy}")
    print("\n".join(table(s2, "rules, renderer 2")))
    sizes = [int(v) for v in args.curve.split(",") if int(v) < args.r2_scenes]
    curve, conf = learning_curve(r2, sizes, repeats=args.repeats)
    result["learning_curve_renderer2"] = [asdict(p) for p in curve]
    result["fitted_confusion_smallest"] = conf
    for p in curve:
        print(f"fitted, {p.scenes_per_type} labelled scenes per type ({p.train_captures} captures), scored on "
              f"{p.test_captures} captures of unseen scenes: balanced {p.balanced_accuracy:.3f}, accuracy "
              f"{p.accuracy:.3f}, ECE {p.ece:.3f} (mean of {p.repeats})")
    print(f"fitted after {sizes[0]} labelled scenes per type, summed over {args.repeats} draws (rows truth, "
          f"columns suggestion, {', '.join(RAIN_TYPES)}): {conf}")
    if args.r1_curve_scenes:
        r1 = renderer1_set(args.r1_curve_scenes, seed=3)  # seeds 0 and 1 set the rules, 2 is the tests'
        sizes1 = [int(v) for v in args.curve.split(",") if int(v) < args.r1_curve_scenes]
        cross = transfer_curve(r1, r2, sizes1, repeats=args.repeats)
        result["learning_curve_renderer1_to_renderer2"] = [asdict(p) for p in cross]
        for p in cross:
            print(f"fitted on {p.scenes_per_type} renderer-1 scenes per type ({p.train_captures} captures): unseen "
                  f"renderer-1 scenes {p.unseen_balanced_accuracy:.3f} (ECE {p.unseen_ece:.3f}), renderer 2 "
                  f"{p.other_balanced_accuracy:.3f} (ECE {p.other_ece:.3f})")
    types_file = ROOT / "tests" / "data" / "real_rain_types.csv"
    if (args.fixtures / "SOURCES.md").is_file():
        layers = real_layer_set(args.fixtures, types_file, captures_per_layer=args.layer_captures)
        sl = score_rules(layers, TAXONOMY, UNSURE_BELOW)
        result["rules_real_layers"] = asdict(sl)
        print(f"rules on {sl.captures} real-rain-layer captures: balanced accuracy {sl.balanced_accuracy:.3f}, "
              f"ECE {sl.ece:.3f}")
        print("\n".join(table(sl, "rules, real rain layers")))
        real = real_set(args.fixtures, types_file)
        sr = score_rules(real, TAXONOMY, UNSURE_BELOW)
        top, top_acc, top_bal = majority_baseline(real.labels)
        scenes_per_type = {t: len({s for s, lab in zip(real.scenes, real.labels) if lab == t}) for t in TAXONOMY}
        result["rules_real"] = asdict(sr)
        result["real_majority"] = {"type": top, "accuracy": top_acc, "balanced_accuracy": top_bal}
        result["real_scenes_per_type"] = scenes_per_type
        result["real_per_photo"] = [{"file": f, "truth": lab, "values": v} for f, lab, v in
                                    zip(real.files, real.labels, real.values)]
        print(f"rules on {sr.captures} real photos ({sr.scenes} scenes): balanced accuracy {sr.balanced_accuracy:.3f} "
              f"against the majority class ({top}) {top_bal:.3f}; ECE {sr.ece:.3f}; scenes per type {scenes_per_type}")
        print("\n".join(table(sr, "rules, real photos")))
    finish_run(result, args.out, t0, load0, python=platform.python_version())


if __name__ == "__main__":
    main()
