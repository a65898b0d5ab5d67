"""``rainset shards`` of a pairs version: KEY.rainy.png / KEY.clean.png / KEY.mask.png members read by the
real webdataset library and by rainset's loader (aligned crops), and the refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from rainset.errors import ShardsError  # noqa: E402
from rainset.hashing import sha256_file  # noqa: E402
from rainset.loader import ShardDataset, UnpairedPairs  # noqa: E402
from rainset.loader.dataset import collate  # noqa: E402
from rainset.manifests.export import export_manifest  # noqa: E402
from rainset.manifests.schema import PAIR_COLUMNS  # noqa: E402
from rainset.manifests.versions import open_version  # noqa: E402
from rainset.shards.render import RenderSettings  # noqa: E402
from rainset.shards.writer import ShardOptions, build_shards  # noqa: E402
from rainset.store import Store, open_store  # noqa: E402
from tests.pairset_fixtures import BOX, video_store, write_pairset  # noqa: E402

MEMBERS = {"json", "rainy.png", "clean.png", "mask.png"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    st = video_store(tmp_path_factory.mktemp("pairs-shards"))
    write_pairset(st, "p1")
    export_manifest(st, "pv", pairs="p1", ratios=(("train", 0.5), ("validation", 0.0), ("test", 0.5)))
    build_shards(st, "pv", ShardOptions(target_size=400_000))
    return st


def _rows(store: Store) -> dict[str, dict]:
    return {r["sample_id"]: r for r in open_version(store, "pv").rows()}


def _urls(store: Store, name: str = "pv") -> dict[str, list[str]]:
    index = json.loads((store.root / "shards" / name / "index.json").read_text())
    return {split: [str(store.root / "shards" / name / s["url"]) for s in body["shardlist"]]
            for split, body in index["splits"].items()}


def _read(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    img = cv2.imread(str(path), flags)
    assert img is not None, path
    return img


def test_webdataset_reads_rainy_clean_and_mask_members(store: Store) -> None:
    import webdataset as wds

    rows = _rows(store)
    seen = set()
    urls = _urls(store)
    assert sum(len(u) for u in urls.values()) >= 2
    for split, shard_urls in urls.items():
        for sample in wds.WebDataset(shard_urls, shardshuffle=False):
            key = sample["__key__"]
            row = rows[key]
            seen.add(key)
            assert {k for k in sample if not k.startswith("__")} == MEMBERS
            assert json.loads(sample["json"])["clean_path"] == row["clean_path"] and row["split"] == split
            for member, column in (("rainy.png", "rainy_path"), ("clean.png", "clean_path"), ("mask.png", "mask_path")):
                got = cv2.imdecode(np.frombuffer(sample[member], np.uint8), cv2.IMREAD_UNCHANGED)
                assert np.array_equal(got, _read(store.root / row[column])), (key, member)  # lossless, full size
    assert seen == set(rows)
    first = next(iter(wds.WebDataset(urls[next(iter(urls))], shardshuffle=False).decode("rgb8")))
    assert first["rainy.png"].shape == first["clean.png"].shape == (240, 320, 3)
    assert first["mask.png"].shape[:2] == (240, 320)


def _locate(full: np.ndarray, crop: np.ndarray) -> tuple[int, int, bool]:
    """Where the ``crop`` (possibly flipped) sits in ``full``: an exact match, found by template matching."""
    best = None
    for flipped in (False, True):
        tmpl = crop[:, ::-1] if flipped else crop
        scores = cv2.matchTemplate(full.astype(np.float32), np.ascontiguousarray(tmpl).astype(np.float32),
                                   cv2.TM_SQDIFF)
        lo, _, at, _ = cv2.minMaxLoc(scores)
        if best is None or lo < best[0]:
            best = (lo, at[1], at[0], flipped)
    assert best is not None
    _, y, x, flipped = best
    window = full[y:y + crop.shape[0], x:x + crop.shape[1]]
    assert np.array_equal(window[:, ::-1] if flipped else window, crop)  # exact, not just the best
    return y, x, flipped


def test_loader_yields_aligned_rainy_clean_and_mask_crops(store: Store) -> None:
    rows = _rows(store)
    split = next(iter(_urls(store)))
    ds = ShardDataset(store.root / "shards" / "pv", split, crop=64, value_range="raw", shuffle_buffer=4, seed=3)
    items = list(ds)
    assert len(items) == len(ds) > 0
    for item in items:
        row = rows[item["key"]]
        assert item["image"].shape == item["clean"].shape == (3, 64, 64) and item["mask"].shape == (1, 64, 64)
        assert item["image"].dtype == item["clean"].dtype == item["mask"].dtype == torch.uint8
        rainy = cv2.cvtColor(_read(store.root / row["rainy_path"]), cv2.COLOR_BGR2RGB)
        clean = cv2.cvtColor(_read(store.root / row["clean_path"]), cv2.COLOR_BGR2RGB)
        mask = _read(store.root / row["mask_path"], cv2.IMREAD_GRAYSCALE)
        y, x, flipped = _locate(rainy, item["image"].permute(1, 2, 0).numpy())
        window = (slice(y, y + 64), slice(x, x + 64))
        want_clean, want_mask = clean[window], mask[window]
        if flipped:
            want_clean, want_mask = want_clean[:, ::-1], want_mask[:, ::-1]
        assert np.array_equal(item["clean"].permute(1, 2, 0).numpy(), want_clean)
        assert np.array_equal(item["mask"][0].numpy(), want_mask)
    batch = collate(items[:2])
    assert batch["clean"].shape == (2, 3, 64, 64) and batch["mask"].shape == (2, 1, 64, 64)
    floats = next(iter(ShardDataset(store.root / "shards" / "pv", split, crop=32, value_range="-1,1")))
    assert set(torch.unique(floats["mask"]).tolist()) <= {0.0, 1.0} and floats["clean"].min() >= -1


def test_the_unpaired_trainer_streams_read_pair_shards(store: Store) -> None:
    """rainset.nlcl.shard_input zips two label-filtered ShardDatasets: pair shards feed it rainy frames."""
    split = next(iter(_urls(store)))
    rainy = ShardDataset(store.root / "shards" / "pv", split, crop=32, value_range="raw", labels=["unlabelled"])
    clean = ShardDataset(store.root / "shards" / "pv", split, crop=32, value_range="raw", labels=["unlabelled"],
                         stream="clean")
    a, b = next(iter(UnpairedPairs(rainy, clean)))
    assert a.shape == b.shape == (3, 32, 32) and a.dtype == torch.uint8


def test_max_side_shrinks_all_three_and_keeps_the_mask_binary_and_conservative(store: Store) -> None:
    build_shards(store, "pv-small", ShardOptions(RenderSettings(max_side=160), target_size=10**9), manifest="pv")
    import webdataset as wds

    rows = _rows(store)
    urls = [u for us in _urls(store, "pv-small").values() for u in us]
    sample = next(iter(wds.WebDataset(urls, shardshuffle=False)))
    rainy, clean, mask = (cv2.imdecode(np.frombuffer(sample[m], np.uint8), cv2.IMREAD_UNCHANGED)
                          for m in ("rainy.png", "clean.png", "mask.png"))
    assert rainy.shape == clean.shape == (120, 160, 3) and mask.shape == (120, 160)
    assert set(np.unique(mask).tolist()) == {0, 255}
    full = _read(store.root / rows[sample["__key__"]]["mask_path"], cv2.IMREAD_GRAYSCALE)
    assert (full == 0).mean() <= (mask == 0).mean()  # shrinking never turns invalid pixels valid
    assert (mask[BOX[0].start // 2:BOX[0].stop // 2, BOX[1].start // 2:BOX[1].stop // 2] == 0).all()


def test_a_rebuilt_pair_set_or_a_missing_pair_file_is_refused(store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(store.root, copy)
    st = open_store(copy)
    rows = _rows(st)
    victim = sorted(rows)[0]
    (copy / rows[victim]["mask_path"]).unlink()
    with pytest.raises(ShardsError, match=rf"1 samples have no original \(or pair file\) in the store: {victim}"):
        build_shards(st, "x1", manifest="pv")
    skipped = build_shards(st, "x2", ShardOptions(skip_bad=True), manifest="pv")
    assert [s["sample_id"] for s in skipped.skipped] == [victim] and skipped.samples == len(rows) - 1
    index = copy / "pairs" / "p1" / "pairs.json"
    index.write_text(index.read_text().replace('"threshold": 0.5', '"threshold": 0.6'))
    with pytest.raises(ShardsError, match="pair set 'p1' changed since the export"):
        build_shards(st, "x3", manifest="pv")


def test_a_version_of_the_previous_schema_still_shards(store: Store) -> None:
    """A schema-3 version (written before the pair columns) has no pair columns at all: shards still build."""
    export_manifest(store, "plain", include_unlabelled=True)
    old = store.root / "manifests" / "plain3"
    shutil.copytree(store.root / "manifests" / "plain", old)
    info = json.loads((old / "version.json").read_text())
    for f in info["files"]:
        path = old / f["path"]
        table = pq.read_table(path)
        table = table.drop_columns(list(PAIR_COLUMNS)).replace_schema_metadata({b"rainset.schema_version": b"3"})
        pq.write_table(table, path)
        f["sha256"], f["bytes"] = sha256_file(path), path.stat().st_size
    info["schema_version"] = 3
    (old / "version.json").write_text(json.dumps(info))
    assert not set(PAIR_COLUMNS) & set(pq.read_schema(old / info["files"][0]["path"]).names)
    result = build_shards(store, "plain3", ShardOptions(RenderSettings(max_side=64)))
    assert result.samples == info["samples"] > 0
    import webdataset as wds

    urls = [u for us in _urls(store, "plain3").values() for u in us]
    keys = {k for sample in wds.WebDataset(urls, shardshuffle=False) for k in sample if not k.startswith("__")}
    assert keys == {"json", "jpg"}
