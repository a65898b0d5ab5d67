"""Batched non-local sampling equals a brute-force search, at any batch size."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # the machine is shared; tiny tensors gain nothing from threads

from hypothesis import given, settings, strategies as st  # noqa: E402

from rainset.nlcl.sampling import (  # noqa: E402
    features_at,
    nearest_patches,
    nearest_patches_bruteforce,
    random_anchors,
)


def _layers(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, h, w, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("k", [1, 8, 40])
def test_batched_equals_bruteforce(k):
    layers = _layers(3, 30, 34, seed=k)
    rows, cols = torch.tensor([0, 7, 22]), torch.tensor([26, 9, 0])  # corners and middle
    got = nearest_patches(layers, rows, cols, k, window=20, patch=6)
    for i in range(3):
        ref = nearest_patches_bruteforce(layers[i], int(rows[i]), int(cols[i]), k, window=20, patch=6)
        assert [(r, c) for _, r, c in ref] == list(zip(got.rows[i].tolist(), got.cols[i].tolist()))
        assert got.dist[i].tolist() == pytest.approx([d for d, _, _ in ref], rel=1e-9, abs=1e-9)
    assert (got.dist[:, 0] == 0).all()  # the anchor's own patch is its nearest


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), seed=st.integers(0, 10_000), k=st.integers(1, 25))
def test_per_sample_result_independent_of_batch(n, seed, k):
    layers = _layers(n, 24, 24, seed)
    rows, cols = random_anchors(n, 24, 24, 5, torch.Generator().manual_seed(seed))
    together = nearest_patches(layers, rows, cols, k, window=12, patch=5)
    for i in range(n):
        alone = nearest_patches(layers[i:i + 1], rows[i:i + 1], cols[i:i + 1], k, window=12, patch=5)
        assert torch.equal(alone.rows[0], together.rows[i]) and torch.equal(alone.cols[0], together.cols[i])


def test_neighbours_stay_in_window_and_image():
    layers = _layers(4, 40, 40, 1)
    rows, cols = random_anchors(4, 40, 40, 16, torch.Generator().manual_seed(3))
    got = nearest_patches(layers, rows, cols, 128, window=40, patch=16)
    assert got.rows.shape == (4, 128)
    assert int(got.rows.min()) >= 0 and int(got.rows.max()) <= 40 - 16
    assert (got.dist[:, 1:] >= got.dist[:, :-1]).all()


def test_k_larger_than_window_is_an_error():
    with pytest.raises(ValueError, match="exceeds"):
        nearest_patches(_layers(1, 20, 20, 0), torch.tensor([0]), torch.tensor([0]), 200, window=16, patch=8)


def test_features_at_patch_centres():
    feats = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # stride-4 map of 16×20
    rows = torch.tensor([[0, 8], [4, 0]])
    cols = torch.tensor([[0, 12], [0, 16]])
    got = features_at(feats, rows, cols, stride=4, patch=8)  # centres: +4
    assert torch.equal(got[0, 0], feats[0, :, 1, 1])
    assert torch.equal(got[0, 1], feats[0, :, 3, 4])
    assert torch.equal(got[1, 0], feats[1, :, 2, 1])
    assert torch.equal(got[1, 1], feats[1, :, 1, 4])  # column centre 20 clamps to the last column
