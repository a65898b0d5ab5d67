"""Clusters of duplicates: union-find over confirmed edges, cannot-links, exposure identity, and a
chaining guard.

A union that would put two different exposures (capture times that differ, see
:mod:`rainset.dedupe.exposure`) into one cluster is skipped, also when the link runs through a
copy without EXIF; a user's merge still joins them afterwards.

Union-find alone chains: A≈B and B≈C put A and C together even when they are far apart. After
the union, a component whose diameter (largest pHash distance between two members; exact pairs
count as 0) exceeds the threshold is split greedily into clusters of diameter ≤ threshold: take
the member with the most edges as a centre, add its neighbours closest first while every
member stays within the threshold of every other, repeat on the rest. Components larger than
:data:`MAX_MATRIX` (a static camera can give thousands of near-identical frames) are split into
stars of radius ⌊threshold/2⌋ instead, without a distance matrix.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from rainset.dedupe.exposure import ExposureTime, different_exposures
from rainset.dedupe.index import popcount

MAX_MATRIX = 3000  # larger components are split by stars instead of an all-pairs distance matrix


class UnionFind:
    """Union-find with path halving and union by size, over hashable ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.size[x] = 1
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: str, b: str) -> str:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return ra

    def groups(self) -> list[list[str]]:
        """Every set of ≥ 2 members, each sorted, sorted by first member."""
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return sorted((sorted(v) for v in out.values() if len(v) > 1), key=lambda g: g[0])


@dataclass(frozen=True)
class ClusterResult:
    """Final clusters (sorted member lists) and how many components the chaining guard split."""

    clusters: tuple[tuple[str, ...], ...]
    split_components: int


def _mixes_exposures(a: list[ExposureTime], b: list[ExposureTime]) -> bool:
    return any(different_exposures(x, y) for x in a for y in b)


def _union_with_cannot(edges: Iterable[tuple[str, str]], cannot: set[frozenset[str]],
                       exposures: dict[str, ExposureTime] | None = None) -> UnionFind:
    """Union the edges in order, skipping any union that would put a cannot-link pair, or two
    different exposures, together."""
    uf = UnionFind()
    times: dict[str, list[ExposureTime]] = {}  # root -> the distinct exposure times of its members
    for x, t in (exposures or {}).items():
        times[uf.find(x)] = [t]
    banned: dict[str, set[str]] = defaultdict(set)  # root -> ids that may not join it
    marked: dict[str, set[str]] = defaultdict(set)  # root -> its members that have cannot-links
    partners: dict[str, set[str]] = defaultdict(set)
    for pair in cannot:
        a, b = tuple(pair)
        partners[a].add(b)
        partners[b].add(a)
    for x in partners:
        r = uf.find(x)
        banned[r] |= partners[x]
        marked[r].add(x)
    for a, b in edges:
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            continue
        if marked.get(rb) and banned.get(ra) and marked[rb] & banned[ra]:
            continue
        if ra in times and rb in times and _mixes_exposures(times[ra], times[rb]):
            continue
        root = uf.union(a, b)
        other = rb if root == ra else ra
        if other in times:
            times[root] = list(dict.fromkeys(times.get(root, []) + times.pop(other)))
        if other in banned:
            banned[root] |= banned.pop(other)
        if other in marked:
            marked[root] |= marked.pop(other)
    return uf


def _greedy_split(members: list[str], dist: np.ndarray, adj: dict[str, set[str]], threshold: int) -> list[list[str]]:
    pos = {m: i for i, m in enumerate(members)}
    remaining = set(members)
    out: list[list[str]] = []
    while remaining:
        centre = min(remaining, key=lambda m: (-len(adj[m] & remaining), m))
        cluster = [centre]
        near = sorted(adj[centre] & remaining, key=lambda m: (dist[pos[centre], pos[m]], m))
        for m in near:
            if all(dist[pos[m], pos[x]] <= threshold for x in cluster):
                cluster.append(m)
        remaining -= set(cluster)
        if len(cluster) > 1:
            out.append(sorted(cluster))
    return out


def _star_split(members: list[str], adj: dict[str, set[str]], phash: dict[str, int], threshold: int) -> list[list[str]]:
    """Split a component too large for a distance matrix: stars of radius ⌊threshold/2⌋.

    Every member of a star is within ⌊threshold/2⌋ bits of its centre, so any two are within the
    threshold (triangle inequality); centres are taken by decreasing number of links.
    """
    remaining = set(members)
    out: list[list[str]] = []
    for centre in sorted(members, key=lambda m: (-len(adj[m]), m)):
        if centre not in remaining:
            continue
        near = [m for m in adj[centre] & remaining
                if (phash.get(m, 0) ^ phash.get(centre, 0)).bit_count() <= threshold // 2]
        cluster = sorted([centre, *near])
        remaining -= set(cluster)
        if len(cluster) > 1:
            out.append(cluster)
    return out


def build_clusters(edges: list[tuple[str, str]], phash: dict[str, int], threshold: int,
                   cannot: set[frozenset[str]] = frozenset(), exact: set[frozenset[str]] = frozenset(),
                   must: list[tuple[str, str]] = (), max_matrix: int = MAX_MATRIX,
                   exposures: dict[str, ExposureTime] | None = None) -> ClusterResult:
    """Cluster captures linked by duplicate edges.

    Args:
        edges: duplicate edges (exact first, then near-duplicates closest first).
        phash: 64-bit pHash per capture id (for the diameter).
        threshold: the largest pHash distance allowed inside a cluster.
        cannot: pairs a user marked as not duplicates (never in one cluster).
        exact: pairs with the same pixels (distance 0 for the diameter).
        must: pairs a user merged: their clusters are joined after the guard.
        max_matrix: components larger than this are split into stars (no distance matrix).
        exposures: the exposure time of each capture that has one: two different exposures never
            share a cluster unless a user merged them (``must``).

    Returns:
        ClusterResult with the clusters (≥ 2 members each).
    """
    uf = _union_with_cannot(edges, set(cannot), exposures)
    adj: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    overrides: dict[str, dict[str, int]] = defaultdict(dict)  # exact pairs count 0, cannot-links never fit
    for pairs, value in ((exact, 0), (cannot, 99)):
        for pair in pairs:
            a, b = tuple(pair)
            overrides[a][b] = overrides[b][a] = value
    final: list[list[str]] = []
    split = 0
    for comp in uf.groups():
        if len(comp) <= 2:
            final.append(comp)
        elif len(comp) > max_matrix:
            split += 1
            final += _star_split(comp, adj, phash, threshold)
        else:
            h = np.array([phash.get(m, 0) for m in comp], np.uint64)
            dist = popcount(h[:, None] ^ h[None, :]).astype(np.int16)
            pos = {m: i for i, m in enumerate(comp)}
            for a in comp:
                for b, value in overrides.get(a, {}).items():
                    if b in pos:
                        dist[pos[a], pos[b]] = value
            if int(dist.max()) > threshold:
                split += 1
                final += _greedy_split(comp, dist, adj, threshold)
            else:
                final.append(comp)
    if must:
        merged = UnionFind()
        for comp in final:
            for m in comp[1:]:
                merged.union(comp[0], m)
        for a, b in must:
            merged.union(a, b)
        final = merged.groups()
    return ClusterResult(tuple(tuple(c) for c in sorted(final, key=lambda g: g[0])), split)
