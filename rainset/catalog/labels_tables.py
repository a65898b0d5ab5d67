"""Catalog tables of the labels stage (rainset.catalog.tables imports every table module so that Base.metadata is complete).

- ``assignments``: the queue's slots. A capture labelled by K annotators has K slots (0..K-1); an
  annotator takes one by inserting a row. Every labeller holds one: labels written outside the
  queue (bulk, import) take the next number, beyond K-1 when the capture is full. The database enforces the two queue rules on its own, so that
  concurrent annotators are safe: one row per (capture, slot) — two annotators never take the same
  slot — and one row per (capture, user) — an annotator never gets a capture twice.
- ``label_timings``: how long an annotator looked at a capture before labelling it (milliseconds),
  one row per ``labels`` row that has a timing (the ``labels`` table itself stays as it is).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rainset.catalog import models  # noqa: F401 - the tables its foreign keys name
from rainset.catalog.base import Base, utcnow


class Assignment(Base):
    """One annotator holding one of the K queue slots of one capture."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("capture_id", "slot", name="uq_assignments_capture_slot"),
        UniqueConstraint("capture_id", "user_id", name="uq_assignments_capture_user"),
    )


class LabelTiming(Base):
    """Time spent on one label row (the annotator's speed statistics read it)."""

    __tablename__ = "label_timings"

    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id"), primary_key=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # the rain-type suggestion shown when the label was made (null: none shown)
    suggestion: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)


# The kinds of rows of the ``labels`` table (models.Label.kind).
LABEL_KINDS = ("label", "undo", "adjudication")
