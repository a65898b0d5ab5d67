"""The ``rainset dedupe`` driver: search new captures, confirm candidates, regroup, flag.

The index is searched to twice the threshold (:func:`scene_radius`): pairs within the threshold
are duplicate candidates; pairs beyond it can only become same-scene links.

Incremental: ``dedupe_indexed`` records which captures were queried (at which representative
file and threshold). A run builds the multi-index from every stored hash but queries only the
captures not yet recorded, confirms only the pairs they take part in, then rebuilds the groups
from all stored pairs. Changing the threshold starts over.

Exposure identity (:mod:`rainset.dedupe.exposure`): a pair whose EXIF capture times differ is at
most ``same-scene``, however alike its pixels.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from rainset.catalog.db import catalog_session
from rainset.catalog.dedupe_tables import DedupeIndexed, DedupePair
from rainset.catalog.models import Capture, File, Hash
from rainset.dedupe.confirm import compare_frames, read_grey, thumb_grey
from rainset.dedupe.fine import FINE_MAX_SCORE, fine_evidence
from rainset.dedupe.exposure import different_exposures
from rainset.dedupe.flags import QualityInput, is_low_entropy, quality_flags
from rainset.dedupe.groups import GroupStats, exposure_times, load_captures, regroup
from rainset.dedupe.index import HashIndex
from rainset.dedupe.originals import GreyCache, find_original
from rainset.errors import DedupeError
from rainset.store import Store

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DedupeResult:
    """What a dedupe run did (its ``--json`` output)."""

    threshold: int
    captures: int
    queried: int
    full_rebuild: bool
    low_entropy: int
    candidates: int
    relations: dict[str, int]
    fine: dict[str, float]
    groups: GroupStats
    flagged: dict[str, int]
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable summary (``rainset dedupe``)."""
        g = self.groups
        rel = ", ".join(f"{k}: {v}" for k, v in self.relations.items()) or "none"
        flags = ", ".join(f"{k}: {v}" for k, v in self.flagged.items()) or "none"
        return [f"dedupe (threshold {self.threshold}): {self.captures} captures, {self.queried} queried, "
                f"{self.candidates} new candidate pairs ({rel}) in {self.seconds:.1f} s",
                f"  {g.clusters} duplicate clusters ({g.clustered_captures} captures), {g.bursts} bursts, "
                f"{g.scenes} scene groups; {g.split_components} chained clusters split",
                f"  full-resolution check: {self.fine['checked']} pairs, {self.fine['same_scene']} found two exposures "
                f"({self.fine['seconds']:.1f} s)",
                f"  quality flags: {flags}"]


def scene_radius(threshold: int) -> int:
    """The wider pHash radius searched for same-scene links (heavy rain moves the hash more)."""
    return min(32, 2 * threshold)


def _reset_if_threshold_changed(session: Session, threshold: int) -> bool:
    other = session.scalar(select(DedupeIndexed.capture_id).where(DedupeIndexed.threshold != threshold).limit(1))
    if other is None:
        return session.scalar(select(DedupeIndexed.capture_id).limit(1)) is None
    session.execute(delete(DedupePair))
    session.execute(delete(DedupeIndexed))
    return True


def _new_captures(session: Session, caps: dict) -> list[str]:
    """Captures never queried, or whose representative file changed since (a RAW joined later)."""
    seen = dict(session.execute(select(DedupeIndexed.capture_id, DedupeIndexed.sha256)).all())
    new = sorted(cid for cid, c in caps.items() if seen.get(cid) != c.sha)
    changed = [cid for cid in new if cid in seen]
    if changed:
        session.execute(delete(DedupePair).where(or_(DedupePair.a.in_(changed), DedupePair.b.in_(changed))))
        session.execute(delete(DedupeIndexed).where(DedupeIndexed.capture_id.in_(changed)))
    return new


def _flag_new(session: Session, new: list[str], caps: dict) -> set[str]:
    """Set the quality flags of the new captures; returns those that are low-entropy."""
    low: set[str] = set()
    for lo in range(0, len(new), 500):
        chunk = new[lo:lo + 500]
        thumbs = dict(session.execute(select(Hash.sha256, Hash.thumb).where(
            Hash.sha256.in_([caps[c].sha for c in chunk]))).all())
        files = {r[0]: r for r in session.execute(select(File.sha256, File.sharpness, File.clip_low, File.clip_high,
                                                         File.width, File.height)
                                                  .where(File.sha256.in_([caps[c].sha for c in chunk])))}
        for capture in session.scalars(select(Capture).where(Capture.id.in_(chunk))):
            c = caps[capture.id]
            f = files.get(c.sha)
            q = QualityInput(width=f[4] if f else capture.width, height=f[5] if f else capture.height,
                             sharpness=f[1] if f else None, clip_low=f[2] if f else None,
                             clip_high=f[3] if f else None, thumb=thumbs.get(c.sha), phash=c.phash)
            flags = quality_flags(q)
            if list(capture.flags or []) != flags:
                capture.flags = flags
            if is_low_entropy(q.thumb, q.phash):
                low.add(capture.id)
    return low


def _low_entropy_known(session: Session, ids: set[str]) -> set[str]:
    rows = session.execute(select(Capture.id, Capture.flags).where(Capture.id.in_(ids)))
    return {cid for cid, flags in rows if "low-entropy" in (flags or [])}


@dataclass
class FineStats:
    """Pairs the previews accepted that were looked at again on full-resolution tiles."""

    checked: int = 0
    same_scene: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"checked": self.checked, "same_scene": self.same_scene, "seconds": round(self.seconds, 3)}


def _confirmer(store: Store, session: Session, fine: FineStats) -> Callable[[str, str, bool], tuple[str, float, float]]:
    """compare(sha_a, sha_b, may_be_copy) -> (relation, score, corr) on the previews (thumbnails if
    missing); a pair the previews call ``near-duplicate`` is looked at again on full-resolution tiles
    (:mod:`rainset.dedupe.fine`) when ``may_be_copy`` (within the threshold, exposures compatible)."""

    @lru_cache(maxsize=256)
    def grey(sha: str) -> np.ndarray:
        img = read_grey(store.preview_path(sha))
        if img is None:
            thumb = session.scalar(select(Hash.thumb).where(Hash.sha256 == sha))
            if thumb is None:
                raise DedupeError(f"no preview and no thumbnail for content {sha}; run 'rainset verify'")
            img = thumb_grey(thumb)
        return img

    originals = lru_cache(maxsize=1024)(lambda sha: find_original(store, session, sha))
    decoded = GreyCache()

    def compare(a: str, b: str, may_be_copy: bool = True) -> tuple[str, float, float]:
        oa, ob = originals(a), originals(b)
        if oa is not None and ob is not None and oa.size[0] * oa.size[1] > ob.size[0] * ob.size[1]:
            a, b, oa, ob = b, a, ob, oa  # the smaller original is the reference: copies compare at its size
        c = compare_frames(grey(a), grey(b))
        if c.relation != "near-duplicate" or not may_be_copy or oa is None or ob is None or c.warp is None:
            return c.relation, c.score, c.corr
        t0 = time.perf_counter()
        try:
            ev = fine_evidence(lambda size: decoded.get(oa, size), oa.size, lambda size: decoded.get(ob, size),
                               ob.size, c.warp, c.size, grey(a), grey(b))
        except (OSError, ValueError):  # the original went unreadable since ingest: the previews decide
            ev = None
        fine.seconds += time.perf_counter() - t0
        if ev is None:
            return c.relation, c.score, c.corr
        fine.checked += 1
        if ev.score > FINE_MAX_SCORE:  # fresh rain at the scale of the streaks: two exposures
            fine.same_scene += 1
            return "same-scene", c.score, c.corr
        return c.relation, c.score, c.corr

    return compare


def dedupe(store: Store, threshold: int | None = None, *, progress: Progress | None = None) -> DedupeResult:
    """Find exact and near-duplicates, bursts and scenes; write groups and quality flags.

    Args:
        store: the opened store.
        threshold: pHash Hamming threshold (default: the store's ``near_duplicate_threshold``).
        progress: ``progress(done, total)`` over the candidate pairs being confirmed.

    Returns:
        DedupeResult: counts of this run (``queried`` = captures looked up in the index).

    Raises:
        DedupeError: a threshold outside 0..32, or a capture with neither preview nor thumbnail.
    """
    t0 = time.perf_counter()
    t = store.settings["near_duplicate_threshold"] if threshold is None else threshold
    if not isinstance(t, int) or not 0 <= t <= 32:
        raise DedupeError(f"threshold must be an integer between 0 and 32, got {t!r}")
    with catalog_session(store.db_url) as session:
        full = _reset_if_threshold_changed(session, t)
        caps = load_captures(session)
        new = _new_captures(session, caps)
        low_new = _flag_new(session, new, caps)
        low = low_new | _low_entropy_known(session, set(caps) - set(new))
        ids = sorted(cid for cid in caps if cid not in low)
        pos = {cid: i for i, cid in enumerate(ids)}
        scene_t = scene_radius(t)
        index = HashIndex(np.array([caps[c].phash for c in ids], np.uint64), scene_t)
        qids = np.array([pos[c] for c in new if c in pos], np.int64)
        found = index.search(index.hashes[qids], scene_t, self_join=True, query_ids=qids)
        fine = FineStats()
        compare = _confirmer(store, session, fine)
        times = exposure_times(caps)
        relations: Counter[str] = Counter()
        total = len(found)
        for k, (i, j, d) in enumerate(zip(found.i.tolist(), found.j.tolist(), found.dist.tolist())):
            a, b = sorted((ids[i], ids[j]))
            if caps[a].pixel_hash == caps[b].pixel_hash:
                rel, score, corr = "exact", 0.0, 1.0
            else:
                two_exposures = different_exposures(times.get(a), times.get(b))
                rel, score, corr = compare(caps[a].sha, caps[b].sha, d <= t and not two_exposures)
            if d > t and rel in ("exact", "near-duplicate"):  # beyond the dedupe threshold: scene link only
                rel = "same-scene"
            if rel in ("exact", "near-duplicate") and different_exposures(times.get(a), times.get(b)):
                rel = "same-scene"  # capture times differ: two exposures, whatever the pixels say
            session.add(DedupePair(a=a, b=b, distance=int(d), relation=rel, score=score, corr=corr))
            relations[rel] += 1
            if progress and (k % 50 == 0 or k + 1 == total):
                progress(k + 1, total)
        session.add_all(DedupeIndexed(capture_id=c, sha256=caps[c].sha, threshold=t) for c in new)
        session.flush()
        stats = regroup(session, t, float(store.settings["burst_seconds"]))
        flagged: Counter[str] = Counter()
        for flags in session.scalars(select(Capture.flags).where(Capture.status == "active")):
            flagged.update(flags or [])
    return DedupeResult(threshold=t, captures=len(caps), queried=len(new), full_rebuild=full, low_entropy=len(low),
                        candidates=total, relations=dict(sorted(relations.items())), fine=fine.to_dict(), groups=stats,
                        flagged=dict(sorted(flagged.items())), seconds=round(time.perf_counter() - t0, 3))
