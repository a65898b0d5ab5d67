"""``rainset evaluate`` on real pairs: masked PSNR/SSIM (masked pixels excluded, equal to the plain metrics
with an all-valid mask), the rainy-input baseline, per pair and mean, from a pairs version or a pair set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.manifests.export import export_manifest  # noqa: E402
from rainset.nlcl.data import read_image  # noqa: E402
from rainset.nlcl.evaluate import masked_psnr, masked_ssim, psnr, ssim, to_y  # noqa: E402
from rainset.nlcl.model import Generator, init_weights  # noqa: E402
from rainset.nlcl.released import rainset_keys  # noqa: E402
from rainset.pairs.pairset import pairset_dir, read_index  # noqa: E402
from rainset.store import Store  # noqa: E402
from tests.conftest import FIXTURES, skip_or_fail  # noqa: E402
from tests.pairset_fixtures import BOX, video_store, write_pairset  # noqa: E402

R100H = FIXTURES / "mspfn-rain100h" / "model" / "test" / "test_data" / "R100H"


def _fixture_pair(n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A real rainy / clean pair (Rain100H crops), RGB float in [0, 1]."""
    rainy, clean = R100H / "inputcrop" / f"{n}.png", R100H / "cleancrop" / f"{n}.png"
    if not rainy.is_file():
        skip_or_fail(f"fixture pair not found at {rainy}")
    return read_image(rainy)[0], read_image(clean)[0]


def test_masked_metrics_equal_the_plain_ones_with_an_all_valid_mask() -> None:
    rainy, clean = _fixture_pair()
    full = np.full(rainy.shape[:2], 255, np.uint8)
    assert masked_psnr(rainy, clean, full) == pytest.approx(psnr(rainy, clean), abs=1e-9)
    assert masked_ssim(rainy, clean, full) == pytest.approx(ssim(rainy, clean), abs=1e-9)
    y_r, y_c = to_y(rainy), to_y(clean)
    assert masked_ssim(y_r, y_c, full, 255.0) == pytest.approx(ssim(y_r, y_c, 255.0), abs=1e-9)
    assert psnr(rainy, clean) < 40  # a real rainy input: the scores are not trivial


def test_masked_metrics_ignore_masked_pixels() -> None:
    rainy, clean = _fixture_pair(2)
    mask = np.full(rainy.shape[:2], 255, np.uint8)
    h, w = mask.shape
    mask[h // 4:h // 2, w // 3:2 * w // 3] = 0
    before = (masked_psnr(rainy, clean, mask), masked_ssim(rainy, clean, mask))
    noisy = rainy.copy()
    hole = mask == 0
    noisy[hole] = np.random.default_rng(0).random((int(hole.sum()), 3)) * 0.2  # corrupt only the masked pixels
    other = clean.copy()
    other[hole] = 1.0
    assert (masked_psnr(noisy, other, mask), masked_ssim(noisy, other, mask)) == before
    # the corruption does show in the plain metrics, and the masked ones differ from the plain ones
    assert psnr(noisy, other) < psnr(rainy, clean) - 1 and ssim(noisy, other) < ssim(rainy, clean) - 0.01
    assert before[0] != pytest.approx(psnr(rainy, clean), abs=1e-3)
    assert masked_psnr(rainy, clean, np.zeros_like(mask)) is None
    assert masked_ssim(rainy, clean, np.zeros_like(mask)) is None


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    base = tmp_path_factory.mktemp("pairs-eval")
    st = video_store(base, videos=2)
    write_pairset(st, "p1", accepted=lambda v, i: i % 2 == 0)
    export_manifest(st, "pv", pairs="p1")
    export_manifest(st, "plain", include_unlabelled=True)
    torch.manual_seed(0)
    gen = Generator(8, 1, False)  # a tiny randomly initialised G_B, saved as a released state dict
    init_weights(gen, 0.02)
    state = gen.state_dict()
    ckpt = base / "tiny.pth"
    torch.save({released: state[ours] for released, ours in rainset_keys(1).items()}, ckpt)
    return st, ckpt


def _evaluate(store: Store, *args: str) -> dict:
    res = CliRunner().invoke(app, ["evaluate", *args, "--store", str(store.root), "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_evaluate_scores_a_checkpoint_on_a_pairs_version_within_the_masks(setup: tuple[Store, Path]) -> None:
    store, ckpt = setup
    out = _evaluate(store, "--manifest", "pv", "--checkpoint", str(ckpt))
    ps = read_index(pairset_dir(store.root, "p1"))
    accepted = {p.pair_id: p for p in ps.accepted()}
    assert [p["name"] for p in out["pairs"]] == sorted(accepted) and out["source"] == "manifest pv"
    folder = pairset_dir(store.root, "p1")
    for scored in out["pairs"]:
        pair = accepted[scored["name"]]
        rainy, clean = read_image(folder / pair.rainy)[0], read_image(folder / pair.clean)[0]
        mask = cv2.imread(str(folder / pair.mask), cv2.IMREAD_GRAYSCALE)
        assert scored["input_psnr_rgb"] == pytest.approx(masked_psnr(rainy, clean, mask), abs=1e-4)
        assert scored["input_ssim_rgb"] == pytest.approx(masked_ssim(rainy, clean, mask), abs=1e-5)
        assert scored["valid_fraction"] == pytest.approx((mask > 0).mean(), abs=1e-5) and scored["valid_fraction"] < 1
        assert scored["psnr_rgb"] != scored["input_psnr_rgb"]  # the checkpoint changed the frame
        assert scored["split"] in ("train", "validation", "test")
    for key in ("psnr_rgb", "input_psnr_rgb", "ssim_y", "input_ssim_y"):
        assert out["mean"][key] == pytest.approx(np.mean([p[key] for p in out["pairs"]]), abs=1e-3)
    direct = _evaluate(store, "--pairs", "p1", "--checkpoint", str(ckpt))
    assert [p["psnr_rgb"] for p in direct["pairs"]] == [p["psnr_rgb"] for p in out["pairs"]]
    split = out["pairs"][0]["split"]
    only = _evaluate(store, "--manifest", "pv", "--split", split, "--checkpoint", str(ckpt))
    assert {p["split"] for p in only["pairs"]} == {split}


def test_corrupting_masked_pixels_of_the_targets_changes_no_score(setup: tuple[Store, Path], tmp_path: Path) -> None:
    store, ckpt = setup
    before = _evaluate(store, "--pairs", "p1", "--checkpoint", str(ckpt))
    shutil.copytree(pairset_dir(store.root, "p1"), pairset_dir(store.root, "p1-bad"))
    for clean in (pairset_dir(store.root, "p1-bad") / "clean").iterdir():
        img = cv2.imread(str(clean))
        img[BOX] = 255 - img[BOX]  # the masked box: a passer-by the target got wrong
        cv2.imwrite(str(clean), img)
    after = _evaluate(store, "--pairs", "p1-bad", "--checkpoint", str(ckpt))
    assert after["pairs"] == before["pairs"] and after["mean"] == before["mean"]


def test_clear_errors(setup: tuple[Store, Path]) -> None:
    store, ckpt = setup
    runner = CliRunner()
    cases = [(["--manifest", "pv"], "give --checkpoint"),
             (["--manifest", "plain", "--checkpoint", str(ckpt)], "manifest version 'plain' holds no pairs"),
             (["--pairs", "nope", "--checkpoint", str(ckpt)], "pair set 'nope': no such pair set"),
             (["--pairs", "p1", "--manifest", "pv", "--checkpoint", str(ckpt)], "give exactly one of"),
             (["--manifest", "pv", "--split", "dev", "--checkpoint", str(ckpt)], "--split 'dev'")]
    for args, message in cases:
        res = runner.invoke(app, ["evaluate", *args, "--store", str(store.root)])
        assert res.exit_code == 1 and message in res.output, (args, res.output)
        assert "Traceback" not in res.output
