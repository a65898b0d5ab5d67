"""Read the current rain-type suggestions of captures (the web app, the queue and the stats use this).

Outside ``rainset.suggest`` (which writes them and imports ``rainset.labels``) so that labels,
manifests and the web app read suggestions without a package loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.rainstats_tables import Suggestion

UNSURE_BELOW = 0.6
"""A suggestion whose confidence (a calibrated probability) is below this is *unsure*: the labelling
UI shows it without pre-selecting it, and Enter does nothing (docs/suggestions.md)."""


@dataclass(frozen=True)
class SuggestionView:
    """A capture's suggested rain type, how sure the classifier is (0..1) and which classifier it was."""

    rain_type: str
    confidence: float
    model: str
    sure: bool = True  # confidence ≥ UNSURE_BELOW: pre-selected in the labelling UI, Enter accepts it


def is_sure(confidence: float) -> bool:
    """True when a suggestion of this confidence may be pre-selected (at least :data:`UNSURE_BELOW`)."""
    return confidence >= UNSURE_BELOW


def current_suggestions(session: Session, capture_ids: Iterable[str]) -> dict[str, SuggestionView]:
    """Return the current suggestion of each of ``capture_ids`` that has one (others are absent)."""
    ids = list(dict.fromkeys(capture_ids))
    found: dict[str, SuggestionView] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Suggestion).where(Suggestion.capture_id.in_(ids[start:start + 500])))
        for (row,) in rows:
            conf = float(row.confidence)
            found[row.capture_id] = SuggestionView(row.rain_type, conf, row.model, is_sure(conf))
    return found
