"""The released NLCL weights in rainset: golden outputs of the released code reproduced, the import
command, old checkpoints unchanged (ReLU head), and one clear error for files that are neither.

The weights and goldens are read from ../shared/reference/nlcl-official (never copied into the repo).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

import torch.nn.functional as F  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.errors import TrainError  # noqa: E402
from rainset.hashing import sha256_file  # noqa: E402
from rainset.nlcl.checkpoint import load_checkpoint  # noqa: E402
from rainset.nlcl.config import config_from_dict, make_config  # noqa: E402
from rainset.nlcl.data import read_image  # noqa: E402
from rainset.nlcl.derain import derain_array, load_generator  # noqa: E402
from rainset.nlcl.model import Discriminator  # noqa: E402
from rainset.nlcl.released import (  # noqa: E402
    import_released,
    load_released,
    load_released_discriminator,
    released_disc_keys,
    released_forward,
    released_to_uint8,
)
from rainset.nlcl.train import build_models  # noqa: E402
from tests.conftest import skip_or_fail  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
OFFICIAL = SHARED / "reference" / "nlcl-official"
EG2 = SHARED / "fixtures" / "nlcl-realrain" / "datasets" / "RealRain" / "valA" / "Eg2.JPG"


@pytest.fixture(scope="module")
def official() -> Path:
    if not (OFFICIAL / "latest_net_Back.pth").is_file():
        skip_or_fail(f"released NLCL weights not found at {OFFICIAL}")
    return OFFICIAL


@pytest.fixture(scope="module")
def crop(official):
    return np.load(official / "Eg1_crop256.npz")


@pytest.fixture(scope="module")
def imported(official, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("released") / "checkpoint.pt"
    import_released(official / "latest_net_Back.pth", official / "latest_net_Rain.pth", path)
    return path


def reference_forward(sd: dict, x: torch.Tensor, head_relu: bool) -> torch.Tensor:
    """The generator written out in plain torch ops from a rainset state dict (independent of the model class)."""
    def conv(h, key):
        return F.conv2d(h, sd[f"{key}.weight"], sd[f"{key}.bias"], padding=1)

    h = conv(x, "head.0")
    h = F.relu(h) if head_relu else h
    i = 0
    while f"blocks.{i}.body.0.weight" in sd:
        r = F.relu(F.instance_norm(conv(h, f"blocks.{i}.body.0"), eps=1e-5))
        h = h + F.instance_norm(conv(r, f"blocks.{i}.body.3"), eps=1e-5)
        i += 1
    h = F.relu(F.instance_norm(conv(h, "tail.0"), eps=1e-5))
    return conv(conv(h, "tail.3"), "tail.4")


def test_released_generators_reproduce_the_crop_goldens(official, crop) -> None:
    for name, key in (("latest_net_Back.pth", "net_Back_output"), ("latest_net_Rain.pth", "net_Rain_output")):
        gen = load_released(official / name)
        assert not gen.head_relu
        out = released_forward(gen, crop["input_rgb_uint8"])
        assert out.shape == crop[key].shape
        assert np.abs(out - crop[key]).max() <= 1e-5, name


def test_the_relu_head_would_not_reproduce_them(official, crop) -> None:
    """The check above can fail: the pre-change architecture (ReLU after gen.0) misses the golden."""
    gen = load_released(official / "latest_net_Back.pth")
    x = torch.from_numpy(crop["input_rgb_uint8"].transpose(2, 0, 1).copy()).float()[None] / 255 * 2 - 1
    with torch.no_grad():
        out = reference_forward(gen.state_dict(), x, head_relu=True)[0].permute(1, 2, 0).numpy()
    assert np.abs(out - crop["net_Back_output"]).max() > 1e-2


@pytest.mark.slow
def test_whole_photo_through_the_derain_path(official) -> None:
    """G_B on the whole 1024×512 photo, through derain_array (one piece), against the quantised golden."""
    if not EG2.is_file():
        skip_or_fail(f"RealRain fixture not found at {EG2}")
    z = np.load(official / "Eg2_full_back_u16.npz")
    golden = z["net_Back_output_u16"].astype(np.float64) / 65535 * float(z["scale"]) + float(z["offset"])
    rgb, bits = read_image(EG2)  # OpenCV decode, BGR → RGB
    assert bits == 8 and rgb.shape == golden.shape
    out = derain_array(load_generator(official / "latest_net_Back.pth"), rgb, device="cpu")
    # derain_array returns (x + 1) / 2 clipped to [0, 1]: 1e-4 in network units is 5e-5 here
    assert np.abs(out - np.clip((golden + 1) / 2, 0, 1)).max() <= 0.5e-4


def test_derain_cli_writes_the_released_8bit_image(official, crop, tmp_path) -> None:
    src = tmp_path / "in" / "Eg1_crop256.png"
    src.parent.mkdir()
    cv2.imwrite(str(src), cv2.cvtColor(crop["input_rgb_uint8"], cv2.COLOR_RGB2BGR))
    res = CliRunner().invoke(app, ["derain", str(src), "--checkpoint", str(official / "latest_net_Back.pth"),
                                   "--out", str(tmp_path / "out"), "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "Eg1_crop256.png")), cv2.COLOR_BGR2RGB)
    official_png = cv2.cvtColor(cv2.imread(str(official / "Eg1_crop256_derained_official.png")), cv2.COLOR_BGR2RGB)
    assert written.shape == official_png.shape
    assert np.abs(written.astype(int) - official_png.astype(int)).max() <= 1
    # the released saving path itself (truncation) gives the file exactly
    out = released_forward(load_released(official / "latest_net_Back.pth"), crop["input_rgb_uint8"])
    assert np.abs(released_to_uint8(out).astype(int) - official_png.astype(int)).max() == 0


def test_imported_checkpoint_derains_as_the_raw_state_dicts(official, crop, imported) -> None:
    state = load_checkpoint(imported)
    cfg = config_from_dict(state["config"])
    assert cfg.gen_head_relu is False and (cfg.gen_channels, cfg.gen_blocks) == (32, 16)
    assert cfg == make_config("paper")
    prov = state["provenance"]
    assert prov["back"]["sha256"] == sha256_file(official / "latest_net_Back.pth")
    assert prov["rain"]["sha256"] == sha256_file(official / "latest_net_Rain.pth")
    rgb = crop["input_rgb_uint8"][:64, :80].astype(np.float32) / 255  # identity needs no large image
    for which, name in (("b", "latest_net_Back.pth"), ("r", "latest_net_Rain.pth")):
        ours = derain_array(load_generator(imported, which=which), rgb, device="cpu")
        raw = derain_array(load_generator(official / name), rgb, device="cpu")
        assert np.array_equal(ours, raw), which
    assert not np.array_equal(derain_array(load_generator(imported, which="b"), rgb, device="cpu"),
                              derain_array(load_generator(imported, which="r"), rgb, device="cpu"))


def test_import_cli_json(official, tmp_path) -> None:
    target = tmp_path / "imp" / "checkpoint.pt"
    res = CliRunner().invoke(app, ["nlcl", "import-released", str(official / "latest_net_Back.pth"),
                                   str(official / "latest_net_Rain.pth"), "--out", str(target), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["checkpoint"] == str(target) and target.is_file()
    assert data["back_sha256"] == sha256_file(official / "latest_net_Back.pth")
    assert data["parameters"] == 316_195


def _as_old_format(checkpoint: Path, target: Path) -> Path:
    """The checkpoint as code before ``gen_head_relu`` wrote it: the same, without that config field."""
    state = torch.load(checkpoint, weights_only=False)
    del state["config"]["gen_head_relu"]
    torch.save(state, target)
    return target


@pytest.mark.parametrize("old", [True, False], ids=["old-format", "new-format"])
def test_rainset_checkpoints_keep_their_architecture(checkpoint, tmp_path, old) -> None:
    path = _as_old_format(checkpoint, tmp_path / "old.pt") if old else checkpoint
    gen = load_generator(path)
    assert gen.head_relu is old
    sd = {k[len("g_b."):]: v for k, v in load_checkpoint(path)["gen"].items() if k.startswith("g_b.")}
    rgb = np.random.default_rng(0).random((40, 36, 3), dtype=np.float32)
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None] * 2 - 1
    with torch.no_grad():
        expected = reference_forward(sd, x, head_relu=old)
        other = reference_forward(sd, x, head_relu=not old)
        got = gen(x)[0]
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, other, atol=1e-4)  # the two architectures are told apart
    want = np.clip((expected[0].permute(1, 2, 0).numpy() + 1) / 2, 0, 1)
    assert np.abs(derain_array(gen, rgb, device="cpu") - want).max() < 1e-6


def _bad_files(official: Path, tmp: Path) -> dict[str, Path]:
    files = {"random bytes": tmp / "random.pth", "wrong keys": tmp / "keys.pth", "wrong shapes": tmp / "shape.pth",
             "missing key": tmp / "missing.pth"}
    files["random bytes"].write_bytes(np.random.default_rng(1).bytes(4096))
    torch.save({"encoder.weight": torch.zeros(3, 3)}, files["wrong keys"])
    sd = torch.load(official / "latest_net_Back.pth", weights_only=True)
    bad = dict(sd)
    bad["gen.5.model.0.conv.weight"] = torch.zeros(32, 32, 5, 5)
    torch.save(bad, files["wrong shapes"])
    short = dict(sd)
    del short["gen.17.conv.3.bias"]
    torch.save(short, files["missing key"])
    return files


def test_bad_files_get_one_clear_error(official, tmp_path) -> None:
    files = _bad_files(official, tmp_path)
    reasons = {}
    for kind, path in files.items():
        with pytest.raises(TrainError) as info:
            load_generator(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, kind
        reasons[kind] = msg
    assert "gen.5.model.0.conv.weight" in reasons["wrong shapes"] and "(32, 32, 5, 5)" in reasons["wrong shapes"]
    assert "gen.17.conv.3.bias" in reasons["missing key"]
    assert "neither" in reasons["wrong keys"]
    with pytest.raises(TrainError, match="latest_net_Back|shape.pth"):
        import_released(files["wrong shapes"], official / "latest_net_Rain.pth", tmp_path / "x.pt")
    res = CliRunner().invoke(app, ["derain", str(official / "Eg1_crop256_derained_official.png"), "--checkpoint",
                                   str(files["wrong keys"]), "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert res.exit_code == 1 and str(files["wrong keys"].name) in res.output
    assert not (tmp_path / "o").exists()


# --- the released discriminator (issue 14, rows 1, 2 and 7's init) ---

D_FILE = "D_ndf16_xavier_seed0.pth"


@pytest.fixture(scope="module")
def d_golden(official):
    if not (official / D_FILE).is_file() or not (official / "D_ndf16_golden.npz").is_file():
        skip_or_fail(f"released NLCL discriminator files not found at {official}")
    return np.load(official / "D_ndf16_golden.npz")


def _d_input(golden) -> torch.Tensor:
    rgb = golden["input_rgb_uint8"]
    return (torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()[None] / 255 - 0.5) / 0.5


def test_released_discriminator_reproduces_its_golden_features(official, d_golden) -> None:
    disc = load_released_discriminator(official / D_FILE)
    x = _d_input(d_golden)
    with torch.no_grad():
        out, feats = disc(x, (0, 1, 2, 3, 4))
        first_four = disc.features(x, (0, 1, 2, 3))  # what the layer-contrastive loss reads (zip with 4 layers)
    assert out.shape == (1, 1, 6, 6)
    assert np.abs(out[0].numpy() - d_golden["output"]).max() < 1e-5
    for i, f in enumerate(feats):
        want = d_golden[f"feat{i}"]
        assert f.shape[1:] == want.shape and np.abs(f[0].numpy() - want).max() < 1e-5, i
    for a, b in zip(first_four, feats):
        assert torch.equal(a, b)
    # the in-place detail: feat1 is the first conv's output after its LeakyReLU, not before it
    with torch.no_grad():
        raw = disc.blocks[0][0](x)
    assert np.abs(raw[0].numpy() - d_golden["feat1"]).max() > 1e-3
    assert np.abs(F.leaky_relu(raw, 0.2)[0].numpy() - d_golden["feat1"]).max() < 1e-5


def test_the_old_discriminator_layout_does_not_match(official, d_golden) -> None:
    """rainset's earlier D (stride-2 convolutions, block outputs) with the same weights: other scores, other features."""
    old = Discriminator(16, 3, antialias=False, features="blocks")
    old.load_state_dict(load_released_discriminator(official / D_FILE).state_dict())
    with torch.no_grad():
        out, feats = old(_d_input(d_golden), (0, 1, 2))
    assert out.shape[1:] == d_golden["output"].shape  # the same 6×6 map …
    assert np.abs(out[0].numpy() - d_golden["output"]).max() > 1e-3  # … with other values
    assert [tuple(f.shape[1:]) for f in feats] != [d_golden[f"feat{i}"].shape for i in range(3)]


def test_paper_init_is_the_released_init_bit_for_bit(official, d_golden) -> None:
    """xavier-normal, gain 0.02, zero biases, after manual_seed(0): our D equals the released file."""
    cfg = make_config("paper", {"disc_channels": 16, "gen_blocks": 1, "nce_layers": (0, 1), "seed": 0})
    ours = build_models(cfg).disc.state_dict()
    theirs = torch.load(official / D_FILE, weights_only=True)
    assert all(torch.equal(theirs[old], ours[new]) for old, new in released_disc_keys(3).items())
    legacy = build_models(make_config("paper", {**cfg.to_dict(), "init": "normal"})).disc.state_dict()
    assert not torch.equal(theirs["model.3.weight"], legacy["blocks.1.0.weight"])


def test_bad_discriminator_files_get_one_clear_error(official, d_golden, tmp_path) -> None:
    sd = torch.load(official / D_FILE, weights_only=True)
    bad = {"missing": {k: v for k, v in sd.items() if k != "model.14.bias"},
           "blur": {**sd, "model.6.filt": torch.ones_like(sd["model.6.filt"]) / 9},
           "shape": {**sd, "model.7.weight": torch.zeros(64, 32, 3, 3)},
           "generator": torch.load(official / "latest_net_Back.pth", weights_only=True)}
    reasons = {}
    for kind, state in bad.items():
        path = tmp_path / f"{kind}.pth"
        torch.save(state, path)
        with pytest.raises(TrainError) as info:
            load_released_discriminator(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and "\n" not in msg, kind
        reasons[kind] = msg
    assert "model.14.bias" in reasons["missing"] and "model.6.filt" in reasons["blur"]
    assert "model.7.weight" in reasons["shape"] and "(64, 32, 3, 3)" in reasons["shape"]
