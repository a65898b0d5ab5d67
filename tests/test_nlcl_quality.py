"""Part 5 of issue 14: the released weights derain through rainset exactly as the released code does, on
the fixtures' paired images (Rain100L rain-001, Rain100H crops 1–5): Y-PSNR input → G_B within 0.01 dB
of the figures measured with the released code and weights. The weights are read from
../shared/reference/nlcl-official (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(2)

from rainset.nlcl.data import read_image  # noqa: E402
from rainset.nlcl.derain import derain_array, load_generator  # noqa: E402
from rainset.nlcl.evaluate import psnr, to_y  # noqa: E402
from rainset.nlcl.released import import_released  # noqa: E402
from tests.conftest import skip_or_fail  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
OFFICIAL = SHARED / "reference" / "nlcl-official"
FIXTURES = SHARED / "fixtures"
RAIN100L = FIXTURES / "deraincyclegan-rain100l" / "datasets" / "test_rain100L"
RAIN100H = FIXTURES / "mspfn-rain100h" / "model" / "test" / "test_data" / "R100H"
# Released code + weights, Y-channel BT.601 PSNR against the clean image (nlcl-official/README.md).
EXPECTED = [
    (RAIN100L / "trainA" / "rain-001.png", RAIN100L / "trainB" / "norain-001.png", 27.30, 26.28),
    *[(RAIN100H / "inputcrop" / f"{i}.png", RAIN100H / "cleancrop" / f"{i}.png", before, after)
      for i, (before, after) in enumerate([(16.62, 18.96), (14.87, 15.74), (10.75, 11.08), (15.12, 17.77),
                                           (12.22, 14.47)], start=1)],
]


@pytest.fixture(scope="module")
def released_checkpoint(tmp_path_factory):
    back, rain = OFFICIAL / "latest_net_Back.pth", OFFICIAL / "latest_net_Rain.pth"
    if not (back.is_file() and rain.is_file()):
        skip_or_fail(f"the released NLCL weights are not at {OFFICIAL}")
    if not all(r.is_file() and c.is_file() for r, c, _, _ in EXPECTED):
        skip_or_fail(f"the Rain100L / Rain100H fixture pairs are not under {FIXTURES}")
    out = tmp_path_factory.mktemp("released") / "checkpoint.pt"
    import_released(back, rain, out)
    return out


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(to_y(a), to_y(b), 255.0)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_released_weights_through_rainset_reproduce_the_released_psnr(released_checkpoint):
    gen = load_generator(released_checkpoint)  # the paper model holding the imported G_B
    for rainy_path, clean_path, before, after in EXPECTED:
        rainy, clean = read_image(rainy_path)[0], read_image(clean_path)[0]
        out = derain_array(gen, rainy, amp=False)
        saved = (out * 255).astype(np.uint8).astype(np.float32) / 255  # the released saving path: truncation
        assert y_psnr(rainy, clean) == pytest.approx(before, abs=0.01), rainy_path.name
        assert y_psnr(saved, clean) == pytest.approx(after, abs=0.01), rainy_path.name
