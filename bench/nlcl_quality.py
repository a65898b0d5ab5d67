"""NLCL quality in one table: does it derain? (issue 14, part 5)

Rows: the rainy input; the released weights through the released code path (``released_forward``,
the released saving path: clamp, ``(x + 1) / 2 · 255`` truncated to uint8); the ``paper`` model
loaded with the released weights through rainset (``rainset nlcl import-released`` → checkpoint →
``derain_array``, saved the same way: must equal the previous row); a short from-scratch CPU
training; a short fine-tune of the released weights. Columns: Rain100L ``rain-001`` and the
Rain100H crops 1–5 of ../shared/fixtures (Y-channel BT.601 PSNR / SSIM against the clean image)
and real rainy photos (RealRain ``valA``, no truth: the streak energy of
:func:`rainset.nlcl.evaluate.streak_energy`, lower is fewer thin bright streaks).

Training rows use the ``paper`` config with the stated overrides on the RealRain ``trainA`` /
``trainB`` fixture folders (2 rainy, 2 clean 1024×512 photos), each for ``--minutes`` of CPU
time; the budget and the steps done are printed with the table. The released weights are read
from ../shared/reference/nlcl-official (never copied into the repository).

    python bench/nlcl_quality.py --minutes 4 --threads 2 --out bench/results/nlcl_quality
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from rainset.nlcl.config import make_config
from rainset.nlcl.data import read_image
from rainset.nlcl.derain import derain_array, load_generator
from rainset.nlcl.evaluate import psnr, ssim, streak_energy, to_y
from rainset.nlcl.released import import_released, load_released, released_forward, released_to_uint8
from rainset.nlcl.train import train

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
REFERENCE = SHARED / "reference" / "nlcl-official"
RAIN100L = FIXTURES / "deraincyclegan-rain100l/datasets/test_rain100L"
RAIN100H = FIXTURES / "mspfn-rain100h/model/test/test_data/R100H"
REALRAIN = FIXTURES / "nlcl-realrain/datasets/RealRain"
# Measured with the released code and weights (../shared/reference/nlcl-official/README.md): input → G_B.
RELEASED_PSNR_Y = {"rain100l-001": (27.30, 26.28), "rain100h-1": (16.62, 18.96), "rain100h-2": (14.87, 15.74),
                   "rain100h-3": (10.75, 11.08), "rain100h-4": (15.12, 17.77), "rain100h-5": (12.22, 14.47)}


def paired_images() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rainy, clean) float RGB in [0, 1], decoded as 8-bit."""
    items = [("rain100l-001", RAIN100L / "trainA/rain-001.png", RAIN100L / "trainB/norain-001.png")]
    items += [(f"rain100h-{i}", RAIN100H / f"inputcrop/{i}.png", RAIN100H / f"cleancrop/{i}.png") for i in range(1, 6)]
    return [(n, read_image(r)[0], read_image(c)[0]) for n, r, c in items]


def quantise_released(rgb01: np.ndarray) -> np.ndarray:
    """The released saving path on an output already mapped to [0, 1]: × 255, truncated."""
    return (np.clip(rgb01, 0, 1) * 255).astype(np.uint8).astype(np.float32) / 255


def y_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    py, ty = to_y(pred), to_y(truth)
    return psnr(py, ty, 255.0), ssim(py, ty, 255.0)


def released_code_row(paired, photos) -> dict:
    g = load_released(REFERENCE / "latest_net_Back.pth")

    def run(img: np.ndarray) -> np.ndarray:
        rgb8 = (img * 255 + 0.5).astype(np.uint8)
        return released_to_uint8(released_forward(g, rgb8)).astype(np.float32) / 255
    return score_row(run, paired, photos)


def checkpoint_row(checkpoint: Path, paired, photos) -> dict:
    g = load_generator(checkpoint)
    return score_row(lambda img: quantise_released(derain_array(g, img, amp=False)), paired, photos)


def score_row(fn, paired, photos) -> dict:
    row = {}
    for name, rainy, clean in paired:
        row[name] = y_scores(fn(rainy), clean)
    for name, img in photos:
        row[name] = streak_energy(fn(img))
    return row


def train_row(label: str, out: Path, minutes: float, overrides: list[str], released: bool) -> tuple[Path, dict]:
    cfg_items = [f"rainy={REALRAIN / 'trainA'}", f"clean={REALRAIN / 'trainB'}", f"out={out}", "device=cpu",
                 "workers=0", "log_every=1", "sample_every=100000", "ckpt_every=100000", f"max_minutes={minutes}",
                 *overrides]
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resumed one
    if released:  # the released weights as step 0 of the same config
        out.mkdir(parents=True, exist_ok=True)
        import_released(REFERENCE / "latest_net_Back.pth", REFERENCE / "latest_net_Rain.pth", out / "checkpoint.pt",
                        [o for o in overrides])
    result = train(make_config("paper", cfg_items))
    curve = [{"step": int(h["step"]), "seconds": h["seconds"], "total": round(h["total"], 4)} for h in result.history]
    return Path(result.checkpoint), {"label": label, "steps": result.step, "seconds": result.seconds,
                                     "overrides": overrides, "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=4.0, help="CPU training budget of each training row")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", default="Eg2.JPG,Eg5.JPG", help="RealRain valA photos for the streak energy")
    ap.add_argument("--out", default="bench/results/nlcl_quality")
    ap.add_argument("--no-train", action="store_true", help="only the input and released-weights rows")
    ap.add_argument("overrides", nargs="*", default=["crop=128", "window=40"],
                    help="config overrides of the training rows (default: 128² crops to get steps on a CPU)")
    args = ap.parse_args()
    if not (REFERENCE / "latest_net_Back.pth").is_file():
        raise SystemExit(f"the released weights are not at {REFERENCE}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paired = paired_images()
    photos = [(f"real-{p}", read_image(REALRAIN / "valA" / p)[0]) for p in args.photos.split(",") if p]
    rows: dict[str, dict] = {"rainy input": score_row(lambda x: x, paired, photos)}
    t0 = time.perf_counter()
    rows["released weights, released code path"] = released_code_row(paired, photos)
    ckpt = out / "released" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    import_released(REFERENCE / "latest_net_Back.pth", REFERENCE / "latest_net_Rain.pth", ckpt)
    rows["paper + released weights, through rainset"] = checkpoint_row(ckpt, paired, photos)
    eval_seconds = time.perf_counter() - t0
    runs = []
    if not args.no_train:
        for label, released in (("from scratch", False), ("fine-tune of released", True)):
            path, info = train_row(label, out / label.replace(" ", "-"), args.minutes, list(args.overrides), released)
            rows[f"{label}, {info['steps']} steps / {args.minutes:g} CPU min"] = checkpoint_row(path, paired, photos)
            runs.append(info)
    names = [n for n, _, _ in paired] + [n for n, _ in photos]
    head = "| | " + " | ".join(names) + " |"
    lines = [head, "|---" * (len(names) + 1) + "|"]
    for label, row in rows.items():
        cells = [f"{row[n][0]:.2f} / {row[n][1]:.3f}" if isinstance(row[n], tuple) else f"{row[n]:.2f}" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    load = os.getloadavg()
    lines.append("")
    lines.append(f"Y-PSNR dB / SSIM (paired), streak energy (real); {args.threads} threads; load average "
                 f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; evaluation of the two released rows {eval_seconds:.0f} s")
    for r in runs:
        lines.append(f"{r['label']}: {r['steps']} steps in {r['seconds']:.0f} s, overrides {' '.join(r['overrides'])}, "
                     f"total loss {r['curve'][0]['total'] if r['curve'] else '-'} → "
                     f"{r['curve'][-1]['total'] if r['curve'] else '-'}")
    text = "\n".join(lines)
    print(text)
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"rows": {k: {n: v for n, v in r.items()} for k, r in rows.items()},
                                                  "runs": runs, "released_psnr_y": RELEASED_PSNR_Y}, indent=1))


if __name__ == "__main__":
    main()
