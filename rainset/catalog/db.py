"""Engines, sessions and migrations for the catalog (SQLite in WAL mode, or PostgreSQL)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from rainset.catalog.models import CatalogMeta
from rainset.errors import CatalogError

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD_REVISION = "0010"
"""The newest migration under ``MIGRATIONS``, written out so that opening a catalog at the newest
schema (every command, every ingest) does not import Alembic or read the migration scripts;
``tests/test_store.py`` checks it against Alembic's own head."""
VERSION_TABLE = "alembic_version"


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_read_only_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA query_only=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def sqlite_read_only_url(path: Path, *, immutable: bool) -> str:
    """A URL opening the SQLite file at ``path`` read-only: ``mode=ro``, or ``immutable=1`` when its folder
    cannot be written (SQLite then cannot create the WAL index it needs even to read)."""
    option = "immutable=1" if immutable else "mode=ro"
    return f"sqlite:///file:{quote(path.as_posix())}?{option}&uri=true"


def is_read_only_url(url: str) -> bool:
    """True for the SQLite URLs :func:`sqlite_read_only_url` makes."""
    try:
        query = make_url(url).query
    except ArgumentError:
        return False
    return query.get("mode") == "ro" or query.get("immutable") == "1"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get WAL mode, foreign keys and a busy timeout
    (read-only SQLite URLs: ``query_only`` and the busy timeout, nothing that writes)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"invalid catalog URL {url!r}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_read_only_pragmas if is_read_only_url(url) else _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            return create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            raise CatalogError(
                f"{safe_url(url)}: the PostgreSQL driver is missing: pip install 'rainset[postgres]'"
            ) from exc
    raise CatalogError(f"{safe_url(url)}: unsupported catalog database (use SQLite or PostgreSQL)")


def _alembic_config(connection):  # noqa: ANN001, ANN202
    from alembic.config import Config  # heavy (~0.2 s): only to migrate or to read the scripts

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration this rainset knows."""
    return HEAD_REVISION


def scripts_head() -> str:
    """The head revision as Alembic reads it from the migration scripts (what ``HEAD_REVISION`` must equal)."""
    from alembic.script import ScriptDirectory  # heavy, as in _alembic_config

    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the catalog at ``engine`` is at (None for an empty database).

    Read from Alembic's version table with one query, as Alembic itself reads it.
    """
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = [r[0] for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]
    if len(rows) > 1:
        raise CatalogError(f"the catalog's {VERSION_TABLE} table names {len(rows)} revisions ({', '.join(rows)}); "
                           "a rainset catalog has one")
    return rows[0] if rows else None


def upgrade(engine: Engine) -> None:
    """Migrate the catalog to the newest schema."""
    from alembic import command  # heavy, as in _alembic_config

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


@dataclass
class Catalog:
    """An open catalog: its engine and a session factory."""

    engine: Engine
    sessions: sessionmaker[Session]
    url: str

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed at the end of the block, rolled back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def refresh_statistics(self) -> None:
        """Refresh the query planner's table statistics after a bulk load (``ANALYZE``).

        PostgreSQL plans the queue's count queries badly on stale statistics (10-25x slower right
        after a load, until autovacuum's ANALYZE catches up); SQLite's ``ANALYZE`` is cheap too.
        """
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def catalog_session(url: str) -> Iterator[Session]:
    """Open the catalog at ``url`` for one transaction: yield a session, commit, close the engine."""
    catalog = open_catalog(url)
    try:
        with catalog.session() as session:
            yield session
    finally:
        catalog.close()


def create_catalog(url: str) -> Catalog:
    """Create (or migrate) the catalog at ``url`` and return it open."""
    return open_catalog(url, migrate=True)


def open_catalog(url: str, *, migrate: bool = True, allow_empty: bool = True) -> Catalog:
    """Open the catalog at ``url``, migrating an older schema when ``migrate`` is set.

    ``allow_empty=False`` refuses a database that holds no catalog at all (no Alembic revision: a lost
    catalog replaced by an empty file or database) instead of creating one. A read-only SQLite URL is
    never migrated.
    """
    engine = make_engine(url)
    try:
        rev = current_revision(engine)
        if rev is None and not allow_empty:
            engine.dispose()
            raise CatalogError(f"{safe_url(url)}: the catalog is empty (no rainset tables); "
                               "was it deleted or replaced? restore it from a backup")
        if rev != head_revision():
            if is_read_only_url(url):
                engine.dispose()
                raise CatalogError(f"read-only store: the catalog {safe_url(url)} is at revision {rev} and needs "
                                   f"an upgrade to {head_revision()}; open the store writable once")
            if not migrate:
                raise CatalogError(f"{safe_url(url)}: catalog is at revision {rev}, needs {head_revision()}")
            upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        raise CatalogError(f"{safe_url(url)}: cannot open catalog: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise CatalogError(f"{safe_url(url)}: catalog error: {exc}") from exc
    return Catalog(engine, sessionmaker(engine, expire_on_commit=False), url)


STORE_ID_KEY = "store_id"


def read_store_id(catalog: Catalog) -> str | None:
    """The store id the catalog carries (None: a catalog made before ids, or never adopted)."""
    with catalog.session() as s:
        row = s.get(CatalogMeta, STORE_ID_KEY)
        return row.value if row else None


def write_store_id(catalog: Catalog, store_id: str) -> None:
    """Record ``store_id`` in the catalog; a catalog that carries another id is refused."""
    with catalog.session() as s:
        row = s.get(CatalogMeta, STORE_ID_KEY)
        if row is not None and row.value != store_id:
            raise CatalogError(f"{safe_url(catalog.url)}: the catalog belongs to store {row.value}, not {store_id}")
        if row is None:
            s.add(CatalogMeta(key=STORE_ID_KEY, value=store_id))
