"""Ingest pipelines: source discovery (local, fsspec), the per-file stage, the driver writing batches.

The stage runs on worker processes (local or Dask) through :mod:`rainset.workers`.

The names below load lazily: worker processes import ``rainset.ingest.stage`` and must not pay
for the driver's imports (SQLAlchemy, the catalog) on start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rainset.ingest.pipeline import IngestOptions, IngestSummary, ingest
    from rainset.ingest.writer import Provenance

__all__ = ["IngestOptions", "IngestSummary", "Provenance", "ingest"]


def __getattr__(name: str) -> Any:
    if name in ("IngestOptions", "IngestSummary", "ingest"):
        from rainset.ingest import pipeline  # heavy: the driver (sqlalchemy, the catalog); workers import this package

        return getattr(pipeline, name)
    if name == "Provenance":
        from rainset.ingest.writer import Provenance  # heavy: the catalog models (sqlalchemy), as above

        return Provenance
    raise AttributeError(f"module 'rainset.ingest' has no attribute {name!r}")
