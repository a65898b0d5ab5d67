"""A comparable picture of a store: catalog rows without run ids, row ids or timestamps, plus files on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, Hash, Reject
from rainset.store import Store

SKIP = {"id", "created_at", "created_run_id", "run_id"}


def _row(obj: Any) -> dict[str, Any]:
    keep_id = isinstance(obj, Capture)  # the stable capture id must match; integer row ids may differ
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns
            if c.key not in SKIP or (keep_id and c.key == "id")}


def snapshot(store: Store) -> dict[str, Any]:
    """Everything ingest produces, in a form two equivalent runs share."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            files = s.scalars(select(File)).all()
            uri_of = {f.id: f.uri for f in files}
            file_rows = []
            for f in files:
                row = _row(f)
                row["duplicate_of"] = uri_of.get(f.duplicate_of) if f.duplicate_of else None
                file_rows.append(row)
            snap = {
                "captures": sorted((_row(c) for c in s.scalars(select(Capture))), key=lambda r: r["id"]),
                "files": sorted(file_rows, key=lambda r: r["uri"]),
                "rejects": sorted((_row(r) for r in s.scalars(select(Reject))), key=lambda r: (r["uri"], r["sha256"])),
                "hashes": sorted((_row(h) for h in s.scalars(select(Hash))), key=lambda r: r["sha256"]),
            }
    finally:
        catalog.close()
    for sub in ("objects", "previews"):
        root = store.root / sub
        snap[sub] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    snap["tmp"] = sorted(p.name for p in store.tmp_dir.iterdir())
    return snap


def store_files(store: Store) -> set[Path]:
    return {p for p in store.root.rglob("*") if p.is_file()}
