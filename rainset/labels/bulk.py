"""Bulk labels: one rain type for every capture a ``--where`` filter matches, recorded as normal labels.

For instance every capture of a clean-weather source as ``no-rain`` (the trainer's clean pool)::

    set_labels(session, "no-rain", "source_name = 'clear-days'", "curator", taxonomy=..., taxonomy_version=...)

The rows are ordinary ``label`` rows of that user (who, when, taxonomy version), so they count in
the consensus like any annotator's label, and that user takes one of the capture's K queue slots.
A capture whose current label by that user already says the same is skipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture
from rainset.labels.consensus import current_labels
from rainset.labels.record import _latest_rows, append_label
from rainset.labels.taxonomy import check_label
from rainset.labels.users import enabled_user
from rainset.where import compile_where

# Capture columns a bulk filter may use, with their types (for the filter's type checks).
CAPTURE_COLUMNS: dict[str, type] = {
    "id": str, "source_name": str, "license": str, "owner": str, "format": str, "width": int, "height": int,
    "bit_depth": int, "make": str, "model": str, "serial": str, "lens": str, "capture_time": str,
    "exposure_time": float, "f_number": float, "iso": int, "focal_length": float, "orientation": int,
    "gps_lat": float, "gps_lon": float, "flags": list,
}
FILTER_COLUMNS: dict[str, type] = {**CAPTURE_COLUMNS, "rain_type": str, "labelled": bool}


@dataclass(frozen=True)
class BulkSummary:
    """Captures the filter matched, labels written, and matches skipped (already labelled so by that user)."""

    matched: int
    labelled: int
    skipped: int

    def to_dict(self) -> dict:
        return asdict(self)


def capture_rows(session: Session) -> list[dict[str, Any]]:
    """Every active capture as a row of :data:`FILTER_COLUMNS` (``rain_type``: the current consensus)."""
    labels = current_labels(session)
    rows = []
    for cap in session.scalars(select(Capture).where(Capture.status == "active").order_by(Capture.created_at,
                                                                                           Capture.id)):
        row = {name: getattr(cap, name) for name in CAPTURE_COLUMNS}
        row["flags"] = list(cap.flags or [])
        current = labels.get(cap.id)
        row["rain_type"] = current.rain_type if current else None
        row["labelled"] = bool(current and current.labels)
        rows.append(row)
    return rows


def set_labels(session: Session, rain_type: str, where: str, as_user: str, *, taxonomy: Sequence[str],
               taxonomy_version: int, attributes: Iterable[str] = (),
               progress: Callable[[int, int], None] | None = None) -> BulkSummary:
    """Label every active capture matching ``where`` as ``rain_type``, as user ``as_user``.

    Args:
        where: a filter over :data:`FILTER_COLUMNS` (see ``rainset.where``), e.g.
            ``source_name = 'clear-days' and not labelled``.
        as_user: an existing, enabled user; the labels are theirs.

    Raises:
        FilterError: the filter does not parse or names an unknown column.
        LabelError: unknown rain type, attribute or user.
    """
    attrs = check_label(rain_type, attributes, taxonomy)
    match = compile_where(where, FILTER_COLUMNS)
    user = enabled_user(session, as_user, what="--as")
    matched = [row["id"] for row in capture_rows(session) if match(row)]
    mine = _latest_rows(session, user.id)
    labelled = skipped = 0
    for i, cid in enumerate(matched):
        row = mine.get(cid)
        if row is not None and row.kind == "label" and row.rain_type == rain_type and \
                tuple(sorted(row.attributes or ())) == attrs:
            skipped += 1
        else:
            append_label(session, user, cid, rain_type, attrs, taxonomy=taxonomy, taxonomy_version=taxonomy_version)
            labelled += 1
        if progress is not None and (i % 200 == 0 or i + 1 == len(matched)):
            progress(i + 1, len(matched))
    return BulkSummary(len(matched), labelled, skipped)
