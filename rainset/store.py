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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from rainset.errors import StoreError, exception_text
from rainset.settings import defaults, dump_toml, load_toml

STORE_FILE = "rainset.toml"
SUBDIRS = ("objects", "previews", "manifests", "shards", "tmp")


def object_key(sha256: str) -> str:
    """The path of the original with this sha256 inside the store: ``objects/ab/<sha256>``."""
    return f"objects/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class Store:
    """An opened store: its root folder, validated settings, catalog URL, id and whether it is read-only.

    ``read_only`` stores have a catalog URL that opens SQLite read-only; only the commands that
    never write (status, verify, versions, diff, report) open them.
    """

    root: Path
    settings: dict[str, Any]
    db_url: str
    store_id: str | None = None
    read_only: bool = False

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


def is_read_only(root: Path, url: str | None = None) -> bool:
    """True when this process cannot write the store: its folder (or, for the embedded SQLite
    catalog, catalog.db) is not writable. Decided by ``os.access``, so it holds for root only where
    the filesystem itself is read-only (a read-only mount)."""
    if not os.access(root, os.W_OK):
        return True
    db = root / "catalog.db"
    return url is None and db.exists() and not os.access(db, os.W_OK)


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
        store = Store(root, defaults(), db_url or default_db_url(root), secrets.token_hex(16))
        from rainset.catalog.db import create_catalog, write_store_id  # heavy: sqlalchemy, alembic; the CLI imports this module

        catalog = create_catalog(store.db_url)
        try:
            write_store_id(catalog, store.store_id)
        finally:
            catalog.close()
        write_atomic(store, root / STORE_FILE, dump_toml(store.settings, db_url, store.store_id).encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"{root}: cannot create store: {exc.strerror or exc}") from exc
    return store


def open_store(path: str | os.PathLike[str], *, read_only_ok: bool = False) -> Store:
    """Open the store whose root is ``path`` and check that its catalog is this store's.

    A store this process cannot write opens read-only when ``read_only_ok`` (readers: status,
    verify, versions, diff, report), else is refused with ``read-only store: PATH``. The catalog
    rules (missing, empty, foreign, adoption of stores made before ids) are in
    docs/store-format.md and :func:`rainset.store_identity.check_identity`.
    """
    root = Path(path).expanduser().resolve()
    toml = root / STORE_FILE
    if not toml.is_file():
        raise StoreError(f"{root}: not a rainset store (no {STORE_FILE}); create one with 'rainset init'")
    cfg = load_toml(toml)
    read_only = is_read_only(root, cfg.url)
    if read_only and not read_only_ok:
        raise StoreError(f"read-only store: {root}")
    if read_only:
        from rainset.catalog.db import sqlite_read_only_url  # heavy: sqlalchemy, alembic; the CLI imports this module

        url = cfg.url or sqlite_read_only_url(root / "catalog.db", immutable=not os.access(root, os.W_OK))
    else:
        for sub in SUBDIRS:
            try:
                (root / sub).mkdir(exist_ok=True)
            except OSError as exc:
                raise write_error(exc, root / sub) from exc
        url = cfg.url or default_db_url(root)
    store = Store(root, cfg.settings, url, cfg.store_id, read_only)
    if cfg.url is None and not (root / "catalog.db").is_file():
        raise StoreError(f"{root}: the catalog {root / 'catalog.db'} is missing; restore it from a backup "
                         "(without it nothing in objects/ can be found)")
    from rainset.store_identity import check_identity  # heavy: sqlalchemy, alembic; the CLI imports this module

    def record_in_toml(store_id: str) -> None:
        write_atomic(store, toml, with_store_id(toml.read_text(encoding="utf-8"), store_id).encode("utf-8"))

    store_id = check_identity(root, url, cfg.store_id, read_only, store.object_path, record_in_toml)
    return replace(store, store_id=store_id)


def with_store_id(text: str, store_id: str) -> str:
    """``text`` of a rainset.toml with a top-level ``store_id`` line before its first table, leaving every
    other line as the user wrote it (a partial file keeps meaning "defaults for the rest")."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
    lines.insert(at, f'store_id = "{store_id}"\n')
    return "".join(lines)


def find_store(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None, *,
               read_only_ok: bool = False) -> Store:
    """Find the store like git finds a repository.

    ``explicit`` (``--store``) first, else ``$RAINSET_STORE``, else the current directory or
    the nearest parent holding a ``rainset.toml``.
    """
    if explicit:
        return open_store(explicit, read_only_ok=read_only_ok)
    env = os.environ.get("RAINSET_STORE")
    if env:
        return open_store(env, read_only_ok=read_only_ok)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STORE_FILE).is_file():
            return open_store(folder, read_only_ok=read_only_ok)
    raise StoreError(
        f"no rainset store in {here} or its parents; pass --store PATH, set RAINSET_STORE, "
        "or create one with 'rainset init PATH'"
    )


_REMEDY = {
    errno.ENOSPC: "no space left on the device: free some space there, then run the command again",
    errno.EDQUOT: "disk quota exceeded: free some space or raise the quota, then run the command again",
    errno.EACCES: "permission denied: give this user write access to it (chmod/chown), then run the command again",
    errno.EPERM: "operation not permitted: give this user write access to it (chmod/chown), then run the command again",
    errno.EROFS: "read-only file system: remount it read-write or use a store on a writable disk",
}


def write_error(exc: OSError, path: Path | str) -> StoreError:
    """The one-line StoreError for a failed write into the store: the path, the cause, what to do.
    Nothing half-written stays visible (writes go through tmp/, swept on the next run)."""
    remedy = _REMEDY.get(exc.errno or 0, f"{exc.strerror or exception_text(exc)}: check the disk, then run the command again")
    return StoreError(f"cannot write {path}: {remedy}")


def write_chunk(out: BinaryIO, chunk: bytes) -> None:
    """Write one chunk into a :func:`tmp_file`; a failed write is a :func:`write_error` naming it."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise write_error(exc, out.name) from exc


def flush_file(out: BinaryIO) -> None:
    """Flush and fsync a :func:`tmp_file` before it is moved into place."""
    try:
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise write_error(exc, out.name) from exc


def write_atomic(store: Store, dest: Path, data: bytes, *, overwrite: bool = True) -> bool:
    """Write ``data`` to ``dest`` atomically through the store's tmp/ folder.

    Returns False (and writes nothing) when ``overwrite`` is False and ``dest`` exists.
    """
    if not overwrite and dest.exists():
        return False
    tmp = store.tmp_dir / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    at: Path = dest.parent
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        at = tmp
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        at = dest
        os.replace(tmp, dest)
    except OSError as exc:
        raise write_error(exc, at) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return True


@contextmanager
def tmp_file(store: Store) -> Iterator[tuple[Path, BinaryIO]]:
    """A new file under the store's tmp/ folder, open for writing; removed on leaving unless moved away.

    Writers stream into it (:func:`commit_object` moves it into place), so nothing half-written
    is ever visible outside tmp/.
    """
    tmp = store.tmp_dir / f".tmp-{os.getpid()}-{secrets.token_hex(8)}"
    try:
        try:
            fh = open(tmp, "wb")
        except OSError as exc:
            raise write_error(exc, tmp) from exc
        with fh:
            yield tmp, fh
    finally:
        tmp.unlink(missing_ok=True)


def commit_object(store: Store, sha256: str, tmp: Path) -> bool:
    """Move a fully written, fsynced tmp file into ``objects/`` under its sha256, never over an
    existing object; True when it was moved now (False: already there, ``tmp`` left for its owner)."""
    dest = store.object_path(sha256)
    if dest.exists():
        return False
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    except OSError as exc:
        raise write_error(exc, dest) from exc
    return True


def put_object(store: Store, sha256: str, data: bytes) -> bool:
    """Store an original content-addressed; True when it was written now (False: already there)."""
    return write_atomic(store, store.object_path(sha256), data, overwrite=False)


def sweep_tmp(store: Store) -> int:
    """Delete temporary files left by a killed run; returns how many were removed."""
    removed = 0
    try:
        for entry in store.tmp_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    except OSError as exc:
        raise write_error(exc, store.tmp_dir) from exc
    return removed


@contextmanager
def exclusive_lock(store: Store, name: str = "ingest") -> Iterator[None]:
    """Hold ``STORE/<name>.lock`` exclusively; a second holder gets a StoreError at once."""
    path = store.root / f"{name}.lock"
    try:
        fh = open(path, "a+")
    except OSError as exc:
        raise write_error(exc, path) from exc
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
