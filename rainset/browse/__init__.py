"""Browse the catalog: filter captures with the ``--where`` language, count facets, sort and page.

:func:`~rainset.browse.query.browse` answers one page; it reads a column snapshot of every active
capture (:mod:`~rainset.browse.snapshot`), which a :class:`~rainset.browse.snapshot.SnapshotCache`
keeps between requests. Nothing here writes to the catalog.
"""

from __future__ import annotations

from rainset.browse.query import (
    BROWSE_COLUMNS,
    ORDERS,
    BrowseItem,
    BrowsePage,
    Facet,
    FacetValue,
    browse,
)
from rainset.browse.snapshot import Snapshot, SnapshotCache

__all__ = ["BROWSE_COLUMNS", "ORDERS", "BrowseItem", "BrowsePage", "Facet", "FacetValue", "Snapshot",
           "SnapshotCache", "browse"]
