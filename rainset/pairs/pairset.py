"""The on-disk form of a pair set: ``STORE/pairs/NAME/`` with ``pairs.json`` and the image files.

Written by ``rainset pairs build``, read by ``rainset export --pairs``, ``rainset shards``,
``rainset evaluate`` and the report. Layout (paths in ``pairs.json`` are relative to the folder)::

    STORE/pairs/NAME/
      pairs.json                     # PairSet: name, method, threshold, ..., pairs[]
      rainy/<pair_id>.png            # the rainy frame, decoded losslessly
      clean/<pair_id>_clean.png      # the pseudo-clean target (file names contain "clean")
      mask/<pair_id>_mask.png        # validity mask, 8-bit, 255 = valid

``pair_id`` is ``<video_sha256[:16]>-<frame_index>``. ``accepted`` says whether the pair's
``quality`` reached the set's threshold; rejected pairs stay listed (with their files) so a user
can see what was left out and why. ``pairs.json`` is replaced atomically, last, so a folder
without it is an unfinished build.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PAIRSET_FORMAT = 1
INDEX_NAME = "pairs.json"


@dataclass(frozen=True)
class Pair:
    """One rainy frame and its pseudo-clean target."""

    pair_id: str
    capture_id: str | None  # the frame's capture row, when the frame was kept at ingest
    video_sha256: str
    frame_index: int
    frame_pts: float | None
    segment: int  # static segment number within the video
    rainy: str  # relative paths inside the pair set folder
    clean: str
    mask: str
    quality: float  # 0..1, higher is better; compared with the set's threshold
    accepted: bool
    residual_motion: float  # px: registration error estimate of this frame
    light_change: float  # |gain - 1|: frame light against the segment background
    masked_fraction: float  # share of the frame outside the validity mask
    rain_fraction: float  # share of fitted pixels set aside as rain


@dataclass(frozen=True)
class PairSet:
    """A named set of pairs built by one method from one selection of videos."""

    name: str
    method: str
    threshold: float
    created: str  # ISO 8601 UTC
    where: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    pairs: tuple[Pair, ...] = ()
    format: int = PAIRSET_FORMAT

    def accepted(self) -> list[Pair]:
        return [p for p in self.pairs if p.accepted]


def pair_id(video_sha256: str, frame_index: int) -> str:
    return f"{video_sha256[:16]}-{int(frame_index)}"


def pairs_root(store_root: str | os.PathLike[str]) -> Path:
    return Path(store_root) / "pairs"


def pairset_dir(store_root: str | os.PathLike[str], name: str) -> Path:
    return pairs_root(store_root) / name


def write_index(folder: str | os.PathLike[str], pairset: PairSet) -> Path:
    """Write ``pairs.json`` atomically (temporary file in the folder, fsync, rename)."""
    folder = Path(folder)
    data = asdict(pairset)
    data["pairs"] = [asdict(p) for p in pairset.pairs]
    fd, tmp = tempfile.mkstemp(prefix=".pairs-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        dest = folder / INDEX_NAME
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def read_index(folder: str | os.PathLike[str]) -> PairSet:
    """The pair set in ``folder``.

    Raises:
        FileNotFoundError: no ``pairs.json`` (no such set, or an unfinished build).
        ValueError: a ``pairs.json`` of another format or with missing fields.
    """
    path = Path(folder) / INDEX_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != PAIRSET_FORMAT:
        raise ValueError(f"{path}: pair set format {data.get('format')!r}, this release reads {PAIRSET_FORMAT}")
    try:
        pairs = tuple(Pair(**p) for p in data.pop("pairs"))
        return PairSet(**data, pairs=pairs)
    except TypeError as exc:
        raise ValueError(f"{path}: {exc}") from None
