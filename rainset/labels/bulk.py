"""Bulk labels: one rain type for every capture a ``--where`` filter matches, recorded as normal labels.

For instance every capture of a clean-weather source as ``no-rain`` (the trainer's clean pool)::

    set_labels(session, "no-rain", "source_name = 'clear-days'", "curator", taxonomy=..., taxonomy_version=...)

The rows are ordinary ``label`` rows of that user (who, when, taxonomy version), so they count in
the consensus like any annotator's label, and that user takes one of the capture's K queue slots.
A capture whose current label by that user already says the same is skipped; one whose current
label by that user says something else is kept as it is (counted as ``kept``) unless ``overwrite``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy.orm import Session

from rainset.capture_paths import capture_files
from rainset.labels.record import _latest_rows, append_label
from rainset.labels.taxonomy import check_label
from rainset.labels.users import enabled_user
from rainset.manifests.rows import filter_view_time, load_rows
from rainset.manifests.selection import compile_selection, where_columns

# The --where column set of ``rainset export`` (rainset.manifests.selection), plus two names kept from
# before it: ``id`` (= sample_id) and ``labelled`` (the capture has at least one effective label).
EXTRA_COLUMNS: dict[str, type] = {"id": str, "labelled": bool}
FILTER_COLUMNS: dict[str, type] = where_columns(EXTRA_COLUMNS)


@dataclass(frozen=True)
class BulkSummary:
    """Captures the filter matched, labels written, matches skipped (already labelled so by that user), and
    matches kept: the user's own earlier, different label stays (``overwrite`` replaces it)."""

    matched: int
    labelled: int
    skipped: int
    kept: int = 0
    replaced: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def capture_rows(session: Session) -> list[dict[str, Any]]:
    """Every active capture as a row of :data:`FILTER_COLUMNS` but the file columns (``rain_type``: the
    current consensus)."""
    rows = []
    for row in load_rows(session).rows:  # fresh rows, not kept by anyone: turned into views in place
        row.update(ingested_at=filter_view_time(row), id=row["sample_id"], labelled=bool(row["labels"]))
        rows.append(row)
    return rows


def set_labels(session: Session, rain_type: str, where: str, as_user: str, *, taxonomy: Sequence[str],
               taxonomy_version: int, attributes: Iterable[str] = (), overwrite: bool = False,
               progress: Callable[[int, int], None] | None = None) -> BulkSummary:
    """Label every active capture matching ``where`` as ``rain_type``, as user ``as_user``.

    Args:
        where: a filter over :data:`FILTER_COLUMNS` (see ``rainset.where``), e.g.
            ``source_name = 'clear-days' and not labelled``.
        as_user: an existing, enabled user; the labels are theirs.
        overwrite: also replace that user's own earlier label where it says something else (by
            default those captures are left alone and counted as ``kept``).

    Raises:
        FilterError: the filter does not parse or names an unknown column.
        LabelError: unknown rain type, attribute or user.
    """
    attrs = check_label(rain_type, attributes, taxonomy)
    match = compile_selection(where, EXTRA_COLUMNS)
    user = enabled_user(session, as_user, what="--as")
    files = capture_files(session) if match.per_file else {}
    matched = [row["id"] for row in capture_rows(session) if match(row, files.get(row["id"], ()))]
    mine = _latest_rows(session, user.id)
    labelled = skipped = kept = replaced = 0
    for i, cid in enumerate(matched):
        row = mine.get(cid)
        earlier = row is not None and row.kind == "label"
        if earlier and row.rain_type == rain_type and tuple(sorted(row.attributes or ())) == attrs:
            skipped += 1
        elif earlier and not overwrite:
            kept += 1
        else:
            append_label(session, user, cid, rain_type, attrs, taxonomy=taxonomy, taxonomy_version=taxonomy_version)
            labelled += 1
            replaced += earlier
        if progress is not None and (i % 200 == 0 or i + 1 == len(matched)):
            progress(i + 1, len(matched))
    return BulkSummary(len(matched), labelled, skipped, kept, replaced)
