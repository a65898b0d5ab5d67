"""The shards stage of ``rainset demo``: shard the demo's manifest version, check it, read one batch back."""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rainset.errors import ShardsError
from rainset.shards.index import ShardsCheck, load_index, verify_folder
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, ShardsResult, build_shards
from rainset.store import Store


@dataclass(frozen=True)
class ShardsDemoResult:
    """What the shards stage of the demo did."""

    shards: ShardsResult
    check: ShardsCheck
    batch: tuple[dict[str, Any], ...]  # the first samples of the first train shard: key, image shape, rain type

    def to_dict(self) -> dict:
        return {"shards": self.shards.to_dict(), "check": self.check.to_dict(), "batch": [dict(b) for b in self.batch]}

    def lines(self) -> list[str]:
        shapes = ", ".join(f"{b['shape'][1]}x{b['shape'][0]} {b['rain_type'] or 'unlabelled'}" for b in self.batch)
        return [*self.shards.lines(), f"verified {self.check.ok}/{self.check.shards} shards against index.json",
                f"read back a batch of {len(self.batch)}: {shapes}"]


def read_batch(folder: Path, split: str = "train", size: int = 4) -> tuple[dict[str, Any], ...]:
    """Decode the first ``size`` samples of a split's first shard (plain tarfile + OpenCV)."""
    index = load_index(folder)
    if split not in index["splits"]:
        raise ShardsError(f"{folder}: no {split} shards")
    found: dict[str, dict[str, Any]] = {}
    with tarfile.open(folder / index["splits"][split]["shardlist"][0]["url"]) as tar:
        for member in tar:
            key, ext = member.name.split(".", 1)
            if key not in found and len(found) == size:
                break
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            item = found.setdefault(key, {"key": key})
            if ext == "json":
                item["rain_type"] = json.loads(data).get("rain_type")
            elif ext in ("jpg", "png", "tiff"):
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                if img is None:
                    raise ShardsError(f"{folder}: sample {key}: its {ext} does not decode")
                item["shape"], item["dtype"] = list(img.shape), str(img.dtype)
    return tuple(found.values())


def demo_stage(store: Store, manifest_name: str = "demo-v1", *, target_size: int = 1_000_000,
               max_side: int | None = None, workers: int = 1) -> ShardsDemoResult:
    """Shard ``manifest_name`` as JPEG into shards of at most ``target_size`` bytes (several for the demo),
    verify them against index.json and decode one batch back."""
    render = RenderSettings(max_side=max_side, max_pixels=int(store.settings["max_pixels"]))
    result = build_shards(store, manifest_name, ShardOptions(render, target_size=target_size, workers=workers))
    folder = Path(result.path)
    return ShardsDemoResult(result, verify_folder(folder), read_batch(folder))
