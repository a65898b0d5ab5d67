"""The loader over shards built by the real writer (``rainset shards``) from a real exported manifest."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from rainset.errors import ShardsError
from rainset.loader import ShardDataset, UnpairedPairs, read_index
from rainset.demo.loader import demo_stage
from rainset.manifests.versions import open_version
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, build_shards
from tests.loader_helpers import http_folder
from tests.shards_helpers import shard_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    store = shard_store(tmp_path_factory.mktemp("real"), n=12, raw_pairs=3)
    jpg = build_shards(store, "v1", ShardOptions(target_size=40_000))  # several small shards per split
    tiff = build_shards(store, "v1-tiff", ShardOptions(RenderSettings(format="tiff16", with_raw=True)),
                        manifest="v1")
    rows = open_version(store, "v1").rows()
    return jpg.path, tiff.path, rows


def test_real_shards_every_sample_once_with_its_row(built):
    path, _, rows = built
    index = read_index(path)
    assert len(index.split("train").shards) >= 2
    for split, entry in index.splits.items():
        expected = {r["sample_id"]: r for r in rows if r["split"] == split}
        assert entry.nsamples == len(expected)
        seen = []
        for rank in range(2):
            ds = ShardDataset(path, split, rank=rank, world_size=2, uneven="drop", crop=32, verify=True)
            items = list(ds)
            assert len(items) == len(ds) == len(expected) // 2
            seen += items
        assert len({i["key"] for i in seen}) == len(seen)
        for item in seen:
            row = expected[item["key"]]
            assert item["meta"]["sample_id"] == row["sample_id"] and item["meta"]["rain_type"] == row["rain_type"]
            assert item["image"].shape == (3, 32, 32) and 0.0 <= item["image"].min() <= item["image"].max() <= 1.0


def test_real_shards_label_streams(built):
    path, _, rows = built
    train = [r for r in rows if r["split"] == "train"]
    clean = ShardDataset(path, labels=["no-rain"], crop=16)
    rainy = ShardDataset(path, exclude_labels=["no-rain", "unlabelled"], crop=16)
    assert len(clean) == sum(r["rain_type"] == "no-rain" for r in train) > 0
    assert Counter(i["meta"]["rain_type"] for i in rainy) == Counter(
        r["rain_type"] for r in train if r["rain_type"] not in ("no-rain", None))
    pairs = list(UnpairedPairs(rainy, clean))
    assert len(pairs) == max(len(rainy), len(clean))


def test_real_tiff16_with_raw_over_http(built):
    _, path, rows = built
    local = list(ShardDataset(path, crop=None, flip=False, shard_shuffle=False, shuffle_buffer=0))
    assert len(local) == sum(r["split"] == "train" for r in rows)
    # 16-bit TIFFs (RAW-born captures) keep more than 256 levels; the DNG members are skipped
    levels = [torch.unique(i["image"]).numel() for i in local]
    assert max(levels) > 256
    folder = read_index(path).base
    parent, name = folder.rsplit("/", 1)
    with http_folder(parent) as base:
        remote = list(ShardDataset(f"{base}/{name}", crop=None, flip=False, shard_shuffle=False,
                                   shuffle_buffer=0, verify=True))
    assert [i["key"] for i in remote] == [i["key"] for i in local]
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(remote, local))


def test_demo_stage_reads_a_verified_batch(built):
    path, _, rows = built
    result = demo_stage(path, batch_size=3, crop=24)
    train = {r["sample_id"]: r for r in rows if r["split"] == "train"}
    assert result.samples == len(train) and len(result.batch_keys) == 3
    assert set(result.batch_keys) <= set(train) and result.batch_shape == (3, 3, 24, 24)
    assert -1.0 <= result.value_min < 0.0 < result.value_max <= 1.0
    assert list(result.rain_types) == [train[k]["rain_type"] or "unlabelled" for k in result.batch_keys]
    assert json.loads(json.dumps(result.to_dict()))["samples"] == result.samples
    assert "sha256 verified" in result.lines()[0]
    shard = read_index(path).split("train").shards[0].url
    data = bytearray(open(shard, "rb").read())
    data[-100] ^= 1  # in the zero blocks that end the tar: no reader looks there, only the checksum can tell
    with open(shard, "wb") as fh:
        fh.write(bytes(data))
    try:
        with pytest.raises(ShardsError, match="sha256 mismatch"):
            demo_stage(path, batch_size=1)
    finally:
        data[-100] ^= 1
        with open(shard, "wb") as fh:
            fh.write(bytes(data))
