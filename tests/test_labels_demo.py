"""The demo's labels stage on a small generated store, and the labels CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rainset.cli import app
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.demo.labels import ANNOTATORS, demo_stage
from rainset.store import init_store
from rainset.synth import generate_dataset


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    truth = generate_dataset(base / "caps", 10, seed=5, size=(160, 120), raw_pairs=1, bursts=1, near_duplicates=1,
                             exact_copies=1)
    store = init_store(base / "store")
    ingest(store, [str(base / "caps")], IngestOptions(workers=1, provenance=Provenance("demo", None, None)))
    return store, truth


def test_demo_stage_labels_everything_k_times(demo_store) -> None:
    store, truth = demo_store
    result = demo_stage(store, truth)
    shots = [f for f in truth.files if f.kind in ("capture", "burst", "near-duplicate")]
    assert result.captures_labelled == result.captures_active == len(shots) == 11  # no dedupe: all queued
    assert result.labels == 2 * len(shots) and result.k == 2
    assert result.disagreements == 1 and result.adjudicated == 1 and result.review_queue_left == 0
    assert result.consensus_matches_truth == len(shots)  # the reviewer settled the one disagreement
    # One disagreement in 11 pairs: alpha is high but below 1.
    assert result.alpha is not None and 0.7 < result.alpha < 1.0
    assert result.annotators == ANNOTATORS
    assert json.loads(json.dumps(result.to_dict()))["labels"] == 22
    assert "alpha" in result.lines()[0]


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_cli_users_and_labels(tmp_path: Path) -> None:
    generate_dataset(tmp_path / "caps", 4, seed=9, size=(160, 120), raw_pairs=0, bursts=0, near_duplicates=0,
                     exact_copies=0, corrupt=False)
    store = init_store(tmp_path / "s")
    ingest(store, [str(tmp_path / "caps")], IngestOptions(workers=1, provenance=Provenance("clear-days", None, None)))
    st = ["--store", str(store.root)]
    code, stdout, _ = _run("users", "add", "boss", "--role", "admin", "--json", *st)
    assert code == 0
    created = json.loads(stdout)
    assert created["role"] == "admin" and len(created["token"]) >= 40
    code, _, stderr = _run("users", "add", "bad name", *st)
    assert code == 1 and "invalid user name" in stderr
    code, _, stderr = _run("users", "add", "x", "--role", "root", *st)
    assert code == 1 and "invalid role" in stderr
    code, stdout, _ = _run("labels", "set", "no-rain", "--where", "source_name = 'clear-days'", "--as", "boss",
                           "--json", *st)
    assert code == 0 and json.loads(stdout) == {"json_format": 2, "matched": 4, "labelled": 4, "skipped": 0,
                                                                          "kept": 0, "replaced": 0}
    code, _, stderr = _run("labels", "set", "no-rain", "--where", "sourcename = 'x'", "--as", "boss", *st)
    assert code == 1 and "sourcename" in stderr
    code, stdout, _ = _run("labels", "agreement", "--json", *st)
    report = json.loads(stdout)
    assert code == 0 and report["n_captures"] == 4 and report["overall_alpha"] is None
    assert report["per_annotator"][0]["name"] == "boss" and report["per_annotator"][0]["labels"] == 4
    code, stdout, _ = _run("labels", "review", "--json", *st)
    assert code == 0 and json.loads(stdout) == {"json_format": 2, "total": 0, "captures": []}
    out_file, config = tmp_path / "ls.json", tmp_path / "ls.xml"
    code, _, _ = _run("labels", "export", "--format", "labelstudio", "--out", str(out_file), "--config", str(config),
                      *st)
    tasks = json.loads(out_file.read_text())
    assert code == 0 and len(tasks) == 4 and "<Choices" in config.read_text()
    assert all(t["annotations"][0]["completed_by"] == {"email": "boss@rainset.invalid"} for t in tasks)
    code, _, stderr = _run("labels", "export", "--format", "coco", *st)
    assert code == 1 and "labelstudio" in stderr
    # Re-importing what was exported adds nothing.
    code, stdout, _ = _run("labels", "import", str(out_file), "--json", *st)
    assert code == 0 and json.loads(stdout)["skipped"] == 4 and json.loads(stdout)["labelled"] == 0
    code, _, stderr = _run("labels", "import", str(tmp_path / "missing.json"), *st)
    assert code == 1 and "missing.json" in stderr
    code, stdout, _ = _run("users", "list", "--json", *st)
    assert [u["name"] for u in json.loads(stdout)["users"]] == ["boss"]
    code, stdout, _ = _run("labels", "release", "--older-than", "1", "--json", *st)
    assert code == 0 and json.loads(stdout) == {"json_format": 2, "released": 0}
    code, _, _ = _run("users", "disable", "boss", *st)
    assert code == 0
    code, stdout, _ = _run("users", "list", "--json", *st)
    assert json.loads(stdout)["users"][0]["disabled"] is True
    code, stdout, _ = _run("users", "token", "boss", "--json", *st)
    assert code == 0 and json.loads(stdout)["token"] != created["token"]
