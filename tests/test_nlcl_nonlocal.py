"""Rows 3 and 6 of issue 14: the released non-local location choice (PatchNCE on G_B layers 0, 2, 4, 8, 12,
its locations the nearest patches around one random anchor on layer-0 features; window 40 = the range
of patch centres; independent anchors for B and R), and old checkpoints keeping their behaviour."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from rainset.errors import ConfigError  # noqa: E402
from rainset.nlcl import objective  # noqa: E402
from rainset.nlcl.config import LEGACY_VALUES, config_from_dict, make_config  # noqa: E402
from rainset.nlcl.released import rainset_keys  # noqa: E402
from rainset.nlcl.sampling import (  # noqa: E402
    nearest_patches,
    nearest_patches_bruteforce,
    released_anchors,
    search_extent,
)
from rainset.nlcl.train import build_models, step_generator  # noqa: E402

SMALL = dict(crop=48, gen_blocks=4, gen_channels=6, disc_channels=8, head_dim=16, window=12, patch=6, k_b=4,
             k_r=16, nce_layers=(0, 2, 4), nce_locations=20)


def test_paper_uses_the_released_generator_layers_and_non_local_choice():
    paper = make_config("paper")
    assert paper.nce_layers == (0, 2, 4, 8, 12)
    assert (paper.nce_sampling, paper.window_span, paper.layer_anchors, paper.window, paper.patch) == \
        ("nonlocal", "centres", "independent", 40, 16)
    # released gen index i is our layer i: gen.0 the first conv (our head), gen.i block i
    keys = rainset_keys(16)
    assert keys["gen.0.weight"] == "head.0.weight"
    for i in paper.nce_layers[1:]:
        assert keys[f"gen.{i}.model.0.conv.weight"] == f"blocks.{i - 1}.body.0.weight"
    old = config_from_dict({k: v for k, v in paper.to_dict().items() if k not in LEGACY_VALUES})
    assert (old.nce_sampling, old.window_span, old.layer_anchors) == ("uniform", "pixels", "shared")


def test_window_40_gives_1600_candidates_centred_on_the_anchor():
    assert search_extent(40, 16, True) == (55, 40) and search_extent(40, 16, False) == (40, 25)
    layer = torch.randn(1, 2, 96, 96, dtype=torch.float64)
    top = torch.tensor([40])  # centre 48: the window is inside the image
    every = nearest_patches(layer, top, top, 1600, window=40, patch=16, centres=True)
    centres = set(zip((every.rows[0] + 8).tolist(), (every.cols[0] + 8).tolist()))
    assert len(centres) == 1600
    assert {r for r, _ in centres} == set(range(48 - 20, 48 + 20))  # centres anchor-20 … anchor+19, as released
    with pytest.raises(ValueError, match="exceeds the 1600 patch positions"):
        nearest_patches(layer, top, top, 1601, window=40, patch=16, centres=True)
    edge = nearest_patches(layer, torch.tensor([8]), torch.tensor([80]), 1600, window=40, patch=16, centres=True)
    assert len(set(zip(edge.rows[0].tolist(), edge.cols[0].tolist()))) == 1600  # shifted inside, all kept
    assert int(edge.rows.max()) + 16 <= 96 and int(edge.cols.max()) + 16 <= 96


@pytest.mark.parametrize("anchor", [(0, 0), (13, 29), (34, 34)])
def test_centres_search_equals_bruteforce(anchor):
    layer = torch.randn(1, 3, 40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(sum(anchor)))
    got = nearest_patches(layer, torch.tensor([anchor[0]]), torch.tensor([anchor[1]]), 30, window=10, patch=6,
                          centres=True)
    ref = nearest_patches_bruteforce(layer[0], *anchor, 30, window=10, patch=6, centres=True)
    assert [(r, c) for _, r, c in ref] == list(zip(got.rows[0].tolist(), got.cols[0].tolist()))


def test_released_anchor_centres_cover_patch_to_side_minus_patch():
    rows, cols = released_anchors(4000, 48, 40, 6, torch.Generator().manual_seed(0))
    for top, side in ((rows, 48), (cols, 40)):
        centre = top + 3
        assert int(centre.min()) == 6 and int(centre.max()) == side - 6


def test_nce_locations_are_the_nearest_neighbours_of_the_anchor_on_layer0_features():
    cfg = make_config("cpu-smoke", SMALL)
    m = build_models(cfg)
    x = torch.rand(2, 3, 48, 48) * 2 - 1
    _, feats = m.gen.g_b(x, cfg.nce_layers)
    key0 = feats[0].detach()
    locs = m.gen.nce_locations(key0, torch.Generator().manual_seed(7))
    rows, cols = released_anchors(2, 48, 48, cfg.patch, torch.Generator().manual_seed(7))
    assert locs.shape == (2, 20)
    for i in range(2):
        ref = nearest_patches_bruteforce(key0[i].double(), int(rows[i]), int(cols[i]), 20, window=12, patch=6,
                                         centres=True)
        want = {(r + 3) * 48 + (c + 3) for _, r, c in ref}
        assert set(locs[i].tolist()) == want
        anchor_centre = (int(rows[i]) + 3) * 48 + int(cols[i]) + 3
        assert anchor_centre in want  # the anchor's own patch (distance 0) is chosen
    spread = locs // 48
    assert int((spread.max(1).values - spread.min(1).values).max()) < 12  # inside the 12-centre window


def test_uniform_sampling_is_kept_for_old_checkpoints():
    cfg = make_config("cpu-smoke", {**SMALL, "nce_sampling": "uniform"})
    m = build_models(cfg)
    locs = m.gen.nce_locations(torch.randn(2, 6, 48, 48), torch.Generator().manual_seed(0))
    assert locs.shape == (2, 20) and int(locs.max()) < 48 * 48
    spread = locs // 48
    assert int((spread.max(1).values - spread.min(1).values).max()) >= 12  # not confined to a window


@pytest.mark.parametrize("mode", ["independent", "shared"])
def test_b_and_r_anchors_are_independent_as_released(mode, monkeypatch):
    cfg = make_config("cpu-smoke", {**SMALL, "layer_anchors": mode})
    m = build_models(cfg)
    seen = []
    real = objective.nearest_patches

    def spy(layer, rows, cols, k, **kw):
        seen.append((k, rows.clone(), cols.clone()))
        return real(layer, rows, cols, k, **kw)

    monkeypatch.setattr(objective, "nearest_patches", spy)
    b, r = torch.rand(8, 3, 48, 48), torch.rand(8, 3, 48, 48)
    m.gen.layer_loss(b, r, m.disc, step_generator(0, 0, 1))
    (kb, rb, cb), (kr, rr, cr) = seen
    assert (kb, kr) == (cfg.k_b, cfg.k_r)
    same = torch.equal(rb, rr) and torch.equal(cb, cr)
    assert same is (mode == "shared")


def test_window_must_fit_the_crop():
    with pytest.raises(ConfigError, match="window \\(40, a 55-pixel search region\\) must fit in crop \\(48\\)"):
        make_config("paper", ["crop=48"])
    with pytest.raises(ConfigError, match="nce_locations \\(300\\) exceeds the 144 patch positions"):
        make_config("cpu-smoke", {**SMALL, "nce_locations": 300})
    assert make_config("cpu-smoke", {**SMALL, "nce_locations": 300, "nce_sampling": "uniform"}).nce_locations == 300
