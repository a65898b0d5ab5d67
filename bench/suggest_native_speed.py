"""Time per capture of the rain measurements with the native-resolution scene-invariant part.

Renders renderer-2 captures at 12 MP (4000×3000) and at 1600×1200, writes them as quality-92
JPEGs, and times, per capture, in one process with one OpenCV thread: decoding the original,
``measure(preview)`` alone and ``measure(preview, detail=original)`` (what ``measure_store`` does).

    python bench/suggest_native_speed.py --n 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from rainset.imageops import fit_long_side
from rainset.rainstats import measure
from rainset.synth import render_scene
from rainset.synth.depth_rain import render_depth_rain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3, help="captures per size")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    print(f"load average at start {os.getloadavg()}")
    for w, h in ((4000, 3000), (1600, 1200)):
        decode, small, full = [], [], []
        for i in range(args.n):
            clean = render_scene(np.random.default_rng([9, i]), w, h)
            rgb = render_depth_rain(clean, ("drizzle", "heavy", "streak")[i % 3], np.random.default_rng([9, 1, i])).image
            buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1]
            t = time.process_time()
            original = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            decode.append(time.process_time() - t)
            preview = fit_long_side(original, 1024)
            t = time.process_time()
            measure(preview)
            small.append(time.process_time() - t)
            t = time.process_time()
            measure(preview, detail=original)
            full.append(time.process_time() - t)
        print(f"{w}x{h}: CPU s per capture (median of {args.n}): decode {statistics.median(decode):.3f}, "
              f"measure(preview) {statistics.median(small):.3f}, measure(preview, detail=original) "
              f"{statistics.median(full):.3f}")
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
