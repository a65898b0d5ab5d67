"""Cluster review: the groups the pages list, one group's members side by side, and the corrections.

The corrections are the library's (:func:`rainset.dedupe.corrections.add_correction`, then
:func:`rainset.dedupe.groups.regroup`, as ``rainset groups not-duplicate|split|representative``
does): the web app writes the same rows and the groups reflect them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rainset.capture_paths import representative_paths
from rainset.catalog.dedupe_tables import DedupePair
from rainset.catalog.models import Capture, Group, GroupMember, Hash
from rainset.dedupe.corrections import Correction, add_correction
from rainset.dedupe.groups import KINDS, GroupStats, regroup
from rainset.errors import InvalidInputError, NotFoundError
from rainset.store import Store

GROUP_KEY = re.compile(r"(cluster|burst|scene)-(c[0-9a-f]{24})")
ACTIONS = ("not-duplicate", "split", "representative")
MAX_LIMIT = 200
PEEK = 4  # member ids shown as thumbnails per group in the list


@dataclass(frozen=True)
class GroupSummary:
    """A group in the list: its key, kind, size, representative (clusters) and a few members."""

    key: str
    kind: str
    size: int
    representative: str | None
    representative_path: str | None
    members: tuple[str, ...]
    override: bool = False


@dataclass(frozen=True)
class GroupPage:
    """One page of groups of one kind, largest first, and how many groups of each kind there are."""

    kind: str
    total: int
    limit: int
    offset: int
    items: list[GroupSummary]
    counts: dict[str, int]


@dataclass(frozen=True)
class MemberDetail:
    """A member beside the others: its file, size, relation, and how close it is to the reference.

    ``distance`` is the pHash Hamming distance to the reference member (the representative of a
    cluster, else the smallest id); ``pair_relation`` and ``pair_score`` are the confirmed relation
    and difference score of the stored pair (member, reference), when the search compared them
    (same-pixel copies need no comparison: none).
    """

    capture_id: str
    relation: str
    representative: bool
    path: str | None
    file_name: str | None
    width: int
    height: int
    format: str
    distance: int
    pair_relation: str | None
    pair_score: float | None


@dataclass(frozen=True)
class PairView:
    """A stored candidate pair between two members, with its confirmed relation and score."""

    a: str
    b: str
    distance: int
    relation: str
    score: float


@dataclass(frozen=True)
class GroupDetail:
    """Twin of the cluster page: the members side by side and the pairs among them."""

    key: str
    kind: str
    reference: str
    members: tuple[MemberDetail, ...]
    pairs: tuple[PairView, ...]
    correctable: bool  # corrections act on clusters only


@dataclass(frozen=True)
class CorrectionDone:
    """A stored correction, the regrouping it caused, and the cluster to show now (None: dissolved)."""

    correction: Correction
    groups: GroupStats
    group: str | None


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInputError(f"unknown group kind {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def group_page(session: Session, kind: str = "cluster", limit: int = 24, offset: int = 0) -> GroupPage:
    """Groups of ``kind``, largest first then by key, ``limit`` from ``offset``.

    Raises:
        InvalidInputError: an unknown kind, a limit outside 1 to :data:`MAX_LIMIT`, a negative offset.
    """
    check_kind(kind)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset}")
    counts = {k: 0 for k in KINDS}
    counts.update(dict(session.execute(select(Group.kind, func.count()).where(Group.kind.in_(KINDS))
                                       .group_by(Group.kind)).all()))
    # largest first, then by key (the kind and the smallest member id): all in SQL, no JSON read
    size, first = func.count(GroupMember.capture_id), func.min(GroupMember.capture_id)
    page = session.execute(select(Group.id, size, first).join(GroupMember, GroupMember.group_id == Group.id)
                           .where(Group.kind == kind).group_by(Group.id).order_by(size.desc(), first)
                           .limit(limit).offset(offset)).all()
    gids = [r[0] for r in page]
    infos = dict(session.execute(select(Group.id, Group.info).where(Group.id.in_(gids))).all()) if gids else {}
    members: dict[int, list[str]] = {gid: [] for gid in gids}
    if gids:
        for gid, cid in session.execute(select(GroupMember.group_id, GroupMember.capture_id)
                                        .where(GroupMember.group_id.in_(gids))):
            members[gid].append(cid)
    reps = [r for r in ((infos.get(g) or {}).get("representative") for g in gids) if r]
    paths = representative_paths(session, reps) if reps else {}
    items = []
    for gid, n, smallest in page:
        info = infos.get(gid) or {}
        rep = info.get("representative")
        shown = sorted(members[gid], key=lambda m: (m != rep, m))[:PEEK]
        items.append(GroupSummary(info.get("key", f"{kind}-{smallest}"), kind, int(n), rep,
                                  paths.get(rep) if rep else None, tuple(shown), bool(info.get("override"))))
    return GroupPage(kind, counts[kind], limit, offset, items, counts)


def _find(session: Session, key: str) -> tuple[int, str]:
    """The id and kind of the group ``key`` (404 when no such group exists now)."""
    m = GROUP_KEY.fullmatch(key or "")
    if m is None:
        raise NotFoundError(f"no group {key!r}: a group key is KIND-CAPTURE_ID (cluster, burst or scene)")
    kind, first = m.groups()
    for gid, info in session.execute(select(Group.id, Group.info).join(GroupMember, GroupMember.group_id == Group.id)
                                     .where(Group.kind == kind, GroupMember.capture_id == first)):
        if (info or {}).get("key") == key:
            return gid, kind
    raise NotFoundError(f"no group {key}: it does not exist now (a correction or a dedupe run may have changed it)")


def group_detail(session: Session, key: str) -> GroupDetail:
    """The members of group ``key`` with their files, sizes, relations and closeness.

    Raises:
        NotFoundError: no group with this key now.
    """
    gid, kind = _find(session, key)
    rows = session.execute(
        select(GroupMember.capture_id, GroupMember.relation, GroupMember.is_representative, Capture.width,
               Capture.height, Capture.format, Hash.phash)
        .join(Capture, Capture.id == GroupMember.capture_id)
        .join(Hash, Hash.sha256 == Capture.representative_sha256)
        .where(GroupMember.group_id == gid)).all()
    ids = [r[0] for r in rows]
    reference = next((r[0] for r in rows if r[2]), min(ids))
    ref_hash = int(next(r[6] for r in rows if r[0] == reference), 16)
    found = session.execute(select(DedupePair).where(DedupePair.a.in_(ids), DedupePair.b.in_(ids))).scalars().all()
    pairs = tuple(sorted((PairView(p.a, p.b, p.distance, p.relation, p.score) for p in found),
                         key=lambda p: (p.a, p.b)))
    with_ref = {(p.b if p.a == reference else p.a): p for p in pairs if reference in (p.a, p.b)}
    paths = representative_paths(session, ids)
    members = []
    for cid, relation, rep, width, height, fmt, phash in rows:
        path = paths.get(cid)
        pair = with_ref.get(cid)
        members.append(MemberDetail(cid, relation, bool(rep), path, path.rsplit("/", 1)[-1] if path else None,
                                    int(width), int(height), fmt, (int(phash, 16) ^ ref_hash).bit_count(),
                                    pair.relation if pair else None, pair.score if pair else None))
    members.sort(key=lambda m: (m.capture_id != reference, m.distance, m.capture_id))
    return GroupDetail(key, kind, reference, tuple(members), pairs, kind == "cluster")


def _cluster_key(session: Session, capture_id: str) -> str | None:
    info = session.scalar(select(Group.info).join(GroupMember, GroupMember.group_id == Group.id)
                          .where(Group.kind == "cluster", GroupMember.capture_id == capture_id))
    return None if info is None else info.get("key")


def correct_group(session: Session, store: Store, key: str, action: str, captures: list[str]) -> CorrectionDone:
    """Store a correction of cluster ``key`` exactly as ``rainset groups ACTION`` does, then regroup.

    Args:
        session: an open catalog session (the caller commits).
        store: the store (its near-duplicate threshold and burst window drive the regrouping).
        key: the cluster the captures belong to now.
        action: not-duplicate (two members), split (one or more members) or representative (one).
        captures: capture ids, all members of ``key``.

    Raises:
        NotFoundError: no group ``key`` now, or an unknown action.
        InvalidInputError: the group is a burst or scene group, or a capture is not one of its members.
        DedupeError: the library refused the correction (the wrong number of captures, …).
    """
    if action not in ACTIONS:
        raise NotFoundError(f"no correction {action!r}; expected one of {', '.join(ACTIONS)}")
    gid, kind = _find(session, key)
    if kind != "cluster":
        raise InvalidInputError(f"{key} is a {kind} group: corrections act on duplicate clusters only")
    members = set(session.scalars(select(GroupMember.capture_id).where(GroupMember.group_id == gid)))
    outside = [c for c in captures if c not in members]
    if outside:
        raise InvalidInputError(f"not members of {key}: {', '.join(outside)}")
    correction = add_correction(session, action, list(captures))
    stats = regroup(session, int(store.settings["near_duplicate_threshold"]), float(store.settings["burst_seconds"]))
    rest = sorted(members - set(captures))
    survivor = captures[0] if action == "representative" or not rest else rest[0]
    return CorrectionDone(correction, stats, _cluster_key(session, survivor))
