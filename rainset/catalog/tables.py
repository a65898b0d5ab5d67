"""Every catalog table on one metadata: importing this module registers them all on ``Base.metadata``.

Alembic's ``env.py`` (and the catalog's engine set-up) read the complete schema from here.
"""

from __future__ import annotations

from rainset.catalog import dedupe_tables, labels_tables, manifest_tables, models, rainstats_tables
from rainset.catalog.base import Base

metadata = Base.metadata

__all__ = ["dedupe_tables", "labels_tables", "manifest_tables", "metadata", "models", "rainstats_tables"]
