"""Ingest pipelines: source discovery (local, fsspec), the per-file stage, local and Dask runners."""

from rainset.ingest.pipeline import IngestOptions, IngestSummary, ingest
from rainset.ingest.writer import Provenance

__all__ = ["IngestOptions", "IngestSummary", "Provenance", "ingest"]
