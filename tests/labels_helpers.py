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
