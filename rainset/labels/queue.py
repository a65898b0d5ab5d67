"""Labelling queues: each capture is labelled by K annotators, never twice by the same one.

A capture has K slots (the store's ``annotators_per_capture``); an annotator takes one by
inserting an ``assignments`` row. Claiming is safe under concurrency without locks of our own:
the database refuses a second row for the same (capture, slot) or (capture, user), the insert
uses ``ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL alike, so the surrounding transaction is
never aborted), and a refused claim simply retries on the next free slot or capture.

Which captures are queued, in order of capture id (ids derive from content, so this is a stable
order that mixes sources and cameras, and the database walks it on the primary key):

- active captures (``captures.status == "active"``) without an adjudication;
- never assigned to, nor labelled by, this annotator;
- with fewer than K labellers already;
- not a non-representative member of a near-duplicate cluster (``groups.kind == "cluster"``):
  once dedupe has run, one capture per cluster is queued; before, every capture is.

Every label row comes with an assignment of its writer (:func:`hold_slot`): labels written
outside the queue (bulk labels, imports, a reviewer labelling directly) take the next slot number,
beyond K if the capture is full, so "labellers of a capture" is one indexed count.

Besides that default order, a queue can be walked in an order of the rain-type suggestions
(``rainset suggest``; :data:`QUEUE_ORDERS`): ``confidence`` hands out the captures whose
suggestion is least sure first (captures without a suggestion come after every suggested one),
``disagreement`` first the captures where an effective label of someone else differs from the
suggestion (then by lowest confidence). The order only chooses which capture is claimed next:
claims are the same inserts as in the default order, so the guarantees above hold for every order.
These orders rank the claimable captures on each claim (a scan of the store, where the default
order walks the primary key and stops at the first free capture): 20–50 ms a claim at 5,000
captures, growing linearly (docs/benchmarks.md, "Suggestions").

An annotator first gets back what they hold and have not labelled (or have undone), oldest
claim first, so an undo brings the capture back. :func:`peek_next` looks one capture ahead
without claiming it (for prefetching its preview); the claim happens when it is asked for with
:func:`next_capture`, which may then hand out a different capture if someone else filled it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, and_, bindparam, case, func, or_, select, union
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from rainset.catalog.labels_tables import Assignment
from rainset.catalog.models import Capture, Group, GroupMember, Label, User, utcnow
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import InvalidInputError, LabelError, NotFoundError
from rainset.labels.users import UserInfo
from rainset.suggestions import SuggestionView, current_suggestions

EXIF_FIELDS = ("make", "model", "lens", "exposure_time", "f_number", "iso", "focal_length", "capture_time")
MAX_CLAIM_TRIES = 50
QUEUE_ORDERS = ("default", "confidence", "disagreement")


@dataclass(frozen=True)
class QueueItem:
    """A capture to label, with what the labelling screen shows about it.

    ``position`` is this capture's rank in the annotator's work (labelled so far + 1) and
    ``total`` what the annotator has done plus what is left for them in the store; ``total`` is
    recounted at most every ``TOTAL_TTL_S`` seconds per user (others' work changes it slowly),
    :func:`progress` always counts exactly. ``suggestion`` is the capture's current rain-type
    suggestion (None without one): shown to the annotator, never a label.
    """

    capture_id: str
    preview_sha256: str
    width: int
    height: int
    format: str
    exif: dict[str, Any]
    position: int
    total: int
    suggestion: SuggestionView | None = None


@dataclass(frozen=True)
class Progress:
    """An annotator's progress: captures labelled, held but not labelled, still claimable."""

    done: int
    assigned: int
    remaining_in_store: int


def _queueable(lists: bool = False) -> ColumnElement[bool]:
    """Active captures without adjudication that are not hidden by a near-duplicate cluster.

    With ``lists``, as ``NOT IN`` lists built once per query instead of correlated ``NOT EXISTS``.
    """
    hidden = (select(GroupMember.capture_id).join(Group, Group.id == GroupMember.group_id)
              .where(Group.kind == "cluster", GroupMember.is_representative.is_(False)))
    adjudicated = select(Label.capture_id).where(Label.kind == "adjudication")
    if lists:
        return (Capture.status == "active") & Capture.id.not_in(hidden) & Capture.id.not_in(adjudicated)
    return ((Capture.status == "active") & ~hidden.where(GroupMember.capture_id == Capture.id).exists()
            & ~adjudicated.where(Label.capture_id == Capture.id).exists())


@cache
def _claimable(sqlite_count: bool = False) -> Select:
    """Captures user ``:uid`` may claim a slot of, with fewer than ``:k`` taken, in queue order.

    Written with correlated ``NOT EXISTS`` and a per-capture count on indexes, so that the plan
    does not depend on table statistics (joins on grouped counts and ``NOT IN`` lists turned
    quadratic on PostgreSQL with stale statistics). ``sqlite_count`` uses those instead, for
    counting on SQLite, whose planner keeps a left join's order and indexes the lists: 15 times
    faster there.
    """
    uid = bindparam("uid", type_=Integer)
    k = bindparam("k", type_=Integer)
    if sqlite_count:
        taken = (select(Assignment.capture_id.label("capture_id"), func.count().label("n"))
                 .group_by(Assignment.capture_id).subquery())
        mine = union(select(Assignment.capture_id).where(Assignment.user_id == uid),
                     select(Label.capture_id).where(Label.user_id == uid))
        return (select(Capture).outerjoin(taken, taken.c.capture_id == Capture.id)
                .where(_queueable(lists=True), Capture.id.not_in(mine), func.coalesce(taken.c.n, 0) < k)
                .order_by(Capture.id))
    assigned = select(Assignment.id).where(Assignment.capture_id == Capture.id, Assignment.user_id == uid)
    labelled = select(Label.id).where(Label.capture_id == Capture.id, Label.user_id == uid)
    count = select(func.count()).select_from(Assignment).where(Assignment.capture_id == Capture.id)
    return (select(Capture).where(_queueable(), ~assigned.exists(), ~labelled.exists(), count.scalar_subquery() < k)
            .order_by(Capture.id))


def _open_claims(for_user: bool) -> Select:
    """Assignments whose holder has no effective label on the capture (never labelled, or undone).

    With ``for_user``, only those of user ``:uid``.
    """
    last = (select(Label.capture_id, Label.user_id, func.max(Label.id).label("last_id"))
            .where(Label.kind.in_(("label", "undo"))).group_by(Label.capture_id, Label.user_id))
    if for_user:
        last = last.where(Label.user_id == bindparam("uid", type_=Integer))
    last = last.subquery()
    latest = aliased(Label)
    query = (select(Assignment)
             .outerjoin(last, and_(last.c.capture_id == Assignment.capture_id, last.c.user_id == Assignment.user_id))
             .outerjoin(latest, latest.id == last.c.last_id)
             .where(or_(last.c.last_id.is_(None), latest.kind == "undo")))
    return query.where(Assignment.user_id == bindparam("uid", type_=Integer)) if for_user else query


@cache
def _pending() -> Select:
    """Captures assigned to user ``:uid`` that they have not labelled (or undid), oldest claim first."""
    return (_open_claims(True).join(Capture, Capture.id == Assignment.capture_id).where(_queueable())
            .with_only_columns(Capture).order_by(Assignment.id))


def _disagrees() -> ColumnElement[bool]:
    """The capture holds an effective label whose rain type differs from its suggestion (joined)."""
    mine, later = aliased(Label), aliased(Label)
    superseded = select(later.id).where(later.capture_id == mine.capture_id, later.user_id == mine.user_id,
                                        later.kind.in_(("label", "undo")), later.id > mine.id)
    return (select(mine.id).where(mine.capture_id == Capture.id, mine.kind == "label",
                                  mine.rain_type != Suggestion.rain_type, ~superseded.exists()).exists())


def _ordered(base: Select, order: str) -> Select:
    """``base`` (captures) in one of :data:`QUEUE_ORDERS`; ties and the default order by capture id."""
    if order == "default":
        return base
    by_confidence = (case((Suggestion.confidence.is_(None), 1), else_=0), Suggestion.confidence)
    keys = by_confidence if order == "confidence" else (case((_disagrees(), 0), else_=1), *by_confidence)
    return (base.outerjoin(Suggestion, Suggestion.capture_id == Capture.id)
            .order_by(None).order_by(*keys, Capture.id))


@cache
def _first(query: str, skip: bool, order: str = "default", dialect: str = "") -> Select:
    """The first capture of ``_pending`` or ``_claimable`` (in ``order``); with ``skip``, other than ``:after``.

    A suggestion order ranks every claimable capture, so on SQLite it uses the list-based form
    of ``_claimable`` (built once per query rather than looked up per capture).
    """
    lists = order != "default" and dialect == "sqlite"
    base = _pending() if query == "pending" else _ordered(_claimable(sqlite_count=lists), order)
    return (base.where(Capture.id != bindparam("after", type_=String)) if skip else base).limit(1)


@cache
def _counter(query: str, dialect: str) -> Select:
    """How many captures ``_pending`` or ``_claimable`` holds."""
    base = _pending() if query == "pending" else _claimable(sqlite_count=dialect == "sqlite")
    return select(func.count()).select_from(base.order_by(None).subquery())


@cache
def _done_query() -> Select:
    """Captures holding an effective label of user ``:uid``."""
    last = (select(func.max(Label.id).label("last_id"))
            .where(Label.user_id == bindparam("uid", type_=Integer), Label.kind.in_(("label", "undo")))
            .group_by(Label.capture_id).subquery())
    return select(func.count()).select_from(Label).join(last, Label.id == last.c.last_id).where(Label.kind == "label")


def _count(session: Session, query: str, user_id: int, k: int) -> int:
    if query == "done":
        return session.scalar(_done_query(), {"uid": user_id}) or 0
    params = {"uid": user_id} if query == "pending" else {"uid": user_id, "k": k}
    return session.scalar(_counter(query, session.get_bind().dialect.name), params) or 0


def _find(session: Session, query: str, user_id: int, k: int, after: str | None = None,
          order: str = "default") -> Capture | None:
    params: dict[str, Any] = {"uid": user_id} if query == "pending" else {"uid": user_id, "k": k}
    if after is not None:
        params["after"] = after
    dialect = session.get_bind().dialect.name if order != "default" else ""
    return session.scalars(_first(query, after is not None, order, dialect), params).first()


def _insert_ignoring_conflicts(session: Session, values: dict[str, Any]) -> bool:
    """Insert an assignment unless a unique constraint refuses it; True when inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert = postgresql_insert
    elif dialect == "sqlite":
        insert = sqlite_insert
    else:  # pragma: no cover - make_engine accepts only these two
        raise LabelError(f"queues need SQLite or PostgreSQL, not {dialect}")
    result = session.execute(insert(Assignment).values(**values).on_conflict_do_nothing())
    return result.rowcount == 1


def _try_claim(session: Session, capture_id: str, user_id: int, k: int) -> bool:
    """Take the lowest free slot below ``k`` of a capture; False when it filled up meanwhile."""
    used = set(session.scalars(select(Assignment.slot).where(Assignment.capture_id == capture_id)))
    free = [slot for slot in range(k) if slot not in used]
    if len(used) >= k or not free:
        return False
    return _insert_ignoring_conflicts(session, {"capture_id": capture_id, "slot": free[0], "user_id": user_id})


def hold_slot(session: Session, capture_id: str, user_id: int) -> None:
    """Make sure ``user_id`` holds a slot of the capture (before writing a label outside the queue).

    Takes the next slot number after the highest one, even beyond K: such labels (bulk, import,
    a reviewer's own) count among the capture's labellers but never take an annotator's claim away.
    """
    for _ in range(MAX_CLAIM_TRIES):
        if session.scalar(select(Assignment.id).where(Assignment.capture_id == capture_id,
                                                      Assignment.user_id == user_id)) is not None:
            return
        top = session.scalar(select(func.max(Assignment.slot)).where(Assignment.capture_id == capture_id))
        slot = 0 if top is None else top + 1
        if _insert_ignoring_conflicts(session, {"capture_id": capture_id, "slot": slot, "user_id": user_id}):
            return
    raise LabelError(f"could not record a slot of capture {capture_id} after {MAX_CLAIM_TRIES} tries; try again")


# (catalog URL, user id, K) -> (when computed, total). A user's total (labelled + held + still
# claimable) does not change when that user labels; only others' work and new captures change it.
_TOTALS: dict[tuple[str, int, int], tuple[float, int]] = {}
TOTAL_TTL_S = 30.0


def _total(session: Session, user_id: int, k: int, floor: int) -> int:
    """The user's total for the "n of N" display: exact at most every ``TOTAL_TTL_S`` seconds.

    Counting what is claimable scans the store's captures; caching it keeps a claim's cost
    independent of the store's size. Never below ``floor`` (labelled + held).
    """
    key = (str(session.get_bind().url), user_id, k)
    now = time.monotonic()
    hit = _TOTALS.get(key)
    if hit is None or now - hit[0] > TOTAL_TTL_S:
        hit = (now, floor + _count(session, "claimable", user_id, k))
        _TOTALS[key] = hit
    return max(hit[1], floor)


def _item(session: Session, capture: Capture, user_id: int, k: int, position_offset: int = 0) -> QueueItem:
    done = _count(session, "done", user_id, k)
    held = _count(session, "pending", user_id, k)
    return QueueItem(capture_id=capture.id, preview_sha256=capture.representative_sha256, width=capture.width,
                     height=capture.height, format=capture.format,
                     exif={f: getattr(capture, f) for f in EXIF_FIELDS},
                     position=done + 1 + position_offset, total=_total(session, user_id, k, done + held),
                     suggestion=current_suggestions(session, [capture.id]).get(capture.id))


def check_order(order: str) -> str:
    """``order`` when it is one of :data:`QUEUE_ORDERS`; InvalidInputError naming the choices otherwise."""
    if order not in QUEUE_ORDERS:
        raise InvalidInputError(f"unknown queue order {order!r}: choose one of {', '.join(QUEUE_ORDERS)}")
    return order


def _check_k(k: int, order: str = "default") -> None:
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"annotators per capture must be a positive integer, got {k!r}")
    check_order(order)


def next_capture(session: Session, user: UserInfo, *, k: int, order: str = "default") -> QueueItem | None:
    """The capture ``user`` should label now, claiming a queue slot for it if needed.

    Returns the oldest capture the user holds without a label; else claims a slot on the first
    queued capture in ``order`` (one of :data:`QUEUE_ORDERS`, see the module docstring); ``None``
    when nothing is left for this user.

    Raises:
        InvalidInputError: ``k`` is not positive, or an unknown order.
        LabelError: the claim kept losing races (retry later).
    """
    _check_k(k, order)
    for _ in range(MAX_CLAIM_TRIES):
        held = _find(session, "pending", user.id, k)
        if held is not None:
            return _item(session, held, user.id, k)
        candidate = _find(session, "claimable", user.id, k, order=order)
        if candidate is None:
            return None
        if _try_claim(session, candidate.id, user.id, k):
            return _item(session, candidate, user.id, k)
    raise LabelError(f"could not claim a capture for {user.name!r} after {MAX_CLAIM_TRIES} tries; try again")


def peek_next(session: Session, user: UserInfo, *, k: int, after: str | None,
              order: str = "default") -> QueueItem | None:
    """The capture ``user`` will most likely get after ``after`` in ``order``, without claiming it (prefetching).

    Someone else may fill it before the user asks for it; :func:`next_capture` then moves on.
    """
    _check_k(k, order)
    for query in ("pending", "claimable"):
        capture = _find(session, query, user.id, k, after, order)
        if capture is not None:
            return _item(session, capture, user.id, k, position_offset=1 if after is not None else 0)
    return None


def progress(session: Session, user: UserInfo, *, k: int) -> Progress:
    """How far ``user`` is: captures labelled, held but unlabelled, and still claimable."""
    _check_k(k)
    return Progress(done=_count(session, "done", user.id, k), assigned=_count(session, "pending", user.id, k),
                    remaining_in_store=_count(session, "claimable", user.id, k))


def release_claims(session: Session, *, user: str | None = None, older_than_s: float | None = None) -> int:
    """Free queue slots held without a label (an annotator who left), so others can take them.

    Args:
        user: only this user's claims (a name); all users' when None.
        older_than_s: only claims made more than this many seconds ago.

    Returns:
        How many claims were released. The holders never get those captures back only if they
        labelled them before (and undid it); otherwise they may claim them again.
    """
    query, params = _open_claims(False), {}
    if user is not None:
        user_id = session.scalar(select(User.id).where(User.name == user))
        if user_id is None:
            raise NotFoundError(f"no user named {user!r}")
        query, params = _open_claims(True), {"uid": user_id}
    if older_than_s is not None:
        if older_than_s < 0:
            raise InvalidInputError(f"older than must not be negative, got {older_than_s}")
        query = query.where(Assignment.created_at < utcnow() - timedelta(seconds=older_than_s))
    rows = list(session.scalars(query, params))
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)
