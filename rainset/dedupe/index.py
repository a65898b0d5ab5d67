"""Multi-index hashing (Norouzi et al.) over 64-bit hashes: all pairs within a Hamming radius.

The 64 bits are cut into ``m`` disjoint chunks. Two hashes within distance ``r`` differ by at
most ``r // m`` bits in at least one chunk (pigeonhole), so every true pair is found by probing,
for each chunk, the buckets whose key is within ``r // m`` bits of the query's chunk. Each
chunk's buckets are a CSR table (``offsets`` of size 2**bits, ``order`` of the ids), so a probe
is two array reads; probes run vectorised over blocks of queries and every probe pattern at
once. Candidates are verified with a 64-bit popcount; a pair found in an earlier chunk is
dropped in the later ones, so each pair comes out once. Memory is O(N + 2**bits); no N×N
matrix is ever built, and queries for a few new hashes against a large index cost only their
own probes (the incremental path of ``rainset dedupe``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from rainset.errors import DedupeError

MAX_CHUNK_BITS = 22
_PROBES_PER_BLOCK = 1 << 21  # query × pattern probes per vectorised step


def hex_to_u64(values: list[str] | tuple[str, ...]) -> np.ndarray:
    """16-hex-digit hashes → uint64 array (DedupeError naming the first bad value)."""
    out = np.empty(len(values), np.uint64)
    for i, v in enumerate(values):
        try:
            if len(v) != 16:
                raise ValueError
            out[i] = int(v, 16)
        except (TypeError, ValueError):
            raise DedupeError(f"hash {v!r} (item {i}) is not 16 hex digits") from None
    return out


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (uint8 array)."""
    return np.bitwise_count(x)


def _flip_patterns(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``radius`` set bits (uint64)."""
    pats = [0]
    for k in range(1, radius + 1):
        pats += [sum(1 << b for b in c) for c in combinations(range(bits), k)]
    return np.array(pats, np.uint64)


def _chunk_bits(m: int) -> list[int]:
    base, extra = divmod(64, m)
    return [base + (1 if i < extra else 0) for i in range(m)]


def plan_chunks(n: int, radius: int) -> int:
    """Number of chunks that minimises the expected probe + candidate work for ``n`` hashes."""
    best, best_cost = None, float("inf")
    for m in range(max(1, -(-64 // MAX_CHUNK_BITS)), 65):
        bits = _chunk_bits(m)
        if max(bits) > MAX_CHUNK_BITS:
            continue
        s = radius // m
        cost = 0.0
        for b in bits:
            patterns = sum(comb(b, k) for k in range(min(s, b) + 1))
            cost += patterns * (1.0 + n / 2.0 ** b)
        if cost < best_cost:
            best, best_cost = m, cost
    assert best is not None
    return best


@dataclass(frozen=True)
class Pairs:
    """Pairs found by a search: positions ``i`` (queries) and ``j`` (index), Hamming ``dist``."""

    i: np.ndarray
    j: np.ndarray
    dist: np.ndarray

    def __len__(self) -> int:
        return int(self.i.size)


class HashIndex:
    """An immutable multi-index over a uint64 array of hashes, for radius ≤ ``radius``."""

    def __init__(self, hashes: np.ndarray, radius: int, chunks: int | None = None) -> None:
        """Build the index.

        Args:
            hashes: uint64 array (positions are the ids the searches return).
            radius: the largest Hamming distance searches will ask for (0..32).
            chunks: number of chunks; default from :func:`plan_chunks`.
        """
        if not 0 <= radius <= 32:
            raise DedupeError(f"Hamming radius must be between 0 and 32, got {radius}")
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.radius = radius
        m = chunks or plan_chunks(len(self.hashes), radius)
        self.bits = _chunk_bits(m)
        self.shifts = [sum(self.bits[:k]) for k in range(m)]
        self.sub_radius = radius // m
        idx_type = np.int32 if len(self.hashes) < 2**31 else np.int64
        self.order: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []
        self.patterns: list[np.ndarray] = []
        self.bitmaps: list[np.ndarray] = []  # occupancy, 1 bit per bucket: stays in cache
        for b, sh in zip(self.bits, self.shifts):
            keys = self._chunk(self.hashes, b, sh)
            counts = np.bincount(keys.astype(np.int64), minlength=1 << b)
            offsets = np.zeros((1 << b) + 1, idx_type)
            np.cumsum(counts, out=offsets[1:])
            self.offsets.append(offsets)
            self.bitmaps.append(np.packbits(counts > 0, bitorder="little"))
            self.order.append(np.argsort(keys, kind="stable").astype(idx_type))
            self.patterns.append(_flip_patterns(b, min(self.sub_radius, b)))

    @staticmethod
    def _chunk(h: np.ndarray, bits: int, shift: int) -> np.ndarray:
        return (h >> np.uint64(shift)) & np.uint64((1 << bits) - 1)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def _probe(self, q: np.ndarray, c: int, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidate (query position, index position) pairs from chunk ``c`` for queries ``q``."""
        b, sh, pats = self.bits[c], self.shifts[c], self.patterns[c]
        keys = (self._chunk(q, b, sh)[:, None] ^ pats[None, :]).astype(np.uint32).ravel()
        occupied = (self.bitmaps[c][keys >> np.uint32(3)] >> (keys & np.uint32(7)).astype(np.uint8)) & np.uint8(1)
        hit = np.flatnonzero(occupied)
        if hit.size == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        keys = keys[hit].astype(np.int64)
        starts = self.offsets[c][keys].astype(np.int64)
        lens = self.offsets[c][keys + 1].astype(np.int64) - starts
        qpos = np.repeat(hit // pats.size, lens)
        ends = np.cumsum(lens)
        within = np.arange(int(ends[-1]), dtype=np.int64) - np.repeat(ends - lens, lens)
        return qpos, self.order[c][np.repeat(starts, lens) + within].astype(np.int64)

    def search(self, queries: np.ndarray, radius: int | None = None, *, self_join: bool = False,
               query_ids: np.ndarray | None = None) -> Pairs:
        """Every (query, indexed hash) pair within ``radius`` bits.

        Args:
            queries: uint64 hashes to look up.
            radius: search radius (≤ the index's radius; default the index's).
            self_join: ``queries`` are the index itself (or a slice of it, see ``query_ids``):
                report each unordered pair once (``i < j``) and never a hash with itself.
            query_ids: the index positions of ``queries`` when they are indexed too; with
                ``self_join`` a pair of two queries is then reported once, by the smaller id.

        Returns:
            Pairs: ``i`` are positions in ``queries`` (or ``query_ids`` when given), ``j``
            positions in the index, ``dist`` their Hamming distances.
        """
        r = self.radius if radius is None else radius
        if r > self.radius or r < 0:
            raise DedupeError(f"search radius {r} is outside 0..{self.radius} of this index")
        q = np.ascontiguousarray(queries, dtype=np.uint64)
        qid = np.arange(q.size, dtype=np.int64) if query_ids is None else np.asarray(query_ids, np.int64)
        is_query = None
        if self_join and query_ids is not None:
            is_query = np.zeros(len(self), bool)
            is_query[qid] = True
        out_i, out_j, out_d = [], [], []
        m = len(self.bits)
        s = self.sub_radius
        step = max(1, _PROBES_PER_BLOCK // max(len(p) for p in self.patterns))
        for lo in range(0, q.size, step):
            qb = q[lo:lo + step]
            for c in range(m):
                qp, jp = self._probe(qb, c, r)
                if qp.size == 0:
                    continue
                gi = qid[lo + qp]
                if self_join:
                    keep = jp != gi
                    if is_query is not None:
                        keep &= ~is_query[jp] | (gi < jp)
                    elif query_ids is None:
                        keep &= gi < jp
                    qp, jp, gi = qp[keep], jp[keep], gi[keep]
                x = qb[qp] ^ self.hashes[jp]
                d = popcount(x)
                keep = d <= r
                for c2 in range(c):  # found already by an earlier chunk
                    keep &= popcount(self._chunk(x, self.bits[c2], self.shifts[c2])) > s
                out_i.append(gi[keep])
                out_j.append(jp[keep])
                out_d.append(d[keep])
        if not out_i:
            e = np.empty(0, np.int64)
            return Pairs(e, e.copy(), np.empty(0, np.uint8))
        return Pairs(np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d))


def all_pairs(hashes: np.ndarray, radius: int) -> Pairs:
    """Every unordered pair (i < j) of ``hashes`` within ``radius`` bits, by multi-index hashing."""
    index = HashIndex(hashes, radius)
    return index.search(index.hashes, radius, self_join=True)


def brute_force_pairs(hashes: np.ndarray, radius: int, deadline: float | None = None) -> tuple[Pairs, int]:
    """The baseline: every pair by blocked numpy popcount (no index).

    Args:
        hashes: uint64 array.
        radius: Hamming radius.
        deadline: ``time.perf_counter()`` value after which to stop early.

    Returns:
        (pairs found, rows completed); rows completed < len(hashes) when the deadline hit.
    """
    import time

    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    out_i, out_j, out_d = [], [], []
    done = 0
    block = max(1, (1 << 23) // max(1, h.size))  # ~64 MB of uint64 per step
    for lo in range(0, h.size, block):
        if deadline is not None and time.perf_counter() > deadline:
            break
        rows = h[lo:lo + block]
        rest = h[lo + 1:]
        d = popcount(rows[:, None] ^ rest[None, :])
        ii, jj = np.nonzero(d <= radius)
        jj = jj + lo + 1
        ii = ii + lo
        keep = jj > ii
        out_i.append(ii[keep])
        out_j.append(jj[keep])
        out_d.append(d[ii[keep] - lo, jj[keep] - lo - 1])
        done = min(h.size, lo + block)
    if not out_i:
        e = np.empty(0, np.int64)
        return Pairs(e, e.copy(), np.empty(0, np.uint8)), done
    return Pairs(np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)), done
