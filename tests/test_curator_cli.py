"""The curator's view from the command line (issue 17): rejects, file paths beside capture ids,
``path``/``folder`` in ``--where``, ``labels set`` keeping a user's own labels, ``--version``, flags."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from rainset import __version__
from rainset.capture_paths import capture_files, representative_paths
from rainset.catalog.db import catalog_session
from rainset.errors import REJECT_REASONS
from rainset.labels.consensus import current_labels
from rainset.store import find_store
from rainset.synth import generate_dataset


def rainset(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAINSET_STORE"}
    return subprocess.run([sys.executable, "-m", "rainset.cli", *args], capture_output=True, text=True, env=env,
                          timeout=240)


def ok_json(*args: str) -> object:
    r = rainset(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose captures: one moved into caps/sub, one with an exact copy in caps/other."""
    base = tmp_path_factory.mktemp("curator")
    caps = base / "caps"
    generate_dataset(caps, 6, seed=7, raw_pairs=0, bursts=0, near_duplicates=1, exact_copies=0, corrupt=True)
    images = sorted((caps / "cam-a").glob("*.jpg"))
    (caps / "sub").mkdir()
    (caps / "other").mkdir()
    images[0].rename(caps / "sub" / images[0].name)
    shutil.copyfile(images[1], caps / "other" / f"copy_{images[1].name}")
    assert rainset("init", str(base / "store")).returncode == 0
    r = rainset("ingest", str(caps), "--store", str(base / "store"), "--workers", "0", "-q")
    assert r.returncode == 0, r.stderr
    return base


def test_rejects_lists_the_refused_files_newest_first(store: Path) -> None:
    s = str(store / "store")
    status = ok_json("status", "--store", s)
    listed = ok_json("rejects", "--store", s)
    assert status["rejects"] > 0 and listed["count"] == status["rejects"] == len(listed["rejects"])
    assert listed["reason"] is None
    assert {"path", "reason", "detail", "size", "when", "sha256"} <= set(listed["rejects"][0])
    assert all(r["reason"] in REJECT_REASONS and r["detail"] and str(store / "caps") in r["path"]
               for r in listed["rejects"])
    times = [datetime.fromisoformat(r["when"]) for r in listed["rejects"]]
    assert times == sorted(times, reverse=True)
    reason = listed["rejects"][-1]["reason"]
    one = ok_json("rejects", "--store", s, "--reason", reason)
    assert one["count"] == status["rejects_by_reason"][reason] and {r["reason"] for r in one["rejects"]} == {reason}
    text = rainset("rejects", "--store", s)
    assert text.returncode == 0 and listed["rejects"][0]["path"] in text.stdout
    bad = rainset("rejects", "--store", s, "--reason", "nope")
    assert bad.returncode == 1 and "'nope'" in bad.stderr and "decode-failed" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_groups_show_the_representative_path(store: Path) -> None:
    s = str(store / "store")
    assert rainset("dedupe", "--store", s, "-q").returncode == 0
    groups = ok_json("groups", "--store", s)["groups"]
    members = [m for g in groups for m in g["members"]]
    assert members
    with catalog_session(find_store(Path(s)).db_url) as session:
        reps = representative_paths(session)
    assert all(m["path"] == reps[m["capture_id"]] and Path(m["path"]).is_file() for m in members)
    text = rainset("groups", "--store", s)
    assert all(m["path"] in text.stdout for m in members)


def test_where_folder_and_path_select_by_any_file(store: Path) -> None:
    s = str(store / "store")
    ok_json("users", "add", "curator", "--role", "admin", "--store", s)
    in_sub = ok_json("labels", "set", "heavy", "--where", "folder like '%sub%'", "--as", "curator", "--store", s)
    by_copy = ok_json("labels", "set", "drizzle", "--where", "path like '%/copy_%'", "--as", "curator", "--store", s)
    assert in_sub["matched"] == in_sub["labelled"] == 1 and by_copy["matched"] == by_copy["labelled"] == 1
    with catalog_session(find_store(Path(s)).db_url) as session:
        files = capture_files(session)
        reps = representative_paths(session)
        labels = current_labels(session)
    heavy = [cid for cid, lab in labels.items() if lab.rain_type == "heavy"]
    drizzle = [cid for cid, lab in labels.items() if lab.rain_type == "drizzle"]
    assert len(heavy) == 1 and Path(files[heavy[0]][0].path).parent.name == "sub"
    # the copy is not the representative: path matched through the capture's other file
    assert len(drizzle) == 1 and len(files[drizzle[0]]) == 2 and "copy_" not in Path(reps[drizzle[0]]).name
    # file_name keeps meaning the representative's
    none = ok_json("labels", "set", "drizzle", "--where", "file_name like 'copy_%'", "--as", "curator", "--store", s)
    assert none["matched"] == 0
    # export: the same column set
    v = ok_json("export", "sub-only", "--where", "folder like '%sub%'", "--include-unlabelled", "--store", s)
    assert v["samples"] == 1
    bad = rainset("export", "x", "--where", "folder > 3", "--store", s)
    assert bad.returncode == 1 and "compares text with number" in bad.stderr  # folder is a text column


def test_labels_set_keeps_a_users_own_different_label(store: Path) -> None:
    s = str(store / "store")
    ok_json("users", "add", "bulk", "--role", "admin", "--store", s)
    where = "folder like '%other%'"
    first = ok_json("labels", "set", "streak", "--where", where, "--as", "bulk", "--store", s)
    assert (first["labelled"], first["kept"], first["replaced"]) == (1, 0, 0)
    again = rainset("labels", "set", "fog-mixed", "--where", where, "--as", "bulk", "--store", s)
    assert again.returncode == 0 and "0 labelled" in again.stdout and "1 kept" in again.stdout
    same = ok_json("labels", "set", "streak", "--where", where, "--as", "bulk", "--store", s)
    assert (same["labelled"], same["skipped"], same["kept"]) == (0, 1, 0)
    forced = ok_json("labels", "set", "fog-mixed", "--where", where, "--as", "bulk", "--overwrite", "--store", s)
    assert (forced["labelled"], forced["replaced"], forced["kept"]) == (1, 1, 0)
    with catalog_session(find_store(Path(s)).db_url) as session:
        labels = current_labels(session)
    mine = [r.rain_type for lab in labels.values() for r in lab.labels if r.user == "bulk"]
    assert mine == ["fog-mixed"]


def test_review_and_diff_show_paths(store: Path) -> None:
    s = str(store / "store")
    for name, label in (("ann1", "heavy"), ("ann2", "not-usable")):
        ok_json("users", "add", name, "--role", "reviewer", "--store", s)
        ok_json("labels", "set", label, "--where", "folder like '%sub%'", "--as", name, "--store", s)
    review = ok_json("labels", "review", "--store", s)
    assert review["total"] >= 1
    assert all(Path(c["path"]).is_file() for c in review["captures"])
    assert any(Path(c["path"]).parent.name == "sub" for c in review["captures"])
    assert review["captures"][0]["path"] in rainset("labels", "review", "--store", s).stdout
    ok_json("export", "all", "--include-unlabelled", "--store", s)
    d = ok_json("diff", "all", "sub-only", "--store", s)
    assert d["removed"] and all(Path(r["path"]).is_file() for r in d["removed"])
    assert d["removed"][0]["path"] in rainset("diff", "all", "sub-only", "--store", s).stdout


def test_labels_export_json_summary(store: Path, tmp_path: Path) -> None:
    s = str(store / "store")
    summary = ok_json("labels", "export", "--out", str(tmp_path / "tasks.json"), "--store", s)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert summary["tasks"] == len(tasks) > 0 and summary["annotations"] == sum(len(t["annotations"]) for t in tasks)
    assert summary["out"] == str(tmp_path / "tasks.json") and summary["config"] is None
    r = rainset("labels", "export", "--json", "--store", s)
    assert r.returncode == 1 and "--out" in r.stderr


def test_version_and_flags_in_help() -> None:
    r = rainset("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"rainset {__version__}"
    helped = rainset("ingest", "--help").stdout
    assert "--link" in helped and "<bool>" not in helped and "--workers <int>" in helped


def test_labels_import_maps_label_studio_member_ids(store: Path, tmp_path: Path) -> None:
    s = str(store / "store")
    ok_json("users", "add", "mapped", "--store", s)
    ok_json("labels", "export", "--out", str(tmp_path / "tasks.json"), "--store", s)
    task = json.loads((tmp_path / "tasks.json").read_text())[0]
    choice = {"id": "a1", "type": "choices", "from_name": "rain_type", "to_name": "image", "origin": "manual",
              "value": {"choices": ["unsure"]}}
    task["annotations"] = [{"id": 1, "completed_by": 7, "result": [choice], "was_cancelled": False},
                           {"id": 2, "completed_by": 8, "result": [], "was_cancelled": True}]
    (tmp_path / "ls.json").write_text(json.dumps([task]))
    (tmp_path / "map.csv").write_text("id,user\n7,mapped\n")
    bad = rainset("labels", "import", str(tmp_path / "ls.json"), "--store", s)
    assert bad.returncode == 1 and "member id 7" in bad.stderr and "--user-map" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    done = ok_json("labels", "import", str(tmp_path / "ls.json"), "--user-map", str(tmp_path / "map.csv"), "--store", s)
    assert (done["labelled"], done["cancelled"], done["users_created"]) == (1, 1, [])
    with catalog_session(find_store(Path(s)).db_url) as session:
        mine = [(cid, r.rain_type) for cid, lab in current_labels(session).items() for r in lab.labels
                if r.user == "mapped"]
    assert mine == [(task["data"]["capture_id"], "unsure")]
