"""A torch IterableDataset over rainset shards: ranks, workers, deterministic shuffle, resume (docs/loader.md).

``read_index`` needs no torch; ``ShardDataset``, ``UnpairedPairs`` and ``decode_image`` import it
on first use, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rainset.loader.index import ShardIndex, ShardInfo, SplitIndex, read_index

if TYPE_CHECKING:
    from rainset.loader.dataset import ShardDataset, collate
    from rainset.loader.decode import decode_image
    from rainset.loader.streams import UnpairedPairs

__all__ = ["ShardDataset", "ShardIndex", "ShardInfo", "SplitIndex", "UnpairedPairs", "collate", "decode_image",
           "read_index", "to_float"]

_LAZY = {"ShardDataset": "rainset.loader.dataset", "collate": "rainset.loader.dataset",
         "UnpairedPairs": "rainset.loader.streams", "decode_image": "rainset.loader.decode", "to_float": "rainset.loader.decode"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)  # heavy: torch
    raise AttributeError(f"module 'rainset.loader' has no attribute {name!r}")
