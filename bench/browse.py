#!/usr/bin/env python
"""Browse benchmark: the first page of ``browse()`` with a filter and all facets, at 100k captures.

Fills a fresh SQLite catalog in bulk (no images: capture, file, suggestion, label and group rows),
then times ``rainset.browse.browse`` as the web app calls it (one :class:`SnapshotCache`, a fresh
session per request): the cold first call (builds the snapshot), ``--requests`` warm calls,
each with a different filter, order and facets, and the first call after a new label (rebuilds).
Prints median and p95, the load average, and beside the snapshot builds this process's CPU time
(on a loaded machine the wall time mostly waits for a core).

Usage: ``python bench/browse.py [--captures 100000] [--requests 20]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from rainset.browse import SnapshotCache, browse  # noqa: E402
from rainset.catalog.db import open_catalog  # noqa: E402
from rainset.catalog.models import Capture, File, Group, GroupMember, Label  # noqa: E402
from rainset.catalog.rainstats_tables import Suggestion  # noqa: E402
from rainset.labels.users import add_user  # noqa: E402

TYPES = ["no-rain", "drizzle", "heavy", "streak", "droplets"]
CAMERAS = [("Nimbus", "N1"), ("Nimbus", "N2"), ("Cirrus", "C10"), ("Stratus", "S5"), (None, None)]
FLAGS = [[], [], [], ["blurry"], ["dark"], ["blurry", "clipped"]]
FILTERS = ["rain_type = 'heavy'", "suggested_rain_type in ('streak','drizzle') and iso >= 400",
           "'blurry' in flags", "make = 'Nimbus' and not labelled", "source_name like 'cam-1%'",
           "suggestion_confidence > 0.8", "'cluster' in group_kinds or rain_type is null"]
ORDERS = ["-capture_time", "capture_time", "-sharpness", "-confidence"]


def fill(catalog, n: int, seed: int = 0) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with catalog.session() as s:
        users = [add_user(s, f"u{j}", "annotator").id for j in range(3)]
        caps, files, sugg, labels = [], [], [], []
        for i in range(n):
            cid, sha = f"c{i:024x}", f"{i:064x}"
            make, model = CAMERAS[i % len(CAMERAS)]
            caps.append({"id": cid, "representative_sha256": sha, "format": "jpeg", "width": 4000, "height": 3000,
                         "bit_depth": 8, "source_name": f"cam-{i % 12}", "make": make, "model": model,
                         "iso": 100 * (1 + i % 8), "exposure_time": 1 / 250, "flags": FLAGS[i % len(FLAGS)],
                         "capture_time": (base + timedelta(seconds=rng.randrange(10**8))).strftime("%Y-%m-%dT%H:%M:%S"),
                         "created_at": base + timedelta(seconds=i), "warnings": []})
            files.append({"capture_id": cid, "uri": f"/data/cam-{i % 12}/day{i % 300}/IMG_{i:06d}.jpg",
                          "source_dir": f"/data/cam-{i % 12}", "stem": f"IMG_{i:06d}", "sha256": sha, "size": 10**6,
                          "format": "jpeg", "role": "raster", "storage": "copy", "width": 4000, "height": 3000,
                          "bit_depth": 8, "decoder": "pillow", "exif": {}, "sharpness": rng.random() * 500})
            if i % 10 < 7:
                sugg.append({"capture_id": cid, "rain_type": rng.choice(TYPES), "confidence": rng.random(),
                             "model": "bench", "features": "preview", "info": {}})
            if i % 5 == 0:
                for u in users[: 1 + i % 3]:
                    labels.append({"capture_id": cid, "user_id": u, "rain_type": rng.choice(TYPES[:3]),
                                   "attributes": [], "kind": "label", "taxonomy_version": 1})
        s.execute(insert(Capture), caps)
        s.execute(insert(File), files)
        s.execute(insert(Suggestion), sugg)
        s.execute(insert(Label), labels)
        members = []
        for g in range(n // 20):
            kind = ("cluster", "burst", "scene")[g % 3]
            gid = s.execute(insert(Group).values(kind=kind, info={})).inserted_primary_key[0]
            for j in range(3):
                members.append({"group_id": gid, "capture_id": f"c{(g * 20 + j):024x}", "relation": "burst",
                                "is_representative": j == 0})
        s.execute(insert(GroupMember), members)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=20)
    args = ap.parse_args()
    url = f"sqlite:///{tempfile.mkdtemp(prefix='rainset-browse-bench-')}/catalog.db"
    catalog = open_catalog(url)
    t0 = time.perf_counter()
    fill(catalog, args.captures)
    print(f"{args.captures} captures filled in {time.perf_counter() - t0:.1f} s, SQLite, cpus={os.cpu_count()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cache = SnapshotCache(ttl_s=3600)
    t0, c0 = time.perf_counter(), time.process_time()
    with catalog.session() as s:
        page = browse(s, where=FILTERS[0], cache=cache)
    print(f"cold first page (builds the snapshot): {(time.perf_counter() - t0) * 1000:.0f} ms "
          f"(CPU {time.process_time() - c0:.1f} s), {page.total} matches")
    times = []
    for r in range(args.requests):
        t0 = time.perf_counter()
        with catalog.session() as s:
            page = browse(s, where=FILTERS[r % len(FILTERS)], order=ORDERS[r % len(ORDERS)], limit=48, cache=cache)
        times.append((time.perf_counter() - t0) * 1000)
        assert len(page.items) == min(48, page.total)
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    print(f"warm first page with filter + facets: n={len(times)} median {statistics.median(times):.1f} ms  "
          f"p95 {p95:.1f} ms  max {max(times):.1f} ms")
    with catalog.session() as s:  # a catalog change: one new label moves the stamp
        s.execute(insert(Label).values(capture_id=f"c{1:024x}", user_id=1, rain_type="heavy", attributes=[],
                                       kind="label", taxonomy_version=1))
    t0, c0 = time.perf_counter(), time.process_time()
    with catalog.session() as s:
        page = browse(s, where=FILTERS[5], order="-confidence", cache=cache)
    print(f"first page after a catalog change (rebuilds the snapshot): {(time.perf_counter() - t0) * 1000:.0f} ms "
          f"(CPU {time.process_time() - c0:.1f} s)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    catalog.close()


if __name__ == "__main__":
    main()
