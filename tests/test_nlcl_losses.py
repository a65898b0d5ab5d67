"""NLCL losses against values worked out by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from rainset.nlcl import losses  # noqa: E402

E1, E2 = [1.0, 0.0], [0.0, 1.0]


def test_supcon_two_b_one_r_by_hand():
    # B1 = B2 = e1, R = e2, tau = 1. Anchor B1: positive B2 (sim 1), others B2 (1) and R (0):
    # L = -log(e / (e + 1)) = log(1 + 1/e). Same for B2. R has no positive and is left out.
    z = torch.tensor([[E1, E1, E2]])
    got = losses.layer_contrastive(z[:, :2], z[:, 2:], tau=1.0)
    assert got.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_supcon_temperature_and_two_classes_by_hand():
    # B = {e1, e1}, R = {e2, e2}, tau = 0.5: each anchor has one positive (sim 1 -> 2) and two
    # negatives (sim 0 -> 0): L = -log(e^2 / (e^2 + 2)) for every anchor.
    z = torch.tensor([[E1, E1, E2, E2]])
    got = losses.layer_contrastive(z[:, :2], z[:, 2:], tau=0.5)
    assert got.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2)), rel=1e-6)


def test_asymmetric_uses_separate_temperatures_and_weights():
    z = torch.tensor([[E1, E1, E2, E2]])
    got = losses.layer_contrastive(z[:, :2], z[:, 2:], asymmetric=True, tau_b=1.0, tau_r=0.5,
                                   weight_b=2.0, weight_r=0.25, form="class-means")
    l_b = -math.log(math.e / (math.e + 2))            # tau 1: positive e^1, negatives e^0 twice
    l_r = -math.log(math.exp(2) / (math.exp(2) + 2))  # tau 0.5
    assert got.item() == pytest.approx(2.0 * l_b + 0.25 * l_r, rel=1e-6)
    pooled = losses.layer_contrastive(z[:, :2], z[:, 2:], asymmetric=True, tau_b=1.0, tau_r=0.5,
                                      weight_b=2.0, weight_r=0.25)  # anchor-mean: 2 B and 2 R anchors
    assert pooled.item() == pytest.approx((2 * 2.0 * l_b + 2 * 0.25 * l_r) / 4, rel=1e-6)
    sym = losses.layer_contrastive(z[:, :2], z[:, 2:], tau=1.0)
    assert got.item() != pytest.approx(sym.item())


def test_supcon_mixed_similarities_by_hand():
    # One B pair at 60 degrees, one R orthogonal to the first B; tau = 1.
    c = 0.5
    s = math.sqrt(3) / 2
    z = torch.tensor([[[1.0, 0.0], [c, s], [0.0, 1.0]]])
    got = losses.layer_contrastive(z[:, :2], z[:, 2:], tau=1.0)
    # anchor B1: pos sim c, others c (B2) and 0 (R); anchor B2: pos sim c, others c (B1) and s (R)
    l1 = -(c - math.log(math.exp(c) + math.exp(0)))
    l2 = -(c - math.log(math.exp(c) + math.exp(s)))
    assert got.item() == pytest.approx((l1 + l2) / 2, rel=1e-6)


def test_patch_nce_by_hand():
    # q = k = {e1, e2}, tau = 1: each row's positive has logit 1, its negative 0.
    q = torch.tensor([[E1, E2]])
    assert losses.patch_nce(q, q, tau=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    # Swapped keys: the positive is now the orthogonal one: -log(1 / (1 + e)).
    k = torch.tensor([[E2, E1]])
    assert losses.patch_nce(q, k, tau=1.0).item() == pytest.approx(math.log(1 + math.e), rel=1e-6)


def test_lsgan_consistency_sparsity_by_hand():
    real = torch.tensor([1.0, 0.0])
    fake = torch.tensor([0.5, -0.5])
    assert losses.lsgan_d(real, fake).item() == pytest.approx(0.5 * ((0 + 1) / 2 + (0.25 + 0.25) / 2))
    assert losses.lsgan_g(fake).item() == pytest.approx((0.25 + 2.25) / 2)
    b = torch.tensor([0.2, -0.4])
    r = torch.tensor([0.1, 0.1])
    o = torch.tensor([0.5, 0.0])
    assert losses.consistency(b, r, o).item() == pytest.approx((0.04 + 0.09) / 2)
    assert losses.sparsity(o, b).item() == pytest.approx((0.3 + 0.4) / 2)


def _embeddings(g: int, k: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(g, k, 16, generator=gen, dtype=torch.float64), dim=-1)


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_asymmetric_at_equal_temperatures_is_exactly_the_cvpr_loss(tau):
    """Issue 14 row 8: τ_b = τ_r = τ, weights 1 → the symmetric loss, with the same gradients
    (the old class-means pooling gave B anchors half the weight instead of k_B / (k_B + k_R))."""
    base_b, base_r = _embeddings(3, 8, 1), _embeddings(3, 128, 2)
    grads, values = [], []
    for kw in (dict(tau=tau), dict(asymmetric=True, tau_b=tau, tau_r=tau)):
        z_b, z_r = base_b.clone().requires_grad_(True), base_r.clone().requires_grad_(True)
        loss = losses.layer_contrastive(z_b, z_r, **kw)
        loss.backward()
        values.append(loss.item())
        grads.append((z_b.grad, z_r.grad))
    assert values[0] == values[1]
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
    old = losses.layer_contrastive(base_b, base_r, asymmetric=True, tau_b=tau, tau_r=tau, form="class-means")
    assert old.item() != pytest.approx(values[0], rel=1e-3)  # the form that did not reduce
    sharper = losses.layer_contrastive(base_b, base_r, asymmetric=True, tau_b=tau, tau_r=tau / 2)
    assert sharper.item() != pytest.approx(values[0], rel=1e-3)  # and the temperatures do act
