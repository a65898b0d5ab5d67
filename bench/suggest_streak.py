"""A streak measurement that carries from renderer 1 to renderer 2 (issue 16, round 4).

One command gives the "Round 4: a streak measurement" tables of docs/suggestions.md:

    python bench/suggest_streak.py --out bench/results/suggest_streak.json

Every capture is measured twice: as the store measures it (:func:`rainset.suggest.validation.measure_capture`,
what ``rules-v4`` reads) and with the line integration of :mod:`rainset.rainstats.lines` on the
luminance of the original at its own resolution (``line_*``). The captures are those of
``bench/suggest_layer.py`` (same seeds, same random draws as :mod:`rainset.suggest.validation`).
Sets, measured once in one process and cached under ``--cache`` (the store's measurements as
JSON, the originals' luminance as PNG so that the line measure can be re-run without re-rendering):

- renderer 1 seed 0, 16 scenes per type: the only set the new rule's thresholds are tuned on;
- renderer 2 seeds 940001, 940002 (10 scenes per type, 2 captures): diagnosis and calibration only;
- renderer 1 seed 1 (16 per type): calibration and the criterion's renderer-1 check;
- renderer 2 seeds ``--fresh-seeds`` (980001–980003, 8 scenes per type, 1 capture each), the real
  rain layers and the real photos of ``tests/data/real_rain_types.csv``: scored only.

The candidate rule (rules-v4 with rule 3 replaced by ``line_gain ≥`` its renderer-1 threshold)
is scored against rules-v4 on every set, with a paired bootstrap over the fresh seeds' scenes, and
the declared criterion applied (docs: not adopted). ``--tune`` also prints the length profile of
the rain's line energy per type on the tuning seeds.

``--sets NAME,...`` measures only those sets and stops; ``--tune`` prints the renderer-1 seed 0
tuning and the renderer-2 tuning-set diagnosis only (no test set is read).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from rainset.rainstats import ALGO_VERSION
from rainset.rainstats.lines import LINES_VERSION, line_stats, tile_energies
from rainset.suggest.features import number
from rainset.suggest.rules import RULES_V4, THRESHOLDS, RuleDecision, Thresholds, classify, walk_tree
from rainset.suggest.tuning import best_threshold
from rainset.suggest.validation import (
    LabelledSet,
    balanced_accuracy,
    confusion,
    load_set,
    measure_capture,
    recalls,
    save_set,
    union,
)
from suggest_layer import Capture, real_layers, real_photos, renderer1, renderer2  # bench/ is on sys.path
from run_record import finish_run  # bench/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
TAXONOMY = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable")


def set_makers(args: argparse.Namespace) -> dict[str, Callable[[], Iterator[Capture]]]:
    """Cache name → its captures."""
    sets: dict[str, Callable[[], Iterator[Capture]]] = {
        "renderer1-seed0-16": lambda: renderer1(16, 0),
        "renderer2-seed940001-10x2": lambda: renderer2(10, 940001, 2),
        "renderer2-seed940002-10x2": lambda: renderer2(10, 940002, 2),
        "renderer1-seed1-16": lambda: renderer1(16, 1),
    }
    for s in (int(v) for v in args.fresh_seeds.split(",")):
        sets[f"renderer2-seed{s}-{args.fresh_scenes}x1"] = lambda s=s: renderer2(args.fresh_scenes, s, 1)
    if (args.fixtures / "SOURCES.md").is_file():
        sets["real-layers-700000x4"] = lambda: real_layers(args.fixtures)
        sets["real-photos"] = lambda: real_photos(args.fixtures)
    return sets


def measured(cache: Path, key: str, make: Callable[[], Iterator[Capture]]) -> LabelledSet:
    """The store's measurements of a set (cached), its originals' luminance kept as PNG beside them."""
    path = cache / f"{key}-a{ALGO_VERSION}.json"
    if path.is_file():
        return load_set(path)
    images = cache / "luma" / key
    images.mkdir(parents=True, exist_ok=True)
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    out = LabelledSet(key)
    for i, (original, label, scene, file, exif) in enumerate(make()):
        cv2.imwrite(str(images / f"{i:04d}.png"), cv2.cvtColor(original, cv2.COLOR_RGB2GRAY),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
        out.add(measure_capture(original, **exif), label, scene, file)
    save_set(out, path)
    print(f"measured {key}: {len(out.labels)} captures, {time.perf_counter() - t0:.0f} s wall, "
          f"{time.process_time() - c0:.0f} s CPU, load {load0:.1f} → {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return out


def with_luma(cache: Path, key: str, data: LabelledSet, name: str,
              measure: Callable[[np.ndarray], dict]) -> LabelledSet:
    """``data`` with ``measure(luminance)`` of each capture added (the luminance kept by :func:`measured`,
    as float32 in 0-1), cached as ``KEY-NAME.json``."""
    path = cache / f"{key}-{name}.json"
    if path.is_file():
        extras = json.loads(path.read_text())
    else:
        t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
        extras = []
        for i in range(len(data.labels)):
            y = cv2.imread(str(cache / "luma" / key / f"{i:04d}.png"), cv2.IMREAD_GRAYSCALE)
            extras.append(measure(y.astype(np.float32) * np.float32(1 / 255)))
        path.write_text(json.dumps(extras) + "\n")
        cpu = time.process_time() - c0
        print(f"{name} {key}: {len(extras)} captures, {time.perf_counter() - t0:.0f} s wall, {cpu:.1f} s CPU "
              f"({1000 * cpu / max(1, len(extras)):.0f} ms per capture), load {load0:.1f} → {os.getloadavg()[0]:.1f}",
              file=sys.stderr)
    out = LabelledSet(data.name)
    for v, extra, lab, scene, f in zip(data.values, extras, data.labels, data.scenes, data.files):
        out.add({**v, **extra}, lab, scene, f)
    return out


def with_lines(cache: Path, key: str, data: LabelledSet) -> LabelledSet:
    """``data`` with the line measurements (``line_*``) of each capture's luminance added (cached)."""
    return with_luma(cache, key, data, f"lines-v{LINES_VERSION}", lambda y: line_stats(y).to_dict())


LINE_FEATURES = ("line_gain", "line_agree", "line_excess")
TYPES = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain")
RAIN4 = ("drizzle", "heavy", "streak", "fog-mixed")


RULE_FEATURES = ("line_gain",)  # the candidate's streak test (line_agree too lowered renderer 1 seed 0: docs)


def tune_rule(data: LabelledSet, features: tuple[str, ...] = RULE_FEATURES) -> dict[str, float]:
    """The new streak rule's thresholds and widths on renderer 1 seed 0 (as rules-v3's were chosen):
    each threshold maximises the balanced accuracy of streak against heavy and drizzle; its width is
    a quarter of the distance between the two classes' medians (at least 0.01)."""
    out = {}
    for name in features:
        pos = [number(v.get(name)) for v, lab in zip(data.values, data.labels) if lab == "streak"]
        neg = [number(v.get(name)) for v, lab in zip(data.values, data.labels) if lab in ("heavy", "drizzle")]
        out[name] = round(best_threshold(pos, neg), 4)
        out[name + "_width"] = round(max(abs(float(np.nanmedian(pos)) - float(np.nanmedian(neg))) / 4, 0.01), 4)
    return out


def check(name: str, value: float, threshold: float, width: float) -> tuple[bool, float, str]:
    """(holds, margin in widths, why) of ``value ≥ threshold``; an unmeasured value never holds."""
    if math.isnan(value):
        return False, 0.0, f"{name} not measured"
    sign = "≥" if value >= threshold else "<"
    return value >= threshold, abs(value - threshold) / width, f"{name} {value:.4g} {sign} {threshold:g}"


def classify_lines(values: dict, rule: dict[str, float], t: Thresholds = THRESHOLDS) -> RuleDecision | None:
    """rules-v4 with rule 3 replaced by ``rule``'s tests (``line_gain ≥ g`` → streak): the candidate rules-v5."""
    sign = number(values.get("rain_sign"))
    if math.isnan(sign):
        return None
    return walk_tree(values, TAXONOMY, t, check("veil_edges", number(values.get("veil_edges")), t.fog_min, t.fog_width),
                     (sign >= t.rain_min, abs(sign - t.rain_min) / t.rain_width, f"rain_sign {sign:.4g}"),
                     (("streak", [check(n, number(values.get(n)), rule[n], rule[n + "_width"])
                                  for n in ("line_gain", "line_agree") if n in rule]),
                      ("heavy", [check(t.heavy_feature, number(values.get(t.heavy_feature)), t.heavy_min,
                                       t.heavy_width)])))


def decisions(data: LabelledSet, rule: dict[str, float] | None) -> list[str | None]:
    """Each capture's suggested type by rules-v4 (``rule`` None) or by the candidate."""
    out = []
    for v in data.values:
        d = classify(v, TAXONOMY, RULES_V4) if rule is None else classify_lines(v, rule)
        out.append(d.rain_type if d else None)
    return out


def rain4(truth: list[str], guess: list[str | None]) -> float:
    """Balanced accuracy over the four rain types the goal names (those present)."""
    rec = recalls(truth, guess)
    vals = [rec[t] for t in RAIN4 if t in rec]
    return float(np.mean(vals)) if vals else math.nan


def transfer(tune: LabelledSet, other: LabelledSet) -> list[str]:
    """Each line measurement's best renderer-1 threshold (streak against heavy+drizzle) and its
    balanced accuracy there → on ``other`` (diagnosis: which measurement keeps its threshold)."""
    lines = []
    for name in LINE_FEATURES:
        def split(d: LabelledSet, t: float | None = None) -> tuple[float, float]:
            pos = np.array([number(v.get(name)) for v, lab in zip(d.values, d.labels) if lab == "streak"])
            neg = np.array([number(v.get(name)) for v, lab in zip(d.values, d.labels) if lab in ("heavy", "drizzle")])
            t = best_threshold(pos, neg) if t is None else t
            return t, (float(np.mean(pos >= t)) + float(np.mean(neg < t))) / 2
        t, ba = split(tune)
        def med(d: LabelledSet) -> str:
            values = [[number(v.get(name)) for v, lab in zip(d.values, d.labels) if lab == ty] for ty in TYPES]
            return " / ".join(f"{np.nanmedian(v):.3g}" for v in values)
        lines.append(f"| `{name}` | {t:.4g} | {ba:.2f} → {split(other, t)[1]:.2f} | {med(tune)} | {med(other)} |")
    return lines


Decide = Callable[[LabelledSet, "dict | None"], "list[str | None]"]


def report_by(decide: Decide, data: LabelledSet, rule: dict) -> dict:
    """rules-v4 (``decide(data, None)``) and the candidate (``decide(data, rule)``) on one set:
    balanced accuracy (types present), the four-type one, right decisions, recalls and confusion
    (rows truth, columns suggestion, TAXONOMY order)."""
    out: dict = {"captures": len(data.labels)}
    for name, r in (("rules-v4", None), ("candidate", rule)):
        guess = decide(data, r)
        out[name] = {"balanced_accuracy": round(balanced_accuracy(data.labels, guess), 4),
                     "four_types": round(rain4(data.labels, guess), 4),
                     "right": int(sum(g == t for g, t in zip(guess, data.labels))),
                     "recall": {k: round(v, 4) for k, v in recalls(data.labels, guess).items()},
                     "confusion": confusion(data.labels, guess, TAXONOMY)}
    return out


def paired_bootstrap(decide: Decide, data: LabelledSet, rule: dict, draws: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap over scenes of (candidate − rules-v4) balanced accuracy: the same resample
    of scenes for both; a draw missing a type scores over the types it holds."""
    v4, cand = decide(data, None), decide(data, rule)
    scenes = sorted(set(data.scenes))
    members = {s: [i for i, x in enumerate(data.scenes) if x == s] for s in scenes}
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(draws):
        idx = [i for k in rng.integers(0, len(scenes), len(scenes)) for i in members[scenes[k]]]
        truth = [data.labels[i] for i in idx]
        diffs.append(balanced_accuracy(truth, [cand[i] for i in idx]) - balanced_accuracy(truth, [v4[i] for i in idx]))
    d = np.array(diffs)
    return {"observed": round(balanced_accuracy(data.labels, cand) - balanced_accuracy(data.labels, v4), 4),
            "p05": round(float(np.percentile(d, 5)), 4), "p95": round(float(np.percentile(d, 95)), 4),
            "draws": draws, "scenes": len(scenes)}


def report(data: LabelledSet, rule: dict[str, float]) -> dict:
    """:func:`report_by` with this round's decisions."""
    return report_by(decisions, data, rule)


def bootstrap(data: LabelledSet, rule: dict[str, float], draws: int = 2000, seed: int = 0) -> dict:
    """:func:`paired_bootstrap` with this round's decisions."""
    return paired_bootstrap(decisions, data, rule, draws, seed)


def scored_sets(args: argparse.Namespace, makers: dict, get: Callable[[str], LabelledSet],
                ) -> tuple[list[LabelledSet], LabelledSet, LabelledSet]:
    """The sets a round scores, named for its tables: each fresh renderer-2 seed, their union (the
    criterion's), renderer 1 seed 1, and the real rain layers and photos when the fixtures are
    there. Returns (all of them, the union, renderer 1 seed 1)."""
    fresh = [get(f"renderer2-seed{s}-{args.fresh_scenes}x1") for s in args.fresh_seeds.split(",")]
    for seed, d in zip(args.fresh_seeds.split(","), fresh):
        d.name = f"renderer 2, seed {seed}"
    together = union(f"renderer 2, seeds {args.fresh_seeds.replace(',', ', ')} together (criterion)", fresh)
    r1 = get("renderer1-seed1-16")
    r1.name = "renderer 1, seed 1"
    named = [*fresh, together, r1]
    if "real-photos" in makers:
        layers, real = get("real-layers-700000x4"), get("real-photos")
        layers.name, real.name = "real rain layers", "real photos (test set)"
        named += [layers, real]
    return named, together, r1


def score_sets(result: dict, sets: list[LabelledSet], rule: dict, report: Callable[[LabelledSet, dict], dict],
               bootstrap: Callable[[LabelledSet, dict], dict], together: LabelledSet) -> list[tuple[str, dict]]:
    """Score every set with a round's ``report``, and its ``bootstrap`` on the criterion's union,
    into ``result`` (``sets``, ``bootstrap``); print the table. Returns the (name, report) rows."""
    rows = [(d.name, report(d, rule)) for d in sets]
    result["sets"] = dict(rows)
    result["bootstrap"] = bootstrap(together, rule)
    print("\n".join(table(rows)))
    return rows


def judge(result: dict, boot: dict, r1_name: str) -> bool:
    """Round 4's criterion on a run's ``result`` (its ``sets`` scored by :func:`report_by`) and the
    fresh seeds' bootstrap: the 90 % interval above 0, renderer 1 seed 1 (``r1_name``) at most 0.03
    lower, the real photos right not fewer. Recorded under ``result["criterion"]`` and printed."""
    sets = result["sets"]
    r1_drop = sets[r1_name]["rules-v4"]["balanced_accuracy"] - sets[r1_name]["candidate"]["balanced_accuracy"]
    real = sets.get("real photos (test set)")
    real_ok = real is None or real["candidate"]["right"] >= real["rules-v4"]["right"]
    adopt = boot["p05"] > 0 and r1_drop <= 0.03 + 1e-9 and real_ok
    result["criterion"] = {"bootstrap_p05_above_0": boot["p05"] > 0, "renderer1_seed1_drop": round(r1_drop, 4),
                           "real_photos_right_kept": real_ok, "adopt": adopt}
    print(f"\npaired bootstrap over {boot['scenes']} scenes ({boot['draws']} draws), candidate − rules-v4 balanced "
          f"accuracy on the fresh seeds together: observed {boot['observed']:+.3f}, 90 % interval "
          f"[{boot['p05']:+.3f}, {boot['p95']:+.3f}]")
    print(f"criterion: interval above 0: {boot['p05'] > 0}; renderer-1 seed 1 drop {r1_drop:+.3f} (≤ 0.03: "
          f"{r1_drop <= 0.03 + 1e-9}); real photos right kept: {real_ok} → {'ADOPT' if adopt else 'not adopted'}")
    return adopt


def table(rows: list[tuple[str, dict]]) -> list[str]:
    """Markdown rows: set, rules, captures, balanced accuracy, four types, right, recalls."""
    out = ["| set | rules | captures | balanced accuracy | four rain types | right | " +
           " | ".join(f"recall {t}" for t in TYPES) + " |", "|---|---|---|---|---|---|" + "---|" * len(TYPES)]
    for name, r in rows:
        for rules in ("rules-v4", "candidate"):
            x = r[rules]
            rec = " | ".join(f"{x['recall'][t]:.2f}" if t in x["recall"] else "" for t in TYPES)
            out.append(f"| {name} | {rules} | {r['captures']} | {x['balanced_accuracy']:.3f} | {x['four_types']:.3f} | "
                       f"{x['right']} | {rec} |")
    return out


def confusions(name: str, r: dict) -> list[str]:
    out = []
    for rules in ("rules-v4", "candidate"):
        out += [f"\n{name}, {rules} (rows truth, columns suggestion):\n",
                "| truth \\ suggestion | " + " | ".join(TAXONOMY) + " |", "|---|" + "---|" * len(TAXONOMY)]
        for t, row in zip(TAXONOMY, r[rules]["confusion"]):
            if sum(row):
                out.append(f"| {t} | " + " | ".join(str(v) for v in row) + " |")
    return out


PROFILE_LENGTHS = (8, 16, 32, 64)
PROFILE_ANGLES = np.arange(-60.0, 60.01, 2.5)


def length_profile(cache: Path, key: str, data: LabelledSet, types: tuple[str, ...] = ("drizzle", "heavy", "streak"),
                   ) -> dict[str, list[float]]:
    """Per type, the median over captures of the bright-minus-dark line energy (noise units: over the
    tiles' median energy) at 8, 16, 32 and 64 px, in each capture's direction of the largest one at
    64 px (2.5° steps): how fast the rain's line energy grows with length, i.e. how long it is."""
    path = cache / f"{key}-profile-v{LINES_VERSION}.json"
    if path.is_file():
        return json.loads(path.read_text())
    out = {}
    for ty in types:
        rows = []
        for i in (i for i, lab in enumerate(data.labels) if lab == ty):
            y = cv2.imread(str(cache / "luma" / key / f"{i:04d}.png"), cv2.IMREAD_GRAYSCALE)
            y = y.astype(np.float32) * np.float32(1 / 255)
            prof = []
            for short, long_ in zip(PROFILE_LENGTHS[::2], PROFILE_LENGTHS[1::2]):
                e = tile_energies(y, short, long_, PROFILE_ANGLES)
                noise = np.median(e[:, 0], axis=2).mean(axis=0)  # (short, long)
                prof.append((e[:, 1] - e[:, 2]).mean(axis=0) / noise[:, None])
            k = int(np.argmax(prof[1][1]))
            rows.append([prof[0][0, k], prof[0][1, k], prof[1][0, k], prof[1][1, k]])
        out[ty] = [round(float(v), 3) for v in np.median(np.array(rows), axis=0)]
    path.write_text(json.dumps(out) + "\n")
    return out


def profile_lines(profiles: dict[str, dict[str, list[float]]]) -> list[str]:
    out = ["| set | type | at 8 px | 16 px | 32 px | 64 px | 16 : 8 | 32 : 16 | 64 : 32 |",
           "|---|---|---|---|---|---|---|---|---|"]
    for name, prof in profiles.items():
        for ty, v in prof.items():
            out.append(f"| {name} | {ty} | " + " | ".join(f"{x:.2f}" for x in v) + " | " +
                       " | ".join(f"{v[j + 1] / v[j]:.2f}" if v[j] > 0 else "–" for j in range(3)) + " |")
    return out


def round_parser(description: str, fresh_seeds: str, cache: Path) -> argparse.ArgumentParser:
    """A round's command line: its fresh renderer-2 seeds and scenes, the fixtures, the cache,
    ``--tune`` (tuning and diagnosis only) and ``--out``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--fresh-seeds", default=fresh_seeds)
    ap.add_argument("--fresh-scenes", type=int, default=8)
    ap.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    ap.add_argument("--cache", type=Path, default=cache)
    ap.add_argument("--tune", action="store_true", help="tuning (renderer 1 seed 0) and diagnosis only")
    ap.add_argument("--out", type=Path, default=None)
    return ap


def parse() -> argparse.Namespace:
    ap = round_parser(__doc__.split("\n")[0], "980001,980002,980003", Path("/tmp/s16-streak-cache"))
    ap.add_argument("--sets", default="", help="measure only these cache names (comma-separated), then stop")
    return ap.parse_args()


def main() -> None:
    args = parse()
    makers = set_makers(args)
    if args.sets:
        for key in args.sets.split(","):
            with_lines(args.cache, key, measured(args.cache, key, makers[key]))
        return
    sets = {}

    def get(key: str) -> LabelledSet:
        if key not in sets:
            sets[key] = with_lines(args.cache, key, measured(args.cache, key, makers[key]))
        return sets[key]

    t0, load0 = time.perf_counter(), os.getloadavg()
    tune = get("renderer1-seed0-16")
    diag = union("renderer 2 tuning seeds 940001+940002", [get("renderer2-seed940001-10x2"),
                                                            get("renderer2-seed940002-10x2")])
    rule = tune_rule(tune)
    print("rule tuned on renderer 1 seed 0:", rule)
    both = tune_rule(tune, ("line_gain", "line_agree"))
    result_choice = {"line_gain": report(tune, rule)["candidate"]["balanced_accuracy"],
                     "line_gain and line_agree": report(tune, both)["candidate"]["balanced_accuracy"]}
    print("renderer 1 seed 0, the whole tree's balanced accuracy with rule 3 on:", result_choice,
          "rules-v4:", report(tune, rule)["rules-v4"]["balanced_accuracy"])
    print("\n| measurement | renderer-1 threshold | streak / heavy+drizzle: renderer 1 seed 0 → renderer 2 "
          "940001+940002 | medians renderer 1 (drizzle / heavy / streak / fog-mixed / no-rain) | medians renderer 2 |")
    print("|---|---|---|---|---|")
    print("\n".join(transfer(tune, diag)))
    profiles = {"renderer 1 seed 0": length_profile(args.cache, "renderer1-seed0-16", tune),
                "renderer 2 seed 940001": length_profile(args.cache, "renderer2-seed940001-10x2",
                                                         get("renderer2-seed940001-10x2"))}
    print("\nbright-minus-dark line energy (noise units) by line length, median per type:")
    print("\n".join(profile_lines(profiles)))
    result: dict = {"rule": rule, "rule_choice": result_choice, "transfer": transfer(tune, diag), "sets": {},
                    "length_profile": profiles}
    for d in (tune, diag):
        result["sets"][d.name] = report(d, rule)
    if args.tune:
        return
    named, together, r1 = scored_sets(args, makers, get)
    tune.name, diag.name = "renderer 1, seed 0 (tuning)", "renderer 2, seeds 940001+940002 (diagnosis)"
    rows = score_sets(result, [*named, tune, diag], rule, report, bootstrap, together)
    for name, r in rows:
        if "together" in name or name.startswith("real photos"):
            print("\n".join(confusions(name, r)))
    judge(result, result["bootstrap"], r1.name)
    finish_run(result, args.out, t0, load0)


if __name__ == "__main__":
    main()
