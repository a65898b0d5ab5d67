"""Multi-index hashing against the brute force; incremental queries; flags, bursts, clusters units."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.dedupe.bursts import Shot, find_bursts
from rainset.dedupe.clusters import build_clusters
from rainset.dedupe.flags import QualityInput, quality_flags
from rainset.dedupe.index import HashIndex, all_pairs, brute_force_pairs, hex_to_u64
from rainset.errors import DedupeError


def _as_set(p) -> set[tuple[int, int, int]]:
    return set(zip(p.i.tolist(), p.j.tolist(), p.dist.tolist()))


def _clustered(rng: np.random.Generator, n: int, radius: int) -> np.ndarray:
    """Hashes in tight clusters (like real pHashes of similar images), plus random ones."""
    centres = rng.integers(0, 2**64, max(1, n // 8), dtype=np.uint64)
    h = centres[rng.integers(0, centres.size, n)]
    flips = rng.integers(0, 64, (n, radius))
    for k in range(radius):
        h = h ^ (np.uint64(1) << flips[:, k].astype(np.uint64)) * (rng.random(n) < 0.5)
    return h


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 400), radius=st.integers(0, 12))
def test_all_pairs_equals_brute_force(seed: int, n: int, radius: int) -> None:
    h = _clustered(np.random.default_rng(seed), n, radius)
    got = all_pairs(h, radius)
    want, rows = brute_force_pairs(h, radius)
    assert rows == n
    assert _as_set(got) == _as_set(want)
    assert len(got) == len(_as_set(got))  # each pair once


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 300), radius=st.integers(6, 12), chunks=st.sampled_from([3, 4]))
def test_meet_in_the_middle_layout_finds_the_same_pairs(seed: int, n: int, radius: int, chunks: int) -> None:
    h = _clustered(np.random.default_rng(seed), n, radius)
    want, _ = brute_force_pairs(h, radius)
    for flips in range(radius // chunks + 1):
        index = HashIndex(h, radius, chunks=chunks, index_flips=flips)
        got = index.search(index.hashes, radius, self_join=True)
        assert _as_set(got) == _as_set(want) and len(got) == len(want), flips


def test_incremental_queries_find_the_same_pairs_as_a_full_join() -> None:
    rng = np.random.default_rng(1)
    h = _clustered(rng, 3000, 6)
    full = {(i, j) for i, j, _ in _as_set(all_pairs(h, 6))}
    index = HashIndex(h, 6)
    new = np.sort(rng.choice(h.size, 300, replace=False))
    inc = index.search(h[new], 6, self_join=True, query_ids=new)
    got = {tuple(sorted((i, j))) for i, j in zip(inc.i.tolist(), inc.j.tolist())}
    assert len(got) == len(inc)  # a pair of two new hashes is reported once
    is_new = set(new.tolist())
    assert got == {p for p in full if p[0] in is_new or p[1] in is_new}


def test_bad_hashes_and_radius_are_named() -> None:
    with pytest.raises(DedupeError, match="'zz' .item 1. is not 16 hex digits"):
        hex_to_u64(["00ff00ff00ff00ff", "zz"])
    with pytest.raises(DedupeError, match="between 0 and 32"):
        HashIndex(np.zeros(3, np.uint64), 40)
    with pytest.raises(DedupeError, match="outside 0..4"):
        HashIndex(np.zeros(3, np.uint64), 4).search(np.zeros(1, np.uint64), 6)
    with pytest.raises(DedupeError, match="chunks must be between 3 and 64, got 2"):
        HashIndex(np.zeros(3, np.uint64), 4, chunks=2)


def test_chaining_guard_splits_a_chain_and_cannot_links_hold() -> None:
    # a -- b -- c: each step 4 bits, a to c 8 bits, threshold 6
    ph = {"a": 0, "b": 0xF, "c": 0xFF}
    res = build_clusters([("a", "b"), ("b", "c")], ph, 6)
    assert res.split_components == 1
    assert all(len(c) == 2 for c in res.clusters) and len(res.clusters) == 1
    res = build_clusters([("a", "b"), ("b", "c")], {"a": 0, "b": 1, "c": 3}, 6, cannot={frozenset(("a", "c"))})
    assert not any({"a", "c"} <= set(c) for c in res.clusters)
    res = build_clusters([("a", "b")], {"a": 0, "b": 1, "c": 2**63}, 6, must=[("b", "c")])
    assert res.clusters == (("a", "b", "c"),)


def test_a_huge_chain_is_split_into_stars_within_the_threshold() -> None:
    # a chain of 40 hashes, one bit further each step: one component, diameter 39
    ph = {f"c{i:02d}": (1 << i) - 1 for i in range(40)}
    edges = [(f"c{i:02d}", f"c{i + 1:02d}") for i in range(39)]
    for limit in (3000, 10):  # the matrix path, then the star path
        res = build_clusters(edges, ph, 6, max_matrix=limit)
        assert res.split_components == 1 and len(res.clusters) >= 2
        for c in res.clusters:
            assert max((ph[a] ^ ph[b]).bit_count() for a in c for b in c) <= 6


def test_bursts_need_one_body_and_short_gaps() -> None:
    shots = [Shot("c1", "S1", "2024-01-01T10:00:00"), Shot("c2", "S1", "2024-01-01T10:00:03.500+01:00"),
             Shot("c3", "S1", "2024-01-01T10:00:07"), Shot("c4", "S1", "2024-01-01T10:01:00"),
             Shot("c5", "S2", "2024-01-01T10:00:01"), Shot("c6", None, "2024-01-01T10:00:01"),
             Shot("c7", "S1", "not a time")]
    assert find_bursts(shots, 5.0) == [["c1", "c2", "c3"]]
    assert find_bursts(shots, 3.0) == []


def _thumb(img: np.ndarray) -> bytes:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).tobytes()


def _flags(img: np.ndarray) -> list[str]:
    from rainset.quality import measure_quality
    from rainset.records import Frame

    q = measure_quality(Frame(img, img.shape[1], img.shape[0], 8, "jpeg", "test"))
    return quality_flags(QualityInput(img.shape[1], img.shape[0], q.sharpness, q.clip_low, q.clip_high,
                                      _thumb(img), 0x0F0F0F0F0F0F0F0F))


def test_flags_fog_and_heavy_rain_are_not_blurry_but_defocus_and_night_are() -> None:
    from rainset.synth import add_rain, render_scene

    rng = np.random.default_rng(3)
    scene = render_scene(rng, 640, 480)
    assert _flags(scene) == []
    assert _flags(add_rain(scene, "fog-mixed", rng)) == []  # raw sharpness drops ~5x, the ratio does not
    assert _flags(add_rain(scene, "heavy", rng)) == []
    assert "blurry" in _flags(cv2.GaussianBlur(scene, (0, 0), 2.5))
    assert "dark" in _flags((scene * 0.15).astype(np.uint8))
    assert "blurry" not in _flags((scene * 0.15).astype(np.uint8))
    assert "tiny" in _flags(cv2.resize(scene, (200, 150), interpolation=cv2.INTER_AREA))
    blown = np.clip(scene.astype(np.int16) + 200, 0, 255).astype(np.uint8)
    assert "overexposed" in _flags(blown)
