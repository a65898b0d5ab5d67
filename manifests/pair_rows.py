"""Manifest rows of a pair set (``rainset export NAME --pairs PAIRS``): one row per accepted pair.

A pair row is the row of its frame's capture (``Pair.capture_id``), or, for a frame that was not kept
at ingest, the row of the video's earliest kept frame with the frame's own ``frame_index`` and
``frame_pts`` and without what belongs to that other frame (hashes, rain measurements, labels). It
adds the pair columns (``rainy_path``, ``clean_path``, ``mask_path``: store-relative paths of the
pair set's PNG files, referenced like ``path`` references the original, not copied;
``pair_quality``, ``pairs_name``) and takes ``sample_id`` = the pair id.

Splits: the frames of one video are one leakage family (:func:`rainset.manifests.rows.video_links`),
so every pair of a video inherits that family's split and ``leakage_group``: a video's pairs never
sit in two splits. Pairs whose capture (or, for a frame not kept at ingest, every frame of whose
video) was removed with ``rainset remove`` are left out and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture
from rainset.errors import ManifestError
from rainset.manifests.rows import rain_columns
from rainset.manifests.schema import PAIR_MEMBERS
from rainset.pairs.pairset import Pair, PairSet, pairs_root, pairset_dir, read_index
from rainset.store import Store

# what belongs to one frame only: left out of a pair row borrowed from another frame of its video
FRAME_OWN = {"phash": None, "dhash": None, "rain_type": None, "attributes": [], "agreement": None,
             "label_source": None, "needs_review": False, "labels": [], "flags": [], "cluster_id": None,
             "burst_id": None, "scene_id": None, **rain_columns(None)}


@dataclass(frozen=True)
class LoadedPairs:
    """A pair set read for export: the set, its folder, the sha256 of its pairs.json."""

    pairset: PairSet
    folder: Path
    index_sha256: str


def known_pairsets(store: Store) -> list[str]:
    root = pairs_root(store.root)
    return sorted(p.name for p in root.iterdir() if (p / "pairs.json").is_file()) if root.is_dir() else []


def load_pairset(store: Store, name: str) -> LoadedPairs:
    """The pair set ``STORE/pairs/NAME`` (ManifestError: unknown, unreadable, or no accepted pair).

    Only names of plain folders under ``STORE/pairs/`` are accepted (no path separators).
    """
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ManifestError(f"pair set {name!r}: not a pair set name (a folder name under STORE/pairs/)")
    folder = pairset_dir(store.root, name)
    index = folder / "pairs.json"
    if not index.is_file():
        known = ", ".join(known_pairsets(store)) or "none"
        raise ManifestError(f"pair set {name!r}: no such pair set in {store.root / 'pairs'} (pair sets: {known}; "
                            "build one with 'rainset pairs build')")
    try:
        data = index.read_bytes()
        pairset = read_index(folder)
        same = index.read_bytes() == data  # pairs.json is replaced atomically: a rebuild meanwhile shows here
    except (OSError, ValueError) as exc:
        raise ManifestError(f"pair set {name!r}: cannot read {index}: {exc}") from exc
    if not same:
        raise ManifestError(f"pair set {name!r}: {index} changed while it was read (a build running?); try again")
    if not pairset.accepted():
        raise ManifestError(f"pair set {name!r}: none of its {len(pairset.pairs)} pairs is accepted "
                            f"(quality threshold {pairset.threshold}); nothing to export")
    return LoadedPairs(pairset, folder, hashlib.sha256(data).hexdigest())


def member_path(store: Store, name: str, pair: Pair, member: str) -> str:
    """The store-relative POSIX path of one of a pair's files (ManifestError when it leaves the pair set)."""
    rel = PurePosixPath(getattr(pair, member))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ManifestError(f"pair set {name!r}: pair {pair.pair_id}: {member} file {str(rel)!r} is not a "
                            "path inside the pair set folder")
    return str(PurePosixPath("pairs", name, rel))


def _frames_by_video(session: Session, videos: set[str]) -> dict[str, list[tuple[str, str, int | None]]]:
    """video sha256 → [(capture id, status, frame index)] of its kept frames, earliest first."""
    out: dict[str, list[tuple[str, str, int | None]]] = {}
    rows = session.connection().execute(select(Capture.id, Capture.video_sha256, Capture.status, Capture.frame_index)
                                        .where(Capture.video_sha256.in_(sorted(videos))))
    for cid, video, status, index in rows:
        out.setdefault(video, []).append((cid, status, index))
    for frames in out.values():
        frames.sort(key=lambda f: (f[2] if f[2] is not None else -1, f[0]))
    return out


@dataclass(frozen=True)
class PairRows:
    """The rows of the accepted pairs, the capture each borrowed its row from, and the pairs left out."""

    rows: list[dict[str, Any]]
    base_of: dict[str, str]  # pair id -> capture id of the row it was made from
    removed: tuple[str, ...]  # pair ids left out: their capture (or whole video) was removed


def pair_rows(session: Session, store: Store, loaded: LoadedPairs, capture_rows: dict[str, dict[str, Any]]
              ) -> PairRows:
    """Rows of the accepted pairs of ``loaded`` (``capture_rows``: the active captures' rows by sample id).

    Raises:
        ManifestError: a pair's video is not in the catalog, or one of its files is missing.
    """
    name = loaded.folder.name  # the folder is the set's name on disk
    accepted = loaded.pairset.accepted()
    frames = _frames_by_video(session, {p.video_sha256 for p in accepted})
    rows: list[dict[str, Any]] = []
    base_of: dict[str, str] = {}
    removed: list[str] = []
    seen: set[str] = set()
    for pair in accepted:
        if pair.pair_id in seen:
            raise ManifestError(f"pair set {name!r}: pair id {pair.pair_id} is listed twice")
        seen.add(pair.pair_id)
        kept = frames.get(pair.video_sha256)
        if not kept:
            raise ManifestError(f"pair set {name!r}: pair {pair.pair_id}: its video {pair.video_sha256[:12]}… has no "
                                f"frame in this store's catalog (ingest the video into this store first)")
        own = str(pair.capture_id) if pair.capture_id is not None else None
        if own is None:  # a kept frame listed without its capture id: still its own row
            own = next((cid for cid, _, index in kept if index == pair.frame_index), None)
        if own is not None and own not in {cid for cid, _, _ in kept}:
            raise ManifestError(f"pair set {name!r}: pair {pair.pair_id}: capture {own} is not a frame of video "
                                f"{pair.video_sha256[:12]}… in this store's catalog")
        if own is not None:
            base = capture_rows.get(own)  # None: removed
        else:
            base = next((capture_rows[cid] for cid, status, _ in kept if cid in capture_rows), None)
        if base is None:
            removed.append(pair.pair_id)
            continue
        paths = {column: member_path(store, name, pair, member) for member, column in PAIR_MEMBERS.items()}
        for column, rel in paths.items():
            if not (store.root / rel).is_file():
                raise ManifestError(f"pair set {name!r}: pair {pair.pair_id}: {column.removesuffix('_path')} file "
                                    f"{rel} is missing")
        same_frame = base["frame_index"] == pair.frame_index
        row = {**base, **({} if same_frame else FRAME_OWN), **paths,
               "sample_id": pair.pair_id, "frame_index": int(pair.frame_index), "frame_pts": pair.frame_pts,
               "pair_quality": float(pair.quality), "pairs_name": name}
        rows.append(row)
        base_of[pair.pair_id] = base["sample_id"]
    return PairRows(rows, base_of, tuple(removed))
