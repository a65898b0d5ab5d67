#!/usr/bin/env python
"""Queue benchmark of the labels library (no web server): claim + label latency as a store fills.

Fills a fresh catalog with ``--captures`` plain capture rows, then ``--annotators`` annotators
take turns: ``next_capture`` (claim, with the position/total counts the UI shows) and
``record_label``, each in its own transaction, as the web app does per request. Reports the
median and p95 of claim+label at the start and after ``--fill`` of the store's slots are taken
(claims there have to skip past full captures), and of ``progress`` (exact counts, a scan). SQLite by default, ``--db URL`` for PostgreSQL
(analysed after the bulk fill, as autovacuum would do).

Usage: ``python bench/labels_queue.py [--captures 20000] [--annotators 3] [--steps 60] [--fill 0.5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from rainset.catalog.db import open_catalog  # noqa: E402
from rainset.catalog.labels_tables import Assignment  # noqa: E402
from rainset.catalog.models import Label  # noqa: E402
from rainset.labels.queue import next_capture, progress  # noqa: E402
from rainset.labels.record import record_label  # noqa: E402
from rainset.labels.users import add_user, get_user  # noqa: E402
from tests.labels_helpers import add_captures  # noqa: E402

KW = {"taxonomy": ["heavy"], "taxonomy_version": 1}


def _steps(catalog, users, n: int, k: int) -> list[float]:  # noqa: ANN001
    times = []
    for i in range(n):
        user = users[i % len(users)]
        t0 = time.perf_counter()
        with catalog.session() as s:
            item = next_capture(s, user, k=k)
            if item is None:
                break
            record_label(s, user, item.capture_id, "heavy", **KW)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _progress(catalog, users, n: int, k: int) -> list[float]:  # noqa: ANN001
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        with catalog.session() as s:
            progress(s, users[i % len(users)], k=k)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _prefill(catalog, ids: list[str], users, k: int) -> None:  # noqa: ANN001
    """Mark the first captures as fully labelled, in bulk (what many annotators would have done)."""
    with catalog.session() as s:
        fillers = [get_user(s, add_user(s, f"filler{j}", "annotator").id) for j in range(k)]
        s.execute(insert(Assignment), [{"capture_id": c, "slot": j, "user_id": f.id}
                                       for c in ids for j, f in enumerate(fillers)])
        s.execute(insert(Label), [{"capture_id": c, "user_id": f.id, "rain_type": "heavy", "attributes": [],
                                   "kind": "label", "taxonomy_version": 1} for c in ids for f in fillers])
    if catalog.engine.dialect.name == "postgresql":  # what autovacuum does after a bulk change
        with catalog.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _report(name: str, times: list[float]) -> str:
    p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
    return f"{name:<28} n={len(times):<4} median {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=20000)
    ap.add_argument("--annotators", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--fill", type=float, default=0.5)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--db", default=None, help="catalog URL (default: a temporary SQLite file)")
    args = ap.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='rainset-qbench-')}/catalog.db"
    catalog = open_catalog(url)
    with catalog.session() as s:
        ids = add_captures(s, args.captures)
        users = [get_user(s, add_user(s, f"a{i}", "annotator").id) for i in range(args.annotators)]
    print(f"{args.captures} captures, K={args.k}, {args.annotators} annotators, {catalog.engine.dialect.name}, "
          f"cpus={os.cpu_count()}")
    print(_report("claim+label, empty store", _steps(catalog, users, args.steps, args.k)))
    _prefill(catalog, ids[args.steps: int(len(ids) * args.fill)], users, args.k)
    print(_report(f"claim+label, {args.fill:.0%} filled", _steps(catalog, users, args.steps, args.k)))
    print(_report(f"progress(), {args.fill:.0%} filled", _progress(catalog, users, 10, args.k)))
    catalog.close()


if __name__ == "__main__":
    main()
