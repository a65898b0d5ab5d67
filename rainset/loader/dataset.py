"""``ShardDataset``: a torch IterableDataset over the shards of one split (docs/loader.md).

The pipeline of one worker is a chain of generators:
plan (which samples) -> read_shard per segment (stream, filter, verify) -> shuffle (bounded buffer)
-> augmentation draws -> skip (resume) -> decode (crop, flip, tensor).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import IterableDataset

from rainset.errors import ConfigError, ShardsError
from rainset.loader.decode import VALUE_RANGES, Decoder, decode_image, draw
from rainset.loader.index import UNLABELLED, ShardInfo, read_index
from rainset.loader.plan import UNEVEN, WorkerPlan, derive_seed, per_rank, plan_worker
from rainset.loader.memory import keep_decode_buffers
from rainset.loader.ranks import in_worker, resolve_world
from rainset.loader.resume import Resumable
from rainset.loader.shuffle import shuffle
from rainset.loader.tario import Record, read_shard

Draws = tuple[float, float, float]
PAIR_TENSORS = ("clean", "mask")  # the extra tensors of a pair sample's item


def _label_set(values: Sequence[str] | None, what: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    names = frozenset(str(v) for v in values)
    if not names or any(not n for n in names):
        raise ConfigError(f"{what} must be a non-empty list of rain types (or None), not {values!r}")
    return names


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch ShardDataset items: images stacked, keys and JSON rows as lists; the ``clean`` and ``mask``
    tensors of pair samples stacked too when every item has them.

    torch's default collate cannot batch the rows (they hold nulls and nested lists); pass this as
    ``DataLoader(ds, collate_fn=collate)``.
    """
    batch = {"key": [i["key"] for i in items], "image": torch.stack([i["image"] for i in items]),
             "meta": [i["meta"] for i in items]}
    for name in PAIR_TENSORS:
        if items and all(name in i for i in items):
            batch[name] = torch.stack([i[name] for i in items])
    return batch


class _LabelFilter:
    """A picklable predicate on a sample's JSON row: its ``rain_type`` (null = unlabelled) is kept."""

    def __init__(self, labels: frozenset[str] | None, exclude: frozenset[str]) -> None:
        self.labels, self.exclude = labels, exclude

    def __call__(self, meta: dict[str, Any]) -> bool:
        rain_type = meta.get("rain_type") or UNLABELLED
        return (self.labels is None or rain_type in self.labels) and rain_type not in self.exclude


class ShardDataset(Resumable, IterableDataset):
    """Samples of one split as ``{"key", "image", "meta"}`` dicts; see docs/loader.md.

    Args:
        source: a shard folder holding ``index.json`` (or the file), or an fsspec URL of it.
        split: ``train``, ``validation`` or ``test``.
        seed: with the epoch, world size and worker count, fixes the order and the crops.
        crop: side of the random square crop (``None``: whole images).
        flip: random horizontal flips.
        value_range: ``"0,1"`` or ``"-1,1"`` (float32 images), or ``"raw"`` (uint8/uint16 images, a
            quarter of the bytes to send from workers; scale on the device with :func:`rainset.loader.to_float`).
        labels: keep only samples whose ``rain_type`` is one of these (``unlabelled`` = null).
        exclude_labels: drop samples whose ``rain_type`` is one of these.
        shuffle_buffer: samples held by the in-memory shuffle (``0`` or ``1``: none).
        shard_shuffle: shuffle the shard order every epoch.
        uneven: ``pad`` (repeat samples so every rank gets ``ceil(N/W)``) or ``drop`` (``floor(N/W)``).
        verify: hash every shard while streaming it and raise ShardsError on a sha256 mismatch.
        rank, world_size: default torch.distributed, else ``RANK``/``WORLD_SIZE``, else 0/1;
            resolved here, so build the dataset after ``init_process_group``.
        decode: optional picklable ``callable(bytes, ext) -> HxWx3 RGB array``; default OpenCV.
        stream: a name mixed into every seed, so two datasets with one seed shuffle independently.
        tune_memory: in DataLoader workers, let glibc reuse decode buffers instead of mapping fresh
            pages for every image (:mod:`rainset.loader.memory`); the main process is never touched.
    """

    def __init__(self, source: str | os.PathLike[str], split: str = "train", *, seed: int = 0,
                 crop: int | None = 256, flip: bool = True, value_range: str = "0,1",
                 labels: Sequence[str] | None = None, exclude_labels: Sequence[str] | None = None,
                 shuffle_buffer: int = 256, shard_shuffle: bool = True, uneven: str = "pad",
                 verify: bool = False, rank: int | None = None, world_size: int | None = None,
                 decode: Decoder | None = None, stream: str = "", tune_memory: bool = True) -> None:
        if value_range not in VALUE_RANGES:
            raise ConfigError(f"value_range must be one of {', '.join(VALUE_RANGES)}, not {value_range!r}")
        if uneven not in UNEVEN:
            raise ConfigError(f"uneven must be one of {', '.join(UNEVEN)}, not {uneven!r}")
        if crop is not None and int(crop) < 1:
            raise ConfigError(f"crop must be a positive number of pixels or None, not {crop!r}")
        if int(shuffle_buffer) < 0:
            raise ConfigError(f"shuffle_buffer must be >= 0, not {shuffle_buffer!r}")
        self.source = os.fspath(source)
        self.split, self.seed, self.stream = split, int(seed), str(stream)
        self.crop = None if crop is None else int(crop)
        self.flip, self.value_range, self.decode = bool(flip), value_range, decode
        self.shuffle_buffer, self.shard_shuffle = int(shuffle_buffer), bool(shard_shuffle)
        self.uneven, self.verify = uneven, bool(verify)
        self.tune_memory = bool(tune_memory)
        self.labels = _label_set(labels, "labels")
        self.exclude_labels = _label_set(exclude_labels, "exclude_labels") or frozenset()
        self.index = read_index(self.source)
        self.shards: tuple[ShardInfo, ...] = self.index.split(split).shards
        self.counts = tuple(s.kept(self.labels, self.exclude_labels) for s in self.shards)
        if verify and any(not s.sha256 for s in self.shards):
            raise ShardsError(f"{self.index.base}: verify=True but the index lacks a sha256 for some shards")
        self.rank, self.world_size = resolve_world(rank, world_size)
        self._init_resume()

    def __len__(self) -> int:
        """Samples this rank yields per epoch: the same on every rank."""
        return per_rank(sum(self.counts), self.world_size, self.uneven)

    @property
    def total(self) -> int:
        """Samples of the split that pass the label filter (before pad or drop)."""
        return sum(self.counts)

    def plan(self, worker: int = 0, num_workers: int = 1, *, epoch: int | None = None, cycle: int = 0) -> WorkerPlan:
        """The shard segments one worker of this rank reads in ``epoch`` (default: the current one)."""
        return plan_worker(self.counts, seed=self.seed, epoch=self.epoch if epoch is None else epoch,
                           rank=self.rank, world_size=self.world_size, worker=worker, num_workers=num_workers,
                           uneven=self.uneven, shard_shuffle=self.shard_shuffle, stream=self.stream, cycle=cycle)

    def _read(self, plan: WorkerPlan) -> Iterator[Record]:
        keep = None
        if self.labels is not None or self.exclude_labels:
            keep = _LabelFilter(self.labels, self.exclude_labels)
        for seg in plan.segments:
            shard = self.shards[seg.shard]
            yield from read_shard(shard.url, start=seg.start, stop=seg.stop, keep=keep,
                                  sha256=shard.sha256 if self.verify else None)

    def records(self, worker: int = 0, num_workers: int = 1, *, epoch: int | None = None,
                cycle: int = 0) -> Iterator[tuple[Record, Draws]]:
        """One worker's undecoded samples of an epoch, shuffled, each with its augmentation draws."""
        epoch = self.epoch if epoch is None else epoch
        parts = (self.seed, self.stream, epoch, cycle, self.rank, worker)
        shuffled = shuffle(self._read(self.plan(worker, num_workers, epoch=epoch, cycle=cycle)),
                           self.shuffle_buffer, random.Random(derive_seed(*parts, "buffer")))
        augment = random.Random(derive_seed(*parts, "augment"))
        for record in shuffled:
            yield record, draw(augment)

    def decode_record(self, record: Record, draws: Draws) -> torch.Tensor:
        """The image tensor of one record (ShardsError naming the shard and key when it cannot be decoded)."""
        try:
            return decode_image(record.data, record.ext, crop=self.crop, flip=self.flip,
                                value_range=self.value_range, draws=draws, decode=self.decode)
        except ValueError as exc:
            raise ShardsError(f"{record.url}: sample {record.key!r}: {exc}") from exc

    def decode_pair(self, record: Record, draws: Draws) -> dict[str, torch.Tensor]:
        """A pair sample's ``clean`` (3xHxW) and ``mask`` (1xHxW; 1.0, or 255 with ``value_range="raw"``,
        = valid) tensors, cropped and flipped exactly as its image; empty for other samples."""
        if not record.pair:
            return {}
        out = {}
        for name in PAIR_TENSORS:
            ext, data = record.pair[name]
            try:
                tensor = decode_image(data, ext, crop=self.crop, flip=self.flip, value_range=self.value_range,
                                      draws=draws, decode=self.decode)
            except ValueError as exc:
                raise ShardsError(f"{record.url}: sample {record.key!r} ({name}): {exc}") from exc
            out[name] = tensor[:1].clone() if name == "mask" else tensor
        if self.value_range == "-1,1":  # a mask is 0 or 1 whatever the images' range
            out["mask"] = (out["mask"] > 0).to(out["mask"].dtype)
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker, num_workers, skip, local = self._start()
        if self.tune_memory and in_worker():
            keep_decode_buffers()
        for i, (record, draws) in enumerate(self.records(worker, num_workers)):
            if i < skip:
                continue
            item = {"key": record.key, "image": self.decode_record(record, draws), "meta": record.meta,
                    **self.decode_pair(record, draws)}
            if local:
                self._taken += 1
            yield item

    def with_stream(self, stream: str) -> "ShardDataset":
        """A copy of this dataset whose seeds also mix in ``stream`` (an independent shuffle and crops)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.stream = str(stream)
        return clone

    def fingerprint(self) -> dict[str, Any]:
        """The settings the sample order depends on (stored in, and checked against, a state)."""
        return {"split": self.split, "seed": self.seed, "stream": self.stream, "world_size": self.world_size,
                "uneven": self.uneven, "shard_shuffle": self.shard_shuffle, "shuffle_buffer": self.shuffle_buffer,
                "labels": sorted(self.labels) if self.labels is not None else None,
                "exclude_labels": sorted(self.exclude_labels), "length": len(self)}
