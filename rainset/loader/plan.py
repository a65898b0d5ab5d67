"""The epoch plan: which samples each rank and each DataLoader worker reads, as a pure function.

One epoch is a sequence of all (filtered) samples: the shards in a shuffled order, each shard's
samples in file order. Every rank takes one contiguous stretch of the same length of that
sequence, so every rank yields the same count:

- ``pad``: each rank takes ``ceil(N / W)`` samples; the stretch past the end wraps around to the
  start of the sequence, so the first ``W * ceil(N / W) - N`` samples are seen twice;
- ``drop``: each rank takes ``floor(N / W)`` samples; the last ``N mod W`` samples of the sequence
  are left out this epoch (another epoch's shard order leaves out others).

A rank's stretch is cut into contiguous parts for its workers (the first ``n mod workers`` get one
more). A stretch maps onto shard segments (shard, first, stop) in the shards' own sample order, so a
worker streams at most two shards partially and the others whole.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

UNEVEN = ("pad", "drop")


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any parts (seed, stream, epoch, rank, worker, stage name…), stable across runs."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class Segment:
    """Samples ``start <= i < stop`` of shard ``shard`` (indices among the shard's kept samples)."""

    shard: int
    start: int
    stop: int


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker of one rank reads in one epoch, in order."""

    count: int
    segments: tuple[Segment, ...]


def shard_order(nshards: int, seed: int, epoch: int, *, shuffle: bool = True, stream: str = "",
                cycle: int = 0) -> list[int]:
    """The epoch's shard order: the same on every rank and worker; a permutation when ``shuffle``."""
    order = list(range(nshards))
    if shuffle:
        random.Random(derive_seed(seed, stream, epoch, cycle, "shards")).shuffle(order)
    return order


def per_rank(total: int, world_size: int, uneven: str) -> int:
    """Samples each rank yields per epoch: ``ceil`` (pad) or ``floor`` (drop) of total / world_size."""
    if uneven == "pad":
        return -(-total // world_size)
    if uneven == "drop":
        return total // world_size
    raise ValueError(f"uneven must be one of {UNEVEN}, not {uneven!r}")


def part(n: int, parts: int, i: int) -> tuple[int, int]:
    """Bounds of contiguous part ``i`` of ``parts`` over ``range(n)``; the first ``n % parts`` get one more."""
    size, extra = divmod(n, parts)
    start = i * size + min(i, extra)
    return start, start + size + (1 if i < extra else 0)


def part_sizes(n: int, parts: int) -> list[int]:
    """The sizes of all ``parts`` contiguous parts of ``range(n)``."""
    return [b - a for a, b in (part(n, parts, i) for i in range(parts))]


def segments(order: Sequence[int], counts: Sequence[int], lo: int, hi: int) -> tuple[Segment, ...]:
    """Shard segments covering positions ``lo <= p < hi`` of the epoch sequence, wrapping past its end."""
    total = sum(counts[s] for s in order)
    if hi <= lo:
        return ()
    if total == 0:
        raise ValueError("cannot take samples from an empty epoch")
    out: list[Segment] = []
    while lo < hi:
        base = (lo // total) * total
        stop = min(hi, base + total)
        first, last = lo - base, stop - base
        offset = 0
        for shard in order:
            n = counts[shard]
            a, b = max(first, offset), min(last, offset + n)
            if a < b:
                out.append(Segment(shard, a - offset, b - offset))
            offset += n
            if offset >= last:
                break
        lo = stop
    return tuple(out)


def plan_worker(counts: Sequence[int], *, seed: int, epoch: int, rank: int, world_size: int, worker: int,
                num_workers: int, uneven: str = "pad", shard_shuffle: bool = True, stream: str = "",
                cycle: int = 0) -> WorkerPlan:
    """The exact samples one worker of one rank reads in one epoch.

    Args:
        counts: samples per shard after any label filter, in index order.
        seed, epoch, stream, cycle: what the shard order depends on (plus ``shard_shuffle``).
        rank, world_size: this process's place in the world.
        worker, num_workers: this DataLoader worker (``0, 1`` without workers).
        uneven: ``pad`` or ``drop`` (see the module docstring).
    """
    order = shard_order(len(counts), seed, epoch, shuffle=shard_shuffle, stream=stream, cycle=cycle)
    n = per_rank(sum(counts), world_size, uneven)
    a, b = part(n, num_workers, worker)
    return WorkerPlan(count=b - a, segments=segments(order, counts, rank * n + a, rank * n + b))


def consumed_per_worker(worker_counts: Sequence[int], batch_size: int, taken: int) -> list[int]:
    """How many samples of each worker a consumer has taken after ``taken`` samples.

    A torch DataLoader over an IterableDataset takes whole batches from its workers in turn
    (worker 0, 1, …, 0, 1, …), skipping workers that have run out; each worker's last batch may be
    short. This replays that order.
    """
    if taken > sum(worker_counts):
        raise ValueError(f"{taken} samples taken, but the workers hold only {sum(worker_counts)}")
    done = [0] * len(worker_counts)
    left = taken
    while left > 0:
        for w, count in enumerate(worker_counts):
            step = min(batch_size, count - done[w], left)
            if step > 0:
                done[w] += step
                left -= step
            if left == 0:
                break
    return done
