"""User corrections of the grouping, stored in ``dedupe_corrections`` and applied on every run.

Kinds: ``not-duplicate`` (two captures never share a cluster), ``split`` (captures leave the
cluster they are in: they may not share a cluster with its other members), ``merge`` (two
captures' clusters become one, even past the chaining guard), ``representative`` (this capture
represents whatever cluster it is in). Later corrections win over earlier ones on the same pair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.dedupe_tables import DedupeCorrection
from rainset.catalog.models import Capture, Group, GroupMember
from rainset.errors import DedupeError

KINDS = ("not-duplicate", "split", "merge", "representative")


@dataclass(frozen=True)
class Correction:
    """One stored correction."""

    id: int
    kind: str
    captures: tuple[str, ...]
    others: tuple[str, ...]
    created_at: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Constraints:
    """The corrections folded into constraints for clustering."""

    cannot: set[frozenset[str]] = field(default_factory=set)
    must: dict[frozenset[str], tuple[str, str]] = field(default_factory=dict)
    representatives: list[str] = field(default_factory=list)  # oldest first; the newest in a cluster wins


def _row(c: DedupeCorrection) -> Correction:
    return Correction(c.id, c.kind, tuple(c.captures), tuple(c.others or ()), c.created_at.isoformat())


def list_corrections(session: Session) -> list[Correction]:
    """Every correction, oldest first."""
    return [_row(c) for c in session.scalars(select(DedupeCorrection).order_by(DedupeCorrection.id))]


def constraints(session: Session) -> Constraints:
    """Fold the stored corrections, in order, into cannot-links, must-links and representative picks."""
    out = Constraints()
    for c in session.scalars(select(DedupeCorrection).order_by(DedupeCorrection.id)):
        pairs: list[tuple[str, str]] = []
        if c.kind in ("not-duplicate", "merge"):
            pairs = [(c.captures[0], c.captures[1])]
        elif c.kind == "split":
            pairs = [(a, o) for a in c.captures for o in (c.others or ())]
        for a, b in pairs:
            key = frozenset((a, b))
            if c.kind == "merge":
                out.cannot.discard(key)
                out.must[key] = (a, b)
            else:
                out.must.pop(key, None)
                out.cannot.add(key)
        if c.kind == "representative":
            out.representatives.append(c.captures[0])
    return out


def _check_captures(session: Session, ids: list[str]) -> None:
    known = set(session.scalars(select(Capture.id).where(Capture.id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise DedupeError(f"unknown capture id(s): {', '.join(missing)}")


def _cluster_of(session: Session, capture_id: str) -> list[str]:
    """Members of the cluster group that holds ``capture_id`` now (empty when none)."""
    gid = session.scalar(select(GroupMember.group_id).join(Group, Group.id == GroupMember.group_id)
                         .where(GroupMember.capture_id == capture_id, Group.kind == "cluster"))
    if gid is None:
        return []
    return list(session.scalars(select(GroupMember.capture_id).where(GroupMember.group_id == gid)))


def add_correction(session: Session, kind: str, captures: list[str]) -> Correction:
    """Validate and store a correction (the caller regroups).

    Args:
        session: an open catalog session.
        kind: one of :data:`KINDS`.
        captures: two ids for not-duplicate and merge; one or more for split; one for representative.

    Raises:
        DedupeError: unknown kind, wrong number of ids, unknown ids, or a split/representative of
            a capture that is in no cluster.
    """
    if kind not in KINDS:
        raise DedupeError(f"unknown correction {kind!r}; expected one of {', '.join(KINDS)}")
    wanted = {"not-duplicate": 2, "merge": 2, "representative": 1}.get(kind)
    if (wanted is not None and len(captures) != wanted) or not captures:
        raise DedupeError(f"{kind} takes {wanted or 'one or more'} capture id(s), got {len(captures)}")
    if len(set(captures)) != len(captures):
        raise DedupeError(f"{kind}: the same capture id is given twice")
    _check_captures(session, captures)
    others: list[str] = []
    if kind in ("split", "representative"):
        for cid in captures:
            members = _cluster_of(session, cid)
            if not members:
                raise DedupeError(f"{kind}: capture {cid} is in no duplicate cluster (run 'rainset dedupe' first?)")
            others += [m for m in members if m not in captures and m not in others]
    row = DedupeCorrection(kind=kind, captures=list(captures), others=others if kind == "split" else [], info={})
    session.add(row)
    session.flush()
    return _row(row)
