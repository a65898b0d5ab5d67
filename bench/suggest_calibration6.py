"""Calibration round 6: rules-v5's confidences, ECE on rain they never saw (issue 16).

One command gives the "Calibration round 6" tables of docs/suggestions.md:

    python bench/suggest_calibration6.py --out bench/results/suggest_calibration6.json

``rules-v5``'s decisions (unchanged) with each calibration method of round 3
(:mod:`rainset.suggest.tuning`: ``min``, ``pooled``, ``isotonic``, ``type-prior``, and the
``renderer-2 only`` reference) fitted on rules-v5's own fitting data (renderer 1 seed 1 and the
renderer-2 seeds 940001 + 940002), scored on the fresh renderer-2 seeds ``--fresh-seeds``
(990021–990023, the criterion's union), beside them the round-5 seeds ``--old-seeds``
(990011–990013), renderer 1 seed 1 (fitting data), the real rain layers and the real photos.
Round 3's criterion (:func:`rainset.suggest.validation.choose_calibration`) picks the default.

The sets are built and measured as ``bench/suggest_splash.py`` builds them (its ``with_splash``
over ``bench/suggest_streak.py``'s ``measured``, cached under ``--cache``, one process).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rainset.suggest.rules import RULES_V5, THRESHOLDS, Thresholds, calibrated, classify
from rainset.suggest.tuning import calibrate_by_type, calibrate_isotonic, calibrate_pooled, calibrate_type_prior
from rainset.suggest.validation import LabelledSet, choose_calibration, score_rules, union
from rainset.suggestions import UNSURE_BELOW
from run_record import finish_run  # bench/ is on sys.path
from suggest_rules import SCORE_KEYS, row3  # bench/ is on sys.path
from suggest_splash import with_splash  # bench/ is on sys.path
from suggest_streak import TAXONOMY, TYPES, measured, round_parser, scored_sets, set_makers  # bench/ is on sys.path

BASELINE = "min (rules-v5 as released)"
REFERENCE = "renderer-2 only (reference)"
MARGINS = (0.0, 1.0, 3.0)


def methods(fit: list[tuple[str, list, list]]) -> dict[str, Thresholds]:
    """Every method of round 3 on rules-v5's decisions (the calibrations keep only its thresholds)."""
    return {BASELINE: RULES_V5,
            "min, refitted": calibrate_by_type(fit, TAXONOMY, RULES_V5),
            "pooled": calibrate_pooled(fit, TAXONOMY, RULES_V5),
            "isotonic": calibrate_isotonic(fit, TAXONOMY, RULES_V5),
            "type-prior": calibrate_type_prior(fit, TAXONOMY, RULES_V5),
            REFERENCE: calibrate_by_type(fit[1:], TAXONOMY, RULES_V5)}


def by_type(data: LabelledSet, t: Thresholds) -> dict[str, tuple[int, float, float]]:
    """Per decided type: (decisions, mean confidence, share right) of ``t`` on ``data``."""
    found: dict[str, list[tuple[float, bool]]] = {}
    for v, lab in zip(data.values, data.labels):
        d = classify(v, TAXONOMY, t)
        if d is not None:
            found.setdefault(d.rain_type, []).append((d.confidence, d.rain_type == lab))
    return {k: (len(x), round(float(np.mean([c for c, _ in x])), 3), round(float(np.mean([r for _, r in x])), 3))
            for k, x in sorted(found.items())}


def curve(t: Thresholds) -> dict[str, list[float]]:
    """Per type, the confidence at margins 0, 1 and 3 widths."""
    return {k: [round(calibrated(m, t, k), 2) for m in MARGINS] for k in TYPES}


def parse() -> argparse.Namespace:
    ap = round_parser(__doc__.split("\n")[0], "990021,990022,990023", Path("/tmp/s17-eye-cache/sets"))
    ap.add_argument("--old-seeds", default="990011,990012,990013", help="round 5's test seeds, reported beside")
    return ap.parse_args()


def main() -> None:
    args = parse()
    both = f"{args.fresh_seeds},{args.old_seeds}"
    makers = set_makers(argparse.Namespace(**{**vars(args), "fresh_seeds": both}))
    t0, load0 = time.perf_counter(), os.getloadavg()
    loaded: dict[str, LabelledSet] = {}

    def get(key: str) -> LabelledSet:
        if key not in loaded:
            loaded[key] = with_splash(args.cache, key, measured(args.cache, key, makers[key]))
        return loaded[key]

    diag = union("renderer 2, seeds 940001+940002", [get("renderer2-seed940001-10x2"),
                                                     get("renderer2-seed940002-10x2")])
    named, together, r1 = scored_sets(args, makers, get)
    new = named[:len(args.fresh_seeds.split(","))]
    old_args = argparse.Namespace(**{**vars(args), "fresh_seeds": args.old_seeds})
    old_named, _, _ = scored_sets(old_args, {}, get)  # no makers: the real sets are not repeated
    old = old_named[:-1]
    old[-1].name = f"renderer 2, seeds {args.old_seeds.replace(',', ', ')} together (round 5, reported only)"
    together.name = f"**{together.name}**"
    r1.name = "renderer 1, seed 1 (fitting data)"
    score_sets = [*new, together, *old, r1, *named[len(new) + 2:]]  # named: new seeds, union, r1, real sets
    fit = [("renderer-1 seed 1", r1.values, r1.labels), ("renderer-2 seeds 940001+940002", diag.values, diag.labels)]
    ms = methods(fit)
    result: dict = {"unsure_below": UNSURE_BELOW, "methods": {k: v.to_dict() for k, v in ms.items()},
                    "refit_equals_rules_v5": ms["min, refitted"] == RULES_V5, "scores": {}, "union_new": {},
                    "mean_new": {}, "by_type_union_new": {}, "curves": {}}
    lines = ["| method | set | captures | balanced accuracy | coverage | accuracy of shown | shown and right | "
             "shown and wrong | ECE | ECE floor | overconfident part |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    at = score_sets.index(together)
    union_scores = {}
    for name, t in ms.items():
        scores = [score_rules(d, TAXONOMY, UNSURE_BELOW, t, floor_draws=2000) for d in score_sets]
        union_scores[name] = scores[at]
        result["scores"][name] = [asdict(s) for s in scores]
        result["union_new"][name] = {k: getattr(scores[at], k) for k in SCORE_KEYS}
        result["mean_new"][name] = {k: round(float(np.nanmean([getattr(s, k) for s in scores[:len(new)]])), 4)
                                    for k in SCORE_KEYS}
        result["by_type_union_new"][name] = by_type(together, t)
        result["curves"][name] = curve(t)
        lines += [row3(name, s) for s in scores]
    print("\n".join(lines))
    print(f"\n'min, refitted' equals rules-v5 as released: {result['refit_equals_rules_v5']}")
    print("\nmean of the per-set scores over the new seeds:")
    for name, m in result["mean_new"].items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
    print("\nper decided type on the new union (decisions, mean confidence, share right):")
    for name, per in result["by_type_union_new"].items():
        print(f"  {name}: " + "; ".join(f"{k} {n} / {c:.2f} / {r:.2f}" for k, (n, c, r) in per.items()))
    print("\nconfidence at margin 0 / 1 / 3:\n| method | " + " | ".join(TYPES) + " |\n|---|" + "---|" * len(TYPES))
    for name, c in result["curves"].items():
        print(f"| {name} | " + " | ".join(" / ".join(f"{p:.2f}" for p in c[k]) for k in TYPES) + " |")
    candidates = [m for m in ms if m not in (BASELINE, REFERENCE)]
    choice = choose_calibration(union_scores, BASELINE, candidates)
    result["choice"] = asdict(choice)
    print(f"\ncriterion (union of seeds {args.fresh_seeds}): eligible {list(choice.eligible)}, best {choice.best} "
          f"(ECE {choice.gain:+.3f} against {BASELINE}); default: {choice.default}")
    chosen = ms[choice.default]
    result["default_matches"] = THRESHOLDS == chosen
    print(f"its calibration (rainset.suggest.rules; the default "
          f"{'holds exactly these' if THRESHOLDS == chosen else 'DIFFERS: paste these'}):")
    for e in (*chosen.by_type, *chosen.steps):
        print(f"    {e!r},")
    finish_run(result, args.out, t0, load0)


if __name__ == "__main__":
    main()
