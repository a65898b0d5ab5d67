"""A column snapshot of every active capture, the rows a browse filters, and a cache of it.

The filter columns come from :func:`rainset.labels.bulk.capture_rows` (the same rows
``labels set --where`` filters), with browse's own columns beside them: the representative file's
name and path, its sharpness, the current suggestion and the kinds of group the capture is in.
Values are stored column by column (a list per column, one position per capture); list values
become tuples so that a filter can be evaluated once per distinct combination of values.

Building a snapshot reads the whole catalog (seconds at 100k captures); :class:`SnapshotCache`
keeps one and rebuilds it when the catalog's :func:`stamp` moves (a capture, file, label,
suggestion, group or removal added) or when it is older than ``ttl_s`` (changes made in place,
such as quality flags rewritten by ``dedupe`` or a suggestion replaced).
"""

from __future__ import annotations

import gc
import operator
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import PurePosixPath
from typing import Any, Callable, Iterator

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rainset.catalog.manifest_tables import Removal
from rainset.catalog.models import Capture, File, Group, GroupMember, Label
from rainset.catalog.rainstats_tables import Suggestion
from rainset.browse.columnwise import ColumnIndex, index_column
from rainset.labels.bulk import FILTER_COLUMNS, capture_rows

# browse's columns beside the bulk-label filter columns (name -> type, for the filter's type checks)
EXTRA_COLUMNS: dict[str, type] = {
    "file_name": str, "sharpness": float, "suggested_rain_type": str, "suggestion_confidence": float,
    "group_kinds": list,
}
# the columns browse sorts by: their orders are computed with the snapshot, not by the first request
SORT_COLUMNS = ("capture_time", "sharpness", "suggestion_confidence")


@dataclass
class Snapshot:
    """Every active capture as columns: ``columns[name][i]`` is capture ``ids[i]``'s value."""

    stamp: tuple
    built_at: float
    ids: list[str]
    columns: dict[str, list[Any]]
    paths: list[str | None]
    preview_keys: list[str]
    _orders: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _indexes: dict[Any, ColumnIndex] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, name: str, values: Callable[[], list[Any]] | None = None, key: Any = None) -> ColumnIndex:
        """The :class:`ColumnIndex` of column ``name`` (or of ``values()``, kept under ``key``), built once."""
        key = name if key is None else key
        with self._lock:
            found = self._indexes.get(key)
        if found is None:
            found = index_column(self.columns[name] if values is None else values())
            with self._lock:
                found = self._indexes.setdefault(key, found)
        return found

    def order(self, column: str, descending: bool) -> np.ndarray:
        """Positions sorted by ``column`` (nulls last either way, ties by capture id), computed once."""
        key = ("-" if descending else "") + column
        with self._lock:
            found = self._orders.get(key)
        if found is None:
            found = self._sorted(column, descending)
            with self._lock:
                found = self._orders.setdefault(key, found)
        return found

    def _id_rank(self) -> np.ndarray:
        with self._lock:
            found = self._orders.get("\0id")
        if found is None:
            ids = self.ids
            if all(map(operator.lt, ids, islice(ids, 1, None))):  # the catalog hands them sorted
                found = np.arange(len(ids))
            else:
                found = np.empty(len(ids), dtype=np.int64)
                found[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
            with self._lock:
                found = self._orders.setdefault("\0id", found)
        return found

    def _sorted(self, column: str, descending: bool) -> np.ndarray:
        index = self.index(column)
        if index.sorted_kind is not None:
            # by the codes: ``values[1:]`` are distinct (a set) and sorted, so a code is its value's rank
            codes = index.codes.astype(np.int64)
            by_value = -codes if descending else codes
            nulls_last = np.where(index.codes == 0, np.iinfo(np.int64).max, by_value)
            return np.lexsort((self._id_rank(), nulls_last))
        values, ids = self.columns[column], self.ids
        present = sorted((i for i in range(len(ids)) if values[i] is not None), key=lambda i: (values[i], ids[i]))
        if descending:  # descending by value, ties still by id
            present.sort(key=lambda i: values[i], reverse=True)
        return np.array(present + sorted((i for i in range(len(ids)) if values[i] is None), key=ids.__getitem__),
                        dtype=np.int64)


def file_name(path: str) -> str:
    """The last part of a file's path or URI (``\\`` counts as ``/``)."""
    path = path.replace("\\", "/")
    last = path.rpartition("/")[2]
    return last if last not in ("", ".") else PurePosixPath(path).name  # the plain split is the usual case


def stamp(session: Session) -> tuple:
    """A cheap fingerprint of what a snapshot shows: counts and newest ids of the tables it reads."""
    # only primary keys and counts (index scans): a full scan here would cost as much as a page
    parts = [
        select(func.count()).select_from(Capture).scalar_subquery(),
        select(func.max(Removal.id)).scalar_subquery(),
        select(func.max(File.id)).scalar_subquery(),
        select(func.max(Label.id)).scalar_subquery(),
        select(func.count()).select_from(Suggestion).scalar_subquery(),
        select(func.max(Group.id)).scalar_subquery(),
        select(func.count()).select_from(GroupMember).scalar_subquery(),
    ]
    return tuple(session.execute(select(*parts)).one())


_gc_lock = threading.Lock()
_gc_state = {"pauses": 0, "was_enabled": False}


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a snapshot is built (reference counting goes on).

    A build allocates millions of small containers (the rows, then the columns) and none of them
    is cyclic garbage, but the collector kept traversing the growing heap: 10-25 % of the build's
    CPU time at 100k captures (docs/benchmarks.md, "Browse"). Overlapping pauses (two caches
    building at once) nest: the last one to end restores the collector as the first found it.
    """
    with _gc_lock:
        if _gc_state["pauses"] == 0:
            _gc_state["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_state["pauses"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["pauses"] -= 1
            if _gc_state["pauses"] == 0 and _gc_state["was_enabled"]:
                gc.enable()


def build_snapshot(session: Session) -> Snapshot:
    """Read every active capture of the catalog into a :class:`Snapshot`."""
    with cyclic_gc_paused():
        return _build(session)


def _build(session: Session) -> Snapshot:
    mark = stamp(session)
    rows = capture_rows(session)
    ids = [row["id"] for row in rows]
    # ``split`` in browse is the split of a chosen manifest version (added per request), not the
    # split the next export would assign, which the shared filter rows carry
    names = [name for name in rows[0] if name != "split"] if rows else []
    columns: dict[str, list[Any]] = {}
    for name in names:  # every row has every name (one load_rows)
        values = list(map(operator.itemgetter(name), rows))
        if FILTER_COLUMNS.get(name, list) is list:
            values = [tuple(v) if v.__class__ is list else v for v in values]
        columns[name] = values
    position = {cid: i for i, cid in enumerate(ids)}
    n = len(ids)
    # the representative file (its path and content key) is the rows' own (``source_uri``: the oldest
    # file with the representative's content, "" for none); only its sharpness is read here
    paths: list[str | None] = [uri or None for uri in columns["source_uri"]] if rows else []
    keys = [sha if uri else "" for sha, uri in zip(columns["sha256"], paths)] if rows else []
    sharpness: list[float | None] = [None] * n
    reps = select(File.capture_id, File.sharpness).join(
        Capture, (Capture.id == File.capture_id) & (Capture.representative_sha256 == File.sha256)
    ).where(Capture.status == "active").order_by(File.id.desc())  # the oldest file wins: written last
    for cid, sharp in session.execute(reps):
        i = position.get(cid)
        if i is not None:
            sharpness[i] = sharp
    suggested: list[str | None] = [None] * n
    confidence: list[float | None] = [None] * n
    for cid, rain_type, conf in session.execute(select(Suggestion.capture_id, Suggestion.rain_type,
                                                       Suggestion.confidence)):
        i = position.get(cid)
        if i is not None:
            suggested[i], confidence[i] = rain_type, float(conf)
    kinds: list[set[str]] = [set() for _ in range(n)]
    for cid, kind in session.execute(select(GroupMember.capture_id, Group.kind)
                                     .join(Group, Group.id == GroupMember.group_id)):
        i = position.get(cid)
        if i is not None:
            kinds[i].add(kind)
    columns["file_name"] = [file_name(p) if p else None for p in paths]
    columns["sharpness"] = sharpness
    columns["suggested_rain_type"] = suggested
    columns["suggestion_confidence"] = confidence
    columns["group_kinds"] = [tuple(sorted(k)) for k in kinds]
    snap = Snapshot(mark, time.monotonic(), ids, columns, paths, keys)
    for column in SORT_COLUMNS:
        snap.order(column, False)
        snap.order(column, True)
    return snap


class SnapshotCache:
    """One :class:`Snapshot` kept between requests (thread-safe), and the splits of manifest versions.

    Args:
        ttl_s: the longest a snapshot is served without a rebuild, for changes the stamp cannot see.
    """

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._snapshot: Snapshot | None = None
        self._splits: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session) -> Snapshot:
        """The current snapshot: the kept one while the catalog's stamp is unchanged and it is fresh."""
        mark = stamp(session)
        with self._lock:
            kept = self._snapshot
            if kept is None or kept.stamp != mark or time.monotonic() - kept.built_at > self.ttl_s:
                kept = self._snapshot = build_snapshot(session)
            return kept

    def splits(self, name: str, load: Any) -> dict[str, str]:
        """The split of each capture in manifest version ``name`` (versions never change: kept for good)."""
        with self._lock:
            found = self._splits.get(name)
        if found is None:
            found = load(name)
            with self._lock:
                self._splits[name] = found
        return found
