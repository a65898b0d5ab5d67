"""Catalog tables of the rain measurements and suggestions (rainset.catalog.tables imports every table module).

- ``rain_stats``: measurements of one capture's rain (``rainset.rainstats``), one row per
  (capture, source). ``source`` is ``preview`` (measured on the preview-sized image) or
  ``rain-layer`` (measured on R = O - G_B(O) of an NLCL checkpoint, whose sha256 is in
  ``checkpoint``). ``values`` holds the named measurements; ``algo`` is the version of the code
  that measured them, so a change of algorithm re-measures. Derived data: a re-run replaces rows.
- ``suggestions``: the suggested rain type of one capture with its confidence, the classifier that
  made it (``model``) and the features it read (``features``). Suggestions are never labels: they
  live here only and are never exported as ground truth.

``label_timings.suggestion`` records the suggestion the annotator was shown when labelling (the
acceptance statistics read it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rainset.catalog import models  # noqa: F401 - the tables its foreign keys name
from rainset.catalog.base import Base, utcnow

RAIN_STAT_SOURCES = ("preview", "rain-layer")


class RainStats(Base):
    """Rain measurements of one capture from one source."""

    __tablename__ = "rain_stats"

    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)  # preview | rain-layer
    checkpoint: Mapped[str | None] = mapped_column(String(64))  # sha256 of the NLCL checkpoint
    algo: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Suggestion(Base):
    """The current rain-type suggestion for one capture (never a label)."""

    __tablename__ = "suggestions"

    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    rain_type: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(64))
    features: Mapped[str] = mapped_column(String(16))  # preview | rain-layer
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
