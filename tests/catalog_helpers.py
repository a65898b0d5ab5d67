"""Reading catalog rows in tests (one home for the helper the ingest and video tests share)."""
from __future__ import annotations

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.store import Store


def catalog_rows(store: Store, model) -> list:  # noqa: ANN001
    """Every row of ``model`` (an ORM class) in ``store``'s catalog."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return list(s.scalars(select(model)))
    finally:
        catalog.close()
