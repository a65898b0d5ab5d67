"""The dataset card (README.md) of every manifest version: Hugging Face YAML metadata that agrees with
the Parquet files, and a body with provenance, counts and loading instructions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rainset.manifests.card import export_command
from rainset.manifests.export import export_manifest
from rainset.manifests.schema import REDACT, arrow_schema, hf_features
from rainset.manifests.versions import open_version
from rainset.store import Store
from tests.manifest_helpers import labelled_store

yaml = pytest.importorskip("yaml")


def card(store: Store, name: str) -> tuple[dict, str]:
    text = (store.root / "manifests" / name / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    st, _ = labelled_store(tmp_path_factory.mktemp("card") / "store", n=40)
    return st


def test_card_metadata_matches_the_parquet(store: Store) -> None:
    export_manifest(store, "v1", redact=["serial"], license="cc-by-4.0", ratios=[("train", 0.5), ("validation", 0.25),
                                                                                 ("test", 0.25)])
    meta, body = card(store, "v1")
    version = open_version(store, "v1")
    assert meta["license"] == "cc-by-4.0" and "license_name" not in meta
    assert meta["task_categories"] == ["image-to-image"] and "deraining" in meta["tags"]
    rows = version.rows(["split", "rain_type"])
    per_split = {s: sum(1 for r in rows if r["split"] == s) for s in ("train", "validation", "test")}
    declared = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert declared == {s: n for s, n in per_split.items() if n}
    for entry in meta["configs"][0]["data_files"]:
        files = sorted(version.path.glob(entry["path"]))
        assert files and sum(pq.read_metadata(f).num_rows for f in files) == per_split[entry["split"]]
    names = [f["name"] for f in meta["dataset_info"]["features"]]
    assert names == pq.read_schema(version.data_files()[0]).names and "serial" not in names
    # body: provenance and counts
    assert f"`{store.store_id}`" in body and "`v1`" in body
    assert "rainset export v1 --redact serial --license cc-by-4.0 --ratios 50,25,25" in body
    for label in {r["rain_type"] for r in rows}:
        assert f"| {label} | {sum(1 for r in rows if r['rain_type'] == label)} |" in body
    assert "load_dataset(" in body and "pd.read_parquet(" in body


def test_default_licence_is_other_with_a_note(store: Store) -> None:
    export_manifest(store, "v-default", include_unlabelled=True)
    meta, body = card(store, "v-default")
    assert meta["license"] == "other" and meta["license_name"] == "per-capture"
    assert "see the `license` column" in body
    assert json.loads(json.dumps(meta))  # plain YAML types only


def test_export_command_round_trips_the_settings() -> None:
    import shlex

    from rainset.cli import app
    from typer.main import get_command

    settings = {"where": "iso >= 800 and make = 'Canon'", "include_unlabelled": True, "redact": ["gps"],
                "images": "embed", "license": "cc0-1.0", "seed": 3,
                "ratios": {"train": 0.7, "validation": 0.2, "test": 0.1}, "rows_per_file": 50_000}
    argv = shlex.split(export_command("v2", settings))
    assert argv[:3] == ["rainset", "export", "v2"]
    group = get_command(app)
    export = group.get_command(group.make_context("rainset", [], resilient_parsing=True), "export")
    p = export.make_context("export", argv[2:]).params  # the CLI's own option parser
    assert p["name"] == "v2" and p["where"] == settings["where"] and p["include_unlabelled"] is True
    assert p["redact"] == ["gps"] and p["images"] == "embed" and p["license_id"] == "cc0-1.0" and p["seed"] == 3
    assert p["ratios"] == "70,20,10" and p["rows_per_file"] == 50_000


def test_card_features_are_what_datasets_reads_from_the_parquet() -> None:
    datasets = pytest.importorskip("datasets")
    for drop, image in (((), False), (tuple(c for g in REDACT.values() for c in g), True)):
        from_card = datasets.Features._from_yaml_list(hf_features(drop, image))
        from_parquet = datasets.Features.from_arrow_schema(arrow_schema(drop, image=image))
        assert from_card == from_parquet


LOAD = """
import json, sys
from datasets import load_dataset
ds = load_dataset(sys.argv[1], cache_dir=sys.argv[2])
print(json.dumps({k: v.num_rows for k, v in ds.items()}))
"""


@pytest.mark.slow
def test_datasets_loads_the_version_folder_by_its_card(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    if not (store.root / "manifests" / "v1").is_dir():
        export_manifest(store, "v1", redact=["serial"], license="cc-by-4.0")
    meta, _ = card(store, "v1")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", LOAD, str(store.root / "manifests" / "v1"), str(tmp_path / "c")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
