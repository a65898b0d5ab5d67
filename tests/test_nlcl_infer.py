"""NLCL inference and evaluation: tiled = untiled, 8/16-bit files, PSNR/SSIM against scikit-image,
the no-reference streak measure, the CLI commands and the demo stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.nlcl.data import read_image, write_image  # noqa: E402
from rainset.demo.nlcl import demo_stage  # noqa: E402
from rainset.demo.training_data import make_folders  # noqa: E402
from rainset.nlcl.derain import derain_array, load_generator  # noqa: E402
from rainset.nlcl.evaluate import pair_files, psnr, ssim, streak_energy, to_y  # noqa: E402
from rainset.nlcl.model import Generator, init_weights  # noqa: E402

SMOKE = ["gen_blocks=1", "gen_channels=8", "nce_layers=0,1", "steps=2", "workers=0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Generated folders and a 2-step cpu-smoke run made through the CLI."""
    base = tmp_path_factory.mktemp("nlcl-cli")
    f = make_folders(base / "data", 3, (80, 64), seed=3)
    res = CliRunner().invoke(app, ["train", "nlcl", "--preset", "cpu-smoke", "--rainy", f.rainy, "--clean", f.clean,
                                   "--out", str(base / "run"), *SMOKE, "--json"])
    assert res.exit_code == 0, res.output
    return f, json.loads(res.output)


def test_tiled_equals_untiled():
    torch.manual_seed(0)
    gen = Generator(8, 2)
    init_weights(gen, 0.2)  # strong weights: seams would show
    gen.eval()
    rgb = np.random.default_rng(0).random((70, 90, 3), dtype=np.float32)
    whole = derain_array(gen, rgb)
    tiled = derain_array(gen, rgb, tile=32, blend=8, force_tiles=True)
    assert whole.std() > 0.05
    assert np.abs(whole - tiled).max() < 1e-4


def test_16_bit_in_16_bit_out_and_8_bit_in_8_bit_out(run, tmp_path):
    f, result = run
    rgb, _ = read_image(Path(f.rainy) / "0000.png")
    write_image(tmp_path / "in" / "deep.png", rgb, 16)
    write_image(tmp_path / "in" / "plain.jpg", rgb, 8)
    res = CliRunner().invoke(app, ["derain", "--checkpoint", result["checkpoint"], str(tmp_path / "in"),
                                   "--out", str(tmp_path / "out"), "--tile", "32", "--format", "same", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["count"] == 2
    deep = cv2.imread(str(tmp_path / "out" / "deep.png"), cv2.IMREAD_UNCHANGED)
    plain = cv2.imread(str(tmp_path / "out" / "plain.jpg"), cv2.IMREAD_UNCHANGED)
    assert deep.dtype == np.uint16 and deep.shape == (64, 80, 3) and len(np.unique(deep)) > 256
    assert plain.dtype == np.uint8 and plain.shape == (64, 80, 3)
    direct = derain_array(load_generator(result["checkpoint"]), read_image(tmp_path / "in" / "deep.png")[0])
    assert np.abs(read_image(tmp_path / "out" / "deep.png")[0] - direct).max() < 2 / 65535


def test_derain_names_a_bad_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    res = CliRunner().invoke(app, ["derain", "--checkpoint", str(bad), str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "bad.pt" in res.output


def test_psnr_ssim_match_scikit_image_on_rgb_and_y():
    rng = np.random.default_rng(1)
    a = rng.random((48, 40, 3))
    b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(a, b) == pytest.approx(structural_similarity(a, b, data_range=1, channel_axis=-1, **kw), abs=1e-9)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1), abs=1e-9)
    ya, yb = to_y(a), to_y(b)
    assert ssim(ya, yb, 255) == pytest.approx(structural_similarity(ya, yb, data_range=255, **kw), abs=1e-9)
    assert psnr(a, a) == float("inf")


def test_pairing_by_name_or_number(tmp_path):
    pred = [Path("rain-001.png"), Path("rain-012.png")]
    truth = [Path("norain-012.png"), Path("norain-001.png")]
    assert [t.name for _, t in pair_files(pred, truth)] == ["norain-001.png", "norain-012.png"]
    from rainset.errors import TrainError

    with pytest.raises(TrainError, match="rain-002.png"):
        pair_files([Path("rain-002.png")], truth)


def test_streak_energy_is_higher_with_rain(tmp_path):
    f = make_folders(tmp_path, 2, (320, 240), seed=8, rain_types=("heavy",))
    for name in ("0000.png", "0001.png"):
        rainy, truth = read_image(Path(f.rainy) / name)[0], read_image(Path(f.truth) / name)[0]
        assert streak_energy(rainy) > 1.3 * streak_energy(truth), name


@pytest.mark.fixtures
def test_streak_energy_on_real_pairs(fixtures_dir):
    pairs = [("mspfn-rain100h/model/test/test_data/R100H/inputcrop/2.png", "mspfn-rain100h/model/test/test_data/R100H/cleancrop/2.png"),
             ("deraincyclegan-rain100l/datasets/rainy_Rain100L/trainA/rain-001.png", "deraincyclegan-rain100l/datasets/rainy_Rain100L/trainB/norain-001.png")]
    for rain, clean in pairs:
        assert streak_energy(read_image(fixtures_dir / rain)[0]) > 1.5 * streak_energy(read_image(fixtures_dir / clean)[0])


def test_evaluate_command_on_pairs_and_without_truth(run):
    f, result = run
    res = CliRunner().invoke(app, ["evaluate", f.rainy, "--truth", f.truth, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert len(report["images"]) == 3 and 10 < report["mean"]["psnr_rgb"] < 60
    res = CliRunner().invoke(app, ["evaluate", f.rainy, "--checkpoint", result["checkpoint"], "--truth", f.truth,
                                   "--json"])
    derained = json.loads(res.output)
    assert derained["mean"]["psnr_rgb"] != report["mean"]["psnr_rgb"]
    res = CliRunner().invoke(app, ["evaluate", f.rainy, "--json"])
    assert json.loads(res.output)["mean"]["psnr_rgb"] is None and json.loads(res.output)["mean"]["streak"] > 0


def test_train_command_reports_config_errors(tmp_path):
    res = CliRunner().invoke(app, ["train", "nlcl", "--preset", "cpu-smoke", "bogus=1"])
    assert res.exit_code == 1 and "bogus" in res.output
    res = CliRunner().invoke(app, ["train", "nlcl", "--preset", "cpu-smoke", "--show-config", "crop=48"])
    assert res.exit_code == 0 and json.loads(res.output)["crop"] == 48


def test_rainset_import_does_not_load_torch():
    code = "import sys, rainset.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.timeout(60)
def test_demo_stage(tmp_path):
    result = demo_stage(tmp_path, steps=2, images=2)
    assert result.steps == 2 and Path(result.sample_output).is_file() and Path(result.checkpoint).is_file()
    assert np.isfinite(result.last_loss) and result.psnr_input > 10
    assert read_image(result.sample_output)[0].shape == read_image(result.sample_input)[0].shape
    assert json.loads(json.dumps(result.to_dict()))["steps"] == 2 and len(result.lines()) == 3
