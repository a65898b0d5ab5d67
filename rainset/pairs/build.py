"""``rainset pairs build``: rainy / pseudo-clean / mask triples from the store's videos, as a pair set.

For every selected video (:func:`rainset.pairs.videos.select_videos`), two decoding passes, each
frame by frame from the stored object (PyAV streaming; the video is never held):

1. **Motion**: phase correlation of each frame against the first and its predecessor
   (:func:`~rainset.pairs.motion.estimate_motion`, without the ECC refinement: only the steps
   between frames decide the cuts), then :func:`~rainset.pairs.motion.static_segments`.
2. **Targets**: each static segment is cut into **windows** of at most ``window`` frames (default
   48, balanced: a 50-frame segment gives two of 25), so disk and memory stay bounded whatever the
   video's length. A window's frames are spilled to a scratch file in the build's folder as they
   are decoded (the only copy: 48 frames of 1080p are 300 MB of disk, no more), registered against
   the window's first frame (motion with ECC), and handed to :func:`rainset.pairs.targets.segment_targets`: the
   background uses **every** decoded frame of the window; pairs are written for the frames kept at
   ingest (those with a capture row), or for every frame with ``all_frames``.

Each pair gets its rainy frame (lossless PNG of the decoded frame), its target
(``*_clean.png``), its validity mask (``*_mask.png``, 255 = valid) and a quality score
(:mod:`rainset.pairs.quality`); ``accepted`` is ``quality >= min_quality``. Everything is written
into a hidden sibling folder ``STORE/pairs/.NAME.building-*``, ``pairs.json`` last, which is then
renamed to ``STORE/pairs/NAME``: an interrupted build leaves no half set under NAME (and removes
its own temporary folder on the way out when it still can).

A video whose object is missing or that cannot be decoded is skipped with a warning and counted;
one whose decoding stops part-way keeps the frames before the damage.

With ``workers`` of 2 or more the videos are built in parallel, one video per task, in spawned
worker processes (:func:`rainset.workers.run`; one OpenCV / BLAS thread each): each worker writes
its video's PNGs into the build's folder, with its own PNG writer and scratch folder, and returns
the video's pairs (:func:`build_video`); the parent merges them by video sha256, then frame index,
and writes ``pairs.json`` last as above. A worker that dies on a video (even when retried alone)
makes that video skipped, with the signal in its reason; the build goes on.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rainset import workers as worker_pools
from rainset.capture.video import VIDEO_ERRORS, FrameWalk, open_video
from rainset.catalog.db import catalog_session
from rainset.errors import PairsError, RejectError, exception_text
from rainset.pairs.motion import estimate_motion, static_segments
from rainset.pairs.pngs import PngWriter
from rainset.pairs.pairset import Pair, PairSet, pair_id, pairs_root, pairset_dir, write_index
from rainset.pairs.quality import (DEFAULT_MIN_QUALITY, LIGHT_LIMIT, MASK_LIMIT, MOTION_LIMIT, pair_quality,
                                   residual_motion)
from rainset.pairs.sets import check_name
from rainset.pairs.spill import FrameSpill
from rainset.pairs.targets import METHODS, segment_targets
from rainset.pairs.videos import VideoSource, select_videos
from rainset.ranges import WORKERS, Range
from rainset.store import Store

DEFAULT_WINDOW = 48
WINDOW = Range(8, 100_000)  # fewer than 8 frames leave rain in a temporal percentile
MIN_QUALITY = Range(0.0, 1.0, integer=False)

Progress = Callable[[int, int, str | None], None]
Warn = Callable[[str], None]


@dataclass(frozen=True)
class SkippedVideo:
    """A selected video that gave no pairs because it could not be read."""

    video_sha256: str
    name: str
    reason: str


@dataclass(frozen=True)
class BuildResult:
    """What ``rainset pairs build`` made: the set's folder, its pairs, and what it cost."""

    name: str
    folder: Path
    method: str
    threshold: float
    window: int
    videos: int  # videos that gave frames
    skipped: tuple[SkippedVideo, ...]
    pairs: tuple[Pair, ...]
    frames: int  # frames decoded, counted once per video (each is decoded once per pass)
    segments: int
    windows: int
    unpaired: int  # kept frames outside every static segment (camera moving): no pair
    seconds: float
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> int:
        return sum(p.accepted for p in self.pairs)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        pairs = []
        for p in self.pairs:
            row = asdict(p)
            for key in ("rainy", "clean", "mask"):
                row[key] = str(self.folder / row[key])
            pairs.append(row)
        return {"name": self.name, "folder": str(self.folder), "method": self.method, "threshold": self.threshold,
                "window": self.window, "videos": self.videos, "skipped": [asdict(s) for s in self.skipped],
                "frames": self.frames, "segments": self.segments, "windows": self.windows,
                "unpaired": self.unpaired, "seconds": round(self.seconds, 3),
                "frames_per_s": round(self.frames_per_s, 2), "accepted": self.accepted, "pairs": pairs,
                "warnings": list(self.warnings)}

    def lines(self) -> list[str]:
        out = [f"pair set {self.name}: {len(self.pairs)} pairs, {self.accepted} accepted "
               f"(quality >= {self.threshold:g}), "
               f"method {self.method}, from {self.videos} video{'' if self.videos == 1 else 's'}",
               f"{self.frames} frames in {self.seconds:.1f} s ({self.frames_per_s:.1f} frames/s), "
               f"{self.segments} static segments in {self.windows} windows of at most {self.window} frames"]
        if self.unpaired:
            out.append(f"{self.unpaired} kept frames lie outside every static segment (the camera moved): no pair")
        out += [f"skipped video {s.name} ({s.video_sha256[:12]}…): {s.reason}" for s in self.skipped]
        out.append(f"written to {self.folder}")
        return out


@dataclass
class _Tally:
    """Counts of one build, filled video by video."""

    pairs: list[Pair] = field(default_factory=list)
    frames: int = 0
    segments: int = 0
    windows: int = 0
    unpaired: int = 0
    done: int = 0  # progress: frames decoded over both passes
    total: int = 0
    warnings: list[str] = field(default_factory=list)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise PairsError(f"unknown pairs method {method!r} (known: {', '.join(METHODS)})")
    return method


def window_bounds(start: int, stop: int, window: int) -> list[tuple[int, int]]:
    """Frames ``start..stop-1`` in balanced windows of at most ``window`` frames (sizes differ by at most one)."""
    n = -(-(stop - start) // window)
    if n <= 0:
        return []
    edges = [start + round(k * (stop - start) / n) for k in range(n + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def _decoded(src: VideoSource, limit: int | None, tally: _Tally, progress: Progress | None,
             note: str) -> Iterator[tuple[int, float | None, Any]]:
    """(index, pts, DecodedFrame) of the video, one at a time, the first ``limit`` frames (None: all).
    Decoding that stops part-way raises RejectError when no frame came out, else adds a warning
    (pass 1 only: pass 2 stops at the last frame pass 1 used)."""
    with open_video(src.location) as container:
        if not container.streams.video:
            raise RejectError("decode-failed", "the container holds no video stream")
        walk = FrameWalk(container)
        for decoded in walk:
            if limit is not None and decoded.index >= limit:
                return
            tally.done += 1
            if tally.done > tally.total:
                tally.total = tally.done
            if progress is not None and (tally.done % 8 == 0):
                progress(tally.done, tally.total, note)
            yield decoded.index, decoded.pts, decoded
        if walk.error is not None and limit is None:
            if walk.decoded == 0:
                raise RejectError("decode-failed", walk.error)
            tally.warnings.append(f"video {src.name}: decoding stopped after frame {walk.decoded - 1} "
                                  f"({walk.error}); the frames before it are used")


@dataclass(frozen=True)
class _Settings:
    method: str
    window: int
    min_quality: float
    all_frames: bool
    folder: Path
    scratch: Path
    writer: PngWriter


def _pair_window(src: VideoSource, spill: FrameSpill, start: int, segment: int, s: _Settings) -> list[Pair]:
    """Targets of one window (frames ``start..start+len(spill)-1``) and the pairs of its kept frames."""
    shifts = estimate_motion(spill.frames()).shifts
    pairs = []
    targets = segment_targets(spill.frames, shifts, method=s.method, workdir=s.scratch,
                              keep_frames=False)  # the window's spill is already a file: read it twice
    for target, frame in zip(targets, spill.frames()):
        index = start + target.index
        kept = src.kept.get(index)
        if kept is None and not s.all_frames:
            continue
        pid = pair_id(src.sha256, index)
        rainy, clean, mask = f"rainy/{pid}.png", f"clean/{pid}_clean.png", f"mask/{pid}_mask.png"
        s.writer.submit(s.folder / rainy, frame)
        s.writer.submit(s.folder / clean, target.image)
        s.writer.submit(s.folder / mask, np.where(target.mask, 255, 0).astype(np.uint8))
        residual = residual_motion(frame, target.image)
        light = abs(target.gain - 1.0)
        quality = pair_quality(residual, light, target.masked_fraction)
        pairs.append(Pair(pair_id=pid, capture_id=kept.capture_id if kept else None, video_sha256=src.sha256,
                          frame_index=index, frame_pts=kept.frame_pts if kept else spill.pts[target.index],
                          segment=segment, rainy=rainy, clean=clean, mask=mask, quality=round(quality, 4),
                          accepted=quality >= s.min_quality, residual_motion=round(residual, 4),
                          light_change=round(light, 4), masked_fraction=round(target.masked_fraction, 4),
                          rain_fraction=round(target.rain_fraction, 4)))
    return pairs


def _build_video(src: VideoSource, s: _Settings, tally: _Tally, progress: Progress | None) -> None:
    """Both passes over one video; its pairs and counts go to ``tally``. Raises RejectError/OSError
    when the video cannot be opened or yields no frame."""
    frames = (d.rgb() for _, _, d in _decoded(src, None, tally, progress, f"{src.name}: motion"))
    try:
        track = estimate_motion(frames, refine=False)
    except ValueError as exc:  # no frames, or frames of different sizes
        raise RejectError("decode-failed", str(exc)) from None
    n = len(track.shifts)
    tally.total += n - src.frames  # the pass-2 estimate, now that the count is known
    tally.frames += n
    segments = static_segments(track.shifts, track.steps)
    windows = [(a, b, k) for k, seg in enumerate(segments) for a, b in window_bounds(seg.start, seg.stop, s.window)]
    tally.segments += len(segments)
    tally.windows += len(windows)
    covered = {i for a, b, _ in windows for i in range(a, b)}
    tally.unpaired += sum(1 for i in src.kept if i not in covered and i < n)
    if not windows:
        tally.warnings.append(f"video {src.name}: no static segment of 8 frames or more (the camera moves, or "
                              f"the video is too short): no pairs")
        return
    spill = FrameSpill(s.scratch)
    try:
        w = 0
        for index, pts, decoded in _decoded(src, windows[-1][1], tally, progress, f"{src.name}: targets"):
            a, b, k = windows[w]
            if index < a:
                continue
            spill.append(decoded.rgb(), pts)
            if index == b - 1:
                tally.pairs += _pair_window(src, spill, a, k, s)
                spill.reset()
                w += 1
                if w == len(windows):
                    break
    finally:
        spill.close()


def remove_video_files(folder: Path, sha256: str) -> None:
    """Delete the PNG files of one video from a build's folder (a video skipped part-way)."""
    prefix = pair_id(sha256, 0).rsplit("-", 1)[0]
    for sub in ("rainy", "clean", "mask"):
        for stale in (folder / sub).glob(f"{prefix}-*"):
            stale.unlink(missing_ok=True)


def _build_or_skip(src: VideoSource, s: _Settings, tally: _Tally, progress: Progress | None,
                   warn: Warn | None) -> SkippedVideo | None:
    """Build one video's pairs into ``tally``; a video that is missing or fails is undone (its pairs
    and files) and returned as skipped. Warnings go to ``warn`` as they come."""
    reason = None
    seen = len(tally.warnings)
    if "://" not in src.location and not os.path.isfile(src.location):
        reason = f"its file is missing ({src.location})"
    else:
        mark = (len(tally.pairs), tally.frames, tally.segments, tally.windows, tally.unpaired)
        try:
            _build_video(src, s, tally, progress)
        except RejectError as exc:
            reason = f"cannot decode it: {exc.detail}"
        except (*VIDEO_ERRORS, OSError) as exc:  # unreadable, or too dark to fit a light gain
            reason = f"cannot process it: {exception_text(exc)}"
        if reason is not None:
            s.writer.drain()  # then no write of this video lands after its files are deleted
            del tally.pairs[mark[0]:]
            tally.frames, tally.segments, tally.windows, tally.unpaired = mark[1:]
            remove_video_files(s.folder, src.sha256)
    skipped = None
    if reason is not None:
        skipped = SkippedVideo(src.sha256, src.name, reason)
        tally.warnings.append(f"skipped video {src.name} ({src.sha256[:12]}…): {reason}")
    if warn is not None:
        for line in tally.warnings[seen:]:
            warn(line)
    return skipped


@dataclass(frozen=True)
class VideoJob:
    """One video of a parallel build, as sent to a worker process (picklable)."""

    src: VideoSource
    method: str
    window: int
    min_quality: float
    all_frames: bool
    folder: Path  # the build's folder: the worker writes the video's PNGs under it


@dataclass(frozen=True)
class VideoOutcome:
    """What one video gave: its pairs and counts, or the reason it was skipped."""

    pairs: tuple[Pair, ...]
    frames: int
    segments: int
    windows: int
    unpaired: int
    decoded: int  # frames decoded over both passes (progress)
    warnings: tuple[str, ...]
    skipped: SkippedVideo | None


def build_video(job: VideoJob) -> VideoOutcome:
    """Build one video's pairs into ``job.folder`` with a PNG writer and scratch folder of its own
    (the task a worker process runs); a video that cannot be read comes back skipped, its files removed."""
    tally = _Tally()
    writer = PngWriter()
    try:
        with tempfile.TemporaryDirectory(prefix=".scratch-", dir=job.folder) as scratch:
            settings = _Settings(job.method, job.window, job.min_quality, job.all_frames, job.folder,
                                 Path(scratch), writer)
            skipped = _build_or_skip(job.src, settings, tally, None, None)
        writer.drain()
    finally:
        writer.close()
    return VideoOutcome(tuple(tally.pairs), tally.frames, tally.segments, tally.windows, tally.unpaired,
                        tally.done, tuple(tally.warnings), skipped)


VideoTask = Callable[[VideoJob], VideoOutcome]

# Thread counts the numerical libraries read once, when they load: set while worker processes start,
# so that each worker of a parallel build uses one core (OpenCV's own pool is set by worker_init).
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """While in it, processes started from here get one OpenMP / BLAS thread (this process keeps its own)."""
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update({k: "1" for k in _ONE_THREAD})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _worker_died(job: VideoJob, why: str) -> VideoOutcome:
    """The outcome of a video whose worker process died on it, even when retried alone."""
    src = job.src
    remove_video_files(job.folder, src.sha256)
    skipped = SkippedVideo(src.sha256, src.name, f"the worker process died on it twice ({why}); not retried again")
    return VideoOutcome((), 0, 0, 0, 0, 0, (f"skipped video {src.name} ({src.sha256[:12]}…): {skipped.reason}",),
                        skipped)


def _build_parallel(videos: list[VideoSource], jobs: list[VideoJob], workers: int, task: VideoTask,
                    tally: _Tally, progress: Progress | None, warn: Warn | None) -> list[SkippedVideo]:
    """Build ``jobs`` on ``workers`` spawned processes into ``tally``, merged in the order of ``videos``
    (by sha256); progress and warnings per finished video."""
    skipped = []
    with _single_threaded_children():
        results = worker_pools.run(task, jobs, workers=workers, initializer=worker_pools.worker_init,
                                   on_died=_worker_died)
        for src, out in zip(videos, results):
            tally.pairs += sorted(out.pairs, key=lambda p: p.frame_index)
            tally.frames += out.frames
            tally.segments += out.segments
            tally.windows += out.windows
            tally.unpaired += out.unpaired
            tally.warnings += out.warnings
            tally.done += out.decoded
            tally.total += out.decoded - 2 * src.frames  # the estimate, made exact for this video
            if out.skipped is not None:
                skipped.append(out.skipped)
            if warn is not None:
                for line in out.warnings:
                    warn(line)
            if progress is not None:
                progress(tally.done, max(tally.total, tally.done), f"{src.name}: done")
    for scratch in jobs[0].folder.glob(".scratch-*") if jobs else ():  # left by a worker that died
        shutil.rmtree(scratch, ignore_errors=True)
    return skipped


def _install(tmp: Path, dest: Path, replace: bool) -> None:
    """Rename the finished ``tmp`` folder to ``dest`` (replacing an older set only with ``replace``)."""
    if dest.exists() or dest.is_symlink():
        if not replace:
            raise PairsError(f"pair set {dest.name!r} already exists in {dest.parent} (use --replace)")
        old = dest.with_name(f".{dest.name}.old-{secrets.token_hex(4)}")
        os.rename(dest, old)
        try:
            os.rename(tmp, dest)
        except BaseException:
            os.rename(old, dest)  # the old set stays as it was
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, dest)


def build_pairs(store: Store, name: str, *, where: str | None = None, method: str = "median",
                window: int = DEFAULT_WINDOW, min_quality: float = DEFAULT_MIN_QUALITY, all_frames: bool = False,
                replace: bool = False, workers: int = 1, progress: Progress | None = None, warn: Warn | None = None,
                task: VideoTask = build_video) -> BuildResult:
    """Build the pair set ``STORE/pairs/NAME`` from the videos ``where`` selects (see the module docstring).

    Args:
        where: a ``--where`` filter over captures (``rainset export``'s columns); a video is in when
            any one of its frame captures matches. None: every video.
        method: one of :data:`rainset.pairs.targets.METHODS`.
        window: at most this many frames per background (8 to 100000).
        min_quality: a pair is ``accepted`` when its quality reaches this (0..1).
        all_frames: a pair for every frame of the static segments, not only the frames kept at ingest.
        replace: replace an existing set of that name (else it is refused).
        workers: 0 or 1: videos one after the other in this process; N >= 2: N spawned worker
            processes, one video per task (progress then moves per finished video).
        progress: ``progress(done, total, note)`` over the frames decoded (both passes).
        warn: called with one line per video skipped or cut short (the build goes on).
        task: what a worker process runs per video (``workers`` >= 2; tests pass a wrapper of
            :func:`build_video`).

    Raises:
        PairsError: a bad or taken name, an unknown method, no video selected.
        ConfigError: ``window``, ``min_quality`` or ``workers`` out of range.
        FilterError: a bad ``where``.
    """
    check_name(name)
    check_method(method)
    window = WINDOW.check("--window", window)
    min_quality = MIN_QUALITY.check("--min-quality", min_quality)
    workers = WORKERS.check("--workers", workers)
    dest = pairset_dir(store.root, name)
    if (dest.exists() or dest.is_symlink()) and not replace:
        raise PairsError(f"pair set {name!r} already exists in {dest.parent} (use --replace)")
    started = time.perf_counter()
    with catalog_session(store.db_url) as session:
        videos = select_videos(store, session, where)
    root = pairs_root(store.root)
    root.mkdir(exist_ok=True)
    tmp = root / f".{name}.building-{secrets.token_hex(4)}"
    tmp.mkdir()  # not mkdtemp: its 0700 would stay on the finished set
    try:
        for sub in ("rainy", "clean", "mask"):
            (tmp / sub).mkdir()
        tally = _Tally(total=2 * sum(v.frames for v in videos))
        if workers >= 2 and len(videos) >= 2:
            jobs = [VideoJob(src, method, window, min_quality, all_frames, tmp) for src in videos]
            skipped = _build_parallel(videos, jobs, min(workers, len(videos)), task, tally, progress, warn)
        else:
            writer = PngWriter()
            try:
                # scratch inside the build's own folder: store tmp/ is emptied by every ingest start
                with tempfile.TemporaryDirectory(prefix=".scratch-", dir=tmp) as scratch:
                    settings = _Settings(method, window, min_quality, all_frames, tmp, Path(scratch), writer)
                    skipped = [s for src in videos if (s := _build_or_skip(src, settings, tally, progress, warn))]
                writer.drain()
            finally:
                writer.close()
        if progress is not None:
            progress(tally.done, max(tally.done, 1), None)
        if len(skipped) == len(videos):
            raise PairsError(f"no pairs: every selected video was skipped ({skipped[0].name}: {skipped[0].reason}"
                             + (f"; and {len(skipped) - 1} more)" if len(skipped) > 1 else ")"))
        gone = {s.video_sha256 for s in skipped}
        pairset = PairSet(name=name, method=method, threshold=min_quality,
                          created=datetime.now(timezone.utc).isoformat(timespec="seconds"), where=where,
                          settings={"window": window, "all_frames": all_frames,
                                    "videos": [v.sha256 for v in videos if v.sha256 not in gone],
                                    "skipped": [asdict(s) for s in skipped],
                                    "quality": {"motion_limit": MOTION_LIMIT, "light_limit": LIGHT_LIMIT,
                                                "mask_limit": MASK_LIMIT}},
                          pairs=tuple(tally.pairs))
        write_index(tmp, pairset)
        _install(tmp, dest, replace)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(name=name, folder=dest, method=method, threshold=min_quality, window=window,
                       videos=len(videos) - len(skipped), skipped=tuple(skipped), pairs=tuple(tally.pairs),
                       frames=tally.frames, segments=tally.segments, windows=tally.windows, unpaired=tally.unpaired,
                       seconds=time.perf_counter() - started, warnings=tuple(tally.warnings))
