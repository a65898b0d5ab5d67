"""Video decoding (PyAV): probe a container, walk its frames one at a time, decode one frame on demand.

A video is never held in memory: frames are decoded one by one, and a frame asked for later
(labelling tiles, shards, pairs) is found again by seeking to the key frame before its
presentation time and decoding forward (:func:`decode_frame`, the one on-demand path).

Frame identity: ``frame_index`` counts the frames the decoder outputs, in presentation order, from
0; ``frame_pts`` is that frame's presentation time in seconds (None when the container gives
none). A frame capture's preview and hashes are keyed by :func:`frame_key`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

import av
import fsspec
import numpy as np

from rainset.errors import RejectError, exception_text

# What PyAV raises on damaged or foreign data (FFmpegError subclasses ValueError/OSError in PyAV 18).
VIDEO_ERRORS: tuple[type[BaseException], ...] = (av.FFmpegError, ValueError, OSError, EOFError, MemoryError)
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its (first) video stream and itself."""

    container: str  # mp4 | mov | mkv | avi
    codec: str
    width: int
    height: int
    fps: float | None
    duration: float | None  # seconds
    frame_count: int | None  # as declared by the container (None: not declared)
    make: str | None = None
    model: str | None = None
    creation_time: str | None = None  # ISO 8601, UTC (``2024-05-01T10:00:00+00:00``)
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    rotation: int = 0  # degrees the frames are turned clockwise for display (from the first frame)


@dataclass(frozen=True, eq=False)
class DecodedFrame:
    """One decoded frame: its index, presentation time (seconds) and the decoder's frame, converted
    to RGB only when asked (:meth:`rgb`): frames dropped by sampling never pay for it."""

    index: int
    pts: float | None
    frame: Any  # av.VideoFrame

    def rgb(self) -> np.ndarray:
        """The frame as H×W×3 RGB uint8, upright (see :func:`upright`)."""
        return upright(self.frame)


def clockwise_turn(frame: Any) -> int:
    """Degrees (0, 90, 180, 270) to turn a decoded frame clockwise for display, from the stream's
    display matrix (phones write portrait video as landscape frames plus a -90° matrix)."""
    return int(-round(float(getattr(frame, "rotation", 0) or 0) / 90.0) * 90) % 360


def upright(frame: Any) -> np.ndarray:
    """A decoded frame as H×W×3 RGB uint8, turned as its display matrix says (flips are ignored)."""
    img = frame.to_ndarray(format="rgb24")
    k = {90: -1, 180: 2, 270: 1}.get(clockwise_turn(frame))
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def frame_key(video_sha256: str, frame_index: int) -> str:
    """The content key of one frame of a video (64 hex digits, like a sha256): names its preview and hashes."""
    return hashlib.sha256(f"rainset-video-frame:{video_sha256}:{frame_index}".encode()).hexdigest()


def parse_iso6709(text: str | None) -> tuple[float | None, float | None, float | None]:
    """(latitude, longitude, altitude) of an ISO 6709 location (``+48.8584+002.2945+035.000/``)."""
    m = _ISO6709.match((text or "").strip())
    if m is None:
        return None, None, None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None, None
    return lat, lon, float(m.group(3)) if m.group(3) else None


def parse_creation_time(text: str | None) -> datetime | None:
    """The container's creation time as an aware UTC datetime (None when absent, unreadable or zero)."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    if dt.year < 1971:  # MP4 muxers write 1904-01-01 (zero) when they do not know
        return None
    return dt.astimezone(timezone.utc)


def frame_time(creation: datetime | None, pts: float | None) -> str | None:
    """A frame's capture time: creation time + pts, ISO 8601 UTC with microseconds (None when unknown)."""
    if creation is None or pts is None:
        return None
    t = creation + timedelta(seconds=pts)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"


def _tag(meta: dict[str, str], *names: str) -> str | None:
    lower = {k.lower(): v for k, v in meta.items()}
    for name in names:
        value = lower.get(name.lower())
        if value and value.strip():
            return value.strip()
    return None


def probe(container: Any, kind: str) -> VideoInfo:
    """The :class:`VideoInfo` of an opened PyAV container. Raises RejectError when it has no video stream."""
    if not container.streams.video:
        raise RejectError("unsupported-format", "the container holds no video stream")
    stream = container.streams.video[0]
    meta = {**dict(stream.metadata or {}), **dict(container.metadata or {})}
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else None
    if stream.duration is not None and stream.time_base is not None:
        duration: float | None = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = None
    lat, lon, alt = parse_iso6709(_tag(meta, "location", "location-eng", "com.apple.quicktime.location.ISO6709"))
    created = parse_creation_time(_tag(meta, "creation_time", "com.apple.quicktime.creationdate", "date"))
    ctx = stream.codec_context
    return VideoInfo(
        container=kind, codec=ctx.name, width=int(ctx.width), height=int(ctx.height), fps=fps,
        duration=round(duration, 6) if duration is not None else None,
        frame_count=int(stream.frames) if stream.frames else None,
        make=_tag(meta, "make", "com.apple.quicktime.make", "com.android.manufacturer"),
        model=_tag(meta, "model", "com.apple.quicktime.model", "com.android.model"),
        creation_time=created.isoformat() if created else None, gps_lat=lat, gps_lon=lon, gps_alt=alt,
    )


@contextmanager
def open_video(location: str) -> Iterator[Any]:
    """A PyAV container open for reading: a local path, or an fsspec URL streamed through a file object.

    Raises:
        RejectError: ``decode-failed`` when the bytes are no container FFmpeg reads.
        OSError: the file cannot be opened.
    """
    fh: BinaryIO | None = None
    try:
        if "://" in location and not location.startswith("file://"):
            fh = fsspec.open(location, "rb").open()
            source: Any = fh
        else:
            source = location
        try:
            container = av.open(source, "r")
        except (av.FFmpegError, ValueError, EOFError) as exc:
            # FFmpeg's message names the path it opened: a worker's copy under tmp/, different on every
            # run; the reject names its file itself, so the reason alone is kept.
            why = f"{type(exc).__name__}: {exc.strerror}" if getattr(exc, "strerror", None) else exception_text(exc)
            raise RejectError("decode-failed", f"not a video FFmpeg can read ({why})") from exc
        try:
            yield container
        finally:
            container.close()
    finally:
        if fh is not None:
            fh.close()


class FrameWalk:
    """Decode the first video stream frame by frame; ``error`` says why it stopped early (None: it did not).

    Iterating yields :class:`DecodedFrame` in presentation order; only one frame is alive at a time.
    """

    def __init__(self, container: Any) -> None:
        self.container = container
        self.stream = container.streams.video[0]
        self.error: str | None = None
        self.decoded = 0

    def __iter__(self) -> Iterator[DecodedFrame]:
        frames = self.container.decode(self.stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except VIDEO_ERRORS as exc:
                self.error = exception_text(exc)
                return
            index = self.decoded
            self.decoded += 1
            yield DecodedFrame(index, float(frame.time) if frame.pts is not None else None, frame)


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise RejectError("too-large", f"frames are {width}x{height} = {width * height} pixels > max_pixels {max_pixels}")


def decode_frame(location: str, frame_index: int, frame_pts: float | None, *,
                 max_pixels: int = 250_000_000) -> np.ndarray:
    """The full-resolution, upright RGB uint8 pixels of one frame of a video (THE on-demand frame decode).

    Seeks to the key frame at or before ``frame_pts`` and decodes forward to the frame shown at
    that time; without a pts (or when the container cannot seek) it decodes from the start and
    counts ``frame_index`` frames. Memory holds one frame at a time.

    Args:
        location: the video: a local path or an fsspec URL.
        frame_index: the frame's index as recorded at ingest.
        frame_pts: its presentation time in seconds as recorded at ingest (None: unknown).
        max_pixels: refuse frames larger than this.

    Raises:
        RejectError: ``decode-failed`` (not a video, or the frame cannot be reached) or ``too-large``.
        OSError: the video cannot be read.
    """
    with open_video(location) as container:
        if not container.streams.video:
            raise RejectError("decode-failed", "the container holds no video stream")
        stream = container.streams.video[0]
        _check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
        if frame_pts is not None and stream.time_base is not None:
            found = _seek_decode(container, stream, frame_pts)
            if found is not None:
                return found
            container.seek(0, stream=stream, backward=True)
        for decoded in FrameWalk(container):
            if decoded.index == frame_index:
                return decoded.rgb()
    raise RejectError("decode-failed", f"frame {frame_index} cannot be decoded (the video ends or is damaged before it)")


def _seek_decode(container: Any, stream: Any, pts: float) -> np.ndarray | None:
    """The frame shown at ``pts`` (seconds) after a seek; None when seeking did not land at or before it."""
    rate = stream.average_rate or stream.guessed_rate
    tol = 0.5 / float(rate) if rate else 1e-3
    try:
        container.seek(int(round(pts / float(stream.time_base))), stream=stream, backward=True, any_frame=False)
        first = True
        for frame in container.decode(stream):
            if frame.pts is None:
                return None
            t = float(frame.time)
            if first and t > pts + tol:
                return None  # the seek overshot: decode from the start instead
            first = False
            if abs(t - pts) <= tol:
                return upright(frame)
            if t > pts + tol:
                return None
    except VIDEO_ERRORS:
        return None
    return None
