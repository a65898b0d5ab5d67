#!/usr/bin/env python
"""Cluster review benchmark: the groups list page and one cluster's page, as the web app reads them.

Fills a fresh SQLite catalog in bulk (no images: capture, file and hash rows, clusters of 2–5 over
a fifth of the captures, bursts and scene groups), then times
:func:`rainset.annotate_ui.groups.group_page` (the first page of clusters, and a page deep in the
list) and :func:`rainset.annotate_ui.groups.group_detail` (random clusters), a fresh session per
call. Prints median and p95 and the load average.

Usage: ``python bench/groups_review.py [--captures 100000] [--requests 30]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from rainset.annotate_ui.groups import group_detail, group_page  # noqa: E402
from rainset.catalog.db import open_catalog  # noqa: E402
from rainset.catalog.models import Capture, File, Group, GroupMember, Hash  # noqa: E402
from rainset.dedupe.groups import group_key  # noqa: E402


def fill(catalog, n: int, seed: int = 0) -> list[str]:  # noqa: ANN001
    """Rows for ``n`` captures and their groups; returns the cluster keys."""
    rng = random.Random(seed)
    caps, files, hashes = [], [], []
    for i in range(n):
        cid, sha = f"c{i:024x}", f"{i:064x}"
        caps.append({"id": cid, "representative_sha256": sha, "format": "jpeg", "width": 4000, "height": 3000,
                     "bit_depth": 8, "source_name": f"cam-{i % 12}", "flags": [], "warnings": []})
        files.append({"capture_id": cid, "uri": f"/data/cam-{i % 12}/IMG_{i:06d}.jpg", "source_dir": f"/data/cam-{i % 12}",
                      "stem": f"IMG_{i:06d}", "sha256": sha, "size": 10**6, "format": "jpeg", "role": "raster",
                      "storage": "copy", "width": 4000, "height": 3000, "bit_depth": 8, "decoder": "pillow", "exif": {}})
        hashes.append({"sha256": sha, "phash": f"{rng.getrandbits(64):016x}", "dhash": f"{rng.getrandbits(64):016x}",
                       "pixel_hash": sha, "thumb": b"", "decoder": "pillow"})
    groups, members, keys = [], [], []
    gid, i = 1, 0
    while i < n // 5:  # clusters of 2-5 over a fifth of the captures, each also a scene group
        ids = [f"c{j:024x}" for j in range(i, min(i + rng.randint(2, 5), n))]
        i += len(ids)
        for kind in ("cluster", "scene"):
            key = group_key(kind, ids)
            info = {"key": key, "size": len(ids), **({"representative": ids[0], "override": False}
                                                        if kind == "cluster" else {})}
            groups.append({"id": gid, "kind": kind, "info": info})
            members += [{"group_id": gid, "capture_id": m, "relation": "near-duplicate" if kind == "cluster"
                         else "same-scene", "is_representative": kind == "cluster" and m == ids[0]} for m in ids]
            keys += [key] if kind == "cluster" else []
            gid += 1
    with catalog.session() as s:
        for table, rows in ((Capture, caps), (File, files), (Hash, hashes), (Group, groups), (GroupMember, members)):
            for lo in range(0, len(rows), 5000):
                s.execute(insert(table), rows[lo:lo + 5000])
    return keys


def timed(catalog, call) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    with catalog.session() as s:
        call(s)
    return (time.perf_counter() - t0) * 1000


def summary(name: str, times: list[float]) -> str:
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    return f"{name}: n={len(times)} median {statistics.median(times):.1f} ms  p95 {p95:.1f} ms  max {max(times):.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    catalog = open_catalog(f"sqlite:///{tempfile.mkdtemp(prefix='rainset-groups-bench-')}/catalog.db")
    t0 = time.perf_counter()
    keys = fill(catalog, args.captures)
    print(f"{args.captures} captures, {len(keys)} clusters filled in {time.perf_counter() - t0:.1f} s, SQLite, "
          f"cpus={os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = random.Random(1)
    first = [timed(catalog, lambda s: group_page(s, "cluster", 24, 0)) for _ in range(args.requests)]
    deep = [timed(catalog, lambda s: group_page(s, "cluster", 24, len(keys) - 30)) for _ in range(args.requests)]
    detail = [timed(catalog, lambda s: group_detail(s, rng.choice(keys))) for _ in range(args.requests)]
    for name, times in (("first clusters page (24)", first), ("last clusters page (24)", deep),
                        ("one cluster's page", detail)):
        print(summary(name, times))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    catalog.close()


if __name__ == "__main__":
    main()
