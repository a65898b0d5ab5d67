"""ShardDataset under a real DataLoader: 2 spawned workers per rank, a simulated world of 3 ranks."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from rainset.errors import ConfigError
from rainset.loader import ShardDataset, UnpairedPairs, collate
from tests.loader_helpers import all_keys, dataloader_order, write_shards

SIZES = (5, 7, 3, 8, 6)  # 29 samples, 3 ranks: 10 each with pad (one repeat)
BATCH = 4

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    torch.set_num_threads(1)
    return write_shards(tmp_path_factory.mktemp("shards") / "v1", SIZES)


def loader(ds) -> DataLoader:
    return DataLoader(ds, batch_size=BATCH, num_workers=2, multiprocessing_context="spawn", collate_fn=collate)


def simulated(ds) -> list[str]:
    """The order a 2-worker DataLoader must deliver, from the plan replayed in this process."""
    return dataloader_order([[r.key for r, _ in ds.records(w, 2)] for w in range(2)], BATCH)


def test_three_ranks_two_workers(shards, monkeypatch):
    runs = {}
    for rank in range(3):
        if rank == 1:  # one rank found through the environment, as torchrun sets it
            monkeypatch.setenv("RANK", "1")
            monkeypatch.setenv("WORLD_SIZE", "3")
            ds = ShardDataset(shards, seed=7, crop=16)
        else:
            ds = ShardDataset(shards, seed=7, crop=16, rank=rank, world_size=3)
        ds.set_epoch(2)
        batches = list(loader(ds))
        runs[rank] = [k for b in batches for k in b["key"]]
        assert runs[rank] == simulated(ds)
        if rank == 0:  # the images, too, are the ones the plan's draws give
            records = {r.key: (r, d) for w in range(2) for r, d in ds.records(w, 2)}
            got = {k: img for b in batches for k, img in zip(b["key"], b["image"])}
            assert all(torch.equal(img, ds.decode_record(*records[k])) for k, img in got.items())
    assert {len(v) for v in runs.values()} == {10}
    seen = Counter(k for v in runs.values() for k in v)
    assert set(seen) == set(all_keys("train", sum(SIZES))) and sorted(seen.values()) == [1] * 28 + [2]


def test_resume_with_workers(shards):
    ds = ShardDataset(shards, seed=9, crop=16, rank=1, world_size=3, uneven="drop")
    expected = simulated(ds)
    head = []
    for batch in loader(ds):
        head.extend(batch["key"])
        if len(head) == 2 * BATCH:
            break
    with pytest.raises(ConfigError, match="taken="):
        ds.state_dict()  # the workers counted, not this process
    state = ds.state_dict(taken=len(head), batch_size=BATCH, num_workers=2)
    fresh = ShardDataset(shards, seed=9, crop=16, rank=1, world_size=3, uneven="drop")
    fresh.load_state_dict(state)
    rest = [k for b in loader(fresh) for k in b["key"]]
    assert head + rest == expected and len(expected) == 9


def test_unpaired_pairs_with_workers_resume(shards):
    def pairs():
        return UnpairedPairs(ShardDataset(shards, labels=["no-rain"], crop=8, seed=3),
                             ShardDataset(shards, exclude_labels=["no-rain"], crop=8, seed=3))

    def pair_loader(ds):
        return DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="spawn")

    plan = pairs()
    per_worker = [[plan.decode_pair(*p) for p in plan.records(w, 2)] for w in range(2)]
    index = dataloader_order([[(w, i) for i in range(len(p))] for w, p in enumerate(per_worker)], 3)
    longer = len(ShardDataset(shards, exclude_labels=["no-rain"]))
    assert longer > len(ShardDataset(shards, labels=["no-rain"]))
    assert len(index) == len(plan) == longer  # the shorter stream cycled
    first = pairs()
    head = []
    for batch in pair_loader(first):
        head.append(batch)
        if len(head) == 2:
            break
    again = pairs()
    again.load_state_dict(first.state_dict(taken=6, batch_size=3, num_workers=2))
    got = head + list(pair_loader(again))
    for side in (0, 1):
        expected = torch.stack([per_worker[w][i][side] for w, i in index])
        assert torch.equal(torch.cat([b[side] for b in got]), expected)
