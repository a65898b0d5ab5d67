"""NLCL networks: sizes, and where every loss's gradient goes (timm-style backward tests)."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from rainset.nlcl.config import make_config  # noqa: E402
from rainset.nlcl.model import Discriminator, Generator, count_parameters  # noqa: E402
from rainset.nlcl import losses  # noqa: E402
from rainset.nlcl.objective import discriminator_loss  # noqa: E402
from rainset.nlcl.train import build_models, step_generator, train_step  # noqa: E402


def test_generator_has_design_size():
    gen = Generator()  # 32 channels, 16 blocks: never run at size here
    conv = 32 * 32 * 9 + 32
    expected = (3 * 32 * 9 + 32) + 16 * 2 * conv + 2 * conv + (32 * 3 * 9 + 3)
    assert count_parameters(gen) == expected
    assert 0.30e6 < expected < 0.34e6  # "about 0.32 M parameters per generator"


def test_generator_keeps_size_and_reports_features():
    gen = Generator(8, 3)
    x = torch.randn(2, 3, 20, 28)
    y, feats = gen(x, (0, 2))
    assert y.shape == x.shape and [f.shape for f in feats] == [(2, 8, 20, 28)] * 2
    assert torch.allclose(gen.features(x, (0, 2))[1], feats[1])


@pytest.mark.parametrize("antialias,kind", [(False, "blocks"), (True, "blocks"), (True, "released"),
                                             (False, "released")])
def test_discriminator_levels_have_declared_strides(antialias, kind):
    disc = Discriminator(8, 3, antialias, kind)
    x = torch.randn(1, 3, 64, 64)
    levels = tuple(range(len(disc.level_channels)))
    assert len(levels) == (5 if kind == "released" else 4)
    scores, feats = disc(x, levels)
    for f, ch, stride in zip(feats, disc.level_channels, disc.level_strides):
        assert f.shape[1] == ch and f.shape[2] in (64 // stride, 64 // stride - 1)  # 4×4 s1 conv: -1
    assert scores.shape[1] == 1 and scores.shape[2] == 6  # 64² in: 6×6 patch scores in both layouts
    for i in levels:  # features() stops early and gives the same tensors
        assert torch.equal(disc.features(x, (i,))[0], feats[i])


def test_released_features_are_pre_norm_and_level0_is_the_input():
    disc = Discriminator(8, 3, True, "released")
    x = torch.randn(2, 3, 32, 32)
    _, (rgb, first, second) = disc(x, (0, 1, 2))
    assert torch.equal(rgb, x)
    assert (first.amin() < 0) and torch.allclose(first, torch.nn.functional.leaky_relu(disc.blocks[0][0](x), 0.2))
    per_channel_mean = second.mean(dim=(2, 3))
    assert per_channel_mean.abs().max() > 1e-3  # before the instance norm (after it, every mean would be 0)


@pytest.mark.parametrize("net", ["generator", "discriminator"])
def test_cpu_batch_chunks_match_the_whole_batch(monkeypatch, net):
    """Training forwards on CPU run the batch in chunks (memory-allocator workaround): outputs,
    features and gradients must equal one whole-batch pass."""
    import rainset.nlcl.model as model

    torch.manual_seed(0)
    mod = Generator(8, 3) if net == "generator" else Discriminator(8, 3, True, "released")
    levels = (0, 2) if net == "generator" else (0, 1, 2, 3)
    x = torch.randn(5, 3, 32, 32)

    def run():
        mod.zero_grad(set_to_none=True)
        out, feats = mod(x, levels)
        sum(f.square().mean() for f in feats).add(out.square().mean()).backward()
        return out.detach(), [f.detach() for f in feats], [p.grad.clone() for p in mod.parameters()], \
            mod.features(x, levels)

    whole = run()
    monkeypatch.setattr(model, "CPU_CHUNK_BYTES", 8 * 32 * 32 * 4 * 2)  # two samples per chunk → 3 chunks
    assert len(model.batch_chunks(x, 8, True)) == 3
    chunked = run()
    assert torch.allclose(whole[0], chunked[0], atol=1e-6)
    for a, b in zip(whole[1] + whole[3], chunked[1] + chunked[3]):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-5, atol=1e-5), (a - b).abs().max()
    for a, b in zip(whole[2], chunked[2]):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def _cfg(**kw):
    base = dict(crop=40, batch_size=2, gen_blocks=2, gen_channels=8, disc_channels=8, head_dim=16, window=24,
                patch=8, k_b=4, k_r=16, nce_layers=(0, 2), nce_locations=32, device="cpu")
    base.update(kw)
    return make_config("paper", base)


def _groups(m):
    groups = {"g_b": m.gen.g_b, "g_r": m.gen.g_r, "layer_heads": m.gen.layer_heads, "loc_heads": m.gen.loc_heads,
              "disc": m.disc}
    if hasattr(m.gen, "layer_heads_r"):
        groups["layer_heads_r"] = m.gen.layer_heads_r
    return groups


def _reached(m, loss) -> set[str]:
    for p in list(m.gen.parameters()) + list(m.disc.parameters()):
        p.grad = None
    loss.backward(retain_graph=True)
    reached = set()
    for name, mod in _groups(m).items():
        grads = [p.grad for p in mod.parameters()]
        if any(g is not None and bool(g.abs().sum() > 0) for g in grads):
            reached.add(name)
            assert all(g is not None and torch.isfinite(g).all() for g in grads), f"{name}: missing or NaN gradient"
    return reached


@pytest.mark.parametrize("asymmetric,separate", [(False, True), (True, True), (False, False)])
def test_each_loss_reaches_exactly_its_parameters(asymmetric, separate):
    m = build_models(_cfg(asymmetric=asymmetric, separate_heads=separate))
    assert hasattr(m.gen, "layer_heads_r") is separate
    heads = {"layer_heads", "layer_heads_r"} if separate else {"layer_heads"}
    o, c = torch.rand(2, 3, 40, 40) * 2 - 1, torch.rand(2, 3, 40, 40) * 2 - 1
    m.disc.requires_grad_(False)  # the generator step freezes D
    b, r, parts = m.gen(o, c, m.disc, step_generator(0, 0, 1))
    expected = {
        "gan": {"g_b"},
        "consistency": {"g_b", "g_r"},
        "sparsity": {"g_b"},
        "location": {"g_b", "loc_heads"},
        "layer": {"g_b", "g_r"} | heads,
        "total": {"g_b", "g_r", "loc_heads"} | heads,
    }
    for name, want in expected.items():
        assert _reached(m, parts[name]) == want, name
    m.disc.requires_grad_(True)
    assert _reached(m, discriminator_loss(m.disc, c, b)) == {"disc"}


def test_optimisers_hold_the_right_parameters_and_every_head_learns():
    m = build_models(_cfg())
    in_g = {id(p) for group in m.opt_g.param_groups for p in group["params"]}
    in_d = {id(p) for group in m.opt_d.param_groups for p in group["params"]}
    assert in_g == {id(p) for p in m.gen.parameters()} and in_d == {id(p) for p in m.disc.parameters()}
    before = {k: [p.detach().clone() for p in mod.parameters()] for k, mod in _groups(m).items()}
    o, c = torch.rand(2, 3, 40, 40) * 2 - 1, torch.rand(2, 3, 40, 40) * 2 - 1
    train_step(m, o, c, step_generator(0, 0, 1))
    for k, mod in _groups(m).items():  # the released code's location head never stepped
        assert any(not torch.equal(a, p) for a, p in zip(before[k], mod.parameters())), f"{k} did not change"


def test_floor_config_has_no_heads_and_skips_contrastive_losses():
    m = build_models(_cfg(contrastive=False))
    assert len(m.gen.layer_heads) == 0 and len(m.gen.loc_heads) == 0
    _, _, parts = m.gen(torch.zeros(1, 3, 40, 40), torch.zeros(1, 3, 40, 40), m.disc, step_generator(0, 0, 1))
    assert set(parts) == {"gan", "consistency", "sparsity", "total"}


def test_separate_heads_project_b_and_r_with_their_own_set():
    """The R samples go through their own set: perturbing it (only it) changes the layer loss."""
    m = build_models(_cfg())
    o = torch.rand(1, 3, 40, 40) * 2 - 1
    b, r = m.gen.g_b(o)[0].detach(), m.gen.g_r(o)[0].detach()
    m.disc.requires_grad_(False)
    before = m.gen.layer_loss(b, r, m.disc, step_generator(0, 0, 1))
    assert all(p is not q for p, q in zip(m.gen.layer_heads.parameters(), m.gen.layer_heads_r.parameters()))
    with torch.no_grad():
        for p in m.gen.layer_heads_r.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.1)
    after = m.gen.layer_loss(b, r, m.disc, step_generator(0, 0, 1))
    assert not torch.allclose(before, after)


def _std(mods):
    return torch.cat([mm.weight.flatten() for mod in mods for mm in mod.modules()
                      if isinstance(mm, (torch.nn.Conv2d, torch.nn.Linear))]).std().item()


def test_released_init_leaves_generators_at_torch_default_and_xavier_elsewhere():
    released, normal = build_models(_cfg()), build_models(_cfg(init="normal"))
    conv = released.gen.g_b.blocks[0].body[0]
    bound = 1 / (conv.in_channels * 9) ** 0.5  # torch's default: uniform within ±1/sqrt(fan_in), biases too
    assert conv.weight.abs().max() <= bound and conv.bias.abs().max() > 0
    assert abs(_std([normal.gen.g_b]) - 0.02) < 0.004 and abs(_std([normal.disc]) - 0.02) < 0.004
    head = released.gen.layer_heads[1].net[0]
    xavier = 0.02 * (2 / (head.in_features + head.out_features)) ** 0.5
    assert abs(head.weight.std().item() - xavier) < 0.25 * xavier and torch.count_nonzero(head.bias) == 0
    assert _std([released.disc]) < 0.005 and torch.count_nonzero(released.disc.out.bias) == 0


@pytest.mark.parametrize("d_first", [True, False])
def test_step_order(d_first):
    """D first: G's GAN loss meets the updated D; G first: the D it met is the one before the step.
    Either way the D step scores the B of the G before the step."""
    m = build_models(_cfg(d_first=d_first))
    before = copy.deepcopy(m)
    o, c = torch.rand(2, 3, 40, 40) * 2 - 1, torch.rand(2, 3, 40, 40) * 2 - 1
    _, _, values = train_step(m, o, c, step_generator(0, 0, 1))
    with torch.no_grad():
        b0 = before.gen.g_b(o)[0]
        gan_new_d = losses.lsgan_g(m.disc(b0)[0]).item()
        gan_old_d = losses.lsgan_g(before.disc(b0)[0]).item()
        loss_d = discriminator_loss(before.disc, c, b0).item()
    assert abs(gan_new_d - gan_old_d) > 1e-6  # the D step changed D's scores
    assert values["gan"] == pytest.approx(gan_new_d if d_first else gan_old_d, rel=1e-5)
    assert values["loss_d"] == pytest.approx(loss_d, rel=1e-5)
