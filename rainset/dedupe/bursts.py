"""Bursts: captures from one camera body (same serial) within N seconds of the previous one."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Shot:
    """What burst detection needs of a capture."""

    capture_id: str
    serial: str | None
    capture_time: str | None
    subsec: str | None = None


def shot_seconds(capture_time: str, subsec: str | None = None) -> float | None:
    """Seconds since the epoch of a camera's local ISO time (offset ignored: one body, one clock)."""
    try:
        t = datetime.fromisoformat(capture_time)
    except ValueError:
        return None
    seconds = t.replace(tzinfo=None).timestamp()
    if subsec and t.microsecond == 0 and subsec.isdigit():
        seconds += float("0." + subsec)
    return seconds


def find_bursts(shots: list[Shot], max_gap: float) -> list[list[str]]:
    """Bursts of ≥ 2 captures: same non-empty serial, each within ``max_gap`` s of the previous.

    Captures without a serial or a readable time are never in a burst (a model name alone does
    not identify a camera body).
    """
    by_body: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for s in shots:
        if not s.serial or not s.serial.strip() or not s.capture_time:
            continue
        t = shot_seconds(s.capture_time, s.subsec)
        if t is not None:
            by_body[s.serial.strip()].append((t, s.capture_id))
    bursts: list[list[str]] = []
    for items in by_body.values():
        items.sort()
        run = [items[0][1]]
        for (t0, _), (t1, cid) in zip(items, items[1:]):
            if t1 - t0 <= max_gap:
                run.append(cid)
            else:
                if len(run) > 1:
                    bursts.append(sorted(run))
                run = [cid]
        if len(run) > 1:
            bursts.append(sorted(run))
    return sorted(bursts, key=lambda b: b[0])
