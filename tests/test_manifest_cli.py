"""The manifest commands: --json keys, exit codes, confirmation, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rainset.cli import app
from rainset.manifests.diff import DiffResult
from rainset.manifests.export import ExportResult
from rainset.manifests.leakage import LeakageResult
from rainset.manifests.removal import GcPlan, RemoveResult
from rainset.manifests.report import ReportResult
from tests.manifest_helpers import add_captures, add_group, labelled_store, representative_sha

runner = CliRunner()


def run(*args: str, input: str | None = None):  # noqa: ANN201
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def keys(cls) -> set[str]:  # noqa: ANN001
    import dataclasses

    return {f.name for f in dataclasses.fields(cls)}


@pytest.fixture()
def store_path(tmp_path: Path) -> Path:
    store, _ = labelled_store(tmp_path / "store", 20)
    return store.root


def test_export_diff_versions_report_json(store_path: Path, tmp_path: Path) -> None:
    s = str(store_path)
    r = run("export", "v1", "--store", s, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == keys(ExportResult) | {"json_format"} and data["name"] == "v1"
    r = run("export", "v2", "--store", s, "--json", "--where", "iso >= 800", "--redact", "gps", "--redact", "serial",
            "--include-unlabelled", "--ratios", "70,20,10", "--seed", "3")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["redacted"] == ["gps_lat", "gps_lon", "gps_alt", "serial"]
    r = run("versions", "--store", s, "--json")
    assert [v["name"] for v in json.loads(r.stdout)["versions"]] == ["v1", "v2"]
    r = run("diff", "v1", "v2", "--store", s, "--json")
    diff = json.loads(r.stdout)
    assert set(diff) == keys(DiffResult) | {"json_format"} and diff["seed_changed"] is True
    r = run("diff", "v1", "v2", "--store", s)
    assert r.exit_code == 0 and "v1 → v2" in r.stdout
    report = tmp_path / "out" / "r.html"
    r = run("report", "--store", s, "--out", str(report), "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == keys(ReportResult) | {"json_format"} and data["version"] == "v2" and report.is_file()


def test_errors_are_one_line(store_path: Path) -> None:
    s = str(store_path)
    assert run("export", "v1", "--store", s, "-q").exit_code == 0
    for args, fragment in [
        (("export", "v1"), "already exists"),
        (("export", "../evil"), "invalid version name"),
        (("export", "v9", "--where", "iso > 1; drop table captures"), "';' is not allowed"),
        (("export", "v9", "--where", "os.system('x')"), "unknown column 'os'"),
        (("export", "v9", "--redact", "faces"), "--redact 'faces'"),
        (("export", "v9", "--ratios", "1,2"), "--ratios"),
        (("diff", "v1", "nope"), "no manifest version 'nope'"),
        (("remove", "cnope", "--reason", "a face"), "unknown capture"),
    ]:
        r = run(*args, "--store", s)
        assert r.exit_code == 1, (args, r.output)
        assert fragment in r.stderr and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) <= 2, r.stderr


def test_leakage_exit_codes(tmp_path: Path) -> None:
    store, ids = labelled_store(tmp_path / "store", 20)
    s = str(store.root)
    assert run("export", "v1", "--store", s, "--include-unlabelled", "--ratios", "50,25,25", "-q").exit_code == 0
    r = run("leakage", "v1", "--store", s, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"] is True
    assert set(json.loads(r.stdout)) == keys(LeakageResult) | {"ok", "json_format"}
    # a near-duplicate pair that dedupe never linked, across two splits: found, exit code 2
    from rainset.manifests.versions import open_version

    rows = open_version(store, "v1").rows(["sample_id", "split", "phash"])
    a = next(r for r in rows if r["split"] == "train")
    b = next(r for r in rows if r["split"] != "train" and r["sample_id"] not in ids[:5])
    from rainset.catalog.db import open_catalog
    from rainset.catalog.models import Capture, Hash

    catalog = open_catalog(store.db_url)
    with catalog.session() as ses:
        h = ses.get(Hash, ses.get(Capture, b["sample_id"]).representative_sha256)
        h.phash = f"{int(a['phash'], 16) ^ 0b11:016x}"
    catalog.close()
    assert run("export", "v2", "--store", s, "--include-unlabelled", "--ratios", "50,25,25", "-q").exit_code == 0
    r = run("leakage", "v2", "--store", s, "--json", "--threshold", "4")
    assert r.exit_code == 2
    pairs = json.loads(r.stdout)["pairs"]
    assert [(p["distance"], {p["a"], p["b"]}) for p in pairs] == [(2, {a["sample_id"], b["sample_id"]})]
    r = run("leakage", str(store.root / "manifests" / "v2" / "data"), "--threshold", "1")
    assert r.exit_code == 0, r.output


def test_remove_and_gc_asks_first(tmp_path: Path) -> None:
    store, _ = labelled_store(tmp_path / "store", 4)
    ids = add_captures(store, 50, 3, salt="x", write_objects=True)
    add_group(store, "burst", "b", ids[:2])
    s = str(store.root)
    r = run("remove", ids[0], ids[1], "--reason", "licence withdrawn", "--store", s, "--json")
    assert r.exit_code == 0 and set(json.loads(r.stdout)) == keys(RemoveResult) | {"json_format"}
    r = run("gc", "--store", s, input="n\n")
    assert r.exit_code == 1 and all(store.object_path(representative_sha(store, c)).exists() for c in ids[:2])
    r = run("gc", "--store", s, "--json")
    assert r.exit_code == 1 and "--yes" in r.stderr
    r = run("gc", "--store", s, input="y\n")
    assert r.exit_code == 0 and "deleted 2 files" in r.stdout
    assert not any(store.object_path(representative_sha(store, c)).exists() for c in ids[:2])
    assert store.object_path(representative_sha(store, ids[2])).exists()
    r = run("gc", "--store", s, "--json", "--yes")
    assert r.exit_code == 0 and json.loads(r.stdout)["deleted"] == 0
    assert set(json.loads(r.stdout)) == keys(GcPlan) | {"deleted", "json_format"}

