"""Labelling queues: each capture is labelled by K annotators, never twice by the same one.

A capture has K slots (the store's ``annotators_per_capture``); an annotator takes one by
inserting an ``assignments`` row. Claiming is safe under concurrency without locks of our own:
the database refuses a second row for the same (capture, slot) or (capture, user), the insert
uses ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL alike, so the surrounding transaction is
never aborted), and a refused claim simply retries on the next free slot or capture.

Which captures are queued, in order of ingest (``created_at``, then id):

- active captures (``captures.status == "active"``) without an adjudication;
- never assigned to, nor labelled by, this annotator;
- with fewer than K annotators already: assigned ones, plus those who labelled it without an
  assignment (bulk labels, imports);
- not a non-representative member of a near-duplicate cluster (``groups.kind == "cluster"``):
  once dedupe has run, one capture per cluster is queued; before, every capture is.

An annotator first gets back what they hold and have not labelled (or have undone), oldest
claim first, so an undo brings the capture back. :func:`peek_next` looks one capture ahead
without claiming it (for prefetching its preview); the claim happens when it is asked for with
:func:`next_capture`, which may then hand out a different capture if someone else filled it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from rainset.catalog.labels_tables import Assignment
from rainset.catalog.models import Capture, Group, GroupMember, Label
from rainset.errors import LabelError
from rainset.labels.users import UserInfo

EXIF_FIELDS = ("make", "model", "lens", "exposure_time", "f_number", "iso", "focal_length", "capture_time")
MAX_CLAIM_TRIES = 50


@dataclass(frozen=True)
class QueueItem:
    """A capture to label, with what the labelling screen shows about it.

    ``position`` is this capture's rank in the annotator's work (labelled so far + 1) and
    ``total`` what the annotator has done plus what is left for them in the store.
    """

    capture_id: str
    preview_sha256: str
    width: int
    height: int
    format: str
    exif: dict[str, Any]
    position: int
    total: int


@dataclass(frozen=True)
class Progress:
    """An annotator's progress: captures labelled, held but not labelled, still claimable."""

    done: int
    assigned: int
    remaining_in_store: int


def _queueable() -> ColumnElement[bool]:
    """Active captures without adjudication that are not hidden by a near-duplicate cluster."""
    hidden = (select(GroupMember.capture_id).join(Group, Group.id == GroupMember.group_id)
              .where(GroupMember.capture_id == Capture.id, Group.kind == "cluster",
                     GroupMember.is_representative.is_(False)).exists())
    adjudicated = exists().where(Label.capture_id == Capture.id, Label.kind == "adjudication")
    return (Capture.status == "active") & ~hidden & ~adjudicated


def _taken(capture_id: Any) -> tuple[Any, Any]:
    """Scalar subqueries: (assignments of the capture, labellers of it without an assignment)."""
    assigned = select(func.count()).select_from(Assignment).where(Assignment.capture_id == capture_id)
    extra = (select(func.count(func.distinct(Label.user_id)))
             .where(Label.capture_id == capture_id, Label.kind == "label",
                    ~exists().where(Assignment.capture_id == Label.capture_id, Assignment.user_id == Label.user_id)))
    return assigned.scalar_subquery(), extra.scalar_subquery()


def _claimable(user_id: int, k: int) -> Select:
    """Captures this user may claim a slot of, in queue order."""
    assigned, extra = _taken(Capture.id)
    mine = or_(exists().where(Assignment.capture_id == Capture.id, Assignment.user_id == user_id),
               exists().where(Label.capture_id == Capture.id, Label.user_id == user_id))
    return (select(Capture).where(_queueable(), ~mine, assigned + extra < k)
            .order_by(Capture.created_at, Capture.id))


def _pending(user_id: int) -> Select:
    """Captures assigned to this user that they have not labelled (or whose label they undid), oldest claim first."""
    last = (select(Label.capture_id, func.max(Label.id).label("last_id"))
            .where(Label.user_id == user_id, Label.kind.in_(("label", "undo")))
            .group_by(Label.capture_id).subquery())
    latest = aliased(Label)
    return (select(Capture).join(Assignment, Assignment.capture_id == Capture.id)
            .outerjoin(last, last.c.capture_id == Capture.id).outerjoin(latest, latest.id == last.c.last_id)
            .where(Assignment.user_id == user_id, or_(last.c.last_id.is_(None), latest.kind == "undo"),
                   _queueable())
            .order_by(Assignment.id))


def _done(session: Session, user_id: int) -> int:
    """Captures holding an effective label of this user."""
    last = (select(func.max(Label.id).label("last_id"))
            .where(Label.user_id == user_id, Label.kind.in_(("label", "undo")))
            .group_by(Label.capture_id).subquery())
    return session.scalar(select(func.count()).select_from(Label).join(last, Label.id == last.c.last_id)
                          .where(Label.kind == "label")) or 0


def _count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _insert_ignoring_conflicts(session: Session, values: dict[str, Any]) -> bool:
    """Insert an assignment unless a unique constraint refuses it; True when inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - make_engine accepts only these two
        raise LabelError(f"queues need SQLite or PostgreSQL, not {dialect}")
    result = session.execute(insert(Assignment).values(**values).on_conflict_do_nothing())
    return result.rowcount == 1


def _try_claim(session: Session, capture_id: str, user_id: int, k: int) -> bool:
    """Take the lowest free slot of a capture; False when it filled up meanwhile."""
    used = set(session.scalars(select(Assignment.slot).where(Assignment.capture_id == capture_id)))
    _, extra = _taken(capture_id)
    capacity = k - (session.scalar(select(extra)) or 0)
    free = [s for s in range(capacity) if s not in used]
    if not free:
        return False
    return _insert_ignoring_conflicts(session, {"capture_id": capture_id, "slot": free[0], "user_id": user_id})


def _item(session: Session, capture: Capture, user_id: int, k: int, position_offset: int = 0) -> QueueItem:
    done = _done(session, user_id)
    left = _count(session, _pending(user_id)) + _count(session, _claimable(user_id, k))
    return QueueItem(capture_id=capture.id, preview_sha256=capture.representative_sha256, width=capture.width,
                     height=capture.height, format=capture.format,
                     exif={f: getattr(capture, f) for f in EXIF_FIELDS},
                     position=done + 1 + position_offset, total=done + left)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise LabelError(f"annotators per capture must be a positive integer, got {k!r}")


def next_capture(session: Session, user: UserInfo, *, k: int) -> QueueItem | None:
    """The capture ``user`` should label now, claiming a queue slot for it if needed.

    Returns the oldest capture the user holds without a label; else claims a slot on the first
    queued capture (see the module docstring); ``None`` when nothing is left for this user.

    Raises:
        LabelError: ``k`` is not positive, or the claim kept losing races (retry later).
    """
    _check_k(k)
    for _ in range(MAX_CLAIM_TRIES):
        held = session.scalars(_pending(user.id).limit(1)).first()
        if held is not None:
            return _item(session, held, user.id, k)
        candidate = session.scalars(_claimable(user.id, k).limit(1)).first()
        if candidate is None:
            return None
        if _try_claim(session, candidate.id, user.id, k):
            return _item(session, candidate, user.id, k)
    raise LabelError(f"could not claim a capture for {user.name!r} after {MAX_CLAIM_TRIES} tries; try again")


def peek_next(session: Session, user: UserInfo, *, k: int, after: str | None) -> QueueItem | None:
    """The capture ``user`` will most likely get after ``after``, without claiming it (for prefetching).

    Someone else may fill it before the user asks for it; :func:`next_capture` then moves on.
    """
    _check_k(k)
    for query in (_pending(user.id), _claimable(user.id, k)):
        if after is not None:
            query = query.where(Capture.id != after)
        capture = session.scalars(query.limit(1)).first()
        if capture is not None:
            return _item(session, capture, user.id, k, position_offset=1 if after is not None else 0)
    return None


def progress(session: Session, user: UserInfo, *, k: int) -> Progress:
    """How far ``user`` is: captures labelled, held but unlabelled, and still claimable."""
    _check_k(k)
    return Progress(done=_done(session, user.id), assigned=_count(session, _pending(user.id)),
                    remaining_in_store=_count(session, _claimable(user.id, k)))

