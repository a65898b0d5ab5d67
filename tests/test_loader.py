"""ShardDataset in one process: a simulated world of ranks, determinism, resume, filters, decode, HTTP."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from rainset.errors import ConfigError, ShardsError
from rainset.loader import ShardDataset, UnpairedPairs, decode_image, read_index
from tests.loader_helpers import RAIN_CYCLE, all_keys, http_folder, sample_image, write_shards

SIZES = (5, 7, 3, 8, 6)  # 29 samples: not a multiple of 3 ranks
TOTAL = sum(SIZES)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards") / "v1", {"train": SIZES, "test": (4,)})


def keys(ds) -> list[str]:
    return [item["key"] for item in ds]


def test_read_index_resolves_relative_urls(shards):
    index = read_index(shards)
    assert read_index(shards / "index.json") == index
    train = index.split("train")
    assert train.nsamples == TOTAL and [s.nsamples for s in train.shards] == list(SIZES)
    assert train.shards[0].url == str(shards / "rain-train-000000.tar")
    assert (shards / "rain-train-000000.tar").stat().st_size == train.shards[0].filesize
    with pytest.raises(ShardsError, match="no split 'validation'.*splits: test, train"):
        index.split("validation")
    with pytest.raises(ShardsError, match="no shard index"):
        read_index(shards / "missing")
    as_url = read_index(f"file://{shards}/index.json")
    assert as_url.split("train").shards[0].url == f"file://{shards}/rain-train-000000.tar"
    assert keys(ShardDataset(f"file://{shards}", crop=8, seed=2)) == keys(ShardDataset(shards, crop=8, seed=2))


@pytest.mark.parametrize("uneven", ["pad", "drop"])
def test_three_ranks_see_every_sample_once(shards, uneven):
    runs = {r: keys(ShardDataset(shards, rank=r, world_size=3, uneven=uneven, crop=16, shuffle_buffer=8))
            for r in range(3)}
    per_rank = 10 if uneven == "pad" else 9
    assert {len(v) for v in runs.values()} == {per_rank}
    assert all(len(ShardDataset(shards, rank=r, world_size=3, uneven=uneven)) == per_rank for r in range(3))
    seen = Counter(k for v in runs.values() for k in v)
    if uneven == "pad":
        assert set(seen) == set(all_keys("train", TOTAL)) and sum(seen.values()) == 30
        assert sorted(seen.values()) == [1] * 28 + [2]
    else:
        assert max(seen.values()) == 1 and len(seen) == 27


def test_env_rank_and_world_size(shards, monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "3")
    ds = ShardDataset(shards, crop=16)
    assert (ds.rank, ds.world_size) == (2, 3)
    assert keys(ds) == keys(ShardDataset(shards, rank=2, world_size=3, crop=16))
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ConfigError, match="rank 3 is not in a world of size 3"):
        ShardDataset(shards)


def test_order_is_a_function_of_seed_and_epoch(shards):
    def run(seed, epoch):
        ds = ShardDataset(shards, seed=seed, crop=16, shuffle_buffer=6)
        ds.set_epoch(epoch)
        items = list(ds)
        return [i["key"] for i in items], torch.stack([i["image"] for i in items])

    first, images = run(1, 0)
    again, images_again = run(1, 0)
    assert first == again and torch.equal(images, images_again)  # same crops and flips too
    assert sorted(first) == all_keys("train", TOTAL)
    assert run(2, 0)[0] != first
    assert run(1, 1)[0] != first
    unshuffled = keys(ShardDataset(shards, shard_shuffle=False, shuffle_buffer=0, crop=16))
    assert unshuffled == all_keys("train", TOTAL)


@pytest.mark.parametrize("stop", [0, 4, 9])
def test_exact_resume_in_process(shards, stop):
    full = ShardDataset(shards, rank=1, world_size=3, seed=5, crop=16)
    full.set_epoch(3)
    expected = list(full)
    ds = ShardDataset(shards, rank=1, world_size=3, seed=5, crop=16)
    ds.set_epoch(3)
    it = iter(ds)
    taken = [next(it) for _ in range(stop)]
    state = json.loads(json.dumps(ds.state_dict()))  # a state survives JSON (checkpoints)
    assert state["taken"] == stop and state["epoch"] == 3
    fresh = ShardDataset(shards, rank=1, world_size=3, seed=5, crop=16)
    fresh.load_state_dict(state)
    rest = list(fresh)
    assert [i["key"] for i in taken + rest] == [i["key"] for i in expected]
    assert all(torch.equal(a["image"], b["image"]) for a, b in zip(taken + rest, expected))
    fresh.set_epoch(4)  # the next epoch starts from its beginning
    assert len(list(fresh)) == len(expected)


def test_resume_refuses_other_order_settings(shards):
    state = ShardDataset(shards, seed=1).state_dict()
    with pytest.raises(ConfigError, match="seed=1.*seed=2"):
        ShardDataset(shards, seed=2).load_state_dict(state)
    with pytest.raises(ConfigError, match="world_size"):
        ShardDataset(shards, seed=1, rank=0, world_size=2).load_state_dict(state)
    with pytest.raises(ConfigError, match="taken=99"):
        ShardDataset(shards).state_dict(taken=99)


def test_label_filters_plan_exactly(shards):
    rainy = ShardDataset(shards, labels=["drizzle", "heavy", "streak"], crop=16)
    clean = ShardDataset(shards, labels=["no-rain"], crop=16)
    rest = ShardDataset(shards, exclude_labels=["no-rain", "drizzle", "heavy", "streak"], crop=16)
    expected = Counter(RAIN_CYCLE[n % len(RAIN_CYCLE)] for n in range(TOTAL))
    for ds, names in ((rainy, {"drizzle", "heavy", "streak"}), (clean, {"no-rain"}), (rest, {None})):
        items = list(ds)
        assert len(items) == len(ds) == sum(expected[n] for n in names)
        assert {i["meta"]["rain_type"] for i in items} == names
    unlabelled = ShardDataset(shards, labels=["unlabelled"])
    assert len(unlabelled) == expected[None]
    ranks = [keys(ShardDataset(shards, labels=["no-rain"], rank=r, world_size=3, uneven="drop", crop=8))
             for r in range(3)]
    assert len({len(r) for r in ranks}) == 1 and len(set(sum(ranks, []))) == sum(map(len, ranks))
    with pytest.raises(ConfigError, match="labels must be a non-empty list"):
        ShardDataset(shards, labels=[])


def test_value_ranges_crops_and_padding(shards):
    item = next(iter(ShardDataset(shards, crop=24, value_range="0,1")))
    assert item["image"].shape == (3, 24, 24) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() < 0.1 and 0.9 < item["image"].max() <= 1.0
    signed = next(iter(ShardDataset(shards, crop=24, value_range="-1,1")))["image"]
    assert -1.0 <= signed.min() < -0.8 and 0.8 < signed.max() <= 1.0
    big = next(iter(ShardDataset(shards, crop=100)))["image"]  # larger than the 40x56 images: padded
    assert big.shape == (3, 100, 100)
    whole = next(iter(ShardDataset(shards, crop=None, flip=False)))
    bgr = sample_image(whole["meta"]["n"], 40, 56)
    assert whole["image"].shape == (3, 40, 56)
    # JPEG is lossy: compare the decoded RGB tensor with the source's channel means
    means = whole["image"].mean(dim=(1, 2)).numpy()
    assert np.allclose(means, bgr[:, :, ::-1].reshape(-1, 3).mean(0) / 255, atol=0.02)
    with pytest.raises(ConfigError, match="value_range"):
        ShardDataset(shards, value_range="0,255")


def test_decode_image_16bit_and_rgb_order(tmp_path):
    img = np.zeros((8, 8, 3), np.uint16)
    img[:, :, 2] = 65535  # BGR: red channel full
    ok, enc = cv2.imencode(".tiff", img)
    assert ok
    t = decode_image(enc.tobytes(), "tiff", crop=4, flip=False)
    assert t.shape == (3, 4, 4) and t[0].min() == 1.0 and t[1:].max() == 0.0
    custom = decode_image(enc.tobytes(), "tiff", crop=None, decode=lambda b, e: np.full((5, 6, 3), 255, np.uint8))
    assert custom.shape == (3, 5, 6) and custom.min() == 1.0
    grey = cv2.imencode(".png", np.full((6, 7), 51, np.uint8))[1].tobytes()
    assert torch.allclose(decode_image(grey, "png", crop=None), torch.full((3, 6, 7), 0.2))
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 255, 10  # blue, nearly transparent: the alpha channel is dropped
    t = decode_image(cv2.imencode(".png", bgra)[1].tobytes(), "png", crop=None, value_range="-1,1")
    assert t.shape == (3, 4, 4) and t[2].min() == 1.0 and t[:2].max() == -1.0
    with pytest.raises(ValueError, match="cannot decode these 5 bytes"):
        decode_image(b"nope!", "jpg")


def test_torch_distributed_wins_over_the_environment(monkeypatch):
    import socket

    import torch.distributed as dist

    from rainset.loader.ranks import resolve_world

    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert resolve_world() == (2, 3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        assert resolve_world() == (0, 1)
        assert resolve_world(rank=1, world_size=2) == (1, 2)  # explicit arguments win over both
    finally:
        dist.destroy_process_group()


def test_flipped_byte_detected_only_with_verify(tmp_path):
    root = write_shards(tmp_path / "v1", (4, 4))
    shard = root / "rain-train-000001.tar"
    data = bytearray(shard.read_bytes())
    at = data.index(b'"sample_id": "train00005"') + len(b'"sample_id": "train0000')
    data[at] ^= 0x02  # '5' -> '7': still valid JSON, a silently different row
    shard.write_bytes(bytes(data))
    assert "train00007" in Counter(keys(ShardDataset(root, crop=8)))
    with pytest.raises(ShardsError, match=r"rain-train-000001\.tar: sha256 mismatch: expected [0-9a-f]{64}, got"):
        list(ShardDataset(root, crop=8, verify=True))
    data[:512] = bytes(512)  # a destroyed tar header: unreadable either way, and named
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardsError, match=r"rain-train-000001\.tar"):
        list(ShardDataset(root, crop=8, shard_shuffle=False))


def test_http_gives_the_same_samples_as_local(shards):
    local = ShardDataset(shards, rank=0, world_size=2, seed=3, crop=16, verify=True)
    expected = list(local)
    with http_folder(shards.parent) as base:
        remote = ShardDataset(f"{base}/{shards.name}", rank=0, world_size=2, seed=3, crop=16, verify=True)
        assert remote.shards[0].url == f"{base}/{shards.name}/rain-train-000000.tar"
        got = list(remote)
        with pytest.raises(ShardsError, match="no shard index"):
            read_index(f"{base}/nothing-here")
    assert [i["key"] for i in got] == [i["key"] for i in expected]
    assert all(torch.equal(a["image"], b["image"]) and a["meta"] == b["meta"] for a, b in zip(got, expected))


def test_unpaired_pairs_are_independent(shards):
    rainy = ShardDataset(shards, labels=["drizzle", "heavy", "streak"], crop=8, seed=4, flip=False)
    clean = ShardDataset(shards, labels=["no-rain"], crop=8, seed=4, flip=False)
    assert len(rainy) > len(clean)
    pairs = UnpairedPairs(rainy, clean)
    assert len(pairs) == len(rainy)
    out = list(pairs)
    assert len(out) == len(rainy) and all(a.shape == b.shape == (3, 8, 8) for a, b in out)
    # the clean stream cycles (its second pass in a new order) and its order is not the plain dataset's
    clean_keys = [r.key for r, _ in pairs.clean.records()]
    assert clean_keys != keys(clean) and sorted(clean_keys) == sorted(keys(clean))
    # one dataset passed twice: the two sides still come in different orders
    same = ShardDataset(shards, crop=None, flip=False, seed=4)
    twice = UnpairedPairs(same, same)
    sides = list(twice)
    assert sum(torch.equal(a, b) for a, b in sides) <= 2
    with pytest.raises(ConfigError, match="clean stream .* has no samples"):
        UnpairedPairs(rainy, ShardDataset(shards, labels=["fog-mixed"]))
    with pytest.raises(ConfigError, match="rank 0 of 1 but the clean stream is rank 1 of 2"):
        UnpairedPairs(rainy, ShardDataset(shards, labels=["no-rain"], rank=1, world_size=2))


def test_unpaired_pairs_resume(shards):
    def make():
        return UnpairedPairs(ShardDataset(shards, labels=["no-rain"], crop=8), ShardDataset(shards, crop=8))

    full = make()
    full.set_epoch(1)
    expected = list(full)
    part = make()
    part.set_epoch(1)
    it = iter(part)
    head = [next(it) for _ in range(7)]
    fresh = make()
    fresh.load_state_dict(part.state_dict())
    got = head + list(fresh)
    assert len(got) == len(expected) == TOTAL
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected))


def test_raw_value_range_gives_the_integers_and_to_float_scales_them_like_the_float_path():
    import cv2
    import numpy as np
    import torch

    from rainset.loader import decode_image, to_float

    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    draws = (0.3, 0.7, 0.2)
    raw = decode_image(png.tobytes(), "png", crop=32, value_range="raw", draws=draws)
    assert raw.dtype == torch.uint8 and raw.shape == (3, 32, 32)
    y, x = int(0.3 * 9), int(0.7 * 19)
    assert np.array_equal(raw.numpy(), rgb[y:y + 32, x:x + 32][:, ::-1].transpose(2, 0, 1))  # flipped (draw < 0.5)
    for value_range in ("0,1", "-1,1"):
        floats = decode_image(png.tobytes(), "png", crop=32, value_range=value_range, draws=draws)
        assert torch.allclose(to_float(raw[None], value_range)[0], floats, atol=1e-6)
    with pytest.raises(ValueError):
        to_float(floats, "0,1")
