"""``rainset dedupe`` and ``rainset groups``: JSON keys, corrections from the command line, errors,
demo_stage, and the key path on PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.demo.dedupe import demo_stage
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth import generate_dataset

RESULT_KEYS = {"threshold", "captures", "queried", "full_rebuild", "low_entropy", "candidates", "relations", "fine",
               "groups", "flagged", "seconds"}
GROUP_STATS_KEYS = {"clusters", "clustered_captures", "bursts", "scenes", "split_components"}
RAINSET = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "rainset")


def rainset(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAINSET_STORE"}
    exe = RAINSET if Path(RAINSET).exists() else shutil.which("rainset")
    assert exe, "the rainset script is not installed"
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=240)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("dcli")
    truth = generate_dataset(base / "caps", 14, seed=4, raw_pairs=2, bursts=1, near_duplicates=3, exact_copies=1)
    store = init_store(base / "store")
    ingest(store, [truth.root], IngestOptions(workers=1))
    return store, truth


@pytest.mark.timeout(200)
def test_cli_dedupe_groups_and_corrections(demo_store) -> None:
    store, _ = demo_store
    s = str(store.root)
    first = rainset("dedupe", "--store", s, "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == RESULT_KEYS | {"json_format"} and set(data["groups"]) == GROUP_STATS_KEYS
    assert data["queried"] == data["captures"] > 0 and data["groups"]["clusters"] >= 2
    again = json.loads(rainset("dedupe", "--store", s, "--json").stdout)
    assert again["queried"] == 0 and again["groups"] == data["groups"]
    groups = json.loads(rainset("groups", "--store", s, "--json").stdout)["groups"]
    assert {g["kind"] for g in groups} == {"cluster", "burst", "scene"}
    assert set(groups[0]) == {"key", "kind", "members"}
    assert set(groups[0]["members"][0]) == {"capture_id", "relation", "representative", "path"}
    cluster = next(g for g in groups if g["kind"] == "cluster")
    other = next(m["capture_id"] for m in cluster["members"] if not m["representative"])
    rep = rainset("groups", "representative", other, "--store", s, "--json")
    assert rep.returncode == 0, rep.stderr
    assert json.loads(rep.stdout)["correction"]["kind"] == "representative"
    rainset("dedupe", "--store", s)
    after = json.loads(rainset("groups", "--kind", "cluster", "--store", s, "--json").stdout)["groups"]
    moved = next(g for g in after if other in {m["capture_id"] for m in g["members"]})
    assert next(m for m in moved["members"] if m["capture_id"] == other)["representative"]
    a, b = (m["capture_id"] for m in cluster["members"][:2])
    assert rainset("groups", "not-duplicate", a, b, "--store", s).returncode == 0
    listed = json.loads(rainset("groups", "corrections", "--store", s, "--json").stdout)["corrections"]
    assert [c["kind"] for c in listed] == ["representative", "not-duplicate"]
    final = json.loads(rainset("groups", "--kind", "cluster", "--store", s, "--json").stdout)["groups"]
    assert not any({a, b} <= {m["capture_id"] for m in g["members"]} for g in final)


def test_cli_errors_are_one_line(demo_store) -> None:
    store, _ = demo_store
    s = str(store.root)
    bad = rainset("groups", "merge", "cnope", "cnope2", "--store", s)
    assert bad.returncode == 1 and "unknown capture id(s): cnope, cnope2" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    thr = rainset("dedupe", "--threshold", "40", "--store", s)
    assert thr.returncode == 1 and "threshold must be an integer between 0 and 32" in thr.stderr
    kind = rainset("groups", "--kind", "blob", "--store", s)
    assert kind.returncode == 1 and "unknown group kind 'blob'" in kind.stderr


def test_demo_stage(tmp_path: Path) -> None:
    # three near copies: two half-size ones without EXIF make two clusters (the 90 % crop is beyond
    # the threshold); the burst's frames are different exposures, never a cluster (issue 15)
    truth = generate_dataset(tmp_path / "caps", 10, seed=7, raw_pairs=1, bursts=1, near_duplicates=3,
                             exact_copies=1, corrupt=False)
    store = init_store(tmp_path / "store")
    ingest(store, [truth.root], IngestOptions(workers=1))
    demo = demo_stage(store)
    assert demo.result.groups.clusters >= 2 and demo.representative in demo.largest_cluster
    burst_files = {f.path for f in truth.files if f.burst_id is not None}
    with catalog_session(store.db_url) as s:
        burst = {cid for uri, cid in s.execute(select(File.uri, File.capture_id))
                 if uri.split(truth.root + "/", 1)[-1] in burst_files}
        clusters = [{m.capture_id for m in g.members} for g in list_groups(s, "cluster")]
    assert len(burst) == 3 and all(len(c & burst) <= 1 for c in clusters)
    assert demo.to_dict()["result"]["captures"] == demo.result.captures
    assert any("duplicate clusters" in line for line in demo.lines())


@pytest.mark.timeout(200)
def test_dedupe_on_postgresql_matches_sqlite(pg_url: str, tmp_path: Path) -> None:
    truth = generate_dataset(tmp_path / "caps", 10, seed=8, raw_pairs=1, bursts=1, near_duplicates=2,
                             exact_copies=1, corrupt=False)
    out = {}
    for name, url in (("sqlite", None), ("postgres", pg_url)):
        store = init_store(tmp_path / name, url)
        ingest(store, [truth.root], IngestOptions(workers=1))
        first = dedupe(store)
        second = dedupe(store)
        assert second.queried == 0 and second.groups == first.groups
        out[name] = (first.groups, first.relations, first.flagged)
    assert out["sqlite"] == out["postgres"]
