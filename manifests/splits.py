"""Leakage-free split assignment.

Captures linked through any group (near-duplicate cluster, burst, same scene) form one leakage
group (a connected component); a whole group goes to one split. :func:`assign_splits` is pure:

- a group with no recorded split gets one from a hash of its oldest member's id and the seed;
- new members of a group that has a recorded split join that split;
- a group whose members were recorded in different splits (a new capture merged them) keeps the
  split of its oldest recorded member; the others move, and each move is returned with its reason.

So no group spans two splits, recorded samples never move except through a merge, and split
sizes follow the ratios over groups.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rainset.errors import ConfigError

DEFAULT_RATIOS: tuple[tuple[str, float], ...] = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class Move:
    """A recorded sample whose split changes because its group merged with another."""

    capture_id: str
    from_split: str
    to_split: str
    reason: str


@dataclass(frozen=True)
class SplitPlan:
    """The split of every capture, the group each belongs to, and what moved."""

    splits: dict[str, str]  # capture id -> split
    group_of: dict[str, str]  # capture id -> group key (its oldest member's id)
    new: tuple[str, ...]  # captures without a recorded split before
    moves: tuple[Move, ...]


def parse_ratios(text: str) -> tuple[tuple[str, float], ...]:
    """``"80,10,10"`` (train, validation, test; any positive numbers) → normalised ratios."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--ratios {text!r}: expected three numbers such as 80,10,10") from None
    if len(values) != 3 or any(not 0 <= v < math.inf for v in values) or not 0 < sum(values) < math.inf:
        raise ConfigError(f"--ratios {text!r}: expected three finite non-negative numbers with a positive sum")
    total = sum(values)
    return tuple((name, v / total) for (name, _), v in zip(DEFAULT_RATIOS, values))


def hash_split(key: str, seed: int, ratios: Sequence[tuple[str, float]] = DEFAULT_RATIOS) -> str:
    """The split of a new group whose oldest member is ``key`` (uniform hash → cumulative ratios)."""
    digest = hashlib.sha256(f"rainset-split:{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    acc = 0.0
    for name, share in ratios:
        acc += share
        if u < acc:
            return name
    return next(name for name, share in reversed(ratios) if share > 0)


def components(members: Iterable[str], links: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Connected components (union-find) of ``members`` joined by ``links``; ids of links outside are added."""
    parent: dict[str, str] = {m: m for m in members}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for m in parent:
        groups.setdefault(find(m), []).append(m)
    return [sorted(g) for g in groups.values()]


def assign_splits(groups: Iterable[Sequence[str]], age: Mapping[str, object], recorded: Mapping[str, str],
                  seed: int, ratios: Sequence[tuple[str, float]] = DEFAULT_RATIOS) -> SplitPlan:
    """Assign every capture of ``groups`` to a split (pure; see the module docstring).

    Args:
        groups: leakage groups (lists of capture ids); every capture appears in exactly one.
        age: capture id → a sortable age (ingest time); the oldest member is the smallest
            ``(age, id)``.
        recorded: capture id → split recorded earlier for this seed.
        seed: the split seed.
        ratios: (split name, share) pairs.
    """
    splits: dict[str, str] = {}
    group_of: dict[str, str] = {}
    new: list[str] = []
    moves: list[Move] = []
    for group in groups:
        ordered = sorted(group, key=lambda c: (age[c], c))
        key = ordered[0]
        known = [c for c in ordered if c in recorded]
        if not known:
            target = hash_split(key, seed, ratios)
        else:
            target = recorded[known[0]]
            for c in known:
                if recorded[c] != target:
                    moves.append(Move(c, recorded[c], target,
                                      f"merged into the group of {known[0]} (split {target}) by a new link"))
        for c in ordered:
            splits[c] = target
            group_of[c] = key
            if c not in recorded:
                new.append(c)
    return SplitPlan(splits, group_of, tuple(new), tuple(moves))
