"""Catalog identity: the store's ``rainset.toml`` and its catalog carry one store id, and must agree.

The rules (docs/store-format.md, "Store identity"):

- ``rainset init`` writes a new id into both.
- A store opens only when its catalog carries the id its rainset.toml records. A catalog with
  another id is foreign; a database holding no catalog at all (deleted, emptied, replaced) is
  refused (the missing SQLite file is refused before anything is opened, in rainset.store).
- A catalog that carries no id (a store made before ids, or one adopted half-way when a crash
  came between the two writes) is adopted only when it matches the store's objects/: a
  catalog that names copy-mode files must name objects that are there (at least one of the first
  64; gc may have deleted some legitimately), and a catalog that names no file at
  all only goes with an objects/ folder that holds none. The id (the one rainset.toml already
  records, else a new one) is written to rainset.toml first, then to the catalog, so a crash in
  between leaves a state the next open adopts again. A read-only store is checked, never written.
- A catalog that carries an id while rainset.toml records none is refused: it belongs to a store.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Callable

from sqlalchemy import select

from rainset.catalog.db import Catalog, open_catalog, read_store_id, safe_url, write_store_id
from rainset.catalog.models import File
from rainset.errors import StoreError

SAMPLE = 64  # copy-mode file rows looked up in objects/ before a catalog without id is adopted


def check_identity(root: Path, url: str, toml_id: str | None, read_only: bool,
                   object_path: Callable[[str], Path], record_in_toml: Callable[[str], None]) -> str | None:
    """Check (and adopt, see the module docstring) the catalog at ``url`` for the store at ``root``.

    Returns the store id both now carry (None: a read-only store made before ids).
    Raises StoreError naming the store and the reason.
    """
    catalog = open_catalog(url, allow_empty=False)
    try:
        found = read_store_id(catalog)
        if found is not None and found == toml_id:
            return found
        if found is not None:
            expected = f"this store's id is {toml_id}" if toml_id else "rainset.toml records no store id"
            raise StoreError(f"{root}: the catalog {safe_url(url)} belongs to another store ({found}); {expected}")
        problem = mismatch(catalog, root, object_path)
        if problem:
            raise StoreError(f"{root}: the catalog {safe_url(url)} carries no store id and does not match this "
                             f"store ({problem}); restore this store's catalog from a backup")
        if read_only:
            return toml_id
        store_id = toml_id or secrets.token_hex(16)
        if toml_id is None:
            record_in_toml(store_id)
        write_store_id(catalog, store_id)
        return store_id
    finally:
        catalog.close()


def mismatch(catalog: Catalog, root: Path, object_path: Callable[[str], Path]) -> str | None:
    """Why the catalog cannot be this store's (None when it can)."""
    with catalog.session() as s:
        any_file = s.scalar(select(File.sha256).limit(1))
        sample = s.scalars(select(File.sha256).where(File.storage == "copy", File.duplicate_of.is_(None))
                           .order_by(File.id).limit(SAMPLE)).all()
    if any_file is None:
        objects = root / "objects"
        if objects.is_dir() and any(p.is_file() for p in objects.glob("*/*")):
            return "it names no file but objects/ holds originals"
        return None
    if sample and not any(object_path(sha).is_file() for sha in sample):
        return f"none of the {len(sample)} objects it names first is in objects/, e.g. {sample[0]}"
    return None
