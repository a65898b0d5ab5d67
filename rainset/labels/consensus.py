"""The current labels of each capture, read from the append-only ``labels`` table.

Rows are never changed; what a capture "is" is computed from them:

- per (capture, annotator) the latest row of kind ``label`` or ``undo`` decides: a ``label`` row is
  that annotator's effective label, an ``undo`` row retracts it;
- the latest ``adjudication`` row of a capture (a reviewer's decision) is its consensus;
- otherwise the consensus is the rain type held by more than half of the effective labels; with
  no strict majority the capture has no consensus and ``needs_review`` is set;
- an attribute belongs to the consensus when more than half of the labels that agree on the rain
  type carry it (from an adjudication: its own attributes);
- ``agreement`` is the share of effective labels equal to the consensus rain type (or to the most
  frequent one when there is none); ``None`` with fewer than two labels.

This module is the one place that turns label rows into labels: the web UI, the queues, the
manifests and the report all read it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from rainset.catalog.models import Label, User

CONSENSUS_SOURCES = ("adjudication", "unanimous", "majority", "single")


@dataclass(frozen=True)
class LabelRecord:
    """One annotator's effective label of one capture."""

    label_id: int
    user: str
    role: str
    rain_type: str
    attributes: tuple[str, ...]
    taxonomy_version: int
    created_at: str


@dataclass(frozen=True)
class CaptureLabels:
    """Everything known about the labels of one capture."""

    capture_id: str
    rain_type: str | None
    attributes: tuple[str, ...]
    agreement: float | None
    source: str | None  # one of CONSENSUS_SOURCES, None without consensus
    needs_review: bool
    labels: tuple[LabelRecord, ...]  # effective annotator labels, oldest first
    adjudicated_by: str | None = None


def iso_utc(when: datetime | None) -> str:
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which the catalog writes in UTC."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat()


def label_record(row: Label, user: User) -> LabelRecord:
    """The :class:`LabelRecord` of a ``labels`` row written by ``user``."""
    return LabelRecord(label_id=row.id, user=user.name, role=user.role, rain_type=row.rain_type,
                       attributes=tuple(sorted(row.attributes or ())), taxonomy_version=row.taxonomy_version,
                       created_at=iso_utc(row.created_at))


def _record(row: Row) -> LabelRecord:
    """The :class:`LabelRecord` of a row of :func:`current_labels`' select (label columns, user name and role)."""
    return LabelRecord(label_id=row.id, user=row.name, role=row.role, rain_type=row.rain_type,
                       attributes=tuple(sorted(row.attributes or ())), taxonomy_version=row.taxonomy_version,
                       created_at=iso_utc(row.created_at))


def _majority_attributes(agreeing: list[LabelRecord]) -> tuple[str, ...]:
    counts = Counter(a for rec in agreeing for a in rec.attributes)
    return tuple(sorted(a for a, n in counts.items() if n * 2 > len(agreeing)))


def resolve(capture_id: str, effective: list[LabelRecord], adjudication: LabelRecord | None) -> CaptureLabels:
    """Consensus of one capture from its effective labels and its latest adjudication (pure)."""
    effective = sorted(effective, key=lambda r: r.label_id)
    counts = Counter(r.rain_type for r in effective)
    top, top_n = (counts.most_common(1)[0] if counts else (None, 0))
    agreement = round(top_n / len(effective), 4) if len(effective) >= 2 else None
    if adjudication is not None:
        if effective:
            agreement = round(counts.get(adjudication.rain_type, 0) / len(effective), 4) if len(effective) >= 2 else None
        return CaptureLabels(capture_id, adjudication.rain_type, adjudication.attributes, agreement, "adjudication",
                             False, tuple(effective), adjudicated_by=adjudication.user)
    if not effective:
        return CaptureLabels(capture_id, None, (), None, None, False, ())
    if top_n * 2 <= len(effective):
        return CaptureLabels(capture_id, None, (), agreement, None, True, tuple(effective))
    agreeing = [r for r in effective if r.rain_type == top]
    source = "single" if len(effective) == 1 else ("unanimous" if top_n == len(effective) else "majority")
    return CaptureLabels(capture_id, top, _majority_attributes(agreeing), agreement, source, False, tuple(effective))


def current_labels(session: Session, capture_ids: Iterable[str] | None = None) -> dict[str, CaptureLabels]:
    """The labels of the given captures (all labelled captures when ``None``), keyed by capture id.

    Captures without any label row are absent from the result.
    """
    # a plain Core select of the columns a record needs: no ORM objects (at 100k captures the ORM
    # read of Label and User took most of the time here); the session's pending rows are flushed first
    session.flush()
    query = (select(Label.id, Label.capture_id, Label.user_id, Label.kind, Label.rain_type, Label.attributes,
                    Label.taxonomy_version, Label.created_at, User.name, User.role)
             .join(User, User.id == Label.user_id).order_by(Label.id))
    wanted = None if capture_ids is None else set(capture_ids)
    latest: dict[tuple[str, int], Row] = {}
    adjudications: dict[str, Row] = {}
    if wanted is not None and len(wanted) <= 500:
        query = query.where(Label.capture_id.in_(wanted))
    for row in session.connection().execute(query):
        if wanted is not None and row.capture_id not in wanted:
            continue
        if row.kind == "adjudication":
            adjudications[row.capture_id] = row
        elif row.kind in ("label", "undo"):
            latest[(row.capture_id, row.user_id)] = row
    effective: dict[str, list[LabelRecord]] = {}
    for (capture_id, _), row in latest.items():
        effective.setdefault(capture_id, [])
        if row.kind == "label":
            effective[capture_id].append(_record(row))
    result = {}
    for capture_id in sorted(set(effective) | set(adjudications)):
        adj = adjudications.get(capture_id)
        result[capture_id] = resolve(capture_id, effective.get(capture_id, []), _record(adj) if adj else None)
    return result
