"""Manifest rows from the catalog: captures, files, hashes, groups, labels and recorded splits."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.manifest_tables import SplitAssignment
from rainset.catalog.models import Capture, File, Group, GroupMember, Hash, Video
from rainset.labels.consensus import current_labels
from rainset.rainstats import load_stats
from rainset.manifests.schema import PAIR_COLUMNS, RAIN_COLUMNS
from rainset.manifests.splits import DEFAULT_RATIOS, SplitPlan, assign_splits, components
from rainset.store import object_key

CAPTURE_COLUMNS = ("id", "representative_sha256", "source_name", "license", "owner", "format", "width", "height",
                   "bit_depth", "make", "model", "serial", "lens", "capture_time", "subsec", "time_offset",
                   "exposure_time", "f_number", "iso", "focal_length", "orientation", "gps_lat", "gps_lon",
                   "gps_alt", "flags", "status", "created_at", "video_sha256", "frame_index", "frame_pts")
NO_PAIR: dict[str, Any] = dict.fromkeys(PAIR_COLUMNS)  # a capture row: no pair
GROUP_COLUMNS = {"cluster": "cluster_id", "burst": "burst_id", "scene": "scene_id"}


@dataclass(frozen=True)
class CatalogRows:
    """Rows of every active capture (before any filter) and the split plan that placed them."""

    rows: tuple[dict[str, Any], ...]
    plan: SplitPlan
    seed: int


def as_utc(value: datetime | None) -> datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    if value is None:
        return datetime.fromtimestamp(0, timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _representatives(session: Session) -> dict[str, Any]:
    """capture id → (uri, storage) of its representative file (the first with that content)."""
    reps: dict[str, Any] = {}
    for f in session.connection().execute(select(File.capture_id, File.uri, File.storage).join(Capture, Capture.id == File.capture_id)
                             .where(File.sha256 == Capture.representative_sha256).order_by(File.id)):
        reps.setdefault(f.capture_id, f)
    return reps


def _videos(session: Session) -> dict[str, Any]:
    """video sha256 → (uri, storage) of its first recorded file (the one its frames were taken from)."""
    found: dict[str, Any] = {}
    for v in session.connection().execute(select(Video.sha256, Video.uri, Video.storage)
                                          .where(Video.duplicate_of.is_(None)).order_by(Video.id)):
        found.setdefault(v.sha256, v)
    return found


def video_links(captures: dict[str, Any]) -> list[tuple[str, str]]:
    """Links joining the frames of each video into one leakage family (never split across splits)."""
    first: dict[str, str] = {}
    links = []
    for cid in sorted(captures):
        video = captures[cid].video_sha256
        if video:
            if video in first:
                links.append((first[video], cid))
            else:
                first[video] = cid
    return links


def _groups(session: Session) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """capture → {cluster_id/burst_id/scene_id: key}, and the links that join leakage groups."""
    keys: dict[str, dict[str, str]] = {}
    members: dict[int, list[str]] = {}
    rows = session.execute(select(Group.id, Group.kind, Group.info, GroupMember.capture_id)
                           .join(GroupMember, GroupMember.group_id == Group.id).order_by(Group.id))
    for gid, kind, info, capture_id in rows:
        members.setdefault(gid, []).append(capture_id)
        column = GROUP_COLUMNS.get(kind)
        if column:
            key = (info or {}).get("key") or f"{kind}-{gid}"
            keys.setdefault(capture_id, {})[column] = str(key)
    links = [(m[0], other) for m in members.values() for other in m[1:]]
    return keys, links


def recorded_splits(session: Session, seed: int) -> dict[str, str]:
    rows = session.execute(select(SplitAssignment.capture_id, SplitAssignment.split).where(SplitAssignment.seed == seed))
    return {cid: split for cid, split in rows}


def load_rows(session: Session, seed: int = 0, ratios: Sequence[tuple[str, float]] = DEFAULT_RATIOS) -> CatalogRows:
    """Every active capture as a manifest row (all columns), with splits planned for ``seed``."""
    session.flush()  # the Core selects below go to the connection, past the session's autoflush
    # plain Core select of the columns a row needs (no ORM objects, no ``warnings`` JSON to decode)
    table = Capture.__table__
    needed = [table.c[name] for name in CAPTURE_COLUMNS]
    captures = {c.id: c for c in session.connection().execute(select(*needed).order_by(table.c.id))}
    reps = _representatives(session)
    hashes = {h.sha256: h for h in session.connection().execute(select(Hash.sha256, Hash.phash, Hash.dhash))}
    keys, links = _groups(session)
    links += video_links(captures)
    videos = _videos(session)
    age = {cid: as_utc(c.created_at) for cid, c in captures.items()}
    groups = components(captures, [(a, b) for a, b in links if a in captures and b in captures])
    plan = assign_splits(groups, age, recorded_splits(session, seed), seed, ratios)
    active = [c for c in captures.values() if c.status == "active"]
    labels = current_labels(session, [c.id for c in active])
    measured = load_stats(session, [c.id for c in active], source="preview")
    rows = []
    unmeasured = rain_columns(None)
    no_groups: dict[str, str] = {}
    for c in active:
        rep = reps.get(c.id)
        if c.video_sha256:  # a video frame: sha256, path and source name the video
            rep = videos.get(c.video_sha256, rep)
        sha = c.video_sha256 or c.representative_sha256
        h = hashes.get(c.representative_sha256)
        lab = labels.get(c.id)
        group = keys.get(c.id, no_groups)
        m = measured.get(c.id)
        rows.append({
            "sample_id": c.id, "sha256": sha,
            "file_name": os.path.basename(rep.uri.rstrip("/")) if rep else "",
            "path": object_key(sha) if rep is None or rep.storage == "copy" else None,
            "source_uri": rep.uri if rep else "",
            "video_sha256": c.video_sha256, "frame_index": c.frame_index, "frame_pts": c.frame_pts,
            **NO_PAIR,
            "source_name": c.source_name, "license": c.license, "owner": c.owner, "format": c.format,
            "width": c.width, "height": c.height, "bit_depth": c.bit_depth,
            "make": c.make, "model": c.model, "serial": c.serial, "lens": c.lens,
            "capture_time": c.capture_time, "subsec": c.subsec, "time_offset": c.time_offset,
            "exposure_time": c.exposure_time, "f_number": c.f_number, "iso": c.iso,
            "focal_length": c.focal_length, "orientation": c.orientation,
            "gps_lat": c.gps_lat, "gps_lon": c.gps_lon, "gps_alt": c.gps_alt,
            "phash": h.phash if h else None, "dhash": h.dhash if h else None,
            "flags": sorted(c.flags or []),
            "cluster_id": group.get("cluster_id"), "burst_id": group.get("burst_id"),
            "scene_id": group.get("scene_id"),
            "leakage_group": plan.group_of[c.id], "split": plan.splits[c.id],
            "rain_type": lab.rain_type if lab else None,
            "attributes": list(lab.attributes) if lab else [],
            "agreement": lab.agreement if lab else None,
            "label_source": lab.source if lab else None,
            "needs_review": bool(lab.needs_review) if lab else False,
            "labels": [{"user": r.user, "role": r.role, "rain_type": r.rain_type, "attributes": list(r.attributes),
                        "created_at": r.created_at} for r in lab.labels] if lab else [],
            **(rain_columns(m) if m else unmeasured),
            "ingested_at": age[c.id],
        })
    return CatalogRows(tuple(rows), plan, seed)


def rain_columns(values: dict[str, Any] | None) -> dict[str, float | None]:
    """The ``rain_*`` columns of one capture from its preview measurements (nulls when not measured)."""
    values = values or {}
    out: dict[str, float | None] = {}
    for column, key in RAIN_COLUMNS.items():
        v = values.get(key)
        out[column] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
    return out


def filter_view(row: dict[str, Any]) -> dict[str, Any]:
    """The row as ``--where`` sees it: timestamps as ISO text."""
    return {**row, "ingested_at": filter_view_time(row)}


def filter_view_time(row: dict[str, Any]) -> str:
    """The row's ``ingested_at`` as ``--where`` sees it (ISO text)."""
    return row["ingested_at"].isoformat()
