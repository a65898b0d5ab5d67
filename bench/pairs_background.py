"""Pairs (library): speed, peak memory and PSNR of the registered temporal-median baseline on one segment.

Makes one H.264 video (libx264 CRF 16) of ``--frames`` frames at ``--width`` x ``--height`` in a
temporary folder, in a child process: a real fixture photo (resized) as the scene, a camera shake
that random-walks within ±3 px, light changing ±8 % over the clip, fresh synthetic streak rain
every frame (``--rain`` scales its intensity; 0.3 gives the issue's baselines at 720p). Then, in this process, streaming from the decoder
(one decoded frame alive at a time):

- ``decode``: PyAV decodes every frame to RGB (the decode limit);
- ``motion``: decode + :func:`estimate_motion` (phase correlation + ECC on ≤640-px grey frames);
- ``background``: decode + :func:`temporal_background` (registration, spill, banded median);
- ``targets``: decode + :func:`pseudo_clean` for every frame, each scored with :func:`aligned_psnr`
  against the true background (regenerated), with the rainy frame and the unregistered median's
  target scored alike.

Peak memory is this process's VmHWM (it includes PyAV, OpenCV and NumPy themselves; ``base``
is VmRSS right after the imports).

    .venv/bin/python bench/pairs_background.py [--width 1920 --height 1080] [--frames 48] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from rainset.capture.video import FrameWalk, open_video
from rainset.pairs.background import pseudo_clean, temporal_background
from rainset.pairs.motion import estimate_motion
from rainset.pairs.score import aligned_psnr
from rainset.synth.rain import rain_layer

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mspfn-rain100h/model/test/test_data/R100H/cleancrop/1.png"


def status_kib(key: str) -> int:
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(key + ":")))


def scene(width: int, height: int) -> np.ndarray:
    bgr = cv2.imread(str(FIXTURE), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"fixture photo not found at {FIXTURE}")
    return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def plan(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(shifts (n, 2), light (n,)) of the synthetic clip."""
    rng = np.random.default_rng(seed)
    pos, shifts = np.zeros(2), []
    for i in range(n):
        if i:
            pos = np.clip(pos + rng.normal(0, 0.7, 2), -3, 3)
        shifts.append(pos.copy())
    return np.array(shifts), 1.0 + 0.08 * np.sin(2 * np.pi * np.arange(n) / n)


def truth_frame(bg: np.ndarray, shift: np.ndarray, light: float) -> np.ndarray:
    m = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
    return np.clip(cv2.warpAffine(bg, m, bg.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) * light, 0, 255)


def make_video(path: Path, width: int, height: int, n: int, rain: float) -> None:
    bg = scene(width, height)
    shifts, light = plan(n)
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "16", "preset": "veryfast"}
    for i in range(n):
        layer = rain_layer((height, width), "streak", np.random.default_rng(1000 + i))
        img = np.clip(truth_frame(bg, shifts[i], light[i]) + 255.0 * rain * layer[..., None], 0, 255).round().astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def frames(path: Path):
    with open_video(str(path)) as container:
        for f in FrameWalk(container):
            yield f.rgb()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--rain", type=float, default=0.3, help="0.3: a rainy frame scores ~27 dB at 720p (the issue: ~26)")
    ap.add_argument("--score-every", type=int, default=6, help="score every k-th frame (all are built)")
    ap.add_argument("--passes", type=int, choices=(1, 2), default=1,
                    help="2: re-estimate motion against the first background, then rebuild it")
    ap.add_argument("--percentile", type=float, default=40.0, help="temporal statistic (the library default 40; 50: the median)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--make", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.make:
        make_video(Path(a.make), a.width, a.height, a.frames, a.rain)
        return
    base = status_kib("VmRSS")
    out: dict = {"size": f"{a.width}x{a.height}", "frames": a.frames, "rain": a.rain, "percentile": a.percentile}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        subprocess.run([sys.executable, __file__, "--make", str(video), "--width", str(a.width), "--height",
                        str(a.height), "--frames", str(a.frames), "--rain", str(a.rain)], check=True)
        t = time.perf_counter()
        n = sum(1 for _ in frames(video))
        out["decode_fps"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        track = estimate_motion(frames(video))
        out["motion_fps"] = n / (time.perf_counter() - t)
        out["peak_after_motion_mib"] = status_kib("VmHWM") / 1024
        true_shifts, light = plan(a.frames)
        out["shift_error_max_px"] = float(np.abs(track.shifts - true_shifts).max())
        t = time.perf_counter()
        bg = temporal_background(frames(video), track.shifts, percentile=a.percentile, workdir=tmp)
        out["background_fps"] = n / (time.perf_counter() - t)
        if a.passes == 2:  # motion again against the rain-free background, then the background again
            t = time.perf_counter()
            track = estimate_motion(frames(video), reference=bg.as_uint8())
            bg = temporal_background(frames(video), track.shifts, percentile=a.percentile, workdir=tmp)
            out["second_pass_fps"] = n / (time.perf_counter() - t)
            err = track.shifts - true_shifts
            out["shift_error_max_px_pass2"] = float(np.abs(err - np.median(err, axis=0)).max())
        out["peak_after_background_mib"] = status_kib("VmHWM") / 1024
        plain = temporal_background(frames(video), None, percentile=50, workdir=tmp)  # the plain median
        clean = scene(a.width, a.height)
        rows, t_targets = [], 0.0
        for i, frame in enumerate(frames(video)):
            t = time.perf_counter()
            target = pseudo_clean(frame, bg, tuple(track.shifts[i]), index=i)
            t_targets += time.perf_counter() - t
            if i % a.score_every == 0:
                truth = truth_frame(clean, true_shifts[i], light[i])
                rows.append((aligned_psnr(frame, truth).psnr, aligned_psnr(pseudo_clean(frame, plain).image, truth).psnr,
                             aligned_psnr(target.image, truth).psnr))
        out["targets_fps"] = n / t_targets
        r = np.array(rows).mean(axis=0)
        out["psnr_db"] = {"rainy": round(float(r[0]), 2), "unregistered_median": round(float(r[1]), 2),
                          f"registered_p{a.percentile:g}": round(float(r[2]), 2), "frames_scored": len(rows)}
    out["peak_mib"] = status_kib("VmHWM") / 1024
    out["base_mib"] = base / 1024
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k:22s} {v:.2f}" if isinstance(v, float) else f"{k:22s} {v}")


if __name__ == "__main__":
    main()
