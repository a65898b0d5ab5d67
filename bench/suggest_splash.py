"""A streak rule from what the eye used: no splashes on the ground (issue 16, round 5, part B).

One command gives the "Round 5" part-B tables of docs/suggestions.md:

    python bench/suggest_splash.py --out bench/results/suggest_splash.json

The eye typed every renderer-2 streak capture of the blind set right (bench/suggest_eye.py) by
dashes along the rain and **no splash anywhere**, and every heavy one by splash rings on the
ground; rules-v4 sends most renderer-2 streaks to heavy (rule 4, rain that survives halving).
The candidate keeps rules-v4 and splits its heavy decision by the splash measurement of
:mod:`rainset.rainstats.splash`: rain that rule 4 calls heavy but whose ground shows no splashes
(``splash_tilt`` below its renderer-1 threshold) is streak.

Captures (``bench/suggest_layer.py``'s generators, same random draws as
:mod:`rainset.suggest.validation`), measured once in this one process with
``bench/suggest_streak.py``'s ``measured`` (the store's measurements as JSON, the originals'
luminance as PNG) under ``--cache``; the splash measurements are added from the luminance:

- renderer 1 seed 0 (16 scenes per type): the only set the threshold is tuned on;
- renderer 2 seeds 940001 + 940002 (10 scenes per type, 2 captures): diagnosis only;
- renderer 2 seeds ``--fresh-seeds`` (990011–990013, 8 scenes per type, 1 capture each), renderer 1
  seed 1 (16 per type), the real rain layers and the real photos of
  ``tests/data/real_rain_types.csv``: scored only.

``--tune`` prints the tuning and the diagnosis only (no test set is read or measured).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from rainset.rainstats.splash import SPLASH_VERSION, splash_stats
from rainset.suggest.features import number
from rainset.suggest.rules import RULES_V4, RULES_V5, RuleDecision, Thresholds, classify, walk_tree
from rainset.suggest.tuning import calibrate_by_type
from rainset.suggest.tuning import best_threshold
from rainset.suggest.validation import LabelledSet, union
from run_record import finish_run  # bench/ is on sys.path
from suggest_streak import (TAXONOMY, TYPES, check, judge, measured, paired_bootstrap, report_by,  # bench/ is on sys.path
                            round_parser, score_sets, scored_sets, set_makers, table, with_luma)

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ("splash_tilt", "splash_bottom")
RULE_FEATURE = "splash_tilt"  # declared in docs/suggestions.md, Round 5, before any test set was measured


def with_splash(cache: Path, key: str, data: LabelledSet) -> LabelledSet:
    """``data`` with the splash measurements of each capture's luminance added (cached)."""
    return with_luma(cache, key, data, f"splash-v{SPLASH_VERSION}", lambda y: splash_stats(y).to_dict())


def tune_rule(data: LabelledSet, feature: str = RULE_FEATURE) -> dict[str, float]:
    """The threshold on renderer 1 seed 0: heavy (splashes, ≥) against streak (none, <), as every
    rules threshold was chosen (best balanced accuracy of the split; width a quarter of the
    distance between the medians, at least 0.01)."""
    pos = [number(v.get(feature)) for v, lab in zip(data.values, data.labels) if lab == "heavy"]
    neg = [number(v.get(feature)) for v, lab in zip(data.values, data.labels) if lab == "streak"]
    return {"feature": feature, "threshold": round(best_threshold(pos, neg), 4),
            "width": round(max(abs(float(np.nanmedian(pos)) - float(np.nanmedian(neg))) / 4, 0.01), 4)}


def classify_splash(values: dict, rule: dict, t: Thresholds = RULES_V4) -> RuleDecision | None:
    """rules-v4, with rule 4 split: rain that survives halving (rule 4) but leaves no splash on the
    ground (``splash_tilt`` below the threshold) is streak; with splashes, heavy (the candidate)."""
    sign = number(values.get("rain_sign"))
    if math.isnan(sign):
        return None
    length, angle = number(values.get("streak_length")), number(values.get("streak_angle"))
    heavy = check(t.heavy_feature, number(values.get(t.heavy_feature)), t.heavy_min, t.heavy_width)
    s = number(values.get(rule["feature"]))
    holds = not math.isnan(s) and s < rule["threshold"]
    no_splash = (holds, abs(s - rule["threshold"]) / rule["width"] if not math.isnan(s) else 0.0,
                 f"{rule['feature']} {s:.4g} {'<' if holds else '≥'} {rule['threshold']:g}")
    return walk_tree(values, TAXONOMY, t, check("veil_edges", number(values.get("veil_edges")), t.fog_min, t.fog_width),
                     (sign >= t.rain_min, abs(sign - t.rain_min) / t.rain_width, f"rain_sign {sign:.4g}"),
                     (("streak", [check("streak_length", length, t.streak_min, t.streak_width),
                                  (not math.isnan(angle) and abs(angle) < t.angle_max,
                                   abs(abs(angle) - t.angle_max) / t.angle_width if not math.isnan(angle) else 0.0,
                                   f"streak_angle {angle:.3g}")]),
                      ("streak", [heavy, no_splash]),
                      ("heavy", [heavy])))


def decisions(data: LabelledSet, rule: dict | None) -> list[str | None]:
    out = []
    for v in data.values:
        d = classify(v, TAXONOMY, RULES_V4) if rule is None else classify_splash(v, rule)
        out.append(d.rain_type if d else None)
    return out


def report(data: LabelledSet, rule: dict) -> dict:
    return report_by(decisions, data, rule)


def bootstrap(data: LabelledSet, rule: dict, draws: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap over scenes of (candidate − rules-v4) balanced accuracy (round 4's)."""
    return paired_bootstrap(decisions, data, rule, draws, seed)


def medians(data: LabelledSet, name: str) -> str:
    per_type = [[number(v.get(name)) for v, lab in zip(data.values, data.labels) if lab == t] for t in TYPES]
    return " / ".join(f"{np.nanmedian(x):.3g}" for x in per_type)


def transfer(tune: LabelledSet, other: LabelledSet) -> list[str]:
    """Each splash measurement's renderer-1 threshold (heavy against streak) and its balanced
    accuracy there → on ``other``; medians per type (drizzle / heavy / streak / fog-mixed / no-rain)."""
    lines = []
    for name in FEATURES:
        r = tune_rule(tune, name)

        def split(d: LabelledSet) -> float:
            pos = np.array([number(v.get(name)) for v, lab in zip(d.values, d.labels) if lab == "heavy"])
            neg = np.array([number(v.get(name)) for v, lab in zip(d.values, d.labels) if lab == "streak"])
            return (float(np.mean(pos >= r["threshold"])) + float(np.mean(neg < r["threshold"]))) / 2
        lines.append(f"| `{name}` | {r['threshold']:.4g} | {split(tune):.2f} → {split(other):.2f} | "
                     f"{medians(tune, name)} | {medians(other, name)} |")
    return lines


def confusions(name: str, r: dict) -> list[str]:
    out = [f"\n{name}, rules-v4 → candidate (rows truth, columns suggestion):\n",
           "| truth \\ suggestion | " + " | ".join(TAXONOMY) + " |", "|---|" + "---|" * len(TAXONOMY)]
    for t, a, b in zip(TAXONOMY, r["rules-v4"]["confusion"], r["candidate"]["confusion"]):
        if sum(a):
            out.append(f"| {t} | " + " | ".join(str(x) if x == y else f"{x} → {y}" for x, y in zip(a, b)) + " |")
    return out


def main() -> None:
    args = round_parser(__doc__.split("\n")[0], "990011,990012,990013", Path("/tmp/s17-eye-cache/sets")).parse_args()
    makers = set_makers(args)
    t0, load0 = time.perf_counter(), os.getloadavg()

    def get(key: str) -> LabelledSet:
        return with_splash(args.cache, key, measured(args.cache, key, makers[key]))

    tune = get("renderer1-seed0-16")
    diag = union("renderer 2, seeds 940001+940002 (diagnosis)", [get("renderer2-seed940001-10x2"),
                                                                 get("renderer2-seed940002-10x2")])
    rule = tune_rule(tune)
    print("rule tuned on renderer 1 seed 0:", rule)
    print("\n| measurement | renderer-1 threshold (heavy ≥, streak <) | heavy / streak: renderer 1 seed 0 → "
          "renderer 2 "
          "940001+940002 | medians renderer 1 seed 0 | medians renderer 2 940001+940002 |\n|---|---|---|---|---|")
    print("\n".join(transfer(tune, diag)))
    tune.name = "renderer 1, seed 0 (tuning)"
    result: dict = {"rule": rule, "transfer": transfer(tune, diag), "sets": {}}
    if args.tune:
        rows = [(d.name, report(d, rule)) for d in (tune, diag)]
        print("\n".join(table(rows)))
        for name, r in rows:
            print("\n".join(confusions(name, r)))
        return
    named, together, r1 = scored_sets(args, makers, get)
    rows = score_sets(result, [*named, tune, diag], rule, report, bootstrap, together)
    for name, r in rows:
        if "together" in name or name.startswith("real photos") or name.startswith("renderer 1, seed 1"):
            print("\n".join(confusions(name, r)))
    judge(result, result["bootstrap"], r1.name)
    same = all(decisions(d, rule) == [x.rain_type if x else None for x in (classify(v, TAXONOMY, RULES_V5)
                                                                            for v in d.values)] for d in named)
    cal = calibrate_by_type([("renderer-1 seed 1", r1.values, r1.labels),
                             ("renderer-2 seeds 940001+940002", diag.values, diag.labels)], TAXONOMY,
                            Thresholds(splash_max=rule["threshold"], splash_width=rule["width"]))
    result["rules_v5"] = {"decisions_match_candidate": same, "rules_v5_matches": RULES_V5 == cal,
                          "by_type": [list(e) for e in cal.by_type]}
    print(f"\nrules-v5 (rainset.suggest.rules) decides as the candidate on every scored set: {same}")
    print(f"per-type calibration entries for rules-v5 (rainset.suggest.rules.RULES_V5 "
          f"{'holds exactly these' if RULES_V5 == cal else 'DIFFERS: paste these'}; the default since "
          f"calibration round 6 is rules-v6, bench/suggest_calibration6.py):")
    for e in cal.by_type:
        print(f"    {e!r},")
    finish_run(result, args.out, t0, load0)


if __name__ == "__main__":
    main()
