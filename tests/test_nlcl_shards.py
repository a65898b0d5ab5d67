"""NLCL trains from the shards of a manifest version: rainy labels against no-rain, resume, errors.

The data is real: generated captures ingested into a store, labelled with the labels library,
exported and written as shards by the real writer; every tensor of a batch is traced back to the
image it was cropped from.
"""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.errors import ConfigError, TrainError  # noqa: E402
from rainset.nlcl import shard_input  # noqa: E402
from rainset.nlcl.config import make_config  # noqa: E402
from rainset.demo.training_data import labelled_store  # noqa: E402
from rainset.nlcl.checkpoint import load_checkpoint  # noqa: E402
from rainset.nlcl.train import train  # noqa: E402

COUNTS = {"drizzle": 3, "heavy": 2, "streak": 1, "no-rain": 4}
RAINY = {"drizzle", "heavy", "streak", "fog-mixed"}
TINY = dict(crop=48, batch_size=2, gen_blocks=1, gen_channels=8, disc_channels=8, head_dim=16, window=24, patch=8,
            k_b=4, k_r=16, nce_layers=(0, 1), nce_locations=32)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from rainset.shards.writer import ShardOptions, build_shards
    from rainset.store import open_store

    built = labelled_store(tmp_path_factory.mktemp("nlcl-shards"), COUNTS, sizes=((96, 80), (120, 90)), seed=3,
                           train_only=True)
    return Path(build_shards(open_store(built.store), "v1", ShardOptions(target_size=30_000)).path)


@pytest.fixture(scope="module")
def images(shards) -> list[tuple[str, str, np.ndarray]]:
    """(key, rain type, RGB float image in [0, 1]) of every sample, read from the tars without the loader."""
    out = []
    for tar_path in sorted(shards.glob("rain-train-*.tar")):
        with tarfile.open(tar_path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}
        for name, data in members.items():
            if name.endswith(".json"):
                key = name[:-5]
                bgr = cv2.imdecode(np.frombuffer(members[f"{key}.jpg"], np.uint8), cv2.IMREAD_COLOR)
                out.append((key, json.loads(data)["rain_type"], bgr[:, :, ::-1].astype(np.float32) / 255))
    return out


def _source(crop: torch.Tensor, images: list[tuple[str, str, np.ndarray]]) -> tuple[str, str]:
    """(key, rain type) of the image a [-1, 1] crop (3xHxW, maybe flipped) was cut from."""
    patch = np.ascontiguousarray(((crop.numpy().transpose(1, 2, 0) + 1) / 2).astype(np.float32))
    best = (math.inf, "", "")
    for key, rain_type, img in images:
        for tmpl in (patch, np.ascontiguousarray(patch[:, ::-1])):
            score = float(cv2.matchTemplate(img, tmpl, cv2.TM_SQDIFF).min())
            best = min(best, (score, key, rain_type))
    assert best[0] < 1e-3 * patch.size, f"crop matches no image (best squared error {best[0]})"
    return best[1], best[2]


def _cfg(shards, out, **kw):
    return make_config("cpu-smoke", {"shards": str(shards), "out": str(out), **kw})


@pytest.mark.timeout(120)
def test_batches_hold_rainy_labels_against_no_rain(shards, images):
    cfg = _cfg(shards, "unused", **TINY)
    streams = shard_input.open_streams(cfg, 0, 1)
    assert (streams.rainy.total, streams.clean.total) == (6, 4)
    assert len(streams.pairs) == 6  # the longer stream; the clean one cycles
    batches = shard_input.batches(streams, cfg, shard_input.Position(0, 0, "start"), torch.device("cpu"))
    rainy_keys, clean_keys, states = [], [], []
    for _ in range(4):  # 3 batches of epoch 0, then the first of epoch 1
        o, c, state = next(batches)
        assert o.shape == c.shape == (2, 3, 48, 48) and o.min() >= -1 and o.max() <= 1
        for crop in o:
            key, label = _source(crop, images)
            assert label in RAINY
            rainy_keys.append(key)
        for crop in c:
            key, label = _source(crop, images)
            assert label == "no-rain"
            clean_keys.append(key)
        states.append((state["epoch"], state["taken"]))
    batches.close()
    # epoch 0: every rainy sample exactly once, every clean one at least once (4 clean for 6 pairs)
    assert sorted(rainy_keys[:6]) == sorted(k for k, t, _ in images if t in RAINY)
    assert set(clean_keys[:6]) == {k for k, t, _ in images if t == "no-rain"}
    assert states == [(0, 2), (0, 4), (0, 6), (1, 2)]


@pytest.mark.timeout(120)
def test_cli_trains_from_shards_and_records_the_streams(shards, images, tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "nlcl", "--preset", "cpu-smoke", "--shards", str(shards), "--out",
                                   str(run), "--rainy-labels", "drizzle,heavy", "steps=4", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["step"] == 4 and Path(result["checkpoint"]).is_file()
    assert all(math.isfinite(v) for v in result["last"].values())
    ckpt = load_checkpoint(result["checkpoint"])
    inputs = ckpt["inputs"]
    labels = [t for _, t, _ in images]
    assert inputs["rainy_labels"] == ["drizzle", "heavy"] and inputs["clean_labels"] == ["no-rain"]
    assert (inputs["rainy_samples"], inputs["clean_samples"]) == (labels.count("drizzle") + labels.count("heavy"),
                                                                  labels.count("no-rain"))
    assert ckpt["config"]["shards"] == str(shards) and ckpt["config"]["rainy_labels"] == "drizzle,heavy"
    # epochs of max(5, 4) = 5 pairs are batches of 2, 2 and 1: step 4 is the first batch of epoch 1
    assert (ckpt["data"]["epoch"], ckpt["data"]["taken"]) == (1, 2)
    assert json.loads((run / "config.json").read_text())["inputs"]["shards"] == str(shards)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_shards_continues_mid_epoch_exactly(shards, tmp_path, workers):
    straight = train(_cfg(shards, tmp_path / "a", steps=5, workers=workers, **TINY))
    first = train(_cfg(shards, tmp_path / "b", steps=2, workers=workers, **TINY))
    resumed = train(_cfg(shards, tmp_path / "b", steps=5, workers=workers, **TINY))
    assert (first.step, resumed.start_step, resumed.step) == (2, 2, 5)
    drop = ("seconds", "step_seconds")
    rows = lambda hist: [{k: v for k, v in r.items() if k not in drop} for r in hist]  # noqa: E731
    assert rows(straight.history[2:]) == rows(resumed.history)
    assert straight.param_digest == resumed.param_digest
    assert load_checkpoint(resumed.checkpoint)["inputs"]["loader_resume"] == "exact"


@pytest.mark.timeout(60)
def test_ranks_split_the_rainy_stream(shards, images):
    cfg = _cfg(shards, "unused", **TINY)
    parts = [shard_input.open_streams(cfg, rank, 2) for rank in (0, 1)]
    assert [len(p.rainy) for p in parts] == [3, 3] and [len(p.clean) for p in parts] == [2, 2]
    keys = [[r.key for r, _ in p.rainy.records()] for p in parts]
    assert not set(keys[0]) & set(keys[1])
    assert sorted(keys[0] + keys[1]) == sorted(k for k, t, _ in images if t in RAINY)


@pytest.mark.timeout(60)
def test_bad_shard_input_is_a_clear_error(shards, tmp_path):
    with pytest.raises(TrainError, match=r"no train sample is labelled snow .*clean_labels.*no-rain 4"):
        train(_cfg(shards, tmp_path / "x", clean_labels="snow"))
    with pytest.raises(ConfigError, match="either shards or the two folders"):
        make_config("cpu-smoke", {"shards": str(shards), "rainy": str(tmp_path)})
    with pytest.raises(ConfigError, match="both name heavy"):
        make_config("cpu-smoke", {"shards": str(shards), "clean_labels": "heavy"})
    with pytest.raises(TrainError, match=str(tmp_path / "nowhere")):
        train(_cfg(tmp_path / "nowhere", tmp_path / "y"))
    res = CliRunner().invoke(app, ["train", "nlcl", "--preset", "cpu-smoke", "--shards", str(shards),
                                   "--clean-labels", "", "--out", str(tmp_path / "z")])
    assert res.exit_code == 1 and "clean_labels names no rain type" in res.output


@pytest.mark.timeout(180)
def test_ddp_ranks_read_their_share_and_a_resume_on_one_process_goes_on_next_epoch(shards, tmp_path):
    import socket

    import torch.multiprocessing as mp

    from tests.test_nlcl_train import _ddp_worker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _cfg(shards, tmp_path / "ddp", steps=3, **TINY)
    mp.spawn(_ddp_worker, args=(2, port, cfg.to_dict(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["digest"] == r1["digest"]  # DDP kept the weights identical
    assert r0["history"][0]["total"] != r1["history"][0]["total"]  # from different samples
    ckpt = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert ckpt["inputs"]["world_size"] == 2 and ckpt["inputs"]["pairs_per_epoch"] == 3  # 6 rainy / 2 ranks
    assert ckpt["data"]["rainy"]["world_size"] == 2
    # 3 pairs per epoch in batches of 2 and 1: step 3 is the first batch of epoch 1
    assert (ckpt["data"]["epoch"], ckpt["data"]["taken"]) == (1, 2)
    with pytest.warns(UserWarning, match="world_size"):
        resumed = train(_cfg(shards, tmp_path / "ddp", steps=4, **TINY))
    assert (resumed.start_step, resumed.step) == (3, 4)
    ckpt = load_checkpoint(resumed.checkpoint)
    assert ckpt["inputs"]["loader_resume"].startswith("next epoch") and ckpt["inputs"]["world_size"] == 1
    assert (ckpt["data"]["epoch"], ckpt["data"]["taken"]) == (2, 2)


@pytest.mark.timeout(120)
def test_demo_stage_trains_from_shards(shards, tmp_path):
    from rainset.demo.nlcl import demo_stage

    result = demo_stage(tmp_path, steps=3, shards=shards)
    assert result.steps == 3 and Path(result.checkpoint).is_file() and Path(result.sample_output).is_file()
    assert result.data == f"shards {shards} (rainy 6, clean 4)"
    assert load_checkpoint(result.checkpoint)["inputs"]["shards"] == str(shards)
    assert any(str(shards) in line for line in result.lines())
    assert math.isfinite(result.last_loss) and result.to_dict()["data"] == result.data
