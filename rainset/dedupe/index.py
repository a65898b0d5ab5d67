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

import time
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from rainset.errors import DedupeError

MAX_CHUNK_BITS = 22
_PROBES_PER_BLOCK = 1 << 21  # query × pattern probes per vectorised step
_MAX_ENTRIES = 1 << 26  # index entries per chunk (int32 each)
_CANDIDATE_COST = 15.0
_ENTRY_COST = 15.0


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


def _ball(bits: int, radius: int) -> int:
    return sum(comb(bits, k) for k in range(min(radius, bits) + 1))


def plan_chunks(n: int, radius: int) -> tuple[int, int]:
    """(chunks, index-side flip radius) that minimise the expected work for a self-join of ``n`` hashes.

    Within a chunk, hashes at most ``s`` bits apart are found by storing each hash under every
    key within ``si`` bits (the index side) and probing every key within ``s - si`` bits (the
    query side): ``si = 0`` is plain multi-index hashing; ``si = s // 2`` meets in the middle,
    far fewer probes for more entries (it wins while the buckets stay sparse).
    """
    best, best_cost = (1, 0), float("inf")
    for m in range(max(1, -(-64 // MAX_CHUNK_BITS)), 65):
        bits = _chunk_bits(m)
        if max(bits) > MAX_CHUNK_BITS:
            continue
        s = radius // m
        for si in sorted({0, s // 2}):
            cost = 0.0
            for b in bits:
                entries = max(n, 1) * _ball(b, si)
                probes = _ball(b, s - si)
                # measured weights: a candidate costs ~15 probes, an index entry ~15 (sorting)
                cost += n * probes * (1.0 + _CANDIDATE_COST * entries / 2.0 ** b) + _ENTRY_COST * entries + 2.0 ** b

            if entries > _MAX_ENTRIES:
                continue
            if cost < best_cost:
                best, best_cost = (m, si), cost
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

    def __init__(self, hashes: np.ndarray, radius: int, chunks: int | None = None, index_flips: int = 0) -> None:
        """Build the index.

        Args:
            hashes: uint64 array (positions are the ids the searches return).
            radius: the largest Hamming distance searches will ask for (0..32).
            chunks: number of chunks (with ``index_flips``); default both from :func:`plan_chunks`.
            index_flips: bits flipped on the index side (0..radius // chunks), with ``chunks``.
        """
        if not 0 <= radius <= 32:
            raise DedupeError(f"Hamming radius must be between 0 and 32, got {radius}")
        self.hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        self.radius = radius
        m, si = plan_chunks(len(self.hashes), radius) if chunks is None else (chunks, index_flips)
        if not 1 <= m <= 64 or max(_chunk_bits(m)) > MAX_CHUNK_BITS:
            raise DedupeError(f"chunks must be between {-(-64 // MAX_CHUNK_BITS)} and 64, got {m}")
        if not 0 <= si <= radius // m:
            raise DedupeError(f"index_flips must be between 0 and {radius // m}, got {si}")
        self.bits = _chunk_bits(m)
        self.shifts = [sum(self.bits[:k]) for k in range(m)]
        self.sub_radius = radius // m
        self.index_flips = si
        n = len(self.hashes)
        idx_type = np.int32 if n < 2**31 else np.int64
        self.order: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []
        self.patterns: list[np.ndarray] = []  # query-side flips
        self.occupied: list[np.ndarray] = []  # one bool per bucket: a small table, mostly in cache
        for b, sh in zip(self.bits, self.shifts):
            base = self._chunk(self.hashes, b, sh)
            flips = _flip_patterns(b, min(si, b))
            keys = (base[None, :] ^ flips[:, None]).astype(np.uint32).ravel()
            counts = np.bincount(keys, minlength=1 << b)
            offsets = np.zeros((1 << b) + 1, np.int64 if keys.size >= 2**31 else np.int32)
            np.cumsum(counts, out=offsets[1:])
            self.offsets.append(offsets)
            self.occupied.append(counts > 0)
            order = np.argsort(keys, kind="stable")
            self.order.append((order % max(n, 1)).astype(idx_type) if flips.size > 1 else order.astype(idx_type))
            self.patterns.append(_flip_patterns(b, min(self.sub_radius - si, b)))

    @staticmethod
    def _chunk(h: np.ndarray, bits: int, shift: int) -> np.ndarray:
        return (h >> np.uint64(shift)) & np.uint64((1 << bits) - 1)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def _probe(self, q: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Candidates from chunk ``c`` for queries ``q``: (query position, index position, query flip or None)."""
        b, sh, pats = self.bits[c], self.shifts[c], self.patterns[c]
        keys = (self._chunk(q, b, sh)[:, None] ^ pats[None, :]).astype(np.uint32).ravel()
        hit = np.flatnonzero(np.take(self.occupied[c], keys))
        if hit.size == 0:
            e = np.empty(0, np.int64)
            return e, e, np.empty(0, np.uint64)
        keys = keys[hit].astype(np.int64)
        starts = np.take(self.offsets[c], keys).astype(np.int64)
        lens = np.take(self.offsets[c], keys + 1).astype(np.int64) - starts
        qpos = np.repeat(hit // pats.size, lens)
        flip = np.repeat(pats[hit % pats.size], lens) if self.index_flips else None
        ends = np.cumsum(lens)
        src = np.repeat(starts - (ends - lens), lens)  # bucket start minus the run's output offset
        src += np.arange(int(ends[-1]), dtype=np.int64)
        return qpos, np.take(self.order[c], src).astype(np.int64), flip

    def _canonical_flip(self, diff: np.ndarray) -> np.ndarray:
        """The query-side share of a chunk difference: its lowest ``sub_radius - index_flips`` set bits."""
        rest = diff.copy()
        canon = np.zeros_like(diff)
        for _ in range(self.sub_radius - self.index_flips):
            low = rest & (~rest + np.uint64(1))
            canon |= low
            rest ^= low
        return canon

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
                qp, jp, flip = self._probe(qb, c)
                if qp.size == 0:
                    continue
                if self_join:  # cheap filters first: they halve the random reads below
                    gi = qid[lo + qp] if query_ids is not None else qp + lo
                    keep = jp != gi
                    if is_query is not None:
                        keep &= ~is_query[jp] | (gi < jp)
                    elif query_ids is None:
                        keep &= gi < jp
                    keep = np.flatnonzero(keep)
                    qp, jp = qp[keep], jp[keep]
                    flip = flip[keep] if flip is not None else None
                x = np.take(qb, qp) ^ np.take(self.hashes, jp)
                d = popcount(x)
                keep = np.flatnonzero(d <= r)  # few survive: the remaining checks run on them only
                qp, jp, x, d = qp[keep], jp[keep], x[keep], d[keep]
                ok = np.ones(keep.size, bool)
                if flip is not None:  # a pair meets under several flip splits: keep the canonical one
                    ok &= flip[keep] == self._canonical_flip(self._chunk(x, self.bits[c], self.shifts[c]))
                for c2 in range(c):  # found already by an earlier chunk
                    ok &= popcount(self._chunk(x, self.bits[c2], self.shifts[c2])) > s
                out_i.append(qid[lo + qp[ok]])
                out_j.append(jp[ok])
                out_d.append(d[ok])
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
