"""``rainset pairs build --workers N`` against one process, on several videos.

Makes ``--videos`` H.264 clips (the footage of ``bench/pairs_background.py``, each with its own rain
strength so that they differ) of ``--frames`` frames at ``--width`` x ``--height`` in child
processes, ingests them into a fresh store, then builds the pair set with ``workers=1`` and with
``workers=N`` (in the order 1, N, 1, so that a change of machine load shows), checks that the pairs
are the same, and prints the wall times, the frames/s of each build and the speed-up against the
mean of the two one-process builds, with the 1-minute load average before and after.

    .venv/bin/python bench/pairs_build_workers.py [--videos 2] [--workers 2] [--width 1280 --height 720] [--frames 48]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rainset.pairs.build import build_pairs
from rainset.store import init_store

HERE = Path(__file__).resolve().parent


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=48)
    a = ap.parse_args()
    out: dict = {"size": f"{a.width}x{a.height}", "frames": a.frames, "videos": a.videos, "workers": a.workers,
                 "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for k in range(a.videos):
            subprocess.run([sys.executable, str(HERE / "pairs_background.py"), "--make", str(src / f"clip{k}.mp4"),
                            "--width", str(a.width), "--height", str(a.height), "--frames", str(a.frames),
                            "--rain", str(0.3 + 0.02 * k)], check=True)
        store = init_store(Path(tmp) / "s")
        subprocess.run([sys.executable, "-m", "rainset.cli", "ingest", str(src), "--store", str(store.root),
                        "--workers", "0", "--min-change", "0", "-q"], check=True)
        out["load_before"] = load()
        runs = []
        for n in (1, a.workers, 1):
            t = time.perf_counter()
            result = build_pairs(store, f"w{n}", workers=n, replace=True)
            runs.append({"workers": n, "seconds": round(time.perf_counter() - t, 2),
                         "frames_per_s": round(result.frames / (time.perf_counter() - t), 3),
                         "pairs": [(p.pair_id, p.quality) for p in result.pairs]})
        out["load_after"] = load()
    assert runs[0]["pairs"] == runs[1]["pairs"] == runs[2]["pairs"], "the parallel build gave other pairs"
    out["pairs"] = len(runs[0]["pairs"])
    for r in runs:
        del r["pairs"]
    out["runs"] = runs
    one = (runs[0]["seconds"] + runs[2]["seconds"]) / 2
    out["speedup"] = round(one / runs[1]["seconds"], 2)
    sys.stdout.write(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
