"""A bounded in-memory shuffle: a pipeline stage ``shuffle(iterator, size, rng) -> iterator``."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def shuffle(items: Iterable[T], size: int, rng: random.Random) -> Iterator[T]:
    """Yield ``items`` in a pseudo-random order using a buffer of at most ``size`` items.

    Once the buffer is full, each incoming item replaces a randomly chosen buffered item, which is
    yielded; at the end the rest of the buffer is yielded in a random order. The order is a pure
    function of the input order, ``size`` and the RNG's state. ``size <= 1`` passes items through.
    """
    if size <= 1:
        yield from items
        return
    buffer: list[T] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        i = rng.randrange(size)
        out, buffer[i] = buffer[i], item
        yield out
    rng.shuffle(buffer)
    yield from buffer
