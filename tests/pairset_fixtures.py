"""A store with two real ingested videos (PyAV, a real fixture photo as the scene, rendered rain) and
pair sets written directly with ``rainset.pairs.pairset``: the rainy member is the decoded video
frame, the clean member the real rain-free photo, the mask marks a box (a "passer-by") invalid.

Used by the export, shards and evaluate tests of pairs; ``rainset pairs build`` is not needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import select

from rainset.capture.video import FrameWalk, open_video
from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.video import FrameSampling
from rainset.pairs.pairset import Pair, PairSet, pair_id, pairset_dir, write_index
from rainset.store import Store, init_store
from tests.video_helpers import background, rainy_frames, write_video

FRAMES = 6
EVERY = 2  # frames 0, 2, 4 become captures at ingest; 1, 3, 5 are pairs without a capture
BOX = (slice(60, 140), slice(100, 180))  # the invalid part of every mask (rows, columns)


def video_store(root: Path, videos: int = 3) -> Store:
    """A store that ingested ``videos`` real short videos (every second frame kept as a capture)."""
    src = root / "src"
    src.mkdir(parents=True)
    for v in range(videos):
        write_video(src / f"v{v}.mkv", rainy_frames(FRAMES, seed=10 + v))
    store = init_store(root / "store")
    ingest(store, [str(src)], IngestOptions(workers=0, video=FrameSampling(every=EVERY, min_change=0)))
    return store


def frame_captures(store: Store) -> dict[tuple[str, int], str]:
    """(video sha256, frame index) → capture id of every kept frame."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return {(v, i): cid for cid, v, i in s.execute(select(Capture.id, Capture.video_sha256,
                                                                   Capture.frame_index))}
    finally:
        catalog.close()


def decoded_frames(store: Store, video: str) -> list[tuple[int, float | None, np.ndarray]]:
    """(index, pts, RGB) of every frame of the stored video ``video``."""
    with open_video(str(store.object_path(video))) as container:
        return [(f.index, f.pts, f.rgb()) for f in FrameWalk(container)]


def _png(path: Path, rgb_or_grey: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rgb_or_grey if rgb_or_grey.ndim == 2 else cv2.cvtColor(rgb_or_grey, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img)


def write_pairset(store: Store, name: str, *, accepted: Callable[[int, int], bool] = lambda v, i: True,
                  quality: Callable[[int, int], float] = lambda v, i: 0.5 + 0.05 * i,
                  capture_ids: bool = True) -> PairSet:
    """A pair set over every frame of every video: rainy = the decoded frame, clean = the true scene.

    ``accepted(video number, frame index)`` decides acceptance; rejected pairs stay listed. Without
    ``capture_ids`` every pair's ``capture_id`` is None, even for frames kept at ingest.
    """
    folder = pairset_dir(store.root, name)
    folder.mkdir(parents=True)
    clean = background()
    mask = np.full(clean.shape[:2], 255, np.uint8)
    mask[BOX] = 0
    captures = frame_captures(store)
    videos = sorted({v for v, _ in captures})
    pairs = []
    for vn, video in enumerate(videos):
        for index, pts, rgb in decoded_frames(store, video):
            pid = pair_id(video, index)
            rel = {"rainy": f"rainy/{pid}.png", "clean": f"clean/{pid}_clean.png", "mask": f"mask/{pid}_mask.png"}
            _png(folder / rel["rainy"], rgb)
            _png(folder / rel["clean"], clean)
            _png(folder / rel["mask"], mask)
            cid = captures.get((video, index)) if capture_ids else None
            pairs.append(Pair(pair_id=pid, capture_id=cid, video_sha256=video, frame_index=index,  # type: ignore[arg-type]
                              frame_pts=pts, segment=0, quality=round(quality(vn, index), 3),
                              accepted=accepted(vn, index), residual_motion=0.1, light_change=0.01,
                              masked_fraction=float((mask == 0).mean()), rain_fraction=0.05, **rel))
    ps = PairSet(name=name, method="median", threshold=0.5, created="2026-12-06T00:00:00+00:00",
                 settings={"test": True}, pairs=tuple(pairs))
    write_index(folder, ps)
    return ps
