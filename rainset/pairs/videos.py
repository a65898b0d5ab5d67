"""Which videos a pair set is built from: a ``--where`` filter over captures, chosen video by video.

The filter is ``rainset export``'s (:mod:`rainset.manifests.selection`: every manifest column,
``path`` and ``folder``), applied to the active captures that are video frames. A video is in when
any one of its frame captures matches; its frames kept at ingest (its active frame captures) are
the frames that get pairs. Each video is read from its stored object (copy mode) or from the file
it was linked from.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.capture_paths import capture_files
from rainset.catalog.models import Video
from rainset.errors import PairsError
from rainset.local_uri import uri_to_path
from rainset.manifests.rows import filter_view, load_rows
from rainset.manifests.selection import compile_selection
from rainset.store import Store


@dataclass(frozen=True)
class KeptFrame:
    """A frame of the video that has a capture row (kept at ingest)."""

    capture_id: str
    frame_index: int
    frame_pts: float | None


@dataclass(frozen=True)
class VideoSource:
    """One selected video: where to read it and its frames kept at ingest (by frame index)."""

    sha256: str
    location: str  # a local path, or an fsspec URL (a linked remote file)
    name: str  # the file name it was ingested as (for messages)
    frames: int  # frames decoded at ingest (0: unknown)
    kept: dict[int, KeptFrame]


def video_location(store: Store, video: Video) -> str:
    """Where a video's bytes are: its object in copy mode, else the file (or URL) it was linked from."""
    if video.storage == "copy":
        return str(store.object_path(video.sha256))
    return video.uri if "://" in video.uri else uri_to_path(video.uri)


def select_videos(store: Store, session: Session, where: str | None = None) -> list[VideoSource]:
    """The videos with at least one active frame capture matching ``where`` (None: every video), by sha256.

    Raises:
        FilterError: the filter does not parse or names an unknown column.
        PairsError: no video matches.
    """
    match = compile_selection(where) if where else None
    rows = [r for r in load_rows(session).rows if r["video_sha256"] is not None]
    files = capture_files(session, [r["sample_id"] for r in rows]) if match is not None and match.per_file else {}
    chosen = {r["video_sha256"] for r in rows
              if match is None or match(filter_view(r), files.get(r["sample_id"], ()))}
    if not chosen:
        raise PairsError(f"no video selected: no frame capture matches {where!r}" if where
                         else "no video selected: the store holds no video frames (ingest videos first)")
    kept: dict[str, dict[int, KeptFrame]] = {sha: {} for sha in chosen}
    for r in rows:
        if r["video_sha256"] in kept:
            kept[r["video_sha256"]][int(r["frame_index"])] = KeptFrame(r["sample_id"], int(r["frame_index"]),
                                                                     r["frame_pts"])
    videos = session.scalars(select(Video).where(Video.sha256.in_(chosen))
                             .order_by(Video.duplicate_of.is_not(None), Video.id)).all()
    first: dict[str, Video] = {}
    for v in videos:
        first.setdefault(v.sha256, v)
    return [VideoSource(sha, video_location(store, first[sha]), first[sha].uri.rsplit("/", 1)[-1],
                        int(first[sha].frames_decoded or 0), kept[sha])
            for sha in sorted(chosen) if sha in first]
