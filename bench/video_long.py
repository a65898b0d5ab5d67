"""Long and 4K videos: does decoding, ingest or the pairs pipeline grow with a video's length or size?

Makes, in a scratch folder under /tmp (removed at the end), a static-camera rainy H.264 video
(libx264 CRF 18, preset veryfast, a key frame every 2 s) of ``--minutes`` at 1920×1080 24 fps, and
a ``--k4-seconds`` clip at 3840×2160, each written frame by frame in a child process (no frame list
is ever held). The footage is the one of ``bench/pairs_background.py``, whose generator is used:
a real fixture photo as the scene (:func:`scene`), a shake that random-walks within ±3 px and light
changing ±8 % over the clip (:func:`plan`), the shaken, lit frame (:func:`truth_frame`), plus
fresh streak rain every frame. To keep 14,400 frames affordable, the rain is drawn from a bank of
``--rain-bank`` :func:`rain_layer` layers, each frame one of them rolled by a random offset in x
and y (so no two frames have their streaks in the same place).

Each measurement runs in its own child process and reports that process's peak RSS (VmHWM):

- ``decode``: PyAV decodes every frame to RGB (``FrameWalk`` + ``rgb()``): the decode limit;
- ``ingest``: the library call ``rainset ingest`` makes (:func:`rainset.ingest.ingest`, inline,
  ``--workers 0``: decode, previews, frame log and catalog rows in the one process), with the
  default sampling (``--every 1``, no ``--max-fps``, ``--min-change 0.5``) and with ``--max-fps 1``;
- ``pairs``: the pairs library over windows of ``--window`` frames, streaming from the decoder:
  each window's frames are spilled to a scratch file, then :func:`estimate_motion`,
  :func:`static_segments`, and :func:`segment_targets` (``method="median"``) per segment, reading
  the spilled frames back; a few targets per window are scored with :func:`aligned_psnr` against
  the true background and every target is dropped. ``--pairs-windows K`` processes K windows
  spread evenly over the video (the frames between are decoded but not converted), so that a
  10-minute run stays affordable; the scratch folder's size is polled for its peak.

    .venv/bin/python bench/video_long.py [--minutes 10] [--k4-seconds 20] [--pairs-windows 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pairs_background import plan, scene, truth_frame  # noqa: E402 - the footage's one home

from rainset.capture.video import FrameWalk, open_video  # noqa: E402
from rainset.synth.rain import rain_layer  # noqa: E402

FPS = 24
GOP = 48  # a key frame every 2 s, as cameras write


def status_kib(key: str) -> int:
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(key + ":")))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the footage -------------------------------------------------------------------------------

def make_video(path: Path, width: int, height: int, n: int, rain: float, bank: int, crf: int) -> dict:
    """Encode ``n`` frames one at a time; returns what it cost."""
    t0 = time.perf_counter()
    bg = scene(width, height)
    shifts, light = plan(n)
    rng = np.random.default_rng(7)
    layers = [np.clip(255.0 * rain * rain_layer((height, width), "streak", np.random.default_rng(1000 + i)), 0, 255)
              .round().astype(np.uint8) for i in range(bank)]  # uint8: a 4K bank of 16 is 133 MB
    container = av.open(str(path), "w")
    container.metadata["creation_time"] = "2024-05-01T10:00:00.000000Z"
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    stream.codec_context.gop_size = GOP
    for i in range(n):
        layer = np.roll(layers[i % bank], (int(rng.integers(height)), int(rng.integers(width))), axis=(0, 1))
        img = truth_frame(bg, shifts[i], light[i])
        img += layer[..., None]
        np.clip(img, 0, 255, out=img)
        frame = av.VideoFrame.from_ndarray(img.round().astype(np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return {"seconds": round(time.perf_counter() - t0, 1), "frames": n, "mb": round(path.stat().st_size / 1e6, 1),
            "fps": round(n / (time.perf_counter() - t0), 2), "peak_rss_mib": round(status_kib("VmHWM") / 1024, 1)}


# --- the measurements (each in a child) ---------------------------------------------------------

def stage_decode(video: Path) -> dict:
    t = time.perf_counter()
    n = 0
    with open_video(str(video)) as container:
        for f in FrameWalk(container):
            f.rgb()
            n += 1
    s = time.perf_counter() - t
    return {"frames": n, "seconds": round(s, 1), "fps": round(n / s, 2)}


def stage_ingest(video: Path, store: Path, max_fps: float | None) -> dict:
    from rainset.ingest import IngestOptions, ingest
    from rainset.ingest.video import FrameSampling
    from rainset.store import init_store

    st = init_store(store)
    t = time.perf_counter()
    summary = ingest(st, [str(video)], IngestOptions(workers=0, video=FrameSampling(max_fps=max_fps)))
    s = time.perf_counter() - t
    with open_video(str(video)) as c:
        n = c.streams.video[0].frames
    previews = sum(p.stat().st_size for p in (store / "previews").rglob("*") if p.is_file())
    out = {"kept": summary.new_captures, "seconds": round(s, 1), "fps": round(n / s, 2),
           "kept_per_s": round(summary.new_captures / s, 2), "rejected": summary.rejected,
           "previews_mb": round(previews / 1e6, 1), "catalog_mb": round((store / "catalog.db").stat().st_size / 1e6, 1)
           if (store / "catalog.db").exists() else None}
    shutil.rmtree(store, ignore_errors=True)
    return out


class DiskPeak:
    """Polls (every 0.1 s) the bytes this process holds under a folder: the files there, plus files
    opened there and already unlinked (``tempfile.TemporaryFile``, the background's spill), found
    through ``/proc/self/fd``. ``peak`` in bytes."""

    def __init__(self, root: Path) -> None:
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _size(self) -> int:
        root = str(self.root)
        total = 0
        for dirpath, _, files in os.walk(root):
            for f in files:
                try:
                    total += os.stat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(root) and target.endswith(" (deleted)"):
                    total += os.fstat(int(fd)).st_size
            except OSError:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._size())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def stage_pairs(video: Path, scratch: Path, window: int, windows: int, score_per_window: int) -> dict:
    from rainset.pairs.motion import estimate_motion, static_segments
    from rainset.pairs.score import aligned_psnr
    from rainset.pairs.targets import segment_targets

    with open_video(str(video)) as c:
        st = c.streams.video[0]
        n, width, height = st.frames, st.codec_context.width, st.codec_context.height
    total_windows = n // window
    picked = sorted(set(np.linspace(0, total_windows - 1, min(windows, total_windows)).round().astype(int).tolist()))
    true_shifts, light = plan(n)
    clean = scene(width, height)
    frame_bytes = width * height * 3
    scratch.mkdir(parents=True, exist_ok=True)
    spill = scratch / "window.rgb"
    disk = DiskPeak(scratch)
    psnr, rainy_psnr, targets, segments, shift_err = [], [], 0, 0, 0.0
    t_pairs = 0.0
    t0 = time.perf_counter()

    def window_frames(start: int, stop: int):
        with open(spill, "rb") as fh:
            fh.seek(start * frame_bytes)
            for _ in range(start, stop):
                yield np.frombuffer(fh.read(frame_bytes), np.uint8).reshape(height, width, 3).copy()

    with open_video(str(video)) as container:
        walk = iter(FrameWalk(container))
        next_window = iter(picked)
        want = next(next_window, None)
        for w in range(total_windows):
            if want is None:
                break
            first = w * window
            if w != want:
                for _ in range(window):  # decoded, not converted
                    next(walk)
                continue
            t = time.perf_counter()
            with open(spill, "wb") as out:
                for _ in range(window):
                    out.write(next(walk).rgb().tobytes())
            track = estimate_motion(window_frames(0, window))
            truth_rel = true_shifts[first:first + window] - true_shifts[first]  # against the window's first frame
            shift_err = max(shift_err, float(np.abs(track.shifts - truth_rel).max()))
            for seg in static_segments(track.shifts, track.steps):
                segments += 1
                shifts = track.shifts[seg.start:seg.stop]
                score_at = set(np.linspace(0, seg.stop - seg.start - 1, score_per_window).round().astype(int).tolist())
                for target in segment_targets(lambda s=seg: window_frames(s.start, s.stop), shifts, method="median",
                                              workdir=scratch):
                    targets += 1
                    if target.index in score_at:
                        i = first + seg.start + target.index
                        truth = truth_frame(clean, true_shifts[i], light[i])
                        psnr.append(aligned_psnr(target.image, truth).psnr)
                        frame = next(window_frames(seg.start + target.index, seg.start + target.index + 1))
                        rainy_psnr.append(aligned_psnr(frame, truth).psnr)
                    del target
            t_pairs += time.perf_counter() - t
            want = next(next_window, None)
    spill.unlink(missing_ok=True)
    return {"windows": len(picked), "of_windows": total_windows, "segments": segments, "targets": targets,
            "pairs_fps": round(len(picked) * window / t_pairs, 2), "wall_seconds": round(time.perf_counter() - t0, 1),
            "psnr_db": round(float(np.mean(psnr)), 2) if psnr else None,
            "rainy_psnr_db": round(float(np.mean(rainy_psnr)), 2) if rainy_psnr else None,
            "scored": len(psnr), "shift_error_max_px": round(shift_err, 2),
            "scratch_peak_mb": round(disk.stop() / 1e6, 1)}


def child(args: argparse.Namespace) -> None:
    base = status_kib("VmRSS")
    if args.stage == "make":
        out = make_video(Path(args.video), args.width, args.height, args.frames, args.rain, args.rain_bank, args.crf)
    elif args.stage == "decode":
        out = stage_decode(Path(args.video))
    elif args.stage == "ingest":
        out = stage_ingest(Path(args.video), Path(args.store), args.max_fps)
    else:
        out = stage_pairs(Path(args.video), Path(args.store), args.window, args.pairs_windows, args.score)
    out["base_rss_mib"] = round(base / 1024, 1)
    out["peak_rss_mib"] = round(status_kib("VmHWM") / 1024, 1)
    print(json.dumps(out))


def run_child(stage: str, args: argparse.Namespace, **extra: object) -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--window", str(args.window),
           "--pairs-windows", str(extra.pop("windows", args.pairs_windows)), "--score", str(args.score),
           "--rain", str(args.rain), "--rain-bank", str(args.rain_bank), "--crf", str(args.crf)]
    for k, v in extra.items():
        if v is not None:
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    before = load()
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    out["load"] = f"{before} -> {load()}"
    print(f"  {stage} {extra.get('max_fps') or ''}: {out}", file=sys.stderr, flush=True)
    return out


def measure(label: str, width: int, height: int, frames: int, root: Path, args: argparse.Namespace,
            windows: int) -> dict:
    video = root / f"{label}.mp4"
    print(f"{label}: {width}x{height}, {frames} frames", file=sys.stderr, flush=True)
    res: dict = {"size": f"{width}x{height}", "frames": frames, "seconds_of_video": frames / FPS}
    res["make"] = run_child("make", args, video=video, width=width, height=height, frames=frames)
    if "decode" in args.stages:
        res["decode"] = run_child("decode", args, video=video)
    if "ingest" in args.stages:
        res["ingest_default"] = run_child("ingest", args, video=video, store=root / "store")
        res["ingest_max_fps_1"] = run_child("ingest", args, video=video, store=root / "store", max_fps=1)
    if "pairs" in args.stages and windows:
        res["pairs"] = run_child("pairs", args, video=video, store=root / "pairs-scratch", windows=windows)
        shutil.rmtree(root / "pairs-scratch", ignore_errors=True)
    video.unlink()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", default="10", help="length(s) of the 1080p video, comma-separated (develop with 0.5)")
    ap.add_argument("--k4-seconds", type=float, default=20.0, help="length of the 3840x2160 clip (0: none)")
    ap.add_argument("--window", type=int, default=48, help="frames per pairs window")
    ap.add_argument("--pairs-windows", type=int, default=12,
                    help="windows of the 1080p video the pairs stage processes")
    ap.add_argument("--k4-pairs-windows", type=int, default=2, help="windows of the 4K clip the pairs stage processes")
    ap.add_argument("--score", type=int, default=3, help="targets scored per segment")
    ap.add_argument("--rain", type=float, default=0.3, help="rain intensity (as bench/pairs_background.py)")
    ap.add_argument("--rain-bank", type=int, default=16, help="distinct rain layers, rolled per frame")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--stages", default="decode,ingest,pairs", help="comma-separated: decode, ingest, pairs")
    ap.add_argument("--json", action="store_true")
    # child-process arguments
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--video", help=argparse.SUPPRESS)
    ap.add_argument("--store", help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--height", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--max-fps", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        child(args)
        return
    args.stages = set(args.stages.split(","))
    out: dict = {"load_start": load(), "cpus": os.cpu_count()}
    root = Path(tempfile.mkdtemp(prefix="rainset-video-long-", dir="/tmp"))
    try:
        for minutes in (float(m) for m in args.minutes.split(",")):
            out[f"1080p_{minutes:g}min"] = measure("long-1080p", 1920, 1080, round(minutes * 60 * FPS), root, args,
                                                   args.pairs_windows)
        if args.k4_seconds:
            out["4k"] = measure("clip-4k", 3840, 2160, round(args.k4_seconds * FPS), root, args, args.k4_pairs_windows)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["load_end"] = load()
    print(json.dumps(out, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
