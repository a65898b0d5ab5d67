#!/usr/bin/env python
"""Cost of the full-resolution check (rainset.dedupe.fine) per candidate pair at 12 MP, on one core.

Writes one 4000×3000 frame of the second renderer (drizzle) as a camera JPEG, its copies (JPEG q70,
50 % resize, 1° rotation, PNG) and a second exposure, makes their 1024-px previews as ingest does,
then times, per pair, with OpenCV on one thread: the preview comparison (``compare_frames``) and
the full-resolution check with nothing cached (both originals decoded: the worst case; a run
decodes each original once while its pairs come together). CPU time (``process_time``, what one
core spends, robust to other jobs) and wall time, best and median of ``--repeat``.

    python bench/dedupe_fine_cost.py [--repeat 3] [--size 4000x3000]

Results: docs/dedupe.md ("Cost").
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rainset.dedupe.confirm import compare_frames
from rainset.dedupe.fine import decode_grey, fine_evidence
from rainset.synth.depth_rain import copy_pixels, render_burst
from rainset.synth.scene import render_scene
from rainset.synth.writers import encode_jpeg


def preview(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    f = 1024 / max(img.shape)
    small = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
    return cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_GRAYSCALE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(4000, 3000))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    w, h = args.size
    frames = render_burst(render_scene(np.random.default_rng(0), w, h), "drizzle", 1, 2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {"original": root / "a.jpg", "burst frame": root / "b.jpg"}
        files["original"].write_bytes(encode_jpeg(frames[0].image, None, 92))
        files["burst frame"].write_bytes(encode_jpeg(frames[1].image, None, 92))
        for v in ("jpeg70", "resize50", "rotate1"):
            files[v] = root / f"{v}.jpg"
            files[v].write_bytes(encode_jpeg(copy_pixels(frames[0].image, v), None, 70 if v == "jpeg70" else 90))
        files["png"] = root / "png.png"
        cv2.imwrite(str(files["png"]), cv2.imread(str(files["original"])))
        previews = {k: preview(p) for k, p in files.items()}
        sizes = {k: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE).shape[::-1] for k, p in files.items()}
        load = os.getloadavg()
        print(f"{w}x{h}, OpenCV threads 1; load average {load[0]:.2f} ({os.cpu_count()} cores)")
        print(f"{'pair':>24} {'preview cpu ms':>15} {'fine cpu ms':>12} {'fine wall ms':>13} {'score':>8}")
        for other in ("jpeg70", "resize50", "rotate1", "png", "burst frame"):
            ref, mov = ("resize50", "original") if other == "resize50" else ("original", other)
            cpu_p, cpu_f, wall_f = [], [], []
            for _ in range(args.repeat):
                c0 = time.process_time()
                c = compare_frames(previews[ref], previews[mov])
                c1, w1 = time.process_time(), time.perf_counter()
                ev = fine_evidence(lambda s: decode_grey(files[ref], s), sizes[ref],
                                   lambda s: decode_grey(files[mov], s), sizes[mov], c.warp, c.size,
                                   previews[ref], previews[mov])
                cpu_p.append(1000 * (c1 - c0))
                cpu_f.append(1000 * (time.process_time() - c1))
                wall_f.append(1000 * (time.perf_counter() - w1))
            print(f"{'original vs ' + other:>24} {statistics.median(cpu_p):>15.0f} {statistics.median(cpu_f):>12.0f} "
                  f"{statistics.median(wall_f):>13.0f} {ev.score if ev else float('nan'):>8.5f}")
        t0 = time.process_time()
        for _ in range(args.repeat):
            decode_grey(files["original"], sizes["original"])
        dec = 1000 * (time.process_time() - t0) / args.repeat
        t0 = time.process_time()
        for _ in range(args.repeat):
            decode_grey(files["original"], (w // 2, h // 2))
        half = 1000 * (time.process_time() - t0) / args.repeat
        t0 = time.process_time()
        for _ in range(args.repeat):
            decode_grey(files["png"], sizes["png"])
        png = 1000 * (time.process_time() - t0) / args.repeat
        print(f"grey decode of the 12 MP JPEG: {dec:.0f} ms CPU (at 1/2 by DCT scaling: {half:.0f} ms); of its PNG: {png:.0f} ms")
        print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
