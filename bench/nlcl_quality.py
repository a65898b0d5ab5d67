"""NLCL quality under a fixed CPU budget: PSNR/SSIM against clean truth as a curve over training.

Trains on generated rainy captures (rainset.synth) with an unpaired clean pool for ``--minutes`` of
training time, evaluating at regular intervals on held-out generated pairs and on the synthetic
Rain100L / Rain100H pairs in ../shared/fixtures, beside the rainy input itself and a median-filter
baseline. Writes ``results.json``, ``curve.csv`` and sample images into ``--out``.

    python bench/nlcl_quality.py --minutes 20 --out bench/results/nlcl_quality
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rainset.nlcl.config import make_config
from rainset.nlcl.data import read_image, write_image
from rainset.demo.training_data import make_folders
from rainset.nlcl.derain import derain_array, load_generator
from rainset.nlcl.evaluate import score_image, summarise
from rainset.nlcl.train import train

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
SETS = {
    "rain100h": ("mspfn-rain100h/model/test/test_data/R100H/inputcrop", "mspfn-rain100h/model/test/test_data/R100H/cleancrop"),
    "rain100l": ("deraincyclegan-rain100l/datasets/rainy_Rain100L/trainA", "deraincyclegan-rain100l/datasets/rainy_Rain100L/trainB"),
    "rain100l-test": ("deraincyclegan-rain100l/datasets/test_rain100L/trainA", "deraincyclegan-rain100l/datasets/test_rain100L/trainB"),
}


def load_sets(held_out: Path) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """Evaluation sets: name → [(image name, rainy, truth)]."""
    sets = {"synthetic": [(p.name, read_image(p)[0], read_image(held_out / "truth" / p.name)[0])
                          for p in sorted((held_out / "rainy").iterdir())]}
    for name, (rain_dir, clean_dir) in SETS.items():
        if not (FIXTURES / rain_dir).is_dir():
            continue
        rain = sorted((FIXTURES / rain_dir).iterdir())
        clean = sorted((FIXTURES / clean_dir).iterdir())
        sets[name] = [(r.name, read_image(r)[0], read_image(c)[0]) for r, c in zip(rain, clean)]
    return sets


def median_filter(img: np.ndarray) -> np.ndarray:
    """Baseline: a 5×5 median filter (removes thin streaks, blurs detail)."""
    return cv2.medianBlur((img * 255 + 0.5).astype(np.uint8), 5).astype(np.float32) / 255


def score_set(items, fn) -> dict:
    return summarise([score_image(n, fn(rain), truth) for n, rain, truth in items]).mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=20.0, help="training-time budget")
    ap.add_argument("--evals", type=int, default=6, help="evaluation points over the budget")
    ap.add_argument("--out", default="bench/results/nlcl_quality")
    ap.add_argument("--crop", type=int, default=96)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("overrides", nargs="*", help="extra key=value config overrides")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_data = make_folders(out / "data/train", 48, (256, 192), seed=1)
    held = make_folders(out / "data/held-out", 8, (256, 192), seed=2, rain_types=("drizzle", "heavy", "streak", "fog-mixed"))
    sets = load_sets(Path(held.rainy).parent)
    baselines = {name: {"input": score_set(items, lambda x: x), "median5": score_set(items, median_filter)}
                 for name, items in sets.items()}
    print(json.dumps(baselines, indent=1), flush=True)
    cfg = make_config("paper", [f"rainy={train_data.rainy}", f"clean={train_data.clean}", f"out={out / 'run'}",
                                f"crop={args.crop}", f"batch_size={args.batch}", "device=cpu", "workers=1",
                                "log_every=10", "sample_every=100", "ckpt_every=100000", "steps=1000000",
                                "resume=true", *args.overrides])
    curve = []
    spent = 0.0
    chunk = args.minutes / args.evals
    while spent < args.minutes - 1e-6:
        res = train(make_config("paper", {**cfg.to_dict(), "max_minutes": min(chunk, args.minutes - spent)}))
        spent += res.seconds / 60
        gen = load_generator(res.checkpoint)
        t0 = time.perf_counter()
        point = {"step": res.step, "train_minutes": round(spent, 2), "loss": res.history[-1] if res.history else {}}
        for name, items in sets.items():
            point[name] = score_set(items, lambda x: derain_array(gen, x, tile=512))
        point["eval_seconds"] = round(time.perf_counter() - t0, 1)
        curve.append(point)
        print(json.dumps(point), flush=True)
        (out / "results.json").write_text(json.dumps({"config": cfg.to_dict(), "baselines": baselines,
                                                      "curve": curve}, indent=1))
    with (out / "curve.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "train_minutes", "set", "psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "streak"])
        for p in curve:
            for name in sets:
                m = p[name]
                w.writerow([p["step"], p["train_minutes"], name, m["psnr_rgb"], m["ssim_rgb"], m["psnr_y"], m["ssim_y"], m["streak"]])
    for name, items in sets.items():  # sample images: rainy | median | derained | truth
        n, rain, truth = items[0]
        row = np.concatenate([rain, median_filter(rain), derain_array(gen, rain), truth], axis=1)
        write_image(out / f"sample_{name}.png", row)


if __name__ == "__main__":
    main()
