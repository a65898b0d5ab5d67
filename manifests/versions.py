"""Versions: their names, publishing one (record and rename in one transaction), and reading
exported manifest versions back (version.json, the data files, checksums).

Manifests and shards publish their versions here.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Version
from rainset.errors import ManifestError, RainsetError
from rainset.folder_names import FOLDER_NAME_RULE, is_folder_name
from rainset.hashing import sha256_file
from rainset.manifests.schema import IMAGE_COLUMN, arrow_schema
from rainset.store import Store


def validate_name(name: str) -> str:
    """A version name: letters, digits, '.', '_', '-'; starts with a letter or digit; at most 100."""
    if not is_folder_name(name):
        raise ManifestError(f"invalid version name {name!r}: {FOLDER_NAME_RULE}")
    return name


def add_version_row(session: Any, row: Version, error: type[RainsetError], what: str) -> None:
    """Insert a ``versions`` row and flush it: the unique (kind, name) constraint decides a race here."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise error(f"{what} was written concurrently by another process; this one was discarded") from exc


def publish(catalog: Any, build: Path, final: Path, record: Callable[[Any], None], error: type[RainsetError],
            what: str) -> None:
    """Run ``record(session)`` and rename ``build`` to ``final`` in one catalog transaction: all or nothing.

    ``record`` inserts the ``versions`` row with :func:`add_version_row` (and what goes with it), so
    a lost race fails before the rename. Used by manifests and shards.

    Raises:
        error: ``final`` exists, the rename fails, or the catalog refuses the transaction.
    """
    moved = False
    try:
        with catalog.session() as s:
            record(s)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                raise error(f"{what} already exists at {final}")
            try:
                os.rename(build, final)  # one step: readers never see a partial version
            except OSError as exc:
                raise error(f"cannot move the built {what} into {final}: {exc.strerror or exc} "
                            "(an ingest sweeping tmp/ meanwhile?); try again") from exc
            moved = True
    except (IntegrityError, OperationalError) as exc:
        if moved:
            shutil.rmtree(final, ignore_errors=True)
        raise error(f"cannot record {what}: {exc.orig}") from exc
    except BaseException:
        if moved:
            shutil.rmtree(final, ignore_errors=True)
        raise


@dataclass(frozen=True)
class ManifestVersion:
    """One exported version: its folder and its version.json."""

    name: str
    path: Path
    info: dict[str, Any]

    def data_files(self) -> list[Path]:
        return [self.path / f["path"] for f in self.info.get("files", [])]

    def has_images(self) -> bool:
        """Whether the data files carry an ``image`` column (``rainset export --images embed|embed-full``)."""
        return self.info.get("settings", {}).get("images", "path") != "path"

    def table(self, with_images: bool = False) -> Any:
        """All rows of every split as one ``pyarrow.Table`` (empty with the schema when no rows).

        The ``image`` column of an embedding export is read only ``with_images``: the metadata of a
        version with full-resolution images stays small in memory.
        """
        import pyarrow as pa  # heavy: pyarrow
        import pyarrow.parquet as pq  # heavy: pyarrow

        images = with_images and self.has_images()
        tables = [pq.read_table(p, columns=[n for n in pq.read_schema(p).names if images or n != IMAGE_COLUMN])
                  for p in self.data_files()]
        if not tables:
            return arrow_schema(tuple(self.info.get("redacted", ())), image=images).empty_table()
        return pa.concat_tables(tables)

    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts (``columns``: only those; the image column only when named)."""
        table = self.table(with_images=bool(columns and IMAGE_COLUMN in columns))
        return (table.select(columns) if columns else table).to_pylist()


def open_version(store: Store, name: str) -> ManifestVersion:
    """The exported version ``name`` of ``store`` (ManifestError when missing or damaged)."""
    validate_name(name)
    path = store.root / "manifests" / name
    meta = path / "version.json"
    if not meta.is_file():
        known = ", ".join(list_versions(store)) or "none"
        raise ManifestError(f"no manifest version {name!r} in {store.root} (versions: {known})")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{meta}: cannot read version.json: {exc}") from exc
    return ManifestVersion(name, path, info)


def list_versions(store: Store) -> list[str]:
    """Names of the recorded manifest versions, oldest first."""
    with catalog_session(store.db_url) as s:
        return list(s.scalars(select(Version.name).where(Version.kind == "manifest").order_by(Version.id)))


def latest_version(store: Store) -> str:
    names = list_versions(store)
    if not names:
        raise ManifestError(f"{store.root}: no manifest version yet; create one with 'rainset export NAME'")
    return names[-1]


def check_files(version: ManifestVersion) -> list[str]:
    """Problems with the data files against the checksums in version.json (empty when intact)."""
    problems = []
    for f in version.info.get("files", []):
        path = version.path / f["path"]
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != f["sha256"]:
            problems.append(f"{path}: sha256 differs from version.json")
    return problems
