"""NLCL training: the cpu-smoke preset, config overrides, exact resume, DDP with two gloo processes."""

from __future__ import annotations

import csv
import json
import os
import socket

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from rainset.errors import ConfigError, TrainError  # noqa: E402
from rainset.nlcl.config import LEGACY_VALUES, config_from_dict, config_table, make_config  # noqa: E402
from rainset.demo.training_data import make_folders  # noqa: E402
from rainset.nlcl.checkpoint import load_checkpoint  # noqa: E402
from rainset.nlcl.train import build_models, train  # noqa: E402

TINY = dict(crop=48, batch_size=2, gen_blocks=1, gen_channels=8, disc_channels=8, head_dim=16, window=24, patch=8,
            k_b=4, k_r=16, nce_layers=(0, 1), nce_locations=32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return make_folders(tmp_path_factory.mktemp("nlcl-data"), 3, (72, 56), seed=5)


def _cfg(folders, out, **kw):
    return make_config("cpu-smoke", {"rainy": folders.rainy, "clean": folders.clean, "out": str(out), **kw})


@pytest.mark.timeout(60)
def test_cpu_smoke_trains_with_finite_losses_and_writes_the_run(folders, tmp_path):
    calls = []
    result = train(_cfg(folders, tmp_path / "run", steps=4), progress=lambda done, total: calls.append((done, total)))
    assert result.step == 4 and len(result.history) == 4
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]  # from the start; the end when the last step is saved
    for row in result.history:
        assert all(v == v and abs(v) < 1e6 for v in row.values()), row  # finite
    assert {"gan", "consistency", "sparsity", "location", "layer", "total", "loss_d"} <= set(result.history[0])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["crop"] == 64 and saved["inputs"]["rainy_images"] == 3
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["step"] == 4 and json.loads(json.dumps(ckpt["config"])) == saved["config"] and ckpt["inputs"]["clean"] == saved["inputs"]["clean"]
    with (tmp_path / "run" / "metrics.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step_0000004.png"]


@pytest.mark.timeout(90)
def test_resume_is_exact(folders, tmp_path):
    straight = train(_cfg(folders, tmp_path / "a", steps=4, **TINY))
    first = train(_cfg(folders, tmp_path / "b", steps=2, **TINY))
    resumed = train(_cfg(folders, tmp_path / "b", steps=4, **TINY))
    assert first.step == 2 and resumed.start_step == 2 and resumed.step == 4
    drop = ("seconds", "step_seconds")
    clean = lambda rows: [{k: v for k, v in r.items() if k not in drop} for r in rows]  # noqa: E731
    assert clean(straight.history[2:]) == clean(resumed.history)
    assert straight.param_digest == resumed.param_digest
    with (tmp_path / "b" / "metrics.csv").open() as fh:
        assert [int(r["step"]) for r in csv.DictReader(fh)] == [1, 2, 3, 4]


def test_resume_refuses_a_changed_model(folders, tmp_path):
    train(_cfg(folders, tmp_path / "r", steps=1, **TINY))
    with pytest.raises(TrainError, match="gen_channels"):
        train(_cfg(folders, tmp_path / "r", steps=2, **{**TINY, "gen_channels": 4}))


def test_overrides_are_typed_and_checked():
    cfg = make_config("paper", ["crop=128", "asymmetric=true", "nce_layers=0,4,8", "lr=1e-3", "out=x"])
    assert (cfg.crop, cfg.asymmetric, cfg.nce_layers, cfg.lr, cfg.out) == (128, True, (0, 4, 8), 1e-3, "x")
    paper = make_config("paper")
    assert (paper.crop, paper.batch_size, paper.k_b, paper.k_r, paper.tau, paper.lr, paper.beta1) == \
        (256, 1, 8, 128, 0.07, 2e-4, 0.5)
    with pytest.raises(ConfigError, match="unknown config field 'crops'"):
        make_config("paper", ["crops=1"])
    with pytest.raises(ConfigError, match="crop"):
        make_config("paper", ["crop=abc"])
    with pytest.raises(ConfigError, match="k_r"):
        make_config("paper", ["k_r=2000"])  # 1,600 candidates in a 40-centre window
    with pytest.raises(ConfigError, match="preset"):
        make_config("huge")
    assert len(config_table()) == len(paper.to_dict())


def test_missing_inputs_name_the_folder(tmp_path):
    cfg = make_config("cpu-smoke", {"rainy": str(tmp_path / "nope"), "clean": str(tmp_path), "out": str(tmp_path / "o")})
    with pytest.raises(TrainError, match="nope: the rainy folder does not exist"):
        train(cfg)


def _ddp_worker(rank: int, world: int, port: int, cfg_dict: dict, out: str) -> None:
    import torch as t

    t.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), RAINSET_DDP_BACKEND="gloo")
    import torch.distributed as dist

    from rainset.nlcl.config import config_from_dict
    from rainset.nlcl.train import train as run

    result = run(config_from_dict(cfg_dict))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
        json.dump({"digest": result.param_digest, "history": result.history}, fh)
    dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_ddp_two_gloo_processes_keep_parameters_identical(folders, tmp_path):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _cfg(folders, tmp_path / "ddp", steps=3, **TINY)
    mp.spawn(_ddp_worker, args=(2, port, cfg.to_dict(), str(tmp_path)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["digest"] == r1["digest"]
    # Each rank trained on its own crops: the losses differ, the weights do not.
    assert r0["history"][0]["total"] != r1["history"][0]["total"]
    single = train(_cfg(folders, tmp_path / "single", steps=3, **TINY))
    assert single.param_digest != r0["digest"]  # gradients really were averaged over two ranks
    assert load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")["inputs"]["world_size"] == 2


def test_trainer_guide_documents_every_field_and_json_key():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "trainer.md").read_text()
    assert [name for name, _, _ in config_table() if f"`{name}`" not in text] == []
    for heading in ("## rainset train nlcl", "## rainset evaluate", "## rainset derain"):
        assert heading in text
    keys = ["run_dir", "checkpoint", "start_step", "step", "seconds", "last", "param_digest", "outputs", "count",
            "images", "mean", "psnr_rgb", "ssim_rgb", "psnr_y", "ssim_y", "streak"]
    assert [k for k in keys if f"`{k}`" not in text] == []


def test_time_budget_stops_with_a_checkpoint(folders, tmp_path):
    result = train(_cfg(folders, tmp_path / "t", steps=50, max_minutes=1e-6, **TINY))
    assert result.step == 1
    assert load_checkpoint(result.checkpoint)["step"] == 1


NEW_D_FIELDS = ("disc_antialias", "layer_features", "separate_heads", "init", "d_first")
OLD_D_SIDE = dict(disc_antialias=False, layer_features="blocks", layer_levels=(0, 1, 2), separate_heads=False,
                  init="normal", d_first=False)


def test_paper_is_the_released_discriminator_side():
    paper = make_config("paper")
    assert (paper.disc_antialias, paper.layer_features, paper.layer_levels, paper.separate_heads, paper.init,
            paper.d_first) == (True, "released", (0, 1, 2, 3), True, "released", True)
    assert {k: v for k, v in LEGACY_VALUES.items() if k in NEW_D_FIELDS} == \
        {k: v for k, v in OLD_D_SIDE.items() if k in NEW_D_FIELDS}
    assert make_config("paper", ["layer_levels=0,4"]).layer_levels == (0, 4)  # released: input + 4 conv outputs
    with pytest.raises(ConfigError, match="layer_levels .* must name levels 0..3 .*layer_features=blocks"):
        make_config("paper", ["layer_features=blocks", "layer_levels=0,4"])  # blocks 0..3: no level 4
    assert make_config("paper", ["layer_features=blocks", "layer_levels=0,1,2"]).layer_levels == (0, 1, 2)
    with pytest.raises(ConfigError, match="config field init: 'kaiming' is not released or normal"):
        make_config("paper", ["init=kaiming"])
    with pytest.raises(ConfigError, match="layer_features: 'all'"):
        make_config("paper", ["layer_features=all"])


@pytest.mark.timeout(90)
def test_a_run_saved_before_the_discriminator_fields_resumes_as_it_was(folders, tmp_path):
    """A checkpoint whose config lacks the new fields (as the previous release wrote it) keeps its
    stride-2 D, block features, shared heads and G-first order; today's defaults refuse to resume it."""
    first = train(_cfg(folders, tmp_path / "old", steps=1, **TINY, **OLD_D_SIDE))
    state = torch.load(first.checkpoint, weights_only=False)
    for name in NEW_D_FIELDS:
        del state["config"][name]
    torch.save(state, first.checkpoint)
    cfg = config_from_dict(load_checkpoint(first.checkpoint)["config"])
    assert all(getattr(cfg, k) == v for k, v in OLD_D_SIDE.items())
    m = build_models(cfg)
    m.gen.load_state_dict(state["gen"])  # strict: no layer_heads_r, the same head shapes
    m.disc.load_state_dict(state["disc"])
    assert m.disc.blocks[0][0].stride == (2, 2) and not hasattr(m.gen, "layer_heads_r")
    with pytest.raises(TrainError, match="differs in disc_antialias, layer_features, layer_levels"):
        train(_cfg(folders, tmp_path / "old", steps=2, **TINY))
    resumed = train(_cfg(folders, tmp_path / "old", steps=2, **TINY, **OLD_D_SIDE))
    assert resumed.start_step == 1 and resumed.step == 2


def test_the_train_bar_names_the_running_step():
    from rainset.cli.nlcl import step_progress

    shown = []
    update = step_progress(lambda done, total, note: shown.append((done, total, note)))
    for done in range(4):
        update(done, 3)
    assert shown == [(0, 3, "step 1 of 3"), (1, 3, "step 2 of 3"), (2, 3, "step 3 of 3"), (3, 3, "3 steps done")]
