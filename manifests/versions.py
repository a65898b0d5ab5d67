"""Reading exported manifest versions back: version.json, the data files, checksums."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Version
from rainset.errors import ManifestError
from rainset.manifests.export import validate_name
from rainset.store import Store
from rainset.verify import _sha256_of


@dataclass(frozen=True)
class ManifestVersion:
    """One exported version: its folder and its version.json."""

    name: str
    path: Path
    info: dict[str, Any]

    def data_files(self) -> list[Path]:
        return [self.path / f["path"] for f in self.info.get("files", [])]

    def table(self) -> Any:
        """All rows of every split as one ``pyarrow.Table`` (empty with the schema when no rows)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from rainset.manifests.schema import arrow_schema

        tables = [pq.read_table(p) for p in self.data_files()]
        if not tables:
            return arrow_schema(tuple(self.info.get("redacted", ()))).empty_table()
        return pa.concat_tables(tables)

    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        table = self.table()
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
        elif _sha256_of(str(path), False) != f["sha256"]:
            problems.append(f"{path}: sha256 differs from version.json")
    return problems
