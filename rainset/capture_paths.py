"""Which file is which capture: the source paths behind capture ids and object hashes.

Commands that list captures print the representative file's path beside each id (the first file,
by ingest order, whose content is the capture's representative); ``verify`` names the captures and
source files behind a damaged object; ``--where`` filters on ``path`` and ``folder`` see every
file of a capture.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture, File

CHUNK = 500  # ids per IN (...) query, well under every backend's bound-parameter limit


@dataclass(frozen=True)
class SourceFile:
    """One file of a capture as ingested: its path or URI and the folder (or URL prefix) holding it."""

    capture_id: str
    path: str
    folder: str


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    items = sorted(set(values))
    for lo in range(0, len(items), CHUNK):
        yield items[lo:lo + CHUNK]


def representative_paths(session: Session, capture_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Capture id → path (or URI) of its representative file; every capture when ``capture_ids`` is None."""
    query = (select(File.capture_id, File.uri).join(Capture, Capture.id == File.capture_id)
             .where(File.sha256 == Capture.representative_sha256).order_by(File.id))
    paths: dict[str, str] = {}
    batches = [None] if capture_ids is None else list(_chunks(capture_ids))
    for batch in batches:
        q = query if batch is None else query.where(File.capture_id.in_(batch))
        for cid, uri in session.execute(q):
            paths.setdefault(cid, uri)
    return paths


def capture_files(session: Session, capture_ids: Iterable[str] | None = None) -> dict[str, list[SourceFile]]:
    """Capture id → all its files, in ingest order; every capture when ``capture_ids`` is None."""
    query = select(File.capture_id, File.uri, File.source_dir).order_by(File.id)
    files: dict[str, list[SourceFile]] = {}
    batches = [None] if capture_ids is None else list(_chunks(capture_ids))
    for batch in batches:
        q = query if batch is None else query.where(File.capture_id.in_(batch))
        for cid, uri, folder in session.execute(q):
            files.setdefault(cid, []).append(SourceFile(cid, uri, folder))
    return files


def files_by_content(session: Session, shas: Iterable[str]) -> dict[str, list[SourceFile]]:
    """sha256 → the files with that content (the captures and sources an object backs), in ingest order."""
    found: dict[str, list[SourceFile]] = {}
    for batch in _chunks(shas):
        rows = session.execute(select(File.sha256, File.capture_id, File.uri, File.source_dir)
                               .where(File.sha256.in_(batch)).order_by(File.id))
        for sha, cid, uri, folder in rows:
            found.setdefault(sha, []).append(SourceFile(cid, uri, folder))
    return found
