"""Part 4 of issue 14: intrinsic dimension (our TwoNN and Levina–Bickel) of non-local patch groups, the
``rainset nlcl intrinsic-dim`` command, and the temperature rule derived from the measured ratio."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from typer.testing import CliRunner  # noqa: E402

from rainset.cli import app  # noqa: E402
from rainset.nlcl.config import make_config  # noqa: E402
from rainset.nlcl.data import write_image  # noqa: E402
from rainset.nlcl.intrinsic_dim import (  # noqa: E402
    levina_bickel,
    patch_groups,
    temperatures_from_ratio,
    twonn,
)
from rainset.nlcl.sampling import nearest_patches_bruteforce, released_anchors  # noqa: E402
from rainset.nlcl.train import build_models, save_checkpoint  # noqa: E402


@pytest.mark.parametrize("d", [2, 4, 7])
def test_estimators_recover_the_dimension_of_a_linear_manifold(d):
    gen = torch.Generator().manual_seed(d)
    points = torch.randn(1500, d, generator=gen, dtype=torch.float64) @ torch.randn(d, 300, generator=gen,
                                                                                    dtype=torch.float64)
    assert twonn(points) == pytest.approx(d, rel=0.15)
    assert levina_bickel(points, 10) == pytest.approx(d, rel=0.15)
    # duplicates carry no ratio: they are dropped, not turned into infinities
    doubled = torch.cat([points[:500], points[:500]])
    assert math.isfinite(twonn(doubled)) and math.isfinite(levina_bickel(doubled, 10))
    assert math.isnan(levina_bickel(points[:5], 10))


def test_patch_groups_are_the_non_local_groups_of_the_anchor():
    layer = torch.rand(3, 40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    groups = patch_groups(layer, 3, 20, window=10, patch=6, generator=torch.Generator().manual_seed(4))
    rows, cols = released_anchors(3, 40, 40, 6, torch.Generator().manual_seed(4))
    for g, r, c in zip(groups, rows.tolist(), cols.tolist()):
        assert g.shape == (20, 3 * 36)
        ref = nearest_patches_bruteforce(layer, r, c, 20, window=10, patch=6, centres=True)
        want = torch.stack([layer[:, y:y + 6, x:x + 6].reshape(-1) for _, y, x in ref])
        assert torch.equal(g, want)


def test_temperature_rule_keeps_the_geometric_mean_and_reduces_at_ratio_one():
    assert temperatures_from_ratio(1.0) == (0.07, 0.07)
    tau_b, tau_r = temperatures_from_ratio(4.0, 0.1)
    assert (tau_b, tau_r) == pytest.approx((0.2, 0.05)) and tau_b * tau_r == pytest.approx(0.01)
    with pytest.raises(Exception, match="positive finite ratio"):
        temperatures_from_ratio(float("nan"))


def _images(folder, n, seed, rain):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    clean = []
    for i in range(n):
        base = rng.random((48, 48, 3)).astype(np.float32) * 0.6 + 0.2
        clean.append(base)
        img = base.copy()
        if rain:
            img[:, ::7] = np.minimum(img[:, ::7] + 0.3, 1)  # vertical streaks: a compact rain layer
        write_image(folder / f"img-{i:03d}.png", img)
    return clean


def test_cli_measures_pairs_and_a_checkpoint_and_prints_the_rule(tmp_path):
    _images(tmp_path / "rainy", 2, 0, True)
    _images(tmp_path / "clean", 2, 0, False)
    cfg = make_config("cpu-smoke", dict(crop=48, gen_blocks=1, gen_channels=4, disc_channels=8, head_dim=8,
                                        window=12, patch=6, k_b=2, k_r=4, nce_layers=(0,), nce_locations=8))
    ckpt = tmp_path / "ckpt.pt"
    save_checkpoint(ckpt, build_models(cfg), cfg, {}, 0)
    small = ["--side", "48", "--window", "10", "--patch", "6", "--group", "40", "--anchors", "3", "--k", "5"]
    res = CliRunner().invoke(app, ["nlcl", "intrinsic-dim", str(tmp_path / "rainy"), "--clean", str(tmp_path / "clean"),
                                   "--checkpoint", str(ckpt), "--json", *small])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["json_format"] == 2  # one versioned object, as every --json command prints
    report = data
    by = {s["source"]: s for s in report["sources"]}
    assert set(by) == {"decomposition", "paired"} and by["paired"]["images"] == 2
    for s in by.values():
        assert s["background"]["groups"] > 0 and s["rain"]["groups"] > 0
        assert s["ratio_mle"] == pytest.approx(s["background"]["mle"] / s["rain"]["mle"], rel=1e-2)
    temps = report["temperatures"]  # the rule reads the paired source (the true rain layer) when measured
    assert temps["tau_b"] / temps["tau_r"] == pytest.approx(by["paired"]["ratio_mle"], rel=1e-2)
    text = CliRunner().invoke(app, ["nlcl", "intrinsic-dim", str(tmp_path / "rainy"), "--clean",
                                    str(tmp_path / "clean"), *small])
    assert text.exit_code == 0 and "asymmetric=true tau_b=" in text.output
    bad = CliRunner().invoke(app, ["nlcl", "intrinsic-dim", str(tmp_path / "rainy")])
    assert bad.exit_code != 0 and "give --checkpoint" in bad.output
