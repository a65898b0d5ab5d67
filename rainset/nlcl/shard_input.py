"""Training data from the shards of a manifest version: a rainy stream and an unpaired clean stream.

Both streams are :class:`rainset.loader.ShardDataset` over the ``train`` split of one shards
folder (or URL), filtered by label (``rainy_labels`` / ``clean_labels``), cropped to ``crop``² as
uint8 (``value_range="raw"``: a quarter of the bytes to pass from the DataLoader workers) and scaled
to [-1, 1] on the training device; :class:`rainset.loader.UnpairedPairs` zips them with independent shuffles (the shorter
stream cycles). Rank and world size come from torch.distributed / torchrun's environment, so every
rank reads its own equal share. Epochs follow one another until the step budget is spent; the
position (epoch, pairs taken) is the loader's ``state_dict``, saved in every checkpoint, so a
resumed run continues mid-epoch with the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from rainset.errors import ConfigError, RainsetError, TrainError
from rainset.nlcl.config import TrainConfig, label_list
from rainset.loader import ShardDataset, UnpairedPairs
from rainset.loader.decode import to_float
from rainset.nlcl.data import worker_init
from rainset.workers import spawn_context


@dataclass(frozen=True)
class ShardStreams:
    """The two label-filtered streams of one rank and their pairing."""

    rainy: Any  # rainset.loader.ShardDataset
    clean: Any  # rainset.loader.ShardDataset
    pairs: Any  # rainset.loader.UnpairedPairs

    def inputs(self, source: str) -> dict[str, Any]:
        """What the run folder and checkpoints record about the data."""
        return {"shards": source, "shards_name": self.rainy.index.name, "manifest": self.rainy.index.manifest,
                "rainy_labels": sorted(self.rainy.labels), "clean_labels": sorted(self.clean.labels),
                "rainy_samples": self.rainy.total, "clean_samples": self.clean.total,
                "pairs_per_epoch": len(self.pairs), "world_size": self.rainy.world_size}


def source(shards: str) -> str:
    """Local folders become absolute paths (a run may be resumed from another directory); URLs stay."""
    return shards if "://" in shards else os.path.abspath(shards)


def open_streams(cfg: TrainConfig, rank: int, world: int) -> ShardStreams:
    """The rainy and clean streams of rank ``rank`` of ``world`` for ``cfg.shards``.

    Raises:
        TrainError: the shards cannot be read, or a label filter keeps no sample (the message lists
            the labels the shards hold).
    """
    common = dict(seed=cfg.seed, crop=cfg.crop, flip=cfg.flip, value_range="raw", rank=rank, world_size=world)
    try:
        rainy = ShardDataset(source(cfg.shards), "train", labels=list(label_list(cfg.rainy_labels)), **common)
        clean = ShardDataset(source(cfg.shards), "train", labels=list(label_list(cfg.clean_labels)), **common)
    except RainsetError as exc:
        raise TrainError(f"shards {cfg.shards}: {exc}") from None
    for name, ds in (("rainy_labels", rainy), ("clean_labels", clean)):
        if ds.total == 0:
            held: dict[str, int] = {}
            for shard in ds.shards:
                for label, n in (shard.labels or {}).items():
                    held[label] = held.get(label, 0) + n
            have = ", ".join(f"{k} {v}" for k, v in sorted(held.items())) or "none"
            raise TrainError(f"shards {cfg.shards}: no train sample is labelled {', '.join(sorted(ds.labels))} "
                             f"(config field {name}); the train split holds: {have}")
    if cfg.workers > min(len(rainy), len(clean)):
        raise TrainError(f"shards {cfg.shards}: {min(len(rainy), len(clean))} samples in the smaller stream on each "
                         f"rank, fewer than workers={cfg.workers}: use fewer workers")
    return ShardStreams(rainy, clean, UnpairedPairs(rainy, clean))


@dataclass(frozen=True)
class Position:
    """Where the pairs stream starts: ``taken`` pairs into ``epoch``, and how that was decided."""

    epoch: int
    taken: int
    how: str


def restore(streams: ShardStreams, state: dict[str, Any] | None) -> Position:
    """Resume the pairs' position from a checkpoint's loader state.

    ``how`` is ``exact`` (mid-epoch, where the run stopped), ``next epoch (…)`` when the state cannot
    be used with this setup (another worker count or world size changes the sample order; training
    goes on with the next epoch), or ``start`` without a state (a new run).
    """
    if not state:
        return Position(0, 0, "start")
    try:
        streams.pairs.load_state_dict(state)
        return Position(int(state["epoch"]), int(state["taken"]), "exact")
    except ConfigError as exc:
        warnings.warn(f"cannot resume the shard loader mid-epoch ({exc}); continuing with the next epoch",
                      stacklevel=2)
        return Position(int(state.get("epoch", 0)) + 1, 0, f"next epoch ({exc})")


def batches(streams: ShardStreams, cfg: TrainConfig, start: Position, device: torch.device
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict[str, Any]]]:
    """(rainy, clean, loader state after this batch) forever, epoch after epoch (``set_epoch`` each)."""
    pairs = streams.pairs
    epoch, taken = start.epoch, start.taken
    while True:
        if taken >= len(pairs):  # a checkpoint at an epoch's very end: the next epoch starts
            epoch, taken = epoch + 1, 0
        pairs.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(pairs, batch_size=cfg.batch_size, num_workers=cfg.workers,
                                             worker_init_fn=worker_init, pin_memory=device.type == "cuda",
                                             multiprocessing_context=spawn_context() if cfg.workers > 0 else None)
        for rainy, clean in loader:
            taken += rainy.shape[0]
            # uint8 crops cross from the workers (a quarter of float32's bytes) and become [-1, 1] here
            rainy = to_float(rainy.to(device, non_blocking=True), "-1,1")
            clean = to_float(clean.to(device, non_blocking=True), "-1,1")
            yield rainy, clean, pairs.state_dict(taken=taken, batch_size=cfg.batch_size, num_workers=cfg.workers)
        epoch, taken = epoch + 1, 0
