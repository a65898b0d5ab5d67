"""Helpers shared by the labels tests: a catalog with plain capture rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rainset.catalog.models import Capture

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def add_captures(session, n: int, *, prefix: str = "c", source: str = "src", start: int = 0) -> list[str]:
    """Insert ``n`` capture rows with increasing created_at; returns their ids in queue order."""
    ids = []
    for i in range(start, start + n):
        cid = f"{prefix}{i:04d}"
        session.add(Capture(id=cid, representative_sha256=f"{i:064x}", format="jpeg", width=640, height=480,
                            bit_depth=8, source_name=source, make="Nimbus", model="N1", iso=100 * (1 + i % 4),
                            exposure_time=1 / 250, capture_time=f"2024-01-01T00:{i % 60:02d}:00",
                            created_at=BASE + timedelta(seconds=i)))
        ids.append(cid)
    session.flush()
    return ids


def claim_in_processes(url: str, user_ids: list[int], k: int, order: str = "default") -> list[tuple[int, list[str]]]:
    """Spawn one :func:`claim_until_empty` process per user behind a barrier; (user id, claimed ids) of each.

    Raises AssertionError with the workers' errors if any failed.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(user_ids)), ctx.Queue()
    procs = [ctx.Process(target=claim_until_empty, args=(url, uid, k, barrier, results, order)) for uid in user_ids]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=150) for _ in procs]
    for p in procs:
        p.join(30)
    assert [err for _, _, err in outcomes if err] == []
    return [(uid, caps) for uid, caps, _ in outcomes]


def claim_until_empty(url: str, user_id: int, k: int, barrier, results, order: str = "default") -> None:  # noqa: ANN001
    """Process worker: claim (in ``order``) and label captures until the queue is empty; put the claimed ids on ``results``."""
    from rainset.catalog.db import open_catalog
    from rainset.labels.queue import next_capture
    from rainset.labels.record import record_label
    from rainset.labels.users import get_user

    catalog = open_catalog(url, migrate=False)
    claimed: list[str] = []
    try:
        barrier.wait(60)
        while True:
            with catalog.session() as s:
                user = get_user(s, user_id)
                item = next_capture(s, user, k=k, order=order)
                if item is None:
                    break
                record_label(s, user, item.capture_id, "heavy", taxonomy=["heavy"], taxonomy_version=1)
                claimed.append(item.capture_id)
        results.put((user_id, claimed, None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        results.put((user_id, claimed, repr(exc)))
    finally:
        catalog.close()
