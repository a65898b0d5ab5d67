"""Catalog tables of the dedupe stage (rainset.catalog.tables imports every table module so that Base.metadata is complete).

``dedupe_pairs`` keeps every candidate pair the index found with its confirmed relation, so a
re-run confirms only pairs that involve new captures; ``dedupe_indexed`` records which captures
(at which representative file and threshold) have been queried; ``dedupe_corrections`` holds the
user's corrections, applied in order on every run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rainset.catalog import models  # noqa: F401 - the tables its foreign keys name
from rainset.catalog.base import Base, utcnow


class DedupePair(Base):
    """A candidate pair (``a`` < ``b``) within the pHash threshold and its confirmed relation."""

    __tablename__ = "dedupe_pairs"

    a: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    b: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True, index=True)
    distance: Mapped[int] = mapped_column(Integer)
    relation: Mapped[str] = mapped_column(String(24))  # exact | near-duplicate | same-scene | distinct
    score: Mapped[float] = mapped_column(Float)
    corr: Mapped[float] = mapped_column(Float)


class DedupeIndexed(Base):
    """A capture that has been queried against the index, with the hash and threshold used."""

    __tablename__ = "dedupe_indexed"

    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    threshold: Mapped[int] = mapped_column(Integer)


class DedupeCorrection(Base):
    """A user's correction: not-duplicate (a, b), split (members, others), merge (a, b), representative (a)."""

    __tablename__ = "dedupe_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    captures: Mapped[list[str]] = mapped_column(JSON, default=list)
    others: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
