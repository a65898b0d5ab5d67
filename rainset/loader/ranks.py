"""Where this process sits: its rank in a multi-GPU world and its DataLoader worker slot."""

from __future__ import annotations

import os
import sys

from rainset.errors import ConfigError


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def resolve_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """The (rank, world_size) of this process.

    Explicit arguments win; then ``torch.distributed`` when it is initialised; then the
    ``RANK`` / ``WORLD_SIZE`` environment variables (set by torchrun); else ``(0, 1)``.
    torch is never imported here: a process group can only exist if torch already is.
    """
    if rank is None or world_size is None:
        dist = sys.modules.get("torch.distributed")
        if dist is not None and dist.is_available() and dist.is_initialized():
            found = dist.get_rank(), dist.get_world_size()
        else:
            found = _env_int("RANK"), _env_int("WORLD_SIZE")
        rank = found[0] if rank is None else rank
        world_size = found[1] if world_size is None else world_size
    rank = 0 if rank is None else int(rank)
    world_size = 1 if world_size is None else int(world_size)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in a world of size {world_size} (need 0 <= rank < world_size)")
    return rank, world_size


def worker_slot() -> tuple[int, int]:
    """(worker id, number of workers) inside a DataLoader worker, ``(0, 1)`` in the main process."""
    torch_data = sys.modules.get("torch.utils.data")
    info = torch_data.get_worker_info() if torch_data is not None else None
    if info is None:
        return 0, 1
    return info.id, info.num_workers


def in_worker() -> bool:
    """True inside a DataLoader worker process."""
    torch_data = sys.modules.get("torch.utils.data")
    return torch_data is not None and torch_data.get_worker_info() is not None
