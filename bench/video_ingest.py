"""Video ingest: frames/s against a plain PyAV decode, peak memory, and the on-demand frame decode.

Makes one H.264 video (libx264, CRF 18, a key frame every 2 s; MPEG-4 Part 2 without libx264) of ``--seconds`` at 24 fps
and ``--width`` x ``--height`` in a temporary folder: a real fixture photo (or, without the
fixtures, a synthetic scene) as the background and fresh synthetic streak rain every frame, so
that every frame passes the change test. Then:

- ``decode only``: PyAV decodes every frame to RGB (the decode limit of ingest);
- ``ingest``: ``rainset ingest`` in a spawned child (``--workers 0``), default sampling and with
  ``--max-fps 2``; the child reports its peak RSS (``ru_maxrss``);
- ``decode_frame``: 20 random frames decoded on demand (seek + decode forward).

    .venv/bin/python bench/video_ingest.py [--seconds 10] [--width 1280 --height 720] [--json]
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

import av
import cv2
import numpy as np

from rainset.capture.video import decode_frame
from rainset.store import init_store
from rainset.synth.rain import rain_layer

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mspfn-rain100h/model/test/test_data/R100H/cleancrop/1.png"

CHILD = """
import json, resource, sys, time
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.video import FrameSampling
from rainset.store import open_store
max_fps = float(sys.argv[3]) if sys.argv[3] != "none" else None
t = time.perf_counter()
s = ingest(open_store(sys.argv[1]), [sys.argv[2]], IngestOptions(workers=0, video=FrameSampling(max_fps=max_fps)))
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "kept": s.new_captures,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def background(width: int, height: int) -> np.ndarray:
    if FIXTURE.is_file():
        img = cv2.cvtColor(cv2.imread(str(FIXTURE)), cv2.COLOR_BGR2RGB)
    else:
        rng = np.random.default_rng(0)
        img = cv2.GaussianBlur(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), (5, 5), 0)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)


def make_video(path: Path, seconds: int, width: int, height: int) -> int:
    bg = background(width, height).astype(np.float32)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    n = seconds * 24
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = "2024-05-01T10:00:00.000000Z"
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"} if codec == "libx264" else {"qscale": "3"}
        stream.codec_context.gop_size = 48  # a key frame every 2 s, as cameras write (x264's default is 250)
        for i in range(n):
            layer = rain_layer((height, width), "streak", np.random.default_rng(i))
            img = np.clip(bg + 204.0 * layer[..., None], 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return n


def decode_only(path: Path) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n, time.perf_counter() - t


def ingest_child(store: Path, video: Path, max_fps: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(store), str(video), max_fps], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        video = src / "rain.mp4"
        frames = make_video(video, args.seconds, args.width, args.height)
        n, dec_s = decode_only(video)
        result: dict = {"video": f"{args.width}x{args.height}, {frames} frames at 24 fps, "
                                 f"{video.stat().st_size / 1e6:.1f} MB", "load": os.getloadavg()[0],
                        "decode_only_fps": round(n / dec_s, 1)}
        for label, max_fps in (("default", "none"), ("max_fps_2", "2")):
            store = init_store(root / f"store-{label}")
            r = ingest_child(store.root, video, max_fps)
            r["frames_per_second"] = round(frames / r["seconds"], 1)
            result[f"ingest_{label}"] = r
        rng = np.random.default_rng(0)
        times = []
        for index in rng.integers(0, frames, 20):
            t = time.perf_counter()
            decode_frame(str(video), int(index), int(index) / 24)
            times.append(time.perf_counter() - t)
        result["decode_frame_ms"] = {"mean": round(1000 * float(np.mean(times)), 1),
                                     "max": round(1000 * float(np.max(times)), 1)}
        result["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
