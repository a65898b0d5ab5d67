"""The store and the catalog: init, discovery like git, settings, migrations, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import inspect

from rainset.catalog.db import current_revision, head_revision, make_engine, open_catalog, scripts_head
from rainset.errors import CatalogError, ConfigError, StoreError
from rainset.store import find_store, init_store, open_store, put_object, sweep_tmp

TABLES = {"captures", "files", "rejects", "ingest_runs", "hashes", "groups", "group_members", "users", "labels",
          "versions"}


def test_init_creates_layout_and_migrated_catalog(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    for sub in ("objects", "previews", "manifests", "shards", "tmp"):
        assert (store.root / sub).is_dir()
    assert (store.root / "rainset.toml").is_file()
    engine = make_engine(store.db_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    with pytest.raises(StoreError, match="already exists"):
        init_store(store.root)


def test_head_revision_is_the_scripts_head() -> None:
    # The constant spares every command Alembic's import; a new migration must move it too.
    assert head_revision() == scripts_head()


def test_catalog_with_two_revisions_is_refused(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    engine = make_engine(store.db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('0003')")
    with pytest.raises(CatalogError, match="names 2 revisions"):
        current_revision(engine)
    engine.dispose()


def test_find_store_like_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = init_store(tmp_path / "s")
    deep = store.root / "objects" / "ab"
    deep.mkdir(parents=True)
    monkeypatch.delenv("RAINSET_STORE", raising=False)
    assert find_store(cwd=deep).root == store.root
    other = init_store(tmp_path / "other")
    monkeypatch.setenv("RAINSET_STORE", str(other.root))
    assert find_store(cwd=deep).root == other.root  # env beats the current folder
    assert find_store(store.root, cwd=deep).root == store.root  # --store beats env
    monkeypatch.delenv("RAINSET_STORE")
    with pytest.raises(StoreError, match="no rainset store"):
        find_store(cwd=tmp_path)


def test_bad_settings_name_the_file(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    toml = store.root / "rainset.toml"
    toml.write_text(toml.read_text().replace("batch_size = 64", "batch_size = \"many\""))
    with pytest.raises(ConfigError, match=r"rainset.toml: setting 'batch_size' must be int"):
        open_store(store.root)
    toml.write_text("format = 1\n[settings]\nno_such = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'no_such'"):
        open_store(store.root)
    toml.write_text("not toml = = =")
    with pytest.raises(ConfigError, match="cannot read store settings"):
        open_store(store.root)


def test_objects_are_written_once_and_tmp_is_swept(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    sha = "ab" + "0" * 62
    assert put_object(store, sha, b"first") is True
    assert put_object(store, sha, b"second") is False
    assert store.object_path(sha).read_bytes() == b"first"
    (store.tmp_dir / ".tmp-123-dead").write_bytes(b"half")
    assert sweep_tmp(store) == 1
    assert list(store.tmp_dir.iterdir()) == []


def test_bad_catalog_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="unsupported catalog database"):
        open_catalog("mysql://u:secret@localhost/x")
    with pytest.raises(CatalogError) as info:
        open_catalog("postgresql+psycopg://u:secret@127.0.0.1:1/x")
    assert "secret" not in str(info.value)


@pytest.mark.postgres
def test_init_on_postgres(tmp_path: Path, pg_url: str) -> None:
    store = init_store(tmp_path / "s", pg_url)
    assert not (store.root / "catalog.db").exists()
    reopened = open_store(store.root)
    assert reopened.db_url == pg_url
    engine = make_engine(pg_url)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()
