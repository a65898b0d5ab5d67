"""``rainset status``: what a store holds, in numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from rainset.catalog.db import catalog_session, safe_url
from rainset.catalog.models import Capture, File, IngestRun, Reject, Video
from rainset.store import Store


@dataclass(frozen=True)
class StoreStatus:
    """Counts of a store (the ``--json`` output of ``rainset status``; keys are stable)."""

    store: str
    catalog: str
    captures: int
    files: int
    raw_files: int
    exact_copies: int
    bytes: int
    objects_bytes: int
    rejects: int
    rejects_by_reason: dict[str, int]
    runs: int
    runs_unfinished: int
    formats: dict[str, int]

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable status (``rainset status``)."""
        formats = ", ".join(f"{k}: {v}" for k, v in self.formats.items()) or "none"
        return [f"store    {self.store}", f"catalog  {self.catalog}",
                f"captures {self.captures}  ({formats})",
                f"files    {self.files}  ({self.raw_files} RAW, {self.exact_copies} exact copies), "
                f"{self.bytes / 1e6:.1f} MB",
                f"rejects  {self.rejects}", *(f"  {k:<20} {v}" for k, v in self.rejects_by_reason.items()),
                f"runs     {self.runs}" + (f" ({self.runs_unfinished} unfinished)" if self.runs_unfinished else "")]


def store_status(store: Store) -> StoreStatus:
    """Count captures, files, bytes, rejects by reason and ingest runs."""
    with catalog_session(store.db_url) as s:
        captures = s.scalar(select(func.count()).select_from(Capture)) or 0
        files = s.scalar(select(func.count()).select_from(File)) or 0
        raw_files = s.scalar(select(func.count()).select_from(File).where(File.role == "raw")) or 0
        copies = s.scalar(select(func.count()).select_from(File).where(File.duplicate_of.is_not(None))) or 0
        # a video frame's files row repeats its video's size (storage 'frame'): the videos rows count the bytes
        size = (s.scalar(select(func.coalesce(func.sum(File.size), 0)).where(File.storage != "frame")) or 0) + (
            s.scalar(select(func.coalesce(func.sum(Video.size), 0))) or 0)
        stored = (s.scalar(select(func.coalesce(func.sum(File.size), 0))
                           .where(File.storage == "copy", File.duplicate_of.is_(None))) or 0) + (
            s.scalar(select(func.coalesce(func.sum(Video.size), 0))
                     .where(Video.storage == "copy", Video.duplicate_of.is_(None))) or 0)
        by_reason = dict(s.execute(select(Reject.reason, func.count()).group_by(Reject.reason)).all())
        formats = dict(s.execute(select(Capture.format, func.count()).group_by(Capture.format)).all())
        runs = s.scalar(select(func.count()).select_from(IngestRun)) or 0
        unfinished = s.scalar(select(func.count()).select_from(IngestRun).where(IngestRun.status != "done")) or 0
    return StoreStatus(
        store=str(store.root), catalog=safe_url(store.db_url), captures=captures, files=files,
        raw_files=raw_files, exact_copies=copies, bytes=int(size), objects_bytes=int(stored),
        rejects=sum(by_reason.values()), rejects_by_reason=dict(sorted(by_reason.items())),
        runs=runs, runs_unfinished=unfinished, formats=dict(sorted(formats.items())),
    )
