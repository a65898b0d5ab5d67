"""Row 7 of issue 14, the rest: the released lr schedule (200 constant + 10 linear-decay epochs, an epoch =
max(|A|, |B|) iterations, compressed into shorter runs), fp32 by default, no flips, small images squashed."""

from __future__ import annotations

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

import cv2  # noqa: E402

from rainset.errors import ConfigError  # noqa: E402
from rainset.demo.training_data import make_folders  # noqa: E402
from rainset.nlcl.config import LEGACY_VALUES, config_from_dict, make_config  # noqa: E402
from rainset.nlcl.data import StepBatches, fit_small, random_crop, write_image  # noqa: E402
from rainset.nlcl.schedule import Schedule, decay_epochs, epoch_steps  # noqa: E402
from rainset.nlcl.train import train  # noqa: E402


def released_rule(epoch0: int, n_epochs: int = 200, n_decay: int = 10, epoch_count: int = 1) -> float:
    """The released get_scheduler('linear') lambda, evaluated at the scheduler's 0-based epoch counter."""
    return 1.0 - max(0, epoch0 + epoch_count - n_epochs) / float(n_decay + 1)


def test_paper_recipe_defaults_and_old_checkpoints():
    paper = make_config("paper")
    assert (paper.lr_schedule, paper.epochs, paper.steps) == ("released", 210, 0)
    assert (paper.amp, paper.flip, paper.small_images) == (False, False, "squash")
    old = config_from_dict({k: v for k, v in paper.to_dict().items() if k not in LEGACY_VALUES})
    assert (old.lr_schedule, old.flip, old.small_images) == ("constant", True, "upscale")
    with pytest.raises(ConfigError, match="lr_schedule: 'cosine' is not released or constant"):
        make_config("paper", ["lr_schedule=cosine"])
    with pytest.raises(ConfigError, match="steps must be 0"):
        make_config("paper", ["steps=-1"])
    with pytest.raises(ConfigError, match="epochs must be positive"):
        make_config("paper", ["epochs=0"])


def test_full_length_schedule_is_the_released_staircase():
    per_epoch = 7
    s = Schedule("released", per_epoch, 210)
    assert s.decay == 10 and s.full_steps == 210 * per_epoch
    got = [s.factor(step) for step in range(1, 210 * per_epoch + 1)]
    # the released loop runs epoch e (1-based) with the scheduler stepped e - 1 times
    want = [released_rule((step - 1) // per_epoch) for step in range(1, 210 * per_epoch + 1)]
    assert got == pytest.approx(want, abs=1e-12)
    assert got[0] == 1.0 and got[200 * per_epoch - 1] == 1.0 and got[200 * per_epoch] == pytest.approx(1 - 1 / 11)
    assert got[-1] == pytest.approx(1 / 11)
    assert s.factor(10 ** 6) == pytest.approx(1 / 11)  # beyond the schedule: its last rate
    assert Schedule("constant", per_epoch, 210).factor(99) == 1.0


def test_fewer_epochs_keep_the_released_proportions():
    assert [decay_epochs(e) for e in (210, 105, 21, 10, 3, 1)] == [10, 5, 1, 1, 1, 1]
    short = Schedule("released", 4, 21)  # 20 constant + 1 decay epoch
    factors = [short.factor(step) for step in range(1, 85)]
    assert factors[:80] == [1.0] * 80 and factors[80:] == pytest.approx([0.5] * 4)
    mid = Schedule("released", 2, 105)  # 100 + 5, the released rule with n_epochs 100, n_epochs_decay 5
    assert [mid.factor(st) for st in range(1, 211)] == pytest.approx(
        [released_rule((st - 1) // 2, 100, 5) for st in range(1, 211)])
    assert all(a >= b for a, b in zip(factors, factors[1:]))
    assert epoch_steps(9, 2) == 5 and epoch_steps(9, 2, world=2) == 3 and epoch_steps(0, 4) == 1


def test_small_images_are_squashed_and_crops_are_not_flipped():
    rng = np.random.default_rng(0)
    small = rng.random((40, 90, 3), dtype=np.float32)  # height 40 <= crop 48
    squashed = fit_small(small, 48, "squash")
    assert squashed.shape == (48, 48, 3)
    assert np.array_equal(squashed, cv2.resize(small, (48, 48), interpolation=cv2.INTER_LINEAR))
    assert fit_small(small, 48, "upscale").shape == (48, 108, 3)  # aspect kept
    exact = fit_small(rng.random((48, 200, 3), dtype=np.float32), 48, "squash")
    assert exact.shape == (48, 48, 3)  # a side equal to the crop is squashed too (released: len <= 0)
    big = np.arange(60 * 70 * 3, dtype=np.float32).reshape(60, 70, 3)
    assert fit_small(big, 48, "squash") is big
    for seed in range(20):
        out = random_crop(big, 48, np.random.default_rng(seed), flip=False)
        y, x = divmod(int(out[0, 0, 0]) // 3, 70)
        assert np.array_equal(out, big[y:y + 48, x:x + 48])  # a window of the image, never mirrored
    flipped = [not np.array_equal(random_crop(big, 48, np.random.default_rng(s), flip=True)[:, 1:] -
                                  random_crop(big, 48, np.random.default_rng(s), flip=True)[:, :-1], np.full((48, 47, 3), 3.0))
               for s in range(20)]
    assert any(flipped)  # the legacy path still flips


def test_folder_batches_squash_small_images(tmp_path):
    for name, shape in (("rainy", (30, 80)), ("clean", (64, 64))):
        (tmp_path / name).mkdir()
        img = np.random.default_rng(1).random((*shape, 3)).astype(np.float32)
        write_image(tmp_path / name / "a.png", img)
    data = StepBatches([tmp_path / "rainy/a.png"], [tmp_path / "clean/a.png"], 32, 1, 0, flip=False, small="squash")
    o, c = data[1]
    assert o.shape == (1, 3, 32, 32) and c.shape == (1, 3, 32, 32)
    from rainset.nlcl.data import read_image

    whole = cv2.resize(read_image(tmp_path / "rainy/a.png")[0], (32, 32), interpolation=cv2.INTER_LINEAR)
    assert torch.allclose(o[0], torch.from_numpy(whole.transpose(2, 0, 1)) * 2 - 1, atol=1e-6)


@pytest.mark.timeout(90)
def test_training_follows_the_schedule_and_steps_0_runs_it_whole(tmp_path):
    folders = make_folders(tmp_path / "data", 3, (72, 56), seed=5)
    tiny = dict(crop=48, batch_size=1, gen_blocks=1, gen_channels=8, disc_channels=8, head_dim=16, window=16,
                patch=8, k_b=4, k_r=16, nce_layers=(0, 1), nce_locations=32, epochs=2, steps=0, log_every=1)
    cfg = make_config("cpu-smoke", {"rainy": folders.rainy, "clean": folders.clean, "out": str(tmp_path / "r"),
                                    **tiny})
    result = train(cfg)
    assert result.step == 6  # 2 epochs (1 constant + 1 decay) of max(3, 3) images at batch 1
    with open(tmp_path / "r" / "metrics.csv", newline="") as fh:
        lrs = [float(row["lr"]) for row in csv.DictReader(fh)]
    assert lrs == pytest.approx([2e-4] * 3 + [1e-4] * 3)
