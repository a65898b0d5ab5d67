"""The epoch plan as a pure function: exactly-once, pad/drop, equal counts, resume arithmetic."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.loader.plan import consumed_per_worker, derive_seed, per_rank, plan_worker, shard_order
from tests.loader_helpers import dataloader_order


def epoch_positions(counts, order):
    """Global sample ids (shard, i) in epoch order for a shard order."""
    return [(s, i) for s in order for i in range(counts[s])]


def world_samples(counts, *, world_size, num_workers, uneven, seed=0, epoch=0):
    """{rank: [(shard, i) ... in worker-major order]} from the plan."""
    out = {}
    for rank in range(world_size):
        samples = []
        for worker in range(num_workers):
            plan = plan_worker(counts, seed=seed, epoch=epoch, rank=rank, world_size=world_size, worker=worker,
                               num_workers=num_workers, uneven=uneven)
            got = [(seg.shard, i) for seg in plan.segments for i in range(seg.start, seg.stop)]
            assert len(got) == plan.count
            samples.extend(got)
        out[rank] = samples
    return out


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(st.integers(0, 9), min_size=1, max_size=8), world_size=st.integers(1, 5),
       num_workers=st.integers(1, 4), uneven=st.sampled_from(["pad", "drop"]), seed=st.integers(0, 3))
def test_every_sample_once_with_exact_pad_or_drop(counts, world_size, num_workers, uneven, seed):
    total = sum(counts)
    per = world_samples(counts, world_size=world_size, num_workers=num_workers, uneven=uneven, seed=seed)
    lengths = {len(v) for v in per.values()}
    assert lengths == {per_rank(total, world_size, uneven)}  # equal on every rank
    seen = Counter(x for v in per.values() for x in v)
    sequence = epoch_positions(counts, shard_order(len(counts), seed, 0))
    if uneven == "drop":
        assert all(n == 1 for n in seen.values())
        assert set(seen) == set(sequence[: total - total % world_size])  # the last N mod W are left out
    else:
        pad = world_size * -(-total // world_size) - total
        assert set(seen) == set(sequence)
        repeated = Counter({x: n - 1 for x, n in seen.items() if n > 1})
        assert sum(repeated.values()) == pad
        if total:
            assert repeated == Counter(sequence[i % total] for i in range(pad))  # the first ones wrap around


def test_shard_order_depends_on_seed_and_epoch_only():
    base = shard_order(50, seed=1, epoch=0)
    assert sorted(base) == list(range(50))
    assert shard_order(50, seed=1, epoch=0) == base
    assert shard_order(50, seed=2, epoch=0) != base
    assert shard_order(50, seed=1, epoch=1) != base
    assert shard_order(50, seed=1, epoch=0, stream="clean") != base
    assert shard_order(50, seed=1, epoch=0, shuffle=False) == list(range(50))
    assert derive_seed(1, "a", 0) != derive_seed(1, "a", 1)


@settings(max_examples=100, deadline=None)
@given(worker_counts=st.lists(st.integers(0, 20), min_size=1, max_size=4), batch_size=st.integers(1, 6),
       data=st.data())
def test_consumed_per_worker_replays_the_dataloader_order(worker_counts, batch_size, data):
    streams = [[f"{w}-{i}" for i in range(n)] for w, n in enumerate(worker_counts)]
    order = dataloader_order(streams, batch_size)
    taken = data.draw(st.integers(0, len(order)))
    done = consumed_per_worker(worker_counts, batch_size, taken)
    assert Counter(k.split("-")[0] for k in order[:taken]) == Counter({str(w): n for w, n in enumerate(done) if n})


def test_consumed_beyond_the_epoch_is_refused():
    with pytest.raises(ValueError, match="hold only 5"):
        consumed_per_worker([3, 2], 2, 6)
