"""The galleries of ``rainset report``: the largest duplicate clusters, the largest bursts, and the
captures annotators disagree on.

They are read from the catalog, not from the version's rows: a version leaves out the captures
without a consensus (the disputed ones) unless exported with ``--include-unlabelled``, and a
cluster's other members may be filtered out, yet those are exactly what a curator has to look at.
Each tile says whether the capture is in the version (and in which split) or left out.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Capture, File, Group, GroupMember
from rainset.labels.consensus import current_labels
from rainset.manifests.report_parts import thumbnails
from rainset.store import Store

MAX_GROUPS = 6  # groups shown per gallery, largest first
MAX_MEMBERS = 8  # tiles per group
MAX_DISPUTED = 24


@dataclass(frozen=True)
class Tile:
    capture_id: str
    sha256: str
    file_name: str
    caption: str


@dataclass(frozen=True)
class Gallery:
    """One gallery's HTML and how many tiles it shows."""

    html: str
    tiles: int


def _captures(session, ids: set[str]) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    """capture id → (representative sha256, its file name) of the active captures among ``ids``."""
    out: dict[str, tuple[str, str]] = {}
    if not ids:
        return out
    wanted = sorted(ids)
    for lo in range(0, len(wanted), 500):
        part = wanted[lo:lo + 500]
        rows = session.execute(select(Capture.id, Capture.representative_sha256, File.uri)
                               .join(File, (File.capture_id == Capture.id) & (File.sha256 == Capture.representative_sha256))
                               .where(Capture.id.in_(part), Capture.status == "active").order_by(File.id))
        for cid, sha, uri in rows:
            out.setdefault(cid, (sha, os.path.basename(uri.rstrip("/"))))
    return out


def _where(cid: str, splits: dict[str, str]) -> str:
    return splits[cid] if cid in splits else "not in version"


def _tile_html(tile: Tile, uri: str | None) -> str:
    img = f'<img alt="{html.escape(tile.capture_id)}" src="{uri}">' if uri else "<div>(no image)</div>"
    return (f'<div class="tile" data-capture="{html.escape(tile.capture_id)}">{img}'
            f'<b>{html.escape(tile.file_name)}</b><br>{html.escape(tile.caption)}</div>')


def _groups(session, kind: str) -> list[tuple[str, list[str]]]:  # noqa: ANN001
    """(key, member ids) of every group of ``kind``, representative first."""
    groups: dict[int, tuple[str, list[tuple[bool, str]]]] = {}
    rows = session.execute(select(Group.id, Group.info, GroupMember.capture_id, GroupMember.is_representative)
                           .join(GroupMember, GroupMember.group_id == Group.id).where(Group.kind == kind)
                           .order_by(Group.id, GroupMember.capture_id))
    for gid, info, cid, rep in rows:
        key = str((info or {}).get("key") or f"{kind}-{gid}")
        groups.setdefault(gid, (key, []))[1].append((not rep, cid))
    return [(key, [cid for _, cid in sorted(members)]) for key, members in groups.values()]


@dataclass(frozen=True)
class Disputed:
    capture_id: str
    agreement: float | None
    labels: tuple[tuple[str, str], ...]  # (user, rain type)


def _disputed(session, rows: list[dict]) -> list[Disputed]:  # noqa: ANN001
    """Captures whose annotators disagree: the version's from its rows, the others' from the catalog."""
    out = [Disputed(r["sample_id"], r.get("agreement"),
                    tuple((lab["user"], lab["rain_type"]) for lab in r.get("labels") or []))
           for r in rows if r.get("needs_review") or (r.get("agreement") is not None and r["agreement"] < 1)]
    in_version = {r["sample_id"] for r in rows}
    active = session.scalars(select(Capture.id).where(Capture.status == "active"))
    others = [cid for cid in active if cid not in in_version]
    for lab in current_labels(session, others).values() if others else ():
        if lab.needs_review or (lab.agreement is not None and lab.agreement < 1):
            out.append(Disputed(lab.capture_id, lab.agreement, tuple((r.user, r.rain_type) for r in lab.labels)))
    return out


def report_galleries(store: Store, rows: list[dict]) -> tuple[Gallery, Gallery, Gallery]:
    """The cluster, burst and disagreement galleries of a version whose rows are ``rows``."""
    splits = {r["sample_id"]: r["split"] for r in rows}
    with catalog_session(store.db_url) as s:
        kinds = {kind: _groups(s, kind) for kind in ("cluster", "burst")}
        disputed = _disputed(s, rows)
        ids = {cid for groups in kinds.values() for _, members in groups for cid in members}
        ids |= {d.capture_id for d in disputed}
        captures = _captures(s, ids)
    galleries: list[Gallery] = []
    tiles: list[Tile] = []
    shown: dict[str, list[tuple[str, int, list[Tile]]]] = {}
    for kind, groups in kinds.items():
        groups = [(key, [m for m in members if m in captures]) for key, members in groups]
        top = sorted((g for g in groups if len(g[1]) > 1), key=lambda g: (-len(g[1]), g[0]))[:MAX_GROUPS]
        shown[kind] = []
        for key, members in top:
            group_tiles = [Tile(m, captures[m][0], captures[m][1], f"{m} · {_where(m, splits)}")
                           for m in members[:MAX_MEMBERS]]
            shown[kind].append((key, len(members), group_tiles))
            tiles += group_tiles
    disputed = sorted((d for d in disputed if d.capture_id in captures),
                      key=lambda d: (d.agreement if d.agreement is not None else 0, d.capture_id))[:MAX_DISPUTED]
    disputed_tiles = [Tile(d.capture_id, captures[d.capture_id][0], captures[d.capture_id][1],
                           f"{_where(d.capture_id, splits)} · "
                           + " / ".join(f"{user}: {rain_type}" for user, rain_type in d.labels)) for d in disputed]
    thumbs = thumbnails(store, [t.sha256 for t in tiles + disputed_tiles])
    for kind, empty in (("cluster", "no duplicate clusters"), ("burst", "no bursts")):
        parts = [f'<div class="cluster"><h3>{html.escape(key)} ({n} samples)</h3><div class="gallery">'
                 + "".join(_tile_html(t, thumbs.get(t.sha256)) for t in group_tiles) + "</div></div>"
                 for key, n, group_tiles in shown[kind]]
        galleries.append(Gallery("".join(parts) or f"<p>{empty}</p>", sum(len(g[2]) for g in shown[kind])))
    dis = "".join(_tile_html(t, thumbs.get(t.sha256)) for t in disputed_tiles)
    galleries.append(Gallery(f'<div class="gallery">{dis}</div>' if dis else "<p>no disagreements</p>",
                             len(disputed_tiles)))
    return galleries[0], galleries[1], galleries[2]
