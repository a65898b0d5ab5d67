"""Catalog tables of the manifest stage (imported by rainset.catalog.models so that Base.metadata is complete)."""

from __future__ import annotations

from rainset.catalog.models import Base  # noqa: F401
