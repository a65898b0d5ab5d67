"""Catalog tables of the manifest stage (rainset.catalog.tables imports every table module so that Base.metadata is complete).

- ``split_assignments``: the recorded split of each capture, per seed. Once a row exists it is
  kept; it changes only when a new capture merges two groups that were in different splits,
  and every such change is appended to ``split_moves`` with its reason.
- ``removals``: ``rainset remove`` events (capture, reason, when); the capture's ``status`` becomes
  ``removed`` and every later export and shard leaves it out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rainset.catalog import models  # noqa: F401 - the tables its foreign keys name
from rainset.catalog.base import Base, utcnow


class SplitAssignment(Base):
    """The split of one capture under one seed."""

    __tablename__ = "split_assignments"

    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    seed: Mapped[int] = mapped_column(Integer, primary_key=True)
    split: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(String(40))  # oldest member of the group when assigned
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SplitMove(Base):
    """A recorded split that changed: a merge of groups that were in different splits."""

    __tablename__ = "split_moves"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    from_split: Mapped[str] = mapped_column(String(16))
    to_split: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Removal(Base):
    """One ``rainset remove`` of one capture."""

    __tablename__ = "removals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
