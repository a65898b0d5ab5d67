"""Where the original of a content lives, and its grey decode at a requested size (for the fine evidence).

Copy mode keeps the bytes in ``objects/``; link mode reads them where they were ingested from (a
local path). RAW files, remote URIs and missing files have no readable original here: their pairs
are decided on the previews alone.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import File
from rainset.dedupe.fine import decode_grey
from rainset.local_uri import uri_to_path
from rainset.store import Store

_RASTER = ("jpeg", "png", "tiff")


@dataclass(frozen=True)
class Original:
    """A readable original: its path, upright (width, height) and EXIF orientation."""

    path: Path
    size: tuple[int, int]
    orientation: int | None


def find_original(store: Store, session: Session, sha: str) -> Original | None:
    """The readable original of content ``sha`` (None for RAW, remote or missing files)."""
    row = session.execute(select(File.uri, File.width, File.height, File.format, File.exif, File.storage)
                          .where(File.sha256 == sha).order_by(File.id).limit(1)).first()
    if row is None or (row.format or "").lower() not in _RASTER:
        return None
    orientation = (row.exif or {}).get("orientation") if isinstance(row.exif, dict) else None
    path = store.object_path(sha)
    if not path.is_file():
        if "://" in row.uri and not row.uri.startswith("file://"):
            return None
        path = Path(uri_to_path(row.uri.removeprefix("file://")))
        if not path.is_file():
            return None
    return Original(path, (int(row.width), int(row.height)), orientation if isinstance(orientation, int) else None)


class GreyCache:
    """Grey decodes of originals at the sizes asked, the last few kept (each original decoded once a run
    when its pairs come together, as the index returns them)."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._items: OrderedDict[tuple[Path, tuple[int, int]], np.ndarray] = OrderedDict()

    def get(self, original: Original, size: tuple[int, int]) -> np.ndarray:
        key = (original.path, size)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        img = decode_grey(original.path, size, original.orientation)
        self._items[key] = img
        while len(self._items) > self.keep:
            self._items.popitem(last=False)
        return img
