"""``rainset remove`` (a capture leaves every later export) and ``rainset gc`` (its objects go)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select

from rainset.catalog.db import catalog_session, open_catalog
from rainset.catalog.manifest_tables import Removal
from rainset.catalog.models import Capture, File
from rainset.errors import ManifestError
from rainset.store import Store


@dataclass(frozen=True)
class RemoveResult:
    removed: tuple[str, ...]
    already_removed: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"removed {len(self.removed)} captures ({self.reason}); later exports leave them out"]
        if self.already_removed:
            out.append(f"already removed: {', '.join(self.already_removed)}")
        return out


def remove_captures(store: Store, capture_ids: list[str], reason: str) -> RemoveResult:
    """Mark captures removed with ``reason`` (all or none: an unknown id changes nothing)."""
    reason = (reason or "").strip()
    if not reason:
        raise ManifestError("a removal needs a reason (--reason 'licence withdrawn', 'a face', …)")
    if not capture_ids:
        raise ManifestError("name at least one capture id to remove")
    catalog = open_catalog(store.db_url)
    removed, already = [], []
    try:
        with catalog.session() as s:
            for cid in dict.fromkeys(capture_ids):
                capture = s.get(Capture, cid)
                if capture is None:
                    raise ManifestError(f"unknown capture {cid!r}; nothing was removed")
                if capture.status == "removed":
                    already.append(cid)
                    continue
                capture.status, capture.removed_reason = "removed", reason
                s.add(Removal(capture_id=cid, reason=reason))
                removed.append(cid)
    finally:
        catalog.close()
    return RemoveResult(tuple(removed), tuple(already), reason)


@dataclass(frozen=True)
class GcPlan:
    """Objects (and previews) of removed captures that no kept capture needs."""

    objects: tuple[str, ...]  # store-relative paths
    previews: tuple[str, ...]
    bytes: int
    kept_shared: int  # removed captures' contents still needed by a kept capture

    def to_dict(self) -> dict:
        return asdict(self)


def gc_plan(store: Store) -> GcPlan:
    """What ``rainset gc`` would delete: contents referenced only by removed captures."""
    with catalog_session(store.db_url) as s:
        rows = s.execute(select(File.sha256, File.storage, Capture.status, Capture.representative_sha256)
                         .join(Capture, Capture.id == File.capture_id)).all()
    kept = {sha for sha, _, status, _ in rows if status != "removed"}
    kept |= {rep for _, _, status, rep in rows if status != "removed"}
    gone = {sha for sha, storage, status, _ in rows if status == "removed"}
    objects, previews, size = [], [], 0
    for sha in sorted(gone - kept):
        obj, prev = store.object_path(sha), store.preview_path(sha)
        if obj.is_file():
            objects.append(str(obj.relative_to(store.root)))
            size += obj.stat().st_size
        if prev.is_file():
            previews.append(str(prev.relative_to(store.root)))
            size += prev.stat().st_size
    return GcPlan(tuple(objects), tuple(previews), size, len(gone & kept))


def gc_apply(store: Store, plan: GcPlan) -> int:
    """Delete what ``plan`` lists, re-checking each content is still unneeded; returns files deleted."""
    fresh = gc_plan(store)
    allowed = set(fresh.objects) | set(fresh.previews)
    deleted = 0
    for rel in (*plan.objects, *plan.previews):
        if rel in allowed:
            (store.root / Path(rel)).unlink(missing_ok=True)
            deleted += 1
    return deleted
