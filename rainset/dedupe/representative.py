"""The representative of a cluster: RAW over JPEG, then resolution, then sharpness (or the user's pick)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """What the choice looks at, per capture."""

    capture_id: str
    is_raw: bool
    pixels: int
    sharpness: float


def rank_key(c: Candidate) -> tuple:
    """Sort key: best first (RAW, more pixels, sharper, then the id for a stable tie-break)."""
    return (not c.is_raw, -c.pixels, -c.sharpness, c.capture_id)


def choose_representative(members: list[Candidate], override: str | None = None) -> str:
    """The representative's capture id: ``override`` when it is a member, else the best ranked."""
    ids = {m.capture_id for m in members}
    if override is not None and override in ids:
        return override
    return min(members, key=rank_key).capture_id
