"""``rainset pairs build`` end to end: frames/s against the decode limit, peak memory, PSNR of the pairs.

Makes one H.264 clip (libx264 CRF 16; the footage of ``bench/pairs_background.py``: a real fixture
photo, ±3 px shake, ±8 % light, fresh streak rain) of ``--frames`` frames at ``--width`` x
``--height`` in a child process, ingests it into a fresh store with ``rainset ingest`` (another
child process, so its memory does not count here), then in this process:

- ``decode``: PyAV decodes every frame of the stored object to RGB (the decode limit; a build
  decodes each frame twice, once per pass, so it can reach at most half this rate);
- ``build``: :func:`rainset.pairs.build.build_pairs` (two passes, windows of ``--window``
  frames, PNG writing, quality scores) — frames/s is the video's frames over the wall time;
- PSNR (the issue's protocol: aligned by translation and gain, 24-px border) of every ``--score-every``-th
  pair's rainy frame and clean target against the true background, read back from the PNGs.

Peak memory is this process's VmHWM (``base``: VmRSS after the imports).

    .venv/bin/python bench/pairs_build.py [--width 1280 --height 720] [--frames 48] [--window 48] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rainset.capture.video import FrameWalk, open_video
from rainset.pairs.build import build_pairs
from rainset.pairs.score import aligned_psnr
from rainset.store import init_store

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pairs_background import plan, scene, truth_frame  # noqa: E402  (the footage's truth, shared with that bench)


def status_kib(key: str) -> int:
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(key + ":")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--window", type=int, default=48)
    ap.add_argument("--rain", type=float, default=0.3)
    ap.add_argument("--score-every", type=int, default=6)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    base = status_kib("VmRSS")
    out: dict = {"size": f"{a.width}x{a.height}", "frames": a.frames, "window": a.window}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        video = src / "clip.mp4"
        subprocess.run([sys.executable, str(HERE / "pairs_background.py"), "--make", str(video), "--width",
                        str(a.width), "--height", str(a.height), "--frames", str(a.frames), "--rain", str(a.rain)],
                       check=True)
        store = init_store(Path(tmp) / "s")
        subprocess.run([sys.executable, "-m", "rainset.cli", "ingest", str(src), "--store", str(store.root),
                        "--workers", "0", "--min-change", "0", "-q"], check=True)
        objects = [p for p in (store.root / "objects").rglob("*") if p.is_file()]
        assert len(objects) == 1
        t = time.perf_counter()
        with open_video(str(objects[0])) as container:
            n = sum(1 for f in FrameWalk(container) if f.rgb() is not None)
        out["decode_fps"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        result = build_pairs(store, "bench", window=a.window)
        out["build_fps"] = n / (time.perf_counter() - t)
        out["pairs"], out["accepted"], out["windows"] = len(result.pairs), result.accepted, result.windows
        out["quality_mean"] = float(np.mean([p.quality for p in result.pairs]))
        out["residual_motion_max_px"] = float(max(p.residual_motion for p in result.pairs))
        out["peak_build_mib"] = status_kib("VmHWM") / 1024
        shifts, light = plan(a.frames)
        clean = scene(a.width, a.height)
        rows = []
        for p in result.pairs[:: a.score_every]:
            truth = truth_frame(clean, shifts[p.frame_index], light[p.frame_index])
            rainy = cv2.cvtColor(cv2.imread(str(result.folder / p.rainy)), cv2.COLOR_BGR2RGB)
            target = cv2.cvtColor(cv2.imread(str(result.folder / p.clean)), cv2.COLOR_BGR2RGB)
            rows.append((aligned_psnr(rainy, truth).psnr, aligned_psnr(target, truth).psnr))
        r = np.array(rows).mean(axis=0)
        out["psnr_db"] = {"rainy": round(float(r[0]), 2), "median_pairs": round(float(r[1]), 2), "scored": len(rows)}
        out["disk_mib"] = sum(f.stat().st_size for f in result.folder.rglob("*") if f.is_file()) / 2**20
    out["base_mib"] = base / 1024
    if a.json:
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
    else:
        for k, v in out.items():
            sys.stdout.write(f"{k:24s} {v:.2f}\n" if isinstance(v, float) else f"{k:24s} {v}\n")


if __name__ == "__main__":
    main()
