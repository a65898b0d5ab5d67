"""Split assignment: property tests on the pure function, and the recorded splits of real exports."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.errors import ConfigError
from rainset.manifests.splits import DEFAULT_RATIOS, assign_splits, components, hash_split, parse_ratios


def _world(n: int, links: list[tuple[int, int]]) -> tuple[list[list[str]], dict[str, int]]:
    ids = [f"c{i:05d}" for i in range(n)]
    groups = components(ids, [(ids[a], ids[b]) for a, b in links if a < n and b < n])
    return groups, {c: i for i, c in enumerate(ids)}  # age = ingest order


link_lists = st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 60), link_lists, st.integers(0, 3))
def test_no_group_spans_two_splits(n: int, links: list[tuple[int, int]], seed: int) -> None:
    groups, age = _world(n, links)
    plan = assign_splits(groups, age, {}, seed)
    assert sorted(plan.splits) == sorted(age)
    for a, b in links:
        if a < n and b < n:
            assert plan.splits[f"c{a:05d}"] == plan.splits[f"c{b:05d}"]
    for g in groups:
        assert len({plan.splits[c] for c in g}) == 1
        assert {plan.group_of[c] for c in g} == {min(g, key=lambda c: age[c])}
    assert not plan.moves and len(plan.new) == n


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), link_lists, st.integers(0, 30), link_lists, st.integers(0, 3))
def test_adding_captures_moves_nothing_except_through_a_merge(n: int, links: list, extra: int, new_links: list,
                                                              seed: int) -> None:
    groups, age = _world(n, links)
    first = assign_splits(groups, age, {}, seed)
    recorded = dict(first.splits)
    # later: more captures arrive, with links among everything (a new capture can bridge old groups)
    m = n + extra
    all_links = [(a, b) for a, b in links if a < n and b < n] + [(a % m, b % m) for a, b in new_links if extra and
                                                                  (a % m >= n or b % m >= n)]
    groups2, age2 = _world(m, all_links)
    second = assign_splits(groups2, age2, recorded, seed)
    moved = {mv.capture_id for mv in second.moves}
    for c, split in recorded.items():
        if c not in moved:
            assert second.splits[c] == split, f"{c} moved without a recorded move"
    for mv in second.moves:
        assert recorded[mv.capture_id] == mv.from_split != mv.to_split == second.splits[mv.capture_id]
        assert "merged" in mv.reason
        # the merged group spans old groups in different splits, and keeps its oldest member's split
        group = next(g for g in groups2 if mv.capture_id in g)
        old_splits = {recorded[c] for c in group if c in recorded}
        assert len(old_splits) > 1
        oldest = min((c for c in group if c in recorded), key=lambda c: age2[c])
        assert mv.to_split == recorded[oldest]
    for g in groups2:
        assert len({second.splits[c] for c in g}) == 1
    assert set(second.new) == set(age2) - set(recorded)


@pytest.mark.parametrize("seed", [0, 7])
def test_ratios_within_tolerance_for_many_groups(seed: int) -> None:
    rng = random.Random(seed)
    n = 5000
    links = [(rng.randrange(n), rng.randrange(n)) for _ in range(1500)]
    groups, age = _world(n, links)
    assert len(groups) > 1000
    plan = assign_splits(groups, age, {}, seed)
    per_group = Counter(plan.splits[g[0]] for g in groups)
    for name, share in DEFAULT_RATIOS:
        assert abs(per_group[name] / len(groups) - share) < 0.03, (name, per_group)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=3, max_size=3).filter(lambda v: sum(v) > 0))
def test_parse_ratios_and_hash_split_follow_them(values: list[int]) -> None:
    ratios = parse_ratios(",".join(map(str, values)))
    assert abs(sum(s for _, s in ratios) - 1) < 1e-9
    zero = {name for (name, share) in ratios if share == 0}
    picks = {hash_split(f"k{i}", 1, ratios) for i in range(200)}
    assert not picks & zero


def test_hash_split_is_stable_and_seeded() -> None:
    keys = [f"c{i}" for i in range(300)]
    assert [hash_split(k, 0) for k in keys] == [hash_split(k, 0) for k in keys]
    assert [hash_split(k, 0) for k in keys] != [hash_split(k, 1) for k in keys]


@pytest.mark.parametrize("text", ["80,10", "a,b,c", "-1,1,1", "0,0,0", "nan,1,1"])
def test_bad_ratios_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--ratios"):
        parse_ratios(text)
