"""The store: one directory holding settings, the catalog, originals, previews and versions.

Layout (docs/store-format.md)::

    STORE/rainset.toml  catalog.db  objects/ab/<sha256>  previews/ab/<sha256>.jpg
          manifests/<name>/  shards/<name>/  tmp/  ingest.lock

Every file write is atomic: written under ``tmp/`` (same filesystem), fsynced, then renamed
into place. Nothing in ``objects/`` or ``previews/`` is ever overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rainset.errors import StoreError
from rainset.settings import defaults, dump_toml, load_toml

STORE_FILE = "rainset.toml"
SUBDIRS = ("objects", "previews", "manifests", "shards", "tmp")


def object_key(sha256: str) -> str:
    """The path of the original with this sha256 inside the store: ``objects/ab/<sha256>``."""
    return f"objects/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class Store:
    """An opened store: its root folder, validated settings and catalog URL."""

    root: Path
    settings: dict[str, Any]
    db_url: str

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def object_path(self, sha256: str) -> Path:
        """Where the original with this sha256 lives (copy mode)."""
        return self.root / object_key(sha256)

    def preview_path(self, sha256: str) -> Path:
        """Where the JPEG preview of the file with this sha256 lives."""
        return self.root / "previews" / sha256[:2] / f"{sha256}.jpg"


def default_db_url(root: Path) -> str:
    """The embedded SQLite catalog inside the store."""
    return f"sqlite:///{(root / 'catalog.db').as_posix()}"


def init_store(path: str | os.PathLike[str], db_url: str | None = None) -> Store:
    """Create a new store at ``path`` (which must not already hold one).

    Args:
        path: the folder; created if missing, must be empty of a previous store.
        db_url: a SQLAlchemy URL (``postgresql+psycopg://…``) or None for SQLite inside the store.

    Returns:
        The opened store, with its catalog created and migrated to the newest schema.
    """
    root = Path(path).expanduser().resolve()
    if (root / STORE_FILE).exists():
        raise StoreError(f"{root}: a rainset store already exists here")
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root}: exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (root / sub).mkdir(exist_ok=True)
        store = Store(root, defaults(), db_url or default_db_url(root))
        from rainset.catalog.db import create_catalog  # heavy: sqlalchemy, alembic; the CLI imports this module

        create_catalog(store.db_url)
        write_atomic(store, root / STORE_FILE, dump_toml(store.settings, db_url).encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"{root}: cannot create store: {exc.strerror or exc}") from exc
    return store


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open the store whose root is ``path``."""
    root = Path(path).expanduser().resolve()
    toml = root / STORE_FILE
    if not toml.is_file():
        raise StoreError(f"{root}: not a rainset store (no {STORE_FILE}); create one with 'rainset init'")
    settings, url = load_toml(toml)
    for sub in SUBDIRS:
        (root / sub).mkdir(exist_ok=True)
    return Store(root, settings, url or default_db_url(root))


def find_store(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Store:
    """Find the store like git finds a repository.

    ``explicit`` (``--store``) first, else ``$RAINSET_STORE``, else the current directory or
    the nearest parent holding a ``rainset.toml``.
    """
    if explicit:
        return open_store(explicit)
    env = os.environ.get("RAINSET_STORE")
    if env:
        return open_store(env)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_FILE).is_file():
            return open_store(folder)
    raise StoreError(
        f"no rainset store in {here} or its parents; pass --store PATH, set RAINSET_STORE, "
        "or create one with 'rainset init PATH'"
    )


def write_atomic(store: Store, dest: Path, data: bytes, *, overwrite: bool = True) -> bool:
    """Write ``data`` to ``dest`` atomically through the store's tmp/ folder.

    Returns False (and writes nothing) when ``overwrite`` is False and ``dest`` exists.
    """
    if not overwrite and dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.tmp_dir / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return True


def put_object(store: Store, sha256: str, data: bytes) -> bool:
    """Store an original content-addressed; True when it was written now (False: already there)."""
    return write_atomic(store, store.object_path(sha256), data, overwrite=False)


def sweep_tmp(store: Store) -> int:
    """Delete temporary files left by a killed run; returns how many were removed."""
    removed = 0
    for entry in store.tmp_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed


@contextmanager
def exclusive_lock(store: Store, name: str = "ingest") -> Iterator[None]:
    """Hold ``STORE/<name>.lock`` exclusively; a second holder gets a StoreError at once."""
    path = store.root / f"{name}.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise StoreError(f"{store.root}: another '{name}' is running on this store") from exc
            raise
        yield
    finally:
        fh.close()
