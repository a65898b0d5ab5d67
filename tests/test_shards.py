"""rainset shards: read by the webdataset library, index.json true to the files, byte-identical rebuilds,
target sizes, immutability, and the command line."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Version
from rainset.cli import app
from rainset.errors import ShardsError
from rainset.manifests.versions import open_version
from rainset.shards.index import verify_folder
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, build_shards, order_key
from rainset.store import Store, open_store
from tests.shards_helpers import sha256_file, shard_store, tar_members


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return shard_store(tmp_path_factory.mktemp("shards"))


def _rows(store: Store, manifest: str = "v1") -> dict[str, dict]:
    return {r["sample_id"]: r for r in open_version(store, manifest).rows()}


def _index(path: str | Path) -> dict:
    return json.loads((Path(path) / "index.json").read_text())


def test_webdataset_reads_our_shards(store: Store) -> None:
    import webdataset as wds

    result = build_shards(store, "wds", ShardOptions(target_size=30_000), manifest="v1")
    rows = _rows(store)
    index = _index(result.path)
    assert result.shards > 2 and result.samples == len(rows)  # several shards
    for split, body in index["splits"].items():
        urls = [str(Path(result.path) / s["url"]) for s in body["shardlist"]]
        samples = list(wds.WebDataset(urls, shardshuffle=False))
        keys = [s["__key__"] for s in samples]
        expected = sorted((sid for sid, r in rows.items() if r["split"] == split), key=order_key)
        assert keys == expected and len(keys) == body["nsamples"]
        for sample in samples:
            meta = json.loads(sample["json"])
            row = rows[sample["__key__"]]
            assert meta == json.loads(json.dumps(row, default=lambda v: v.isoformat()))  # every column, intact
            assert meta["ingested_at"] == row["ingested_at"].isoformat()
            img = cv2.imdecode(np.frombuffer(sample["jpg"], np.uint8), cv2.IMREAD_UNCHANGED)
            assert img.shape == (row["height"], row["width"], 3) and img.dtype == np.uint8
            assert {k for k in sample if not k.startswith("__")} == {"json", "jpg"}
    decoded = next(iter(wds.WebDataset([str(Path(result.path) / index["splits"]["train"]["shardlist"][0]["url"])],
                                       shardshuffle=False).decode("rgb8")))
    assert decoded["jpg"].ndim == 3 and isinstance(decoded["json"], dict)


def test_wids_reads_our_split_indexes(store: Store, tmp_path: Path) -> None:
    """The per-split ``{split}.wids.json`` is a real wids shard index: random access by sample index."""
    wids = pytest.importorskip("wids")

    result = build_shards(store, "wids", ShardOptions(target_size=30_000), manifest="v1")
    rows = _rows(store)
    index = _index(result.path)
    for split, body in index["splits"].items():
        ds = wids.ShardListDataset(str(Path(result.path) / f"{split}.wids.json"), cache_dir=str(tmp_path / "cache"),
                                   keep=True, transformations=[])
        assert len(ds) == body["nsamples"]
        expected = sorted((sid for sid, r in rows.items() if r["split"] == split), key=order_key)
        for i in (len(ds) - 1, 0, len(ds) // 2):  # random access, out of order
            sample = ds[i]
            assert sample["__key__"] == expected[i]
            assert json.loads(sample[".json"].read())["sample_id"] == expected[i]  # undecoded: file-like members
            img = cv2.imdecode(np.frombuffer(sample[".jpg"].read(), np.uint8), cv2.IMREAD_UNCHANGED)
            assert img.shape[:2] == (rows[expected[i]]["height"], rows[expected[i]]["width"])


def test_index_counts_sizes_and_hashes(store: Store) -> None:
    target = 40_000
    calls: list[tuple[int, int]] = []
    result = build_shards(store, "sized", ShardOptions(target_size=target), manifest="v1",
                          progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i + 1, result.samples) for i in range(result.samples)]
    folder = Path(result.path)
    index = _index(folder)
    rows = _rows(store)
    assert index["__kind__"] == "rainset-shard-index-v1" and index["name"] == "sized" and index["manifest"] == "v1"
    assert index["settings"] == {"format": "jpg", "max_side": None, "target_size": target, "with_raw": False,
                                 "quality": 95}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["index.json", *(f"{s}.wids.json" for s in index["splits"]),
         *(e["url"] for b in index["splits"].values() for e in b["shardlist"])])
    per_split = Counter(r["split"] for r in rows.values())
    assert {s: b["nsamples"] for s, b in index["splits"].items()} == dict(per_split)
    for split, body in index["splits"].items():
        assert [e["url"] for e in body["shardlist"]] == [f"rain-{split}-{i:06d}.tar" for i in range(len(body["shardlist"]))]
        for entry in body["shardlist"]:
            path = folder / entry["url"]
            assert entry["filesize"] == path.stat().st_size and entry["sha256"] == sha256_file(path)
            members = tar_members(path)
            keys = [n.split(".")[0] for n, _ in members]
            assert len(set(keys)) == entry["nsamples"] and len(members) == 2 * entry["nsamples"]
            assert [n.split(".", 1)[1] for n, _ in members] == ["json", "jpg"] * entry["nsamples"]
            assert entry["nsamples"] == 1 or entry["filesize"] <= target  # only a lone big sample passes the target
            labels = Counter(rows[k]["rain_type"] or "unlabelled" for k in keys[::2])
            assert entry["labels"] == dict(labels) and entry["images"] == {"jpg": entry["nsamples"]}
        wids = json.loads((folder / f"{split}.wids.json").read_text())
        assert wids["__kind__"] == "wids-shard-index-v1" and wids["name"] == f"sized/{split}"
        assert [(e["url"], e["nsamples"]) for e in wids["shardlist"]] == [(e["url"], e["nsamples"]) for e in body["shardlist"]]
    assert "unlabelled" in Counter(k for b in index["splits"].values() for e in b["shardlist"] for k in e["labels"])
    check = verify_folder(folder)
    assert check.problems == [] and check.ok == result.shards
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        row = s.query(Version).filter_by(kind="shards", name="sized").one()
        assert (row.parent, row.path, row.info["samples"]) == ("v1", "shards/sized", len(rows))
    catalog.close()


def test_tar_members_are_deterministic(store: Store) -> None:
    import tarfile

    result = build_shards(store, "meta", ShardOptions(), manifest="v1")
    path = Path(result.path) / "rain-train-000000.tar"
    assert path.stat().st_size % 10240 == 0
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.isreg()) == (0, 0, 0, "", "", 0o444, True)
            assert "." not in m.name.split(".", 1)[0]


@pytest.mark.timeout(120)
def test_rebuild_is_byte_identical_also_with_worker_processes(store: Store) -> None:
    a = build_shards(store, "same-a", ShardOptions(target_size=30_000, workers=1), manifest="v1")
    b = build_shards(store, "same-b", ShardOptions(target_size=30_000, workers=2), manifest="v1")
    tars_a = sorted(Path(a.path).glob("*.tar"))
    assert len(tars_a) > 2 and [p.name for p in tars_a] == sorted(p.name for p in Path(b.path).glob("*.tar"))
    for p in tars_a:
        assert p.read_bytes() == (Path(b.path) / p.name).read_bytes(), p.name
    ia, ib = _index(a.path), _index(b.path)
    assert ia["splits"] == ib["splits"] and ia["name"] != ib["name"]
    other = build_shards(store, "other-q", ShardOptions(RenderSettings(quality=80), target_size=30_000), manifest="v1")
    assert _index(other.path)["splits"]["train"]["shardlist"][0]["sha256"] != ia["splits"]["train"]["shardlist"][0]["sha256"]


def test_max_side_png(store: Store) -> None:
    result = build_shards(store, "small-png", ShardOptions(RenderSettings("png", max_side=64)), manifest="v1")
    rows = _rows(store)
    for tar in Path(result.path).glob("*.tar"):
        for name, data in tar_members(tar):
            if name.endswith(".png"):
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                row = rows[name.split(".")[0]]
                assert max(img.shape[:2]) == 64 and img.dtype == np.uint8
                assert (img.shape[1] > img.shape[0]) == (row["width"] > row["height"])


def test_names_are_immutable(store: Store) -> None:
    first = build_shards(store, "fixed", ShardOptions(), manifest="v1")
    before = {p.name: sha256_file(p) for p in Path(first.path).iterdir()}
    with pytest.raises(ShardsError, match="already exist"):
        build_shards(store, "fixed", ShardOptions(RenderSettings("png")), manifest="v1")
    assert {p.name: sha256_file(p) for p in Path(first.path).iterdir()} == before
    assert not any(store.tmp_dir.iterdir())  # nothing left behind
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        assert s.query(Version).filter_by(kind="shards", name="fixed").count() == 1
    catalog.close()


def test_missing_and_damaged_originals(tmp_path: Path, store: Store) -> None:
    shutil.copytree(store.root, tmp_path / "copy")
    st = open_store(tmp_path / "copy")
    rows = sorted(_rows(st).values(), key=lambda r: r["sample_id"])
    gone, bad = rows[0], rows[1]
    kept = st.object_path(gone["sha256"]).read_bytes()
    st.object_path(gone["sha256"]).unlink()
    with pytest.raises(ShardsError, match=gone["sample_id"]) as exc:
        build_shards(st, "v1", ShardOptions())
    assert "no original" in str(exc.value) and not (st.root / "shards" / "v1").exists()
    st.object_path(gone["sha256"]).write_bytes(kept)
    obj = st.object_path(bad["sha256"])
    obj.write_bytes(obj.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ShardsError, match=f"{bad['sample_id']}.*damaged"):
        build_shards(st, "v1", ShardOptions())
    with pytest.raises(ShardsError, match=f"{bad['sample_id']}.*damaged"):
        build_shards(st, "v1", ShardOptions(workers=2))  # found in a worker process: the same error
    st.object_path(gone["sha256"]).unlink()
    assert not (st.root / "shards" / "v1").exists() and not any(st.tmp_dir.iterdir())
    result = build_shards(st, "v1", ShardOptions(skip_bad=True))
    assert sorted((s["sample_id"], s["reason"]) for s in result.skipped) == sorted(
        [(gone["sample_id"], "missing"), (bad["sample_id"], "damaged")])
    index = _index(result.path)
    assert index["skipped"] == result.skipped and result.samples == len(rows) - 2
    keys = {n.split(".")[0] for tar in Path(result.path).glob("*.tar") for n, _ in tar_members(tar)}
    assert gone["sample_id"] not in keys and bad["sample_id"] not in keys and len(keys) == len(rows) - 2


def test_verify_finds_a_flipped_byte(tmp_path: Path, store: Store) -> None:
    result = build_shards(store, "flip", ShardOptions(target_size=30_000), manifest="v1")
    folder = tmp_path / "flip"
    shutil.copytree(result.path, folder)
    victim = sorted(folder.glob("*.tar"))[1]
    data = bytearray(victim.read_bytes())
    data[700] ^= 0x01
    victim.write_bytes(bytes(data))
    (folder / "rain-extra-000000.tar").write_bytes(b"")
    check = verify_folder(folder)
    assert check.ok == check.shards - 1
    assert check.problems == [f"{victim.name}: sha256 differs from index.json", "rain-extra-000000.tar: not listed in index.json"]


def test_cli_builds_verifies_and_rejects_bad_options(store: Store) -> None:
    runner = CliRunner()
    base = ["--store", str(store.root)]
    res = runner.invoke(app, ["shards", "v1", "--name", "cli", "--target-size", "30kB", "--workers", "1", "--json", *base])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["name"] == "cli" and data["settings"]["target_size"] == 30_000 and data["shards"] > 2
    assert sum(c["shards"] for c in data["splits"].values()) == len(list(Path(data["path"]).glob("*.tar")))
    res = runner.invoke(app, ["shards", "cli", "--verify", "--json", *base])
    assert res.exit_code == 0 and json.loads(res.stdout)["problems"] == []
    for args, message in ((["--target-size", "lots"], "--target-size 'lots': not a size"),
                          (["--target-size", "12"], "too small"),
                          (["--format", "webp"], "--format 'webp': unknown"),
                          (["--quality", "0"], "--quality 0"),
                          (["--max-side", "3"], "--max-side 3")):
        res = runner.invoke(app, ["shards", "v1", "--name", "bad", *args, *base])
        assert res.exit_code == 1 and message in res.output, (args, res.output)
    res = runner.invoke(app, ["shards", "v1", "--name", "../evil", *base])
    assert res.exit_code == 1 and "invalid version name '../evil'" in res.output
    res = runner.invoke(app, ["shards", "nothing-here", "--verify", *base])
    assert res.exit_code == 1 and "no shard index here" in res.output
    res = runner.invoke(app, ["shards", "nope", *base])
    assert res.exit_code == 1 and "no manifest version 'nope'" in res.output
    res = runner.invoke(app, ["shards", "v1", "--name", "cli", *base])
    assert res.exit_code == 1 and "already exist" in res.output
    assert not (store.root / "shards" / "bad").exists()


def test_sizes_parse() -> None:
    from hypothesis import given, strategies as st

    from rainset.errors import ConfigError
    from rainset.shards.sizes import parse_size

    assert parse_size("512MB") == 512 * 10**6 and parse_size("1GiB") == 2**30 and parse_size("4096") == 4096
    assert parse_size(" 1.5 gb ") == 1_500_000_000 and parse_size(2048) == 2048

    @given(st.integers(min_value=1024, max_value=10**13), st.sampled_from(["", "B", "kB", "MiB", "GB", "TiB"]))
    def roundtrip(n: int, unit: str) -> None:
        scale = {"": 1, "B": 1, "kB": 1000, "MiB": 2**20, "GB": 10**9, "TiB": 2**40}[unit]
        assert parse_size(f"{n}{unit}") == n * scale

    roundtrip()
    for bad in ("", "MB", "-5MB", "5XB", "1e9", "0x10"):
        with pytest.raises(ConfigError, match="not a size"):
            parse_size(bad)


def test_order_mixes_samples() -> None:
    ids = [f"c{hashlib.sha256(str(i).encode()).hexdigest()[:24]}" for i in range(50)]
    ordered = sorted(ids, key=order_key)
    assert ordered != sorted(ids) and sorted(ordered) == sorted(ids)


def test_row_json_is_strict_sorted_utf8() -> None:
    from datetime import datetime, timezone

    from rainset.shards.writer import row_json

    row = {"z": 1, "a": float("nan"), "t": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "name": "Ré",
           "labels": [{"x": float("inf"), "b": [1.5]}]}
    text = row_json(row)
    assert text == ('{"a":null,"labels":[{"b":[1.5],"x":null}],"name":"Ré","t":"2026-01-02T03:04:05+00:00","z":1}'
                    ).encode("utf-8")


def test_reduced_jpeg_decode_matches_the_full_decode(store: Store) -> None:
    from rainset.capture import decode_full
    from rainset.imageops import fit_long_side as resize_to
    from rainset.shards.render import RenderJob, decode_upright

    row = next(r for r in _rows(store).values() if r["format"] == "jpeg")
    data = store.object_path(row["sha256"]).read_bytes()
    settings = RenderSettings("png", max_side=40)
    job = RenderJob(row["sample_id"], "", row["sha256"], "jpeg", row["file_name"], row["orientation"], settings)
    reduced = resize_to(decode_upright(data, job), 40)
    full = resize_to(decode_full(data, "x", "jpeg", orientation=row["orientation"], max_pixels=10**8), 40)
    assert reduced.shape == full.shape and max(reduced.shape[:2]) == 40
    assert np.abs(reduced.astype(float) - full).mean() < 2.0
    assert max(decode_upright(data, job).shape[:2]) < max(row["width"], row["height"])  # decoded reduced


def test_an_empty_version_gives_an_empty_index(store: Store) -> None:
    from rainset.manifests.export import export_manifest

    export_manifest(store, "none", include_unlabelled=True, where="iso > 99999999")
    result = build_shards(store, "none", ShardOptions())
    index = _index(result.path)
    assert (result.samples, result.shards, index["splits"]) == (0, 0, {})
    assert sorted(p.name for p in Path(result.path).iterdir()) == ["index.json"]
    assert verify_folder(Path(result.path)).problems == []
