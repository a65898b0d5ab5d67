"""rainset export: manifests read back by pyarrow, pandas, polars, DuckDB and Hugging Face datasets;
immutability, races, filters, redaction, split stability, removal, diff and gc."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections import Counter
from pathlib import Path

import pytest

from rainset.catalog.db import open_catalog
from rainset.catalog.manifest_tables import SplitAssignment
from rainset.catalog.models import Version
from rainset.errors import ConfigError, FilterError, ManifestError
from rainset.manifests.diff import diff_versions
from rainset.manifests.export import export_manifest
from rainset.manifests.leakage import check_leakage
from rainset.manifests.removal import gc_apply, gc_plan, remove_captures
from rainset.manifests.schema import COLUMN_NAMES, SCHEMA_VERSION
from rainset.manifests.versions import check_files, open_version
from rainset.store import open_store
from tests.manifest_helpers import add_captures, add_group, add_labels, labelled_store, representative_sha


@pytest.fixture()
def store_ids(tmp_path: Path):
    return labelled_store(tmp_path / "store")


def _expected_counts(info: dict) -> dict[str, int]:
    return {split: c["total"] for split, c in info["counts"].items() if c["total"]}


def test_export_reads_back_everywhere(store_ids, tmp_path: Path, monkeypatch) -> None:
    store, ids = store_ids
    result = export_manifest(store, "v1", rows_per_file=15)
    version = open_version(store, "v1")
    info = version.info
    assert info["name"] == "v1" and info["parent"] is None and info["schema_version"] == SCHEMA_VERSION
    assert info["taxonomy_version"] == 1 and info["samples"] == result.samples
    assert check_files(version) == []
    names = sorted(p.name for p in (version.path / "data").iterdir())
    assert names == sorted(Path(f["path"]).name for f in info["files"])
    for name in names:  # Hugging Face file naming: {split}-{i:05d}-of-{n:05d}.parquet
        split, i, of, n = name[:-len(".parquet")].split("-")
        assert split in ("train", "validation", "test") and of == "of" and len(i) == len(n) == 5 and int(i) < int(n)
    assert any(name.endswith("-of-00002.parquet") for name in names)  # 15 rows per file: train has several
    expected = _expected_counts(info)
    # 40 labelled captures; 7, 17, 27 and 37 have two disagreeing labels and no consensus
    assert result.samples == 36 == sum(expected.values())

    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    table = ds.dataset(version.path / "data", format="parquet").to_table()
    assert table.schema.names == list(COLUMN_NAMES)
    assert dict(Counter(table.column("split").to_pylist())) == expected
    df = pd.read_parquet(version.path / "data")
    assert len(df) == result.samples and df["sample_id"].is_unique
    pl_df = pl.read_parquet(str(version.path / "data" / "*.parquet"))
    assert pl_df.height == result.samples
    assert pl_df.filter(pl.col("sample_id") == ids[0])["cluster_id"].to_list() == ["cluster-0"]
    con = duckdb.connect()
    rows = con.execute(f"SELECT split, count(*) FROM read_parquet('{version.path}/data/*.parquet') GROUP BY split").fetchall()
    assert dict(rows) == expected
    labels = con.execute(f"SELECT l.user FROM (SELECT unnest(labels) AS l FROM "
                         f"read_parquet('{version.path}/data/*.parquet') WHERE sample_id = ?)", [ids[1]]).fetchall()
    assert [u for (u,) in labels] == ["ann", "bob"]

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from datasets import load_dataset

    dsd = load_dataset("parquet", data_dir=str(version.path / "data"), cache_dir=str(tmp_path / "hf-cache"))
    assert {k: len(v) for k, v in dsd.items()} == expected
    row = dsd["train"][0]
    assert set(row) == set(COLUMN_NAMES) and isinstance(row["labels"], list)


def test_consensus_groups_and_splits_in_rows(store_ids) -> None:
    store, ids = store_ids
    export_manifest(store, "v1", include_unlabelled=True)
    rows = {r["sample_id"]: r for r in open_version(store, "v1").rows()}
    assert len(rows) == 40
    # ids[0..4] are joined by a cluster (0-2) and a burst (2-4): one leakage group, one split
    assert len({rows[c]["split"] for c in ids[:5]}) == 1
    assert {rows[c]["leakage_group"] for c in ids[:5]} == {ids[0]}
    assert rows[ids[3]]["burst_id"] == "burst-0" and rows[ids[3]]["cluster_id"] is None
    assert rows[ids[10]]["scene_id"] == "scene-0" and rows[ids[10]]["split"] == rows[ids[11]]["split"]
    r6 = rows[ids[6]]  # ann and cy agree, bob differs: majority
    assert r6["label_source"] == "majority" and r6["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert [lab["user"] for lab in r6["labels"]] == ["ann", "bob", "cy"]
    r1 = rows[ids[1]]
    assert r1["rain_type"] == "heavy" and r1["label_source"] == "unanimous" and r1["agreement"] == 1.0
    assert rows[ids[4]]["attributes"] == []  # one of two annotators: not a majority
    assert rows[ids[8]]["attributes"] == ["night"]
    assert rows[ids[5]]["flags"] == ["blur"] and rows[ids[0]]["path"].startswith("objects/")


def test_where_redact_and_unlabelled(store_ids) -> None:
    store, ids = store_ids
    add_captures(store, 100, 5)  # unlabelled
    export_manifest(store, "all", include_unlabelled=True)
    every = open_version(store, "all").rows()
    assert len(every) == 45 and sum(r["rain_type"] is None for r in every) >= 5
    expr = "rain_type in ('heavy','streak') and iso >= 800"
    export_manifest(store, "sel", where=expr, redact=["gps", "serial"])
    version = open_version(store, "sel")
    got = version.rows()
    want = [r for r in every if r["rain_type"] in ("heavy", "streak") and r["iso"] is not None and r["iso"] >= 800]
    assert sorted(r["sample_id"] for r in got) == sorted(r["sample_id"] for r in want) and got
    names = version.table().schema.names
    assert not {"gps_lat", "gps_lon", "gps_alt", "serial"} & set(names)
    assert version.info["redacted"] == ["gps_lat", "gps_lon", "gps_alt", "serial"]
    assert version.info["settings"]["where"] == expr and version.info["parent"] == "all"
    with pytest.raises(FilterError, match="unknown column 'isoo'"):
        export_manifest(store, "bad", where="isoo > 3")
    with pytest.raises(FilterError, match="function calls"):
        export_manifest(store, "bad", where="__import__('os').system('true')")
    with pytest.raises(ConfigError, match="--redact 'face'"):
        export_manifest(store, "bad", redact=["face"])
    assert not (store.root / "manifests" / "bad").exists()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "-x", "a b", "x" * 101, ".hidden", "a\\b"])
def test_invalid_names_refused(store_ids, name: str) -> None:
    with pytest.raises(ManifestError, match="invalid version name"):
        export_manifest(store_ids[0], name)


def test_versions_are_immutable(store_ids) -> None:
    store, _ = store_ids
    export_manifest(store, "v1")
    before = (store.root / "manifests" / "v1" / "version.json").read_bytes()
    with pytest.raises(ManifestError, match="already exists"):
        export_manifest(store, "v1", include_unlabelled=True)
    assert (store.root / "manifests" / "v1" / "version.json").read_bytes() == before
    assert list(store.tmp_dir.iterdir()) == []


def _race(root: str, name: str, barrier, queue) -> None:  # noqa: ANN001 - multiprocessing objects
    store = open_store(root)
    barrier.wait()
    try:
        r = export_manifest(store, name)
        queue.put(("ok", r.samples))
    except ManifestError as exc:
        queue.put(("error", str(exc)))


def _run_race(root: Path, name: str, other: str | None = None) -> list[tuple[str, object]]:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(root), n, barrier, queue)) for n in (name, other or name)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    return sorted(results)


def _assert_one_complete(store, name: str, results) -> None:  # noqa: ANN001
    assert [r[0] for r in results] == ["error", "ok"], results
    assert "already exists" in results[0][1] or "concurrently" in results[0][1]
    version = open_version(store, name)
    assert check_files(version) == [] and len(version.rows()) == results[1][1]
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        assert s.query(Version).filter_by(kind="manifest", name=name).count() == 1
    catalog.close()
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.timeout(180)
def test_concurrent_exports_of_one_name(store_ids) -> None:
    store, _ = store_ids
    results = _run_race(store.root, "race")
    _assert_one_complete(store, "race", results)


@pytest.mark.timeout(180)
def test_concurrent_exports_of_two_names_agree_on_splits(store_ids) -> None:
    store, _ = store_ids
    results = _run_race(store.root, "left", "right")
    assert [r[0] for r in results] == ["ok", "ok"], results
    left = {r["sample_id"]: r["split"] for r in open_version(store, "left").rows()}
    right = {r["sample_id"]: r["split"] for r in open_version(store, "right").rows()}
    assert left == right and len(left) == 36
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        recorded = {a.capture_id: a.split for a in s.query(SplitAssignment)}
    catalog.close()
    assert {k: recorded[k] for k in left} == left


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_export_race_and_splits_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    store, ids = labelled_store(tmp_path / "pg", 20, db_url=pg_url)
    results = _run_race(store.root, "race")
    _assert_one_complete(store, "race", results)
    rows = {r["sample_id"]: r for r in open_version(store, "race").rows()}
    assert len({rows[c]["split"] for c in ids[:5] if c in rows}) == 1
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        assert s.query(SplitAssignment).count() == 20
    catalog.close()
    remove_captures(store, [ids[1]], "a plate")
    export_manifest(store, "after")
    d = diff_versions(store, "race", "after")
    assert [(r["sample_id"], r["reason"]) for r in d.removed] == [(ids[1], "removed: a plate")] and not d.moved
    assert gc_plan(store).objects == ()  # no object files in this store


def test_splits_stay_put_and_merges_are_reported(tmp_path: Path) -> None:
    store, ids = labelled_store(tmp_path / "store", 60)
    export_manifest(store, "v1", include_unlabelled=True)
    first = {r["sample_id"]: r["split"] for r in open_version(store, "v1").rows()}
    a = next(c for c in ids[20:] if first[c] == "train")
    b = next(c for c in ids[20:] if first[c] != "train")
    new = add_captures(store, 500, 30, salt="n")
    add_group(store, "cluster", "bridge", [a, new[0], b])  # a new capture merges a train and a non-train group
    add_labels(store, {c: [("ann", "heavy", [])] for c in new})
    export_manifest(store, "v2", include_unlabelled=True)
    second = {r["sample_id"]: r["split"] for r in open_version(store, "v2").rows()}
    older, younger = sorted((a, b), key=ids.index)  # ingest order is age
    moved = {c for c in first if first[c] != second[c]}
    assert moved == {younger}  # the merged group keeps the split of its oldest member
    assert second[new[0]] == second[a] == second[b] == first[older]
    d = diff_versions(store, "v1", "v2")
    assert [m["sample_id"] for m in d.moved] == [younger]
    assert "merged" in d.moved[0]["reason"] and d.moved[0]["to"] == first[older]
    assert {x["sample_id"] for x in d.added} == set(new) and not d.removed and not d.seed_changed
    assert d.labels["heavy"]["change"] == 30
    assert sum(c.get("heavy", {}).get("change", 0) for c in d.labels_by_split.values()) == 30
    assert d.labels_by_split[second[new[0]]]["heavy"]["change"] >= 1
    export_manifest(store, "v3", include_unlabelled=True)  # nothing new: nothing moves
    assert not diff_versions(store, "v2", "v3").moved
    export_manifest(store, "v4", include_unlabelled=True, seed=5)
    d4 = diff_versions(store, "v3", "v4")
    assert d4.seed_changed and d4.moved and all("seed changed" in m["reason"] for m in d4.moved)


def test_relabel_remove_diff_and_gc(tmp_path: Path) -> None:
    store = labelled_store(tmp_path / "store", 12)[0]
    ids = add_captures(store, 200, 4, salt="g", write_objects=True)
    add_labels(store, {c: [("ann", "drizzle", [])] for c in ids})
    catalog = open_catalog(store.db_url)
    from rainset.catalog.models import Capture, File

    with catalog.session() as s:  # ids[3] has an exact copy owned by a kept capture: its object must stay
        s.add(File(capture_id=ids[0], uri="/data/copy-of-3.jpg", source_dir="/data", stem="copy-of-3",
                   sha256=s.get(Capture, ids[3]).representative_sha256, size=1, format="jpeg", role="raster",
                   storage="copy", width=1, height=1, bit_depth=8, decoder="x"))
    catalog.close()
    export_manifest(store, "v1")
    add_labels(store, {ids[1]: [("ann", "heavy", ["night"])]})
    result = remove_captures(store, [ids[2], ids[3]], "a face")
    assert result.removed == (ids[2], ids[3])
    with pytest.raises(ManifestError, match="unknown capture"):
        remove_captures(store, ["nope"], "x")
    with pytest.raises(ManifestError, match="needs a reason"):
        remove_captures(store, [ids[0]], " ")
    export_manifest(store, "v2")
    d = diff_versions(store, "v1", "v2")
    assert {r["sample_id"]: r["reason"] for r in d.removed} == {ids[2]: "removed: a face", ids[3]: "removed: a face"}
    assert [(r["sample_id"], r["old"], r["new"]) for r in d.relabelled] == [(ids[1], "drizzle", "heavy")]
    assert ids[2] in {r["sample_id"] for r in open_version(store, "v1").rows()}  # earlier version stays readable
    plan = gc_plan(store)
    obj2 = str(store.object_path(representative_sha(store, ids[2])).relative_to(store.root))
    assert plan.objects == (obj2,) and plan.kept_shared == 1
    assert gc_apply(store, plan) == 1
    assert not (store.root / obj2).exists() and store.object_path(representative_sha(store, ids[3])).exists()
    assert store.object_path(representative_sha(store, ids[0])).exists()
    assert gc_plan(store).objects == ()



def test_leakage_check_finds_cross_split_pairs(store_ids, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    store, ids = store_ids
    export_manifest(store, "v1", include_unlabelled=True)
    ours = check_leakage(store.root / "manifests" / "v1" / "data", 6)
    assert ours.ok and ours.rows == 40
    folder = tmp_path / "foreign"
    folder.mkdir()
    base = 0x0123456789ABCDEF
    pq.write_table(pa.table({"phash": [f"{base:016x}", f"{base ^ 0b111:016x}"]}), folder / "train-00000-of-00001.parquet")
    pq.write_table(pa.table({"phash": [f"{base ^ 0b1:016x}", f"{~base & (2**64 - 1):016x}"]}),
                   folder / "test-00000-of-00001.parquet")
    leaks = check_leakage(folder, 3)
    assert [(p["split_a"], p["split_b"], p["distance"]) for p in leaks.pairs] in (
        [("test", "train", 1), ("test", "train", 2)], [("train", "test", 1), ("train", "test", 2)])
    assert len(check_leakage(folder, 1).pairs) == 1
    pq.write_table(pa.table({"x": [1]}), tmp_path / "nohash.parquet")
    with pytest.raises(ManifestError, match="no 'phash' column"):
        check_leakage(tmp_path / "nohash.parquet", 3)
    json.dumps(leaks.to_dict())


def test_split_records_written_meanwhile_make_the_export_plan_again(store_ids) -> None:
    """The path a concurrent export of another name takes: its split rows collide, the plan is redone."""
    from rainset.manifests import export as export_module
    from rainset.manifests.rows import load_rows

    store, ids = store_ids
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        data = load_rows(s, 0)
    with catalog.session() as s:  # another export records the same captures first
        s.add(SplitAssignment(capture_id=ids[0], seed=0, split=data.plan.splits[ids[0]], group_key=ids[0]))
    with pytest.raises(export_module._SplitsChanged):
        with catalog.session() as s:
            export_module._record(s, "late", None, {}, data)
    with catalog.session() as s:
        assert s.query(Version).filter_by(name="late").count() == 0  # rolled back with the splits
    catalog.close()
    result = export_manifest(store, "late")  # plans again from the records: succeeds
    assert result.new_assignments == 39
