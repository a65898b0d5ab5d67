"""Catalog look-ups the web app needs about one capture: what to show, where its images are.

Images are always found by capture id through the catalog, never from a path the client sent.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.labels_tables import Assignment
from rainset.catalog.models import Capture, File, Label, Video
from rainset.errors import LabelError, NotFoundError
from rainset.labels.users import UserInfo
from rainset.local_uri import uri_to_path
from rainset.store import Store

CAPTURE_ID = re.compile(r"c[0-9a-f]{24}")
KEY_EXIF = ("exposure_time", "f_number", "iso", "focal_length", "make", "model", "lens", "capture_time")


@dataclass(frozen=True)
class CaptureView:
    """One capture as the pages show it: size, format, key EXIF and the names of its files."""

    capture_id: str
    width: int
    height: int
    format: str
    preview_sha256: str
    exif: dict[str, str | float | int | None] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    status: str = "active"


def may_view_full(session: Session, user: UserInfo, capture_id: str) -> bool:
    """True when ``user`` holds ``capture_id`` in their queue or has labelled it."""
    held = select(Assignment.id).where(Assignment.capture_id == capture_id, Assignment.user_id == user.id)
    labelled = select(Label.id).where(Label.capture_id == capture_id, Label.user_id == user.id)
    return session.scalar(held.limit(1)) is not None or session.scalar(labelled.limit(1)) is not None


@dataclass(frozen=True)
class Original:
    """Where the representative original of a capture is, and how to decode it."""

    location: str  # a local path (os.fsdecode form, openable) or a URL
    name: str
    format: str
    orientation: int | None
    is_url: bool
    frame_index: int | None = None  # a video frame: ``location`` is the video, decoded at this frame
    frame_pts: float | None = None


def _capture(session: Session, capture_id: str) -> Capture:
    row = session.get(Capture, capture_id) if CAPTURE_ID.fullmatch(capture_id or "") else None
    if row is None:
        raise NotFoundError(f"no capture with id {capture_id!r}")
    return row


def key_exif(row: Capture) -> dict[str, str | float | int | None]:
    """The EXIF fields an annotator needs (exposure time matters for streaks)."""
    return {name: getattr(row, name) for name in KEY_EXIF}


def capture_view(session: Session, capture_id: str) -> CaptureView:
    """The capture ``capture_id`` for display.

    Raises:
        NotFoundError: when there is no such capture (the id is checked before any look-up).
    """
    row = _capture(session, capture_id)
    names = session.scalars(select(File.uri).where(File.capture_id == row.id).order_by(File.id)).all()
    return CaptureView(row.id, row.width, row.height, row.format, row.representative_sha256, key_exif(row),
                       tuple(Path(n).name for n in names), row.status)


def preview_file(store: Store, session: Session, capture_id: str) -> Path:
    """The preview JPEG of a capture (raises NotFoundError when the capture or its preview is missing)."""
    row = _capture(session, capture_id)
    path = store.preview_path(row.representative_sha256)
    if not path.is_file():
        raise NotFoundError(f"capture {capture_id}: its preview is missing from the store")
    return path


def original_of(store: Store, session: Session, capture_id: str) -> Original:
    """The representative original of a capture: the stored object, else the linked file."""
    row = _capture(session, capture_id)
    if row.video_sha256:
        return _video_original(store, session, row)
    files = session.scalars(select(File).where(File.capture_id == row.id,
                                               File.sha256 == row.representative_sha256).order_by(File.id)).all()
    if not files:
        raise LabelError(f"capture {capture_id}: no file holds its representative content")
    copy = next((f for f in files if f.storage == "copy"), None)
    chosen = copy or files[0]
    orientation = (chosen.exif or {}).get("orientation")
    orientation = orientation if isinstance(orientation, int) else None
    if copy is not None:
        return Original(str(store.object_path(copy.sha256)), Path(copy.uri).name, copy.format, orientation, False)
    if "://" in chosen.uri:
        return Original(chosen.uri, Path(chosen.uri).name, chosen.format, orientation, True)
    # A linked local file: its URI escapes backslashes and undecodable bytes (rainset.local_uri).
    return Original(uri_to_path(chosen.uri), Path(chosen.uri).name, chosen.format, orientation, False)


def _video_original(store: Store, session: Session, row: Capture) -> Original:
    """A video frame's original: the video (its object, else the linked file) and the frame in it."""
    video = session.scalars(select(Video).where(Video.sha256 == row.video_sha256)
                            .order_by(Video.duplicate_of.is_not(None), Video.id)).first()
    if video is None:
        raise LabelError(f"capture {row.id}: its video {row.video_sha256[:12]}… is not in the catalog")
    name = f"{Path(video.uri).name}#frame={row.frame_index}"
    if video.storage == "copy":
        return Original(str(store.object_path(video.sha256)), name, row.format, None, False, row.frame_index,
                        row.frame_pts)
    is_url = "://" in video.uri
    return Original(video.uri if is_url else uri_to_path(video.uri), name, row.format, None, is_url, row.frame_index,
                    row.frame_pts)


class PathCache:
    """Preview paths by capture id, the ``size`` most recently used (thread-safe).

    Previews are content-addressed and never overwritten, so a remembered path stays valid; the
    cache spares the preview route a catalog query (and a worker thread) per image.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._paths: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, capture_id: str) -> Path | None:
        with self._lock:
            path = self._paths.get(capture_id)
            if path is not None:
                self._paths.move_to_end(capture_id)
            return path

    def put(self, capture_id: str, path: Path) -> None:
        with self._lock:
            self._paths[capture_id] = path
            while len(self._paths) > self.size:
                self._paths.popitem(last=False)
