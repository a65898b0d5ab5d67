"""Time the released NLCL G_B through rainset on the whole 1024×512 RealRain photo (Eg2).

    python bench/nlcl_released.py [--repeats 3] [--threads 2]

Runs ``derain_array`` (rainset's derain path: one piece at this size) and ``released_forward``
(the bare untiled pass) on CPU, no grad, and prints the median wall time of each, the load
average before and after, and the largest difference from the released code's golden output
(``Eg2_full_back_u16.npz``). The weights are read from ../shared/reference/nlcl-official.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rainset.nlcl.data import read_image
from rainset.nlcl.derain import derain_array, load_generator
from rainset.nlcl.released import released_forward

SHARED = Path(__file__).resolve().parents[2] / "shared"
OFFICIAL = SHARED / "reference" / "nlcl-official"
EG2 = SHARED / "fixtures" / "nlcl-realrain" / "datasets" / "RealRain" / "valA" / "Eg2.JPG"


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall seconds and process CPU seconds of each call (CPU seconds vary less on a shared machine)."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not (OFFICIAL / "latest_net_Back.pth").is_file() or not EG2.is_file():
        print(f"missing {OFFICIAL} or {EG2}", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    gen = load_generator(OFFICIAL / "latest_net_Back.pth")
    rgb, _ = read_image(EG2)
    u8 = cv2.cvtColor(cv2.imread(str(EG2)), cv2.COLOR_BGR2RGB)
    z = np.load(OFFICIAL / "Eg2_full_back_u16.npz")
    golden = z["net_Back_output_u16"].astype(np.float64) / 65535 * float(z["scale"]) + float(z["offset"])
    out = derain_array(gen, rgb, device="cpu")  # warm-up, and the accuracy check
    derain_t, derain_c = timed(lambda: derain_array(gen, rgb, device="cpu"), args.repeats)
    bare_t, bare_c = timed(lambda: released_forward(gen, u8), args.repeats)
    result = {
        "image": "Eg2.JPG 1024x512", "threads": args.threads, "repeats": args.repeats,
        "derain_array_s": [round(t, 2) for t in derain_t], "derain_array_median_s": round(statistics.median(derain_t), 2),
        "derain_array_cpu_s": [round(t, 2) for t in derain_c],
        "released_forward_s": [round(t, 2) for t in bare_t],
        "released_forward_median_s": round(statistics.median(bare_t), 2),
        "released_forward_cpu_s": [round(t, 2) for t in bare_c],
        "max_abs_diff_vs_golden": float(np.abs(released_forward(gen, u8) - golden).max()),
        "derain_array_max_diff_01": float(np.abs(out - np.clip((golden + 1) / 2, 0, 1)).max()),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
