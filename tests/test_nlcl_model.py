"""NLCL networks: sizes, and where every loss's gradient goes (timm-style backward tests)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from rainset.nlcl.config import make_config  # noqa: E402
from rainset.nlcl.model import Discriminator, Generator, count_parameters  # noqa: E402
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


def test_discriminator_levels_have_declared_strides():
    disc = Discriminator(8, 3)
    x = torch.randn(1, 3, 64, 64)
    scores, feats = disc(x, (0, 1, 2, 3))
    for f, ch, stride in zip(feats, disc.level_channels, disc.level_strides):
        assert f.shape[1] == ch and f.shape[2] in (64 // stride, 64 // stride - 1)  # last 4×4 s1 conv: -1
    assert scores.shape[1] == 1 and scores.shape[2] < 8


@pytest.mark.parametrize("net", ["generator", "discriminator"])
def test_cpu_batch_chunks_match_the_whole_batch(monkeypatch, net):
    """Training forwards on CPU run the batch in chunks (memory-allocator workaround): outputs,
    features and gradients must equal one whole-batch pass."""
    import rainset.nlcl.model as model

    torch.manual_seed(0)
    mod = Generator(8, 3) if net == "generator" else Discriminator(8, 3)
    levels = (0, 2) if net == "generator" else (0, 1, 2)
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
    return {"g_b": m.gen.g_b, "g_r": m.gen.g_r, "layer_heads": m.gen.layer_heads, "loc_heads": m.gen.loc_heads,
            "disc": m.disc}


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


@pytest.mark.parametrize("asymmetric", [False, True])
def test_each_loss_reaches_exactly_its_parameters(asymmetric):
    m = build_models(_cfg(asymmetric=asymmetric))
    o, c = torch.rand(2, 3, 40, 40) * 2 - 1, torch.rand(2, 3, 40, 40) * 2 - 1
    m.disc.requires_grad_(False)  # the generator step freezes D
    b, r, parts = m.gen(o, c, m.disc, step_generator(0, 0, 1))
    expected = {
        "gan": {"g_b"},
        "consistency": {"g_b", "g_r"},
        "sparsity": {"g_b"},
        "location": {"g_b", "loc_heads"},
        "layer": {"g_b", "g_r", "layer_heads"},
        "total": {"g_b", "g_r", "loc_heads", "layer_heads"},
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
