"""Issue 18 (settings, catalog, CLI): range-checked settings and options, catalog identity, read-only stores."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

from rainset.catalog.db import MIGRATIONS, current_revision, head_revision, make_engine, open_catalog, read_store_id
from rainset.cli import app
from rainset.errors import ConfigError, StoreError
from rainset.ranges import Range
from rainset.settings import BY_NAME, load_toml
from rainset.store import init_store, is_read_only, open_store, put_object
from rainset.verify import verify_store

DATA = Path(__file__).resolve().parent / "data"
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def write_settings(root: Path, body: str) -> None:
    text = (root / "rainset.toml").read_text()
    (root / "rainset.toml").write_text(text.split("[settings]")[0] + "[settings]\n" + body + "\n")


# 1. ranges of settings and options -------------------------------------------------------------------

@pytest.mark.parametrize("body, words", [
    ("preview_max_side = 0", ["preview_max_side", "from 64 to 16384"]),
    ("working_min_side = 0", ["working_min_side", "from 64"]),
    ("preview_quality = 500", ["preview_quality", "from 1 to 100"]),
    ("annotators_per_capture = 0", ["annotators_per_capture", "from 1 to 100"]),
    ("burst_seconds = inf", ["burst_seconds", "finite"]),
    ("taxonomy = []", ["taxonomy", "empty"]),
    ('taxonomy = ["heavy", "drizzle", "heavy"]', ["taxonomy", "'heavy' appears twice"]),
    ('taxonomy = ["heavy", ""]', ["taxonomy", "not a rain type"]),
])
def test_nonsense_settings_are_refused_on_open(tmp_path: Path, body: str, words: list[str]) -> None:
    store = init_store(tmp_path / "s")
    write_settings(store.root, body)
    with pytest.raises(ConfigError) as info:
        open_store(store.root)
    message = str(info.value)
    assert "\n" not in message and str(store.root / "rainset.toml") in message
    for word in words:
        assert word in message


def test_every_numeric_setting_has_a_range_named_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "store-format.md").read_text()
    for setting in BY_NAME.values():
        if setting.type in (int, float):
            assert setting.range is not None, setting.name
            assert setting.range.check(setting.name, setting.default) == setting.default
            row = next(line for line in docs.splitlines() if line.startswith(f"| `{setting.name}`"))
            assert setting.range.text() in row, setting.name


def test_empty_toml_is_an_error_but_a_partial_one_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rainset.toml"
    path.write_text("# nothing here\n")
    with pytest.raises(ConfigError, match="empty store settings file"):
        load_toml(path)
    path.write_text("format = 1\n[settings]\npreview_quality = 70\n")
    cfg = load_toml(path)
    assert cfg.settings["preview_quality"] == 70
    assert cfg.settings["preview_max_side"] == BY_NAME["preview_max_side"].default


def test_bad_preview_settings_stop_ingest_before_anything_is_written(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"\xff\xd8 not really")
    write_settings(store.root, "preview_max_side = 0")
    code, output = cli("ingest", str(src), "--store", str(store.root), "--workers", "0", "-q")
    assert code == 1 and "preview_max_side" in output and "Traceback" not in output
    assert not any((store.root / "previews").rglob("*")) and not any((store.root / "objects").rglob("*"))


def test_range_helper() -> None:
    assert Range(0, 10).check("--n", 10) == 10
    assert Range(0, 1, integer=False).check("--x", 1) == 1.0
    for bad in (-1, 11, 2.5, float("nan"), True, "3"):
        with pytest.raises(ConfigError, match="--n"):
            Range(0, 10).check("--n", bad)
    for bad in (float("inf"), float("-inf"), float("nan"), 1e308):
        with pytest.raises(ConfigError, match="finite"):
            Range(0, 100, integer=False).check("--x", bad)


@pytest.mark.parametrize("args, option", [
    (["export", "v1", "--seed", str(10**30)], "--seed"),
    (["export", "v1", "--ratios", "inf,1,1"], "--ratios"),
    (["export", "v1", "--rows-per-file", "0"], "--rows-per-file"),
    (["labels", "release", "--older-than", "inf"], "--older-than"),
    (["labels", "release", "--older-than", "nan"], "--older-than"),
    (["labels", "release", "--older-than", "1e308"], "--older-than"),
    (["labels", "review", "--limit", "-1"], "--limit"),
    (["shards", "v1", "--workers", "-3"], "--workers"),
    (["ingest", ".", "--batch-size", "0"], "--batch-size"),
    (["ingest", ".", "--workers", "-1"], "--workers"),
    (["dedupe", "--threshold", "65"], "--threshold"),
    (["leakage", "v1", "--threshold", "-1"], "--threshold"),
])
def test_out_of_range_options_are_one_line_errors(tmp_path: Path, args: list[str], option: str) -> None:
    store = init_store(tmp_path / "s")
    code, output = cli(*args, "--store", str(store.root))
    assert code == 1, output
    assert output.startswith("error:") and option in output and "Traceback" not in output
    assert len(output.strip().splitlines()) <= 2  # one line, wrapped at most once by the console


# 2. catalog identity ---------------------------------------------------------------------------------

def test_init_records_one_id_in_toml_and_catalog(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    assert store.store_id and f'store_id = "{store.store_id}"' in (store.root / "rainset.toml").read_text()
    catalog = open_catalog(store.db_url)
    try:
        assert read_store_id(catalog) == store.store_id
    finally:
        catalog.close()
    assert open_store(store.root).store_id == store.store_id


def test_missing_empty_and_foreign_catalogs_are_refused_by_every_command(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    put_object(store, "ab" * 32, b"x")
    other = init_store(tmp_path / "other")
    db = store.root / "catalog.db"
    db.unlink()
    for args in (["status"], ["verify"], ["export", "v1"], ["ingest", str(tmp_path)], ["versions"],
                 ["annotate", "serve", "--port", "1"]):  # serve refuses before it listens
        code, output = cli(*args, "--store", str(store.root))
        assert code == 1 and "catalog" in output and "missing" in output, (args, output)
    assert not db.exists()  # nothing created a new empty catalog
    db.write_bytes(b"")
    code, output = cli("status", "--store", str(store.root))
    assert code == 1 and "empty" in output
    shutil.copy(other.root / "catalog.db", db)
    code, output = cli("status", "--store", str(store.root))
    assert code == 1 and "another store" in output and other.store_id in output


def test_verify_lists_objects_no_catalog_row_names(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    put_object(store, "cd" * 32, b"stray")
    report = verify_store(open_store(store.root))
    assert report.orphans == 1 and report.problems[0].problem == "orphan"
    code, output = cli("verify", "--store", str(store.root), "-q")
    assert code == 2


def old_store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(DATA / "store-v0.1.0", root)
    return root


def test_store_of_the_previous_release_is_adopted(tmp_path: Path) -> None:
    root = old_store(tmp_path)
    assert "store_id" not in (root / "rainset.toml").read_text()
    store = open_store(root)
    assert store.store_id
    text = (root / "rainset.toml").read_text()
    assert f'store_id = "{store.store_id}"' in text and "preview_quality = 85" in text
    engine = make_engine(store.db_url)
    assert current_revision(engine) == head_revision() == "0010"
    engine.dispose()
    assert open_store(root).store_id == store.store_id
    code, output = cli("status", "--store", str(root), "--json")
    assert code == 0 and '"captures": 3' in output


def test_old_store_with_a_stranger_catalog_is_not_adopted(tmp_path: Path) -> None:
    root = old_store(tmp_path)
    (root / "catalog.db").unlink()
    fresh = init_store(tmp_path / "fresh")
    con = sqlite3.connect(fresh.root / "catalog.db")
    con.execute("DELETE FROM catalog_meta")
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    shutil.copy(fresh.root / "catalog.db", root / "catalog.db")  # an empty, id-less catalog
    with pytest.raises(StoreError, match="names no file but objects/ holds originals"):
        open_store(root)
    assert "store_id" not in (root / "rainset.toml").read_text()


def test_identity_on_postgres(tmp_path: Path, pg_url: str) -> None:
    store = init_store(tmp_path / "s", pg_url)
    assert open_store(store.root).store_id == store.store_id
    with pytest.raises(StoreError, match="another store"):
        init_other = tmp_path / "t"
        init_other.mkdir()
        (init_other / "rainset.toml").write_text(f'format = 1\nstore_id = "{"0" * 32}"\n[catalog]\nurl = "{pg_url}"\n')
        open_store(init_other)


def test_a_postgres_catalog_of_the_previous_release_is_adopted(tmp_path: Path, pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.begin() as conn:  # the catalog as the previous release left it: revision 0006, no store id
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
    assert current_revision(engine) == "0006"
    engine.dispose()
    root = tmp_path / "store"
    root.mkdir()
    (root / "rainset.toml").write_text(f'format = 1\n[catalog]\nurl = "{pg_url}"\n')
    store = open_store(root)  # migrates to 0007 and records one id in both places
    assert store.store_id and f'store_id = "{store.store_id}"' in (root / "rainset.toml").read_text()
    catalog = open_catalog(pg_url)
    try:
        assert current_revision(catalog.engine) == head_revision() and read_store_id(catalog) == store.store_id
    finally:
        catalog.close()
    assert open_store(root).store_id == store.store_id


# 3. read-only stores -----------------------------------------------------------------------------------

def test_is_read_only_follows_the_access_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = init_store(tmp_path / "s")
    assert not is_read_only(store.root)
    monkeypatch.setattr("rainset.store.os.access", lambda path, mode: Path(path) != store.root)
    assert is_read_only(store.root)
    monkeypatch.setattr("rainset.store.os.access", lambda path, mode: Path(path).name != "catalog.db")
    assert is_read_only(store.root)


def test_readers_work_and_writers_refuse_on_a_read_only_store(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # as root chmod stops nothing, so the library's access check is what is read-only here
    root = old_store(tmp_path)
    open_store(root)  # adopt and migrate while writable
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    real_access = os.access
    monkeypatch.setattr("rainset.store.os.access",
                        lambda path, mode: False if mode == os.W_OK else real_access(path, mode))
    for args in (["status"], ["verify", "-q"], ["versions"]):
        code, output = cli(*args, "--store", str(root))
        assert code == 0, (args, output)
    code, output = cli("status", "--store", str(root), "--json")
    assert '"captures": 3' in output and "immutable=1" in output
    for args in (["ingest", str(tmp_path)], ["export", "v1"], ["labels", "release"], ["dedupe"]):
        code, output = cli(*args, "--store", str(root))
        assert code == 1 and f"read-only store: {root}" in output, (args, output)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_diff_and_report_work_on_a_read_only_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = old_store(tmp_path)
    for name in ("v1", "v2"):
        code, output = cli("export", name, "--store", str(root))
        assert code == 0, output
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    real_access = os.access
    monkeypatch.setattr("rainset.store.os.access",  # only the store is read-only: the report goes outside it
                        lambda path, mode: False if mode == os.W_OK and Path(path).resolve().is_relative_to(root)
                        else real_access(path, mode))
    code, output = cli("diff", "v1", "v2", "--store", str(root))
    assert code == 0 and "v1 → v2" in output, output
    out = tmp_path / "report.html"
    code, output = cli("report", "v2", "--out", str(out), "--store", str(root))
    assert code == 0 and out.stat().st_size > 0, output
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the access check is tested above")
def test_chmod_read_only_store(tmp_path: Path) -> None:
    root = old_store(tmp_path)
    open_store(root)
    modes = {}
    for p in [root, *root.rglob("*")]:
        modes[p] = p.stat().st_mode
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert cli("status", "--store", str(root))[0] == 0
        assert cli("verify", "--store", str(root), "-q")[0] == 0
        code, output = cli("export", "v1", "--store", str(root))
        assert code == 1 and "read-only store" in output
    finally:
        for p, mode in sorted(modes.items(), key=lambda kv: len(kv[0].parts)):
            p.chmod(mode)
