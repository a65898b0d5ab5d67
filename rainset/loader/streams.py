"""``UnpairedPairs``: (rainy crop, clean crop) pairs from two independent streams, as NLCL trains on."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

import torch
from torch.utils.data import IterableDataset

from rainset.errors import ConfigError
from rainset.loader.dataset import Draws, ShardDataset
from rainset.loader.plan import part_sizes
from rainset.loader.resume import Resumable
from rainset.loader.tario import Record

Pair = tuple[Record, Draws]  # one stream's undecoded record and its augmentation draws


def _cycled(ds: ShardDataset, worker: int, num_workers: int, epoch: int) -> Iterator[Pair]:
    """A worker's records of ``epoch``, then again with a fresh shard order and shuffle, forever."""
    cycle = 0
    while True:
        yield from ds.records(worker, num_workers, epoch=epoch, cycle=cycle)
        cycle += 1


class UnpairedPairs(Resumable, IterableDataset):
    """An IterableDataset of ``(rainy, clean)`` float tensors 3xHxW from two independent streams.

    Each stream keeps its own settings (crop, value range, label filter). The clean stream's seeds
    also mix in ``"clean"``, so the two shuffles and crops are independent even with one seed (or
    one dataset passed twice). An epoch is ``max(len(rainy), len(clean))`` pairs: the shorter
    stream cycles, each cycle in a new order. ``set_epoch``, ``state_dict`` and
    ``load_state_dict`` work as on :class:`ShardDataset`, counting pairs.
    """

    def __init__(self, rainy: ShardDataset, clean: ShardDataset) -> None:
        if (rainy.rank, rainy.world_size) != (clean.rank, clean.world_size):
            raise ConfigError(f"rainy stream is rank {rainy.rank} of {rainy.world_size} but the clean stream is "
                              f"rank {clean.rank} of {clean.world_size}: build both in the same process setup")
        for name, ds in (("rainy", rainy), ("clean", clean)):
            if len(ds) == 0:
                raise ConfigError(f"the {name} stream ({ds.index.base}, split {ds.split}) has no samples for "
                                  f"rank {ds.rank} of {ds.world_size} after its label filter")
        self.rainy = rainy
        self.clean = clean.with_stream(f"{clean.stream}+clean")
        self._init_resume()

    def __len__(self) -> int:
        """Pairs per epoch on this rank: the longer stream's length."""
        return max(len(self.rainy), len(self.clean))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch of both streams."""
        super().set_epoch(epoch)
        self.rainy.set_epoch(epoch)
        self.clean.set_epoch(epoch)

    def fingerprint(self) -> dict[str, Any]:
        """Both streams' order settings."""
        return {"rainy": self.rainy.fingerprint(), "clean": self.clean.fingerprint(), "length": len(self)}

    def records(self, worker: int = 0, num_workers: int = 1) -> Iterator[tuple[Pair, Pair]]:
        """One worker's undecoded pairs of the current epoch (rainy and clean record with their draws)."""
        count = part_sizes(len(self), num_workers)[worker]
        for name, ds in (("rainy", self.rainy), ("clean", self.clean)):
            if count and not part_sizes(len(ds), num_workers)[worker]:
                raise ConfigError(f"the {name} stream has {len(ds)} samples on this rank, fewer than the "
                                  f"{num_workers} DataLoader workers: use fewer workers")
        pairs = zip(_cycled(self.rainy, worker, num_workers, self.epoch),
                    _cycled(self.clean, worker, num_workers, self.epoch))
        return islice(pairs, count)

    def decode_pair(self, rainy: Pair, clean: Pair) -> tuple[torch.Tensor, torch.Tensor]:
        """The (rainy, clean) tensors of one undecoded pair."""
        return self.rainy.decode_record(*rainy), self.clean.decode_record(*clean)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker, num_workers, skip, local = self._start()
        for i, (rainy, clean) in enumerate(self.records(worker, num_workers)):
            if i < skip:
                continue
            pair = self.decode_pair(rainy, clean)
            if local:
                self._taken += 1
            yield pair
