"""The loader stage of ``rainset demo``: read one training batch back from the demo's shards.

Imports torch (through ``ShardDataset``): ``rainset.demo`` imports it only when torch is installed.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from rainset.loader.dataset import ShardDataset, collate


@dataclass(frozen=True)
class LoaderDemoResult:
    """One batch read through ``ShardDataset`` (sha256-verified), plus the epoch plan of the split."""

    source: str
    split: str
    samples: int  # samples of the split
    batch_keys: tuple[str, ...]
    batch_shape: tuple[int, ...]
    value_min: float
    value_max: float
    rain_types: tuple[str, ...]  # of the batch; "unlabelled" for null

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        shape = "x".join(map(str, self.batch_shape))
        return [f"loader: read a batch of {len(self.batch_keys)} ({shape}, values {self.value_min:.2f}..."
                f"{self.value_max:.2f}) from {self.samples} {self.split} samples, sha256 verified",
                f"batch rain types: {', '.join(self.rain_types)}"]


def demo_stage(shards_path: str | os.PathLike[str], split: str = "train", *, batch_size: int = 4,
               crop: int = 64, seed: int = 0) -> LoaderDemoResult:
    """Stream one epoch of ``split`` from a shard folder (sha256-verified) and decode its first batch.

    Raises:
        ShardsError: the folder, its index or a shard is missing or damaged.
    """
    ds = ShardDataset(shards_path, split, seed=seed, crop=crop, value_range="-1,1", verify=True)
    items = []
    for record, draws in ds.records():  # the whole epoch streams through, so every shard is verified
        if len(items) < batch_size:
            items.append({"key": record.key, "image": ds.decode_record(record, draws), "meta": record.meta})
    if not items:
        return LoaderDemoResult(ds.index.base, split, ds.total, (), (), 0.0, 0.0, ())
    batch = collate(items)
    images = batch["image"]
    return LoaderDemoResult(source=ds.index.base, split=split, samples=ds.total, batch_keys=tuple(batch["key"]),
                            batch_shape=tuple(images.shape), value_min=float(images.min()),
                            value_max=float(images.max()),
                            rain_types=tuple(m.get("rain_type") or "unlabelled" for m in batch["meta"]))
