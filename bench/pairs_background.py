"""Pairs (library): speed, peak memory and PSNR of the pseudo-clean methods on the issue's reference footage.

The one home of the pairs footage generator. Makes one H.264 video (libx264 CRF 16) of
``--frames`` frames at ``--width`` x ``--height`` in a temporary folder, in a child process: a real
fixture photo (resized) as the scene, a camera shake that random-walks within ±3 px, light
changing ±8 % over the clip, fresh rain every frame from ``--renderer`` ``first``
(:mod:`rainset.synth.rain` streaks, ``--rain`` scales them; 0.3 gives the issue's baselines at
720p) or ``depth`` (the second renderer, :mod:`rainset.synth.depth_rain`, ``streak`` type at its
own strength, no veil), and a dark passer-by crossing during the middle third (``--no-person``
leaves it out). Then, in this process, streaming from the decoder (one decoded frame alive at a
time):

- ``decode``: PyAV decodes every frame to RGB (the decode limit);
- ``motion``: decode + :func:`estimate_motion` (phase correlation + ECC on ≤640-px grey frames);
- ``targets``: :func:`segment_targets` with ``--method`` (median or lowrank: background, then one
  target + validity mask per frame; its own decodes included), timed without the scoring and
  without the bench's own decode: wall (``targets_fps``) and CPU (``targets_cpu_s``,
  ``time.process_time``, all threads of this process);
- every ``--score-every``-th target is scored with :func:`aligned_psnr` against the true
  background (regenerated, without the passer-by) over the whole frame and inside its mask, with
  the rainy frame and the unregistered median's target (the issue's baselines) scored alike; on
  the passer-by's frames, the share of its pixels the mask sets aside (recall).

Peak memory is this process's VmHWM (it includes PyAV, OpenCV and NumPy themselves; ``base``
is VmRSS right after the imports); ``peak_after_targets_mib`` is before any scoring.

    .venv/bin/python bench/pairs_background.py [--width 1920 --height 1080] [--frames 48]
        [--method median|lowrank] [--renderer first|depth] [--no-person] [--json]
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
from rainset.pairs.targets import METHODS, segment_targets
from rainset.synth.depth_rain import render_depth_rain, scene_depth
from rainset.synth.passer_by import PERSON_RGB, passer_by
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


def rainy_frame(bg: np.ndarray, i: int, n: int, shift: np.ndarray, light: float, rain: float, renderer: str,
                person: bool, depth: np.ndarray | None = None) -> np.ndarray:
    """Frame i of the clip (RGB uint8): the scene moved and lit, the passer-by, then the rain in front."""
    seen = truth_frame(bg, shift, light)
    cover = passer_by(seen.shape[:2], i, n) if person else None
    if cover is not None:
        seen = seen * (1.0 - cover[..., None]) + np.float32(PERSON_RGB) * light * cover[..., None]
    if renderer == "depth":
        out = render_depth_rain(np.clip(seen, 0, 255).round().astype(np.uint8), "streak", np.random.default_rng(1000 + i),
                                depth=depth, airlight=np.float32([0.8, 0.82, 0.85]), fog_scale=0.0)
        return out.image
    layer = rain_layer(seen.shape[:2], "streak", np.random.default_rng(1000 + i))
    return np.clip(seen + 255.0 * rain * layer[..., None], 0, 255).round().astype(np.uint8)


def make_video(path: Path, width: int, height: int, n: int, rain: float, renderer: str = "first",
               person: bool = True) -> None:
    bg = scene(width, height)
    shifts, light = plan(n)
    depth = scene_depth((height, width), np.random.default_rng(7)) if renderer == "depth" else None
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": "16", "preset": "veryfast"}
    for i in range(n):
        img = rainy_frame(bg, i, n, shifts[i], light[i], rain, renderer, person, depth)
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
    ap.add_argument("--method", choices=METHODS, default="lowrank")
    ap.add_argument("--renderer", choices=("first", "depth"), default="first")
    ap.add_argument("--no-person", action="store_true", help="leave the passer-by out")
    ap.add_argument("--rain", type=float, default=0.3, help="first renderer: 0.3, a rainy frame scores ~27 dB at 720p (the issue: ~26)")
    ap.add_argument("--score-every", type=int, default=3, help="score every k-th frame (all are built)")
    ap.add_argument("--passes", type=int, choices=(1, 2), default=1,
                    help="2: re-estimate motion against a first (p40) background, then build the targets")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--make", help=argparse.SUPPRESS)
    a = ap.parse_args()
    person = not a.no_person
    if a.make:
        make_video(Path(a.make), a.width, a.height, a.frames, a.rain, a.renderer, person)
        return
    base = status_kib("VmRSS")
    out: dict = {"size": f"{a.width}x{a.height}", "frames": a.frames, "method": a.method, "renderer": a.renderer,
                 "rain": a.rain if a.renderer == "first" else "depth streak", "person": person}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "clip.mp4"
        cmd = [sys.executable, __file__, "--make", str(video), "--width", str(a.width), "--height",
               str(a.height), "--frames", str(a.frames), "--rain", str(a.rain), "--renderer", a.renderer]
        subprocess.run(cmd + (["--no-person"] if a.no_person else []), check=True)
        t = time.perf_counter()
        n = sum(1 for _ in frames(video))
        out["decode_fps"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        track = estimate_motion(frames(video))
        out["motion_fps"] = n / (time.perf_counter() - t)
        out["peak_after_motion_mib"] = status_kib("VmHWM") / 1024
        true_shifts, light = plan(a.frames)
        out["shift_error_max_px"] = float(np.abs(track.shifts - true_shifts).max())
        if a.passes == 2:  # motion again against the rain-free background
            t = time.perf_counter()
            first = temporal_background(frames(video), track.shifts, workdir=tmp)
            track = estimate_motion(frames(video), reference=first.as_uint8())
            out["second_pass_fps"] = n / (time.perf_counter() - t)
            err = track.shifts - true_shifts
            out["shift_error_max_px_pass2"] = float(np.abs(err - np.median(err, axis=0)).max())
        plain = temporal_background(frames(video), None, percentile=50, workdir=tmp)  # the plain median
        out["peak_before_targets_mib"] = status_kib("VmHWM") / 1024
        clean = scene(a.width, a.height)
        rows, recall, t_targets, cpu_targets = [], [], 0.0, 0.0
        targets = segment_targets(lambda: frames(video), track.shifts, method=a.method, workdir=tmp)
        bench_frames = frames(video)
        while True:
            t, c = time.perf_counter(), time.process_time()
            target = next(targets, None)
            t_targets += time.perf_counter() - t
            cpu_targets += time.process_time() - c
            if target is None:
                break
            frame = next(bench_frames)
            i = target.index
            if i == 0:
                out["peak_after_first_target_mib"] = status_kib("VmHWM") / 1024
            cover = passer_by(frame.shape[:2], i, a.frames) if person else None
            if cover is not None and (cover > 0.5).any():
                recall.append((int((~target.mask[cover > 0.5]).sum()), int((cover > 0.5).sum())))
            if i % a.score_every == 0:
                truth = truth_frame(clean, true_shifts[i], light[i])
                rows.append((aligned_psnr(frame, truth).psnr, aligned_psnr(pseudo_clean(frame, plain).image, truth).psnr,
                             aligned_psnr(target.image, truth).psnr, aligned_psnr(target.image, truth, mask=target.mask).psnr,
                             target.masked_fraction, cover is not None))
        out["targets_fps"] = n / t_targets  # background + targets + masks, segment_targets' own decodes included
        out["targets_cpu_s"] = round(cpu_targets, 2)  # time.process_time of segment_targets alone
        r = np.array(rows)
        med = np.median(r[:, :4], axis=0)
        mean = r[:, :4].mean(axis=0)
        out["psnr_db_median"] = {"rainy": round(float(med[0]), 2), "unregistered_median": round(float(med[1]), 2),
                                 a.method: round(float(med[2]), 2), f"{a.method}_in_mask": round(float(med[3]), 2),
                                 "frames_scored": len(rows)}
        out["psnr_db_mean"] = {"rainy": round(float(mean[0]), 2), "unregistered_median": round(float(mean[1]), 2),
                               a.method: round(float(mean[2]), 2), f"{a.method}_in_mask": round(float(mean[3]), 2)}
        without = r[r[:, 5] == 0]
        out["masked_fraction_without_person_max"] = round(float(without[:, 4].max()), 4) if len(without) else None
        if recall:
            out["person_recall"] = round(sum(x for x, _ in recall) / sum(y for _, y in recall), 3)
    out["peak_mib"] = status_kib("VmHWM") / 1024
    out["base_mib"] = base / 1024
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k:34s} {v:.2f}" if isinstance(v, float) else f"{k:34s} {v}")


if __name__ == "__main__":
    main()
