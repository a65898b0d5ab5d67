"""The per-file stage for videos: store the video once, keep sampled frames as frame captures.

Runs on the ingest workers like :mod:`rainset.ingest.stage` (which hands videos here). The video
is hashed and copied in chunks like any original (no size budget: it is never read into memory),
then decoded frame by frame; the frames that pass the sampling rules (``every``, ``max_fps``,
change against the last kept frame) get hashes, quality and a preview keyed by
:func:`rainset.capture.video.frame_key`. No frame is stored as a file: full frames are decoded on
demand by :func:`rainset.capture.video.decode_frame`. The kept frames' records go to a frame log
under ``STORE/tmp/`` as they are made (:mod:`rainset.ingest.video_log`), so a worker's memory and
the result it returns do not grow with the video's length.

A video that cannot be opened, has no video stream or yields no frame is a reject; one whose
decoding stops part-way keeps the frames before the damage and carries a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Callable

import cv2
import numpy as np

from rainset.capture.checks import check_not_blank
from rainset.capture.preview import make_preview
from rainset.capture.raster import shrink
from rainset.capture.video import (DecodedFrame, FrameWalk, VideoInfo, clockwise_turn, frame_key, frame_time,
                                   open_video, parse_creation_time, probe)
from rainset.errors import RejectError, exception_text
from rainset.hashing import compute_hashes
from rainset.quality import measure_quality
from rainset.records import FileResult, Frame, Hashes, Quality
from rainset.store import Store, commit_object, tmp_file, write_atomic

from rainset.ingest.sources import SourceFile
from rainset.ingest.video_log import FrameLog, KeptFrame
from rainset.ingest.video_records import FrameSampling, VideoResult  # noqa: F401 - FrameSampling re-exported

CHANGE_SIDE = 96  # long side of the grey frame compared with the last kept one


def small_grey(image: np.ndarray) -> np.ndarray:
    """The frame as a small float32 grey image (long side ``CHANGE_SIDE``), for the change test."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    f = CHANGE_SIDE / max(h, w)
    if f < 1:
        grey = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32)


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two small grey frames (grey levels)."""
    return float(np.mean(np.abs(a - b)))


def _reject(src: SourceFile, reason: str, detail: str, size: int, sha: str, mtime: float | None) -> FileResult:
    return FileResult(uri=src.uri, size=size, mtime=mtime, sha256=sha, reject_reason=reason,
                      reject_detail=f"{src.name}: {detail}")


@dataclass
class _Sampler:
    sampling: FrameSampling
    fps: float | None
    last_grey: np.ndarray | None = None
    last_t: float | None = None

    def by_index_or_time(self, index: int, pts: float | None) -> str | None:
        """``every`` or ``max-fps`` when the frame is dropped before its pixels are looked at."""
        s = self.sampling
        if index % s.every:
            return "every"
        t = pts if pts is not None else (index / self.fps if self.fps else None)
        if s.max_fps and self.last_t is not None and t is not None and t - self.last_t < 1.0 / s.max_fps - 1e-6:
            return "max-fps"
        return None

    def too_close(self, grey: np.ndarray) -> bool:
        """True when the frame changed less than ``min_change`` since the last kept one."""
        s = self.sampling
        return self.last_grey is not None and s.min_change > 0 and frame_change(grey, self.last_grey) < s.min_change

    def kept(self, pts: float | None, index: int, grey: np.ndarray) -> None:
        self.last_grey = grey
        self.last_t = pts if pts is not None else (index / self.fps if self.fps else None)


def _damage_warning(info: VideoInfo, walk: FrameWalk, last_pts: float | None) -> str | None:
    if walk.error is not None:
        return (f"decoding stopped after {walk.decoded} frames ({walk.error}); the frames before the damage are kept")
    if info.frame_count and walk.decoded < info.frame_count:
        return f"the video ends early: {walk.decoded} of {info.frame_count} declared frames decoded"
    if info.duration and info.fps and last_pts is not None:
        step = 1.0 / info.fps
        if last_pts + step < info.duration - max(2 * step, 0.1):
            return f"the video ends early: frames up to {last_pts:.2f} s of {info.duration:.2f} s decoded"
    return None


def decode_video(location: str, sha: str, kind: str, store: Store, sampling: FrameSampling, *,
                 max_pixels: int, working_min_side: int, preview_max_side: int, preview_quality: int
                 ) -> tuple[VideoInfo, FrameLog, int, dict[str, int], tuple[str, ...]]:
    """Walk a video's frames, keep the sampled ones (hashes, quality, preview written to the store).

    Frames are decoded one at a time and each kept frame's record goes to a :class:`FrameLog`
    under ``STORE/tmp/`` at once, so memory does not grow with the number of frames.

    Returns:
        (info, the closed log of kept frames, frames decoded, skipped frames by reason, warnings).

    Raises:
        RejectError: the video cannot be opened, has no video stream, frames above ``max_pixels``,
            or no frame decodes.
        OSError: the video cannot be read.
    """
    with open_video(location) as container:
        info = probe(container, kind)
        if info.width * info.height > max_pixels:
            raise RejectError("too-large", f"frames are {info.width}x{info.height} pixels > max_pixels {max_pixels}")
        created = parse_creation_time(info.creation_time)
        walk = FrameWalk(container)
        sampler = _Sampler(sampling, info.fps)
        skipped = {"every": 0, "max-fps": 0, "change": 0, "blank": 0}
        log = FrameLog(store, sha)
        try:
            last_pts: float | None = None
            for decoded in walk:
                last_pts = decoded.pts
                if decoded.index == 0:
                    info = replace(info, rotation=clockwise_turn(decoded.frame))
                why = sampler.by_index_or_time(decoded.index, decoded.pts)
                if why is not None:
                    skipped[why] += 1
                    continue
                kept = _keep(decoded, sha, created, info.codec, store, sampler, working_min_side,
                             preview_max_side, preview_quality)
                if isinstance(kept, str):
                    skipped[kept] += 1
                    continue
                log.append(kept)
            if walk.decoded == 0:
                raise RejectError("decode-failed", f"no frame could be decoded ({walk.error or 'the stream is empty'})")
            if not log.count:
                raise RejectError("blank-frame", f"none of the {walk.decoded} decoded frames was kept: all are blank")
        except BaseException:
            log.discard()
            raise
        log.close()
        warning = _damage_warning(info, walk, last_pts)
        return info, log, walk.decoded, skipped, (warning,) if warning else ()


def _keep(decoded: DecodedFrame, sha: str, created: datetime | None, codec: str, store: Store, sampler: _Sampler,
          working_min_side: int, preview_max_side: int, preview_quality: int) -> KeptFrame | str:
    """The kept frame (its preview written), or why it is skipped (``change``, ``blank``)."""
    image = decoded.rgb()
    grey = small_grey(image)
    if sampler.too_close(grey):
        return "change"
    h, w = image.shape[:2]
    working = np.ascontiguousarray(shrink(image, working_min_side))
    del image  # one full frame alive at a time
    try:
        check_not_blank(working)
    except RejectError:
        return "blank"  # a black or constant frame (fade, lens cap): not a capture
    sampler.kept(decoded.pts, decoded.index, grey)
    frame = Frame(image=working, width=w, height=h, bit_depth=8, format="frame", decoder=f"pyav-{codec}"[:24])
    key = frame_key(sha, decoded.index)
    preview = store.preview_path(key)
    if not preview.exists():
        write_atomic(store, preview, make_preview(frame, preview_max_side, preview_quality))
    return KeptFrame(decoded.index, decoded.pts, key, frame_time(created, decoded.pts), w, h,
                     compute_hashes(frame), measure_quality(frame))


def process_video(src: SourceFile, fh: BinaryIO, head: bytes, kind: str, store: Store, options: Any, *,
                  stream: Callable[..., Any], seen_mtime: Callable[[SourceFile, BinaryIO], float | None]
                  ) -> VideoResult | FileResult:
    """Hash (and in copy mode store) one opened video, then decode and sample its frames.

    ``options`` is the stage's ``StageOptions``; ``stream`` (hash + copy in chunks, returning a
    ``Streamed``) and ``seen_mtime`` are the stage's own helpers, passed in so that this module
    does not import the stage, which imports it (no import circles).
    Never raises for a bad file: problems become reject results.
    """
    sampling = options.video
    settings = dict(max_pixels=options.max_pixels, working_min_side=options.working_min_side,
                    preview_max_side=options.preview_max_side, preview_quality=options.preview_quality)
    if options.link:
        read = stream(head, fh, None, None)
        return _decode_result(src, read, src.location, kind, store, sampling, settings, seen_mtime(src, fh), None)
    with tmp_file(store) as (tmp, out):
        read = stream(head, fh, out, None)
        return _decode_result(src, read, str(tmp), kind, store, sampling, settings, seen_mtime(src, fh), tmp)


def _decode_result(src: SourceFile, read: Any, location: str, kind: str, store: Store,
                   sampling: FrameSampling, settings: dict, mtime: float | None, tmp: Path | None
                   ) -> VideoResult | FileResult:
    try:
        info, log, decoded, skipped, warnings = decode_video(location, read.sha256, kind, store, sampling,
                                                             **settings)
    except RejectError as exc:
        return _reject(src, exc.reason, exc.detail, read.size, read.sha256, mtime)
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        return _reject(src, "decode-failed", exception_text(exc), read.size, read.sha256, mtime)
    if tmp is not None:
        commit_object(store, read.sha256, tmp)
    return VideoResult(uri=src.uri, size=read.size, mtime=mtime, sha256=read.sha256, info=info,
                       frames_log=str(log.path), kept=log.count, decoded=decoded, skipped=skipped,
                       stored=tmp is not None, warnings=warnings)
