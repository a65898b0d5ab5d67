"""The driver's side for videos: a ``videos`` row, and per kept frame a capture, a ``files`` row and hashes.

A frame capture's ``representative_sha256`` is its frame key (:func:`rainset.capture.video.frame_key`),
which names its preview and ``hashes`` row; its one ``files`` row (``storage = 'frame'``, URI
``<video uri>#frame=<index>``) ties it to the video for every query that joins captures to
files. The bytes live once, in the video's object (or, in link mode, at the video's URI).
A video whose bytes are already known (same sha256 at another path) is an exact copy: it gets a
``videos`` row pointing at the first and no frames of its own.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture, File, Hash, Video

from rainset.ingest.sources import SourceFile
from rainset.ingest.video_records import FrameSampling, VideoResult
from rainset.ingest.writer import BatchCounts, Provenance, capture_id_for

if TYPE_CHECKING:
    from rainset.ingest.video_log import KeptFrame

FRAME_FORMAT = "frame"  # captures.format / files.format of a video frame


def frame_uri(video_uri: str, index: int) -> str:
    """The ``files.uri`` of one frame: the video's URI with a ``#frame=N`` fragment."""
    return f"{video_uri}#frame={index}"


def _video_row(src: SourceFile, result: VideoResult, run_id: int, link: bool, sampling: FrameSampling,
               duplicate_of: int | None) -> Video:
    info = result.info
    return Video(sha256=result.sha256, uri=src.uri, size=result.size, mtime=result.mtime,
                 storage="link" if link else "copy", container=info.container, codec=info.codec[:32],
                 width=info.width, height=info.height, rotation=info.rotation, fps=info.fps, duration=info.duration,
                 frame_count=info.frame_count, frames_decoded=result.decoded,
                 frames_kept=0 if duplicate_of is not None else result.kept,
                 make=info.make, model=info.model, creation_time=info.creation_time,
                 gps_lat=info.gps_lat, gps_lon=info.gps_lon, gps_alt=info.gps_alt,
                 sampling={**asdict(sampling), "skipped": dict(result.skipped)}, warnings=list(result.warnings),
                 duplicate_of=duplicate_of, run_id=run_id)


def _frame_capture(result: VideoResult, frame: KeptFrame, prov: Provenance, run_id: int) -> Capture:
    info = result.info
    return Capture(
        id=capture_id_for(frame.key), representative_sha256=frame.key, format=FRAME_FORMAT,
        width=frame.width, height=frame.height, bit_depth=8, source_name=prov.source_name, license=prov.license,
        owner=prov.owner, make=info.make, model=info.model, capture_time=frame.capture_time,
        time_offset="+00:00" if frame.capture_time else None,
        gps_lat=info.gps_lat, gps_lon=info.gps_lon, gps_alt=info.gps_alt, warnings=list(result.warnings),
        created_run_id=run_id, video_sha256=result.sha256, frame_index=frame.index, frame_pts=frame.pts,
    )


def _frame_file(src: SourceFile, result: VideoResult, frame: KeptFrame, capture_id: str, run_id: int) -> File:
    q = frame.quality
    return File(
        capture_id=capture_id, uri=frame_uri(src.uri, frame.index), source_dir=src.source_dir,
        stem=src.stem.lower(), sha256=frame.key, size=result.size, mtime=result.mtime, format=FRAME_FORMAT,
        role="frame", storage="frame", width=frame.width, height=frame.height, bit_depth=8,
        decoder=f"pyav-{result.info.codec}"[:24],
        exif={"video_sha256": result.sha256, "frame_index": frame.index, "frame_pts": frame.pts, "warnings": []},
        sharpness=q.sharpness, clip_low=q.clip_low, clip_high=q.clip_high, megapixels=q.megapixels,
        duplicate_of=None, run_id=run_id,
    )


def write_video(session: Session, src: SourceFile, result: VideoResult, *, run_id: int, prov: Provenance,
                link: bool, sampling: FrameSampling) -> BatchCounts:
    """Write one video's rows; the caller commits the batch.

    The kept frames are read back from the worker's frame log a chunk at a time and flushed per
    chunk (flushed rows are no longer held by the session), so memory does not grow with the
    number of frames; the log is deleted at the end.
    """
    try:
        return _write_video(session, src, result, run_id=run_id, prov=prov, link=link, sampling=sampling)
    finally:
        result.drop_log()


def _write_video(session: Session, src: SourceFile, result: VideoResult, *, run_id: int, prov: Provenance,
                 link: bool, sampling: FrameSampling) -> BatchCounts:
    counts = BatchCounts()
    if session.scalar(select(Video.id).where(Video.uri == src.uri)) is not None:
        return counts  # already recorded (a rerun racing a previous batch)
    same = session.scalars(select(Video.id).where(Video.sha256 == result.sha256, Video.duplicate_of.is_(None))
                           .order_by(Video.id).limit(1)).first()
    session.add(_video_row(src, result, run_id, link, sampling, duplicate_of=same))
    counts.new_files += 1
    counts.videos += 1
    if same is not None:
        counts.exact_copies += 1
        return counts
    decoder = f"pyav-{result.info.codec}"[:24]
    for chunk in result.frames():
        for frame in chunk:
            capture = _frame_capture(result, frame, prov, run_id)
            if session.get(Capture, capture.id) is not None:
                continue  # the same frame of the same bytes is already a capture
            if session.get(Hash, frame.key) is None:
                h = frame.hashes
                session.add(Hash(sha256=frame.key, phash=h.phash, dhash=h.dhash, pixel_hash=h.pixel_hash,
                                 thumb=h.thumb, decoder=decoder))
            session.add(capture)
            session.add(_frame_file(src, result, frame, capture.id, run_id))
            counts.new_captures += 1
        session.flush()
    counts.bytes_stored += result.size if result.stored else 0
    counts.warnings += bool(result.warnings)
    return counts
