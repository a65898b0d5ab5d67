"""Rebuild the ``groups``/``group_members`` tables from stored pairs, bursts and corrections.

Cheap (no image is read): ``rainset dedupe`` calls it after each search, and every correction
command calls it so that the groups reflect the correction at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from rainset.capture_paths import representative_paths
from rainset.catalog.dedupe_tables import DedupePair
from rainset.catalog.models import Capture, File, Group, GroupMember, Hash
from rainset.dedupe.bursts import Shot, find_bursts
from rainset.dedupe.clusters import UnionFind, build_clusters
from rainset.dedupe.corrections import constraints
from rainset.dedupe.exposure import ExposureTime, different_exposures, exposure_time
from rainset.dedupe.representative import Candidate, choose_representative
from rainset.errors import DedupeError

KINDS = ("cluster", "burst", "scene")


@dataclass(frozen=True)
class GroupStats:
    """What the grouping produced."""

    clusters: int
    clustered_captures: int
    bursts: int
    scenes: int
    split_components: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Cap:
    id: str
    sha: str
    is_raw: bool
    pixels: int
    phash: int
    pixel_hash: str
    serial: str | None
    capture_time: str | None
    subsec: str | None
    video: str | None = None  # video frames: the video's sha256
    pts: float | None = None  # and the frame's presentation time


def group_key(kind: str, members: list[str]) -> str:
    """The stable id of a group: its kind and its smallest member capture id."""
    return f"{kind}-{min(members)}"


def load_captures(session: Session) -> dict[str, _Cap]:
    """Active captures with the hashes of their representative file."""
    rows = session.execute(
        select(Capture.id, Capture.representative_sha256, Capture.format, Capture.width, Capture.height,
               Hash.phash, Hash.pixel_hash, Capture.serial, Capture.capture_time, Capture.subsec,
               Capture.video_sha256, Capture.frame_pts)
        .join(Hash, Hash.sha256 == Capture.representative_sha256).where(Capture.status == "active"))
    return {r[0]: _Cap(r[0], r[1], r[2] == "raw", int(r[3]) * int(r[4]), int(r[5], 16), r[6], r[7], r[8], r[9],
                       r[10], r[11]) for r in rows}


def video_families(caps: dict[str, _Cap]) -> dict[str, list[str]]:
    """Video sha256 → its frame captures (sorted ids), for videos with two or more kept frames."""
    by_video: dict[str, list[str]] = defaultdict(list)
    for c in caps.values():
        if c.video:
            by_video[c.video].append(c.id)
    return {v: sorted(ids) for v, ids in by_video.items() if len(ids) > 1}


def exact_groups(caps: dict[str, _Cap]) -> list[list[str]]:
    """Captures whose decoded pixels hash alike (same pixels, another container), ≥ 2 each."""
    by_pixels: dict[str, list[str]] = defaultdict(list)
    for c in caps.values():
        by_pixels[c.pixel_hash].append(c.id)
    return [sorted(v) for v in by_pixels.values() if len(v) > 1]


def exposure_times(caps: dict[str, _Cap]) -> dict[str, ExposureTime]:
    """The exposure time of every capture that has one (see :mod:`rainset.dedupe.exposure`)."""
    out = {}
    for c in caps.values():
        t = exposure_time(c.capture_time, c.subsec, c.video, c.pts)
        if t is not None:
            out[c.id] = t
    return out


def exact_edges(groups: list[list[str]], times: dict[str, ExposureTime]) -> set[frozenset[str]]:
    """Edges linking the members of each exact group (same decoded pixels), never across exposures.

    A member without a time links to the group's first member; a timed member links to the first
    earlier member of the same exposure, else to the first earlier member without a time, else to
    none: same pixels at two capture times are two exposures (a static scene shot twice), which
    share a scene group only.
    """
    out: set[frozenset[str]] = set()
    for g in groups:
        untimed: str | None = None
        by_second: dict[str, list[str]] = {}  # capture second -> earlier timed members in it
        for m in g:
            t = times.get(m)
            if t is None:
                partner = g[0]
                untimed = untimed or m
            else:
                same = by_second.setdefault(t.second, [])
                partner = next((x for x in same if not different_exposures(times[x], t)), untimed)
                same.append(m)
            if partner is not None and partner != m:
                out.add(frozenset((partner, m)))
    return out


def _sharpness(session: Session, shas: set[str]) -> dict[str, float]:
    rows = session.execute(select(File.sha256, File.sharpness).where(File.sha256.in_(shas)))
    return {sha: float(s or 0.0) for sha, s in rows}


class _Writer:
    """Collects groups and members, then bulk-inserts them (explicit ids: no flush per group)."""

    def __init__(self, first_id: int) -> None:
        self.next_id = first_id
        self.groups: list[dict] = []
        self.members: list[dict] = []

    def add(self, kind: str, members: list[str], relations: dict[str, str], rep: str | None, info: dict) -> None:
        gid = self.next_id
        self.next_id += 1
        self.groups.append({"id": gid, "kind": kind, "info": {"key": group_key(kind, members), "size": len(members),
                                                                **info}})
        self.members += [{"group_id": gid, "capture_id": m, "relation": relations[m], "is_representative": m == rep}
                         for m in members]

    def write(self, session: Session) -> None:
        for lo in range(0, len(self.groups), 5000):
            session.execute(insert(Group), self.groups[lo:lo + 5000])
        for lo in range(0, len(self.members), 5000):
            session.execute(insert(GroupMember), self.members[lo:lo + 5000])


def regroup(session: Session, threshold: int, burst_seconds: float) -> GroupStats:
    """Recompute clusters, bursts and scene groups and replace them in the catalog."""
    caps = load_captures(session)
    cons = constraints(session)
    exact = exact_groups(caps)
    times = exposure_times(caps)
    exact_pairs = exact_edges(exact, times)
    exact_all = {frozenset((a, b)) for g in exact for i, a in enumerate(g) for b in g[i + 1:]}
    pairs = [p for p in session.scalars(select(DedupePair)) if p.a in caps and p.b in caps]
    near = sorted(((p.distance, p.a, p.b) for p in pairs if p.relation in ("exact", "near-duplicate")))
    edges = [tuple(sorted(e)) for e in exact_pairs] + [(a, b) for _, a, b in near]
    must = [p for p in cons.must.values() if p[0] in caps and p[1] in caps]
    result = build_clusters(edges, {k: c.phash for k, c in caps.items()}, threshold,
                            cannot=cons.cannot, exact=exact_all, must=must, exposures=times)
    bursts = find_bursts([Shot(c.id, c.serial, c.capture_time, c.subsec) for c in caps.values()], burst_seconds)
    scene_uf = UnionFind()
    for group in (*result.clusters, *bursts, *exact):  # same pixels: one scene even as two exposures
        for m in group[1:]:
            scene_uf.union(group[0], m)
    for a, b in edges:  # corrections act on clusters only: a pair marked not-duplicate is still one scene
        scene_uf.union(a, b)
    for p in pairs:
        if p.relation == "same-scene":
            scene_uf.union(p.a, p.b)
    for frames in video_families(caps).values():  # a video's frames: one scene, one leakage family
        for m in frames[1:]:
            scene_uf.union(frames[0], m)
    writer = _Writer((session.scalar(select(func.max(Group.id))) or 0) + 1)
    old = select(Group.id).where(Group.kind.in_(KINDS))
    session.execute(delete(GroupMember).where(GroupMember.group_id.in_(old)))
    session.execute(delete(Group).where(Group.kind.in_(KINDS)))
    members_all = {m for c in result.clusters for m in c}
    sharp = _sharpness(session, {caps[m].sha for m in members_all})
    picks = {m: i for i, m in enumerate(cons.representatives)}
    cluster_key: dict[str, str] = {}
    for cluster in result.clusters:
        override = max((m for m in cluster if m in picks), key=lambda m: picks[m], default=None)
        rep = choose_representative([Candidate(m, caps[m].is_raw, caps[m].pixels, sharp.get(caps[m].sha, 0.0))
                                     for m in cluster], override)
        rel = {m: "exact" if caps[m].pixel_hash == caps[rep].pixel_hash else "near-duplicate" for m in cluster}
        rel[rep] = "exact" if all(rel[m] == "exact" for m in cluster if m != rep) else "near-duplicate"
        writer.add("cluster", list(cluster), rel, rep, {"representative": rep, "override": override is not None})
        for m in cluster:
            cluster_key[m] = group_key("cluster", list(cluster))
    for burst in bursts:
        writer.add("burst", burst, {m: "burst" for m in burst}, None, {})
    scenes = scene_uf.groups()
    for scene in scenes:
        keys = sorted({cluster_key[m] for m in scene if m in cluster_key})
        writer.add("scene", scene, {m: "same-scene" for m in scene}, None, {"clusters": keys})
    writer.write(session)
    return GroupStats(len(result.clusters), len(members_all), len(bursts), len(scenes), result.split_components)


@dataclass(frozen=True)
class MemberView:
    """A group member as listed by ``rainset groups``."""

    capture_id: str
    relation: str
    representative: bool
    path: str | None = None  # the capture's representative file (its source path or URI)


@dataclass(frozen=True)
class GroupView:
    """A group as listed by ``rainset groups``."""

    key: str
    kind: str
    members: tuple[MemberView, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def list_groups(session: Session, kind: str | None = None) -> list[GroupView]:
    """The current groups (optionally of one kind), sorted by kind then key."""
    if kind is not None and kind not in KINDS:
        raise DedupeError(f"unknown group kind {kind!r}; expected one of {', '.join(KINDS)}")
    q = select(Group.id, Group.kind, Group.info, GroupMember.capture_id, GroupMember.relation,
               GroupMember.is_representative).join(GroupMember, GroupMember.group_id == Group.id)
    q = q.where(Group.kind == kind) if kind else q.where(Group.kind.in_(KINDS))
    rows = session.execute(q).all()
    paths = representative_paths(session, {r[3] for r in rows})
    by_group: dict[int, tuple[str, str, list[MemberView]]] = {}
    for gid, gkind, info, cid, rel, rep in rows:
        by_group.setdefault(gid, (gkind, (info or {}).get("key", str(gid)), []))[2].append(
            MemberView(cid, rel, bool(rep), paths.get(cid)))
    views = [GroupView(key, k, tuple(sorted(ms, key=lambda m: (not m.representative, m.capture_id))))
             for k, key, ms in by_group.values()]
    return sorted(views, key=lambda g: (KINDS.index(g.kind), g.key))
