"""Writing labels: append a row, never change one.

Every label, undo and adjudication is a new ``labels`` row with who, when and the taxonomy
version; :mod:`rainset.labels.consensus` reads them back into current labels.

Who may write what:

- an annotator labels captures they hold in their queue or labelled before (to correct them);
- reviewers and admins may label any capture, and only they adjudicate;
- everyone reads back only their own labels through :func:`my_labels`.

The rain-type suggestion an annotator was shown (``rainset suggest``) is recorded with the label's
timing (``label_timings.suggestion``) for the acceptance statistics. The client says which
suggestion it showed; the server keeps that claim only when it equals the capture's current
suggestion at the time the label is written (:func:`shown_suggestion`), so nobody can record an
acceptance of a suggestion that was never made, and a suggestion replaced while the capture was on
screen is recorded as none rather than guessed.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.labels_tables import Assignment, LabelTiming
from rainset.catalog.models import Capture, Label, User
from rainset.errors import InvalidInputError, LabelError, NotFoundError, NotInQueueError
from rainset.labels.consensus import CaptureLabels, LabelRecord, label_record, current_labels
from rainset.labels.queue import hold_slot
from rainset.labels.taxonomy import check_label
from rainset.labels.users import ROLES, UserInfo, require_role
from rainset.suggestions import current_suggestions

MAX_DURATION_MS = 24 * 3600 * 1000


def _capture(session: Session, capture_id: str) -> Capture:
    capture = session.get(Capture, capture_id) if isinstance(capture_id, str) else None
    if capture is None:
        raise NotFoundError(f"no capture with id {capture_id!r}")
    if capture.status != "active":
        raise LabelError(f"capture {capture_id} is {capture.status}; only active captures are labelled")
    return capture


def _append(session: Session, user: UserInfo, capture_id: str, rain_type: str, attributes: Sequence[str],
            kind: str, taxonomy_version: int) -> Label:
    row = Label(capture_id=capture_id, user_id=user.id, rain_type=rain_type, attributes=list(attributes),
                kind=kind, taxonomy_version=int(taxonomy_version))
    session.add(row)
    session.flush()
    return row


def as_record(row: Label, user: UserInfo) -> LabelRecord:
    """The :class:`LabelRecord` of a row written by ``user``."""
    return label_record(row, User(id=user.id, name=user.name, role=user.role))


def _may_label(session: Session, user: UserInfo, capture_id: str) -> bool:
    if user.role in ("reviewer", "admin"):
        return True
    held = session.scalar(select(Assignment.id).where(Assignment.capture_id == capture_id,
                                                      Assignment.user_id == user.id))
    labelled = session.scalar(select(Label.id).where(Label.capture_id == capture_id, Label.user_id == user.id,
                                                     Label.kind == "label").limit(1))
    return held is not None or labelled is not None


def shown_suggestion(session: Session, capture_id: str, shown: str | None) -> str | None:
    """The suggestion to record for a label: ``shown`` when it is the capture's current suggestion, else None."""
    if shown is None:
        return None
    current = current_suggestions(session, [capture_id]).get(capture_id)
    return shown if current is not None and current.rain_type == shown else None


def append_label(session: Session, user: UserInfo, capture_id: str, rain_type: str,
                 attributes: Iterable[str] = (), *, taxonomy: Sequence[str], taxonomy_version: int,
                 duration_ms: int | None = None, suggestion: str | None = None) -> LabelRecord:
    """Append a label row after validating it, without the queue check (bulk labels, imports).

    ``suggestion`` (already checked) is recorded with the timing, so only when ``duration_ms`` is given.
    """
    attrs = check_label(rain_type, attributes, taxonomy)
    _capture(session, capture_id)
    if duration_ms is not None and (isinstance(duration_ms, bool) or not isinstance(duration_ms, int)
                                    or not 0 <= duration_ms <= MAX_DURATION_MS):
        raise InvalidInputError(f"duration_ms must be an integer from 0 to {MAX_DURATION_MS}, got {duration_ms!r}")
    hold_slot(session, capture_id, user.id)
    row = _append(session, user, capture_id, rain_type, attrs, "label", taxonomy_version)
    if duration_ms is not None:
        session.add(LabelTiming(label_id=row.id, duration_ms=duration_ms, suggestion=suggestion))
        session.flush()
    return as_record(row, user)


def record_label(session: Session, user: UserInfo, capture_id: str, rain_type: str,
                 attributes: Iterable[str] = (), *, taxonomy: Sequence[str], taxonomy_version: int,
                 duration_ms: int | None = None, suggestion: str | None = None) -> LabelRecord:
    """Record ``user``'s label of a capture (a new row; an earlier label of theirs is superseded, not changed).

    Args:
        taxonomy: the store's rain types; ``rain_type`` must be one of them.
        taxonomy_version: recorded with the label.
        duration_ms: time spent on the capture, for the speed statistics (optional).
        suggestion: the rain type suggested to the annotator on screen (None: none shown);
            recorded with the timing when it is the capture's current suggestion (see the module
            docstring and :func:`recorded_suggestion`).

    Raises:
        AuthError: the user's role cannot label.
        InvalidInputError: unknown rain type or attribute, or a bad duration.
        NotFoundError: unknown capture.
        NotInQueueError: an annotator labelling a capture that is not in their queue.
        LabelError: a removed capture.
    """
    require_role(user, *ROLES)
    if not _may_label(session, user, capture_id):
        _capture(session, capture_id)
        raise NotInQueueError(f"capture {capture_id} is not in {user.name!r}'s queue")
    return append_label(session, user, capture_id, rain_type, attributes, taxonomy=taxonomy,
                        taxonomy_version=taxonomy_version, duration_ms=duration_ms,
                        suggestion=shown_suggestion(session, capture_id, suggestion))


def recorded_suggestion(session: Session, label_id: int) -> str | None:
    """The suggestion recorded with a label (None: none shown, no timing, or not the current one)."""
    return session.scalar(select(LabelTiming.suggestion).where(LabelTiming.label_id == label_id))


def _latest_rows(session: Session, user_id: int, capture_ids: Iterable[str] | None = None) -> dict[str, Label]:
    """Per capture, this user's latest row of kind label or undo."""
    query = (select(Label).where(Label.user_id == user_id, Label.kind.in_(("label", "undo")))
             .order_by(Label.id))
    wanted = None if capture_ids is None else set(capture_ids)
    if wanted is not None and len(wanted) <= 500:
        query = query.where(Label.capture_id.in_(wanted))
    latest: dict[str, Label] = {}
    for row in session.scalars(query):
        if wanted is None or row.capture_id in wanted:
            latest[row.capture_id] = row
    return latest


def undo_last(session: Session, user: UserInfo) -> str | None:
    """Retract ``user``'s most recent effective label with an ``undo`` row; its capture id, or None.

    The capture returns to the top of the user's queue (they still hold its slot). Repeated
    undos walk back through the user's labels, newest first.
    """
    latest = _latest_rows(session, user.id)
    effective = [row for row in latest.values() if row.kind == "label"]
    if not effective:
        return None
    last = max(effective, key=lambda r: r.id)
    _append(session, user, last.capture_id, last.rain_type, [], "undo", last.taxonomy_version)
    return last.capture_id


def my_labels(session: Session, user: UserInfo, capture_ids: Iterable[str] | None = None) -> dict[str, LabelRecord]:
    """``user``'s own effective labels (never anyone else's), keyed by capture id."""
    return {cid: as_record(row, user) for cid, row in sorted(_latest_rows(session, user.id, capture_ids).items())
            if row.kind == "label"}


def adjudicate(session: Session, reviewer: UserInfo, capture_id: str, rain_type: str,
               attributes: Iterable[str] = (), *, taxonomy: Sequence[str], taxonomy_version: int) -> CaptureLabels:
    """Record a reviewer's decision, which becomes the capture's consensus; returns its labels.

    Raises:
        AuthError: ``reviewer`` is an annotator.
        InvalidInputError: unknown rain type or attribute.
        NotFoundError: unknown capture.
    """
    require_role(reviewer, "reviewer", "admin")
    attrs = check_label(rain_type, attributes, taxonomy)
    _capture(session, capture_id)
    _append(session, reviewer, capture_id, rain_type, attrs, "adjudication", taxonomy_version)
    return current_labels(session, [capture_id])[capture_id]
