"""Exact tiled inference (rainset.nlcl.tiled) and the derain file paths: tiled = untiled on synthetic
and real photos, bounded memory, RAW input, output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared

from torch import nn  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.errors import ConfigError, TrainError  # noqa: E402
from rainset.nlcl.data import read_image, write_image  # noqa: E402
from rainset.nlcl.derain import derain_array, derain_files, load_generator  # noqa: E402
from rainset.nlcl.model import Generator, init_weights  # noqa: E402
from rainset.nlcl.tiled import plan, tiled_forward  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTO = SHARED / "fixtures" / "nlcl-realrain" / "datasets" / "RealRain" / "valA" / "Eg2.JPG"
RAW_DIR = SHARED / "fixtures" / "rawpy" / "test"


def untiled(gen: nn.Module, x: np.ndarray) -> np.ndarray:
    """The plain forward pass on an H×W×3 network input."""
    with torch.inference_mode():
        out, _ = gen(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])
    return out[0].permute(1, 2, 0).numpy()


def strong(channels: int, blocks: int, std: float = 0.2) -> Generator:
    torch.manual_seed(0)
    gen = Generator(channels, blocks)
    init_weights(gen, std)  # large weights: any error in the statistics or halos would show
    return gen.eval()


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return np.random.default_rng(0).random((200, 300, 3), dtype=np.float32)


@pytest.mark.parametrize("which", ["default-init", "strong", "checkpoint"])
def test_tiled_forward_equals_untiled(which, image, checkpoint):
    if which == "default-init":
        torch.manual_seed(1)
        gen = Generator(8, 2).eval()
    elif which == "strong":
        gen = strong(8, 2)
    else:
        gen = load_generator(checkpoint)
    x = image * 2 - 1
    whole = untiled(gen, x)
    tiled = tiled_forward(gen, x, tile=64)
    assert tiled.shape == whole.shape and whole.std() > 0.01
    assert np.abs(tiled - whole).max() < 1e-4
    # through derain_array (clipped, [0, 1] units), forced to tile with uneven tiles
    assert np.abs(derain_array(gen, image, tile=48, force_tiles=True) - derain_array(gen, image)).max() < 1e-4


def test_plan_cuts_at_every_norm_with_small_halos():
    tp = plan(Generator(8, 3))
    # head+block1 conv | relu conv | (IN add conv) ×2 | relu conv | tail conv | relu conv conv
    assert len(tp.segments) == 1 + 2 * 3 + 1
    assert tp.radius == 2 and tp.segments[0].radius == 2 and tp.segments[-1].radius == 2
    assert len(tp.stored_skips) == 3


def test_unsupported_layer_is_named():
    gen = Generator(8, 1)
    gen.tail.append(nn.Conv2d(3, 3, 3, stride=2, padding=1))
    with pytest.raises(TrainError, match="stride-1"):
        tiled_forward(gen, np.zeros((16, 16, 3), np.float32), tile=8)
    gen = Generator(8, 1)
    gen.tail.append(nn.Upsample(scale_factor=2))
    with pytest.raises(TrainError, match="Upsample"):
        tiled_forward(gen, np.zeros((16, 16, 3), np.float32), tile=8)


def test_float16_scratch_is_close_but_float32_is_exact(image):
    gen = strong(8, 2, std=0.05)
    x = image * 2 - 1
    whole = untiled(gen, x)
    err32 = np.abs(tiled_forward(gen, x, tile=64) - whole).max()
    err16 = np.abs(tiled_forward(gen, x, tile=64, scratch_dtype="float16") - whole).max()
    assert err32 < 1e-4 < err16 < 0.05 * whole.std()
    with pytest.raises(TrainError, match="bfloat16"):
        tiled_forward(gen, x, scratch_dtype="bfloat16")


@pytest.mark.fixtures
@pytest.mark.parametrize("size", [(8, 2), pytest.param((32, 16), marks=pytest.mark.slow)])
def test_tiled_equals_untiled_on_a_real_photo(size, fixtures_dir):
    if not PHOTO.is_file():
        pytest.skip(f"{PHOTO} missing")
    rgb, _ = read_image(PHOTO)
    f = 320 / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (round(rgb.shape[1] * f), round(rgb.shape[0] * f)), interpolation=cv2.INTER_AREA)
    gen = strong(*size, std=0.05)
    whole = untiled(gen, rgb * 2 - 1)
    tiled = tiled_forward(gen, rgb * 2 - 1, tile=64)
    assert whole.std() > 0.01
    assert np.abs(tiled - whole).max() < 1e-4


MEMORY_SCRIPT = """
import json, resource, sys
import numpy as np, torch
torch.set_num_threads(1)
from rainset.nlcl.model import Generator
from rainset.nlcl.tiled import tiled_forward
h, w, tile = 1536, 1024, 128
gen = Generator(32, 1).eval()
x = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
tiled_forward(gen, x[:300, :300], tile=tile)  # warm-up: libraries, kernels for this tile size
def hwm_kib():  # VmHWM: ru_maxrss can carry the spawning process's high-water mark across exec
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
base = hwm_kib()
out = tiled_forward(gen, x, tile=tile)
peak = hwm_kib()
print(json.dumps({"grew": (peak - base) * 1024, "output": out.nbytes, "activation": 32 * h * w * 4}))
"""


@pytest.mark.slow
def test_memory_is_bounded_by_the_tile_not_the_image():
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)
    # one 32-channel activation of this image is 192 MiB; the untiled pass holds several
    assert m["grew"] < m["output"] + m["activation"] / 8, m


@pytest.fixture()
def raw_file() -> Path:
    found = sorted(RAW_DIR.glob("*.KDC")) if RAW_DIR.is_dir() else []
    if not found:
        pytest.skip(f"no .KDC fixture under {RAW_DIR}")
    return found[0]


@pytest.mark.fixtures
def test_raw_input_writes_a_16_bit_tiff_of_the_full_demosaic(raw_file, checkpoint, tmp_path):
    import rawpy

    with rawpy.imread(str(raw_file)) as raw:
        full = raw.postprocess(use_camera_wb=True, output_bps=16)
    res = CliRunner().invoke(app, ["derain", "--checkpoint", str(checkpoint), str(raw_file), "--out",
                                   str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    [written] = json.loads(res.output)["outputs"]
    assert Path(written).suffix == ".tiff"
    img = cv2.imread(written, cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == full.shape  # 512×768, not the 96×64 thumbnail
    assert len(np.unique(img)) > 256


def test_output_formats(checkpoint, tmp_path):
    rng = np.random.default_rng(2)
    write_image(tmp_path / "in" / "a.jpg", rng.random((40, 56, 3)), 8)
    write_image(tmp_path / "in" / "b.png", rng.random((40, 56, 3)), 16)
    written = derain_files(checkpoint, [tmp_path / "in"], tmp_path / "auto", device="cpu")
    assert [p.name for p in written] == ["a.png", "b.tiff"]
    assert cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    assert cv2.imread(str(written[1]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    written = derain_files(checkpoint, [tmp_path / "in"], tmp_path / "tiff", fmt="tiff", device="cpu")
    assert [p.name for p in written] == ["a.tiff", "b.tiff"]
    assert cv2.imread(str(written[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    written = derain_files(checkpoint, [tmp_path / "in"], tmp_path / "same", fmt="same", device="cpu")
    assert [p.name for p in written] == ["a.jpg", "b.png"]
    write_image(tmp_path / "in" / "a.png", rng.random((40, 56, 3)), 8)
    with pytest.raises(ConfigError, match="a.png would both be written as a"):
        derain_files(checkpoint, [tmp_path / "in"], tmp_path / "clash", fmt="png", device="cpu")
    assert not (tmp_path / "clash").exists()


def test_bad_output_format_is_one_clear_line(checkpoint, tmp_path, raw_file):
    write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3)), 8)
    res = CliRunner().invoke(app, ["derain", "--checkpoint", str(checkpoint), str(tmp_path / "in"), "--out",
                                   str(tmp_path / "o"), "--format", "jpg"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == ["error: output format 'jpg' is not one of auto, png, tiff, same"]
    res = CliRunner().invoke(app, ["derain", "--checkpoint", str(checkpoint), str(raw_file), "--out",
                                   str(tmp_path / "o"), "--format", "same"])
    assert res.exit_code == 1 and "cannot write a camera RAW" in res.output and raw_file.name in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
