"""One browse page: the captures a ``--where`` filter matches, sorted and paged, with facet counts.

The filter language and its columns are those of ``rainset labels set --where``
(:data:`rainset.labels.bulk.FILTER_COLUMNS`), plus browse's own columns
(:data:`rainset.browse.snapshot.EXTRA_COLUMNS`) and ``split`` when a manifest version is chosen.
A filter is evaluated column-wise (:mod:`~rainset.browse.columnwise`: each leaf once per distinct
value of its column, comparisons with a literal by sorted codes), with the same evaluator's
semantics as the CLI (so the same rows match); a filter that cannot be taken column-wise (a column
compared with a column) is evaluated once per distinct combination of the values it reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from rainset.errors import FilterError, InvalidInputError, ManifestError
from rainset.labels.bulk import FILTER_COLUMNS
from rainset.manifests.versions import open_version
from rainset.store import Store
from rainset.where import compile_where

from rainset.browse.columnwise import ColumnIndex, evaluate
from rainset.browse.snapshot import EXTRA_COLUMNS, Snapshot, SnapshotCache, build_snapshot

BROWSE_COLUMNS: dict[str, type] = {**FILTER_COLUMNS, **EXTRA_COLUMNS, "split": str}

# order name -> (snapshot column, descending); a leading '-' sorts descending
ORDERS: dict[str, tuple[str, bool]] = {
    "capture_time": ("capture_time", False), "-capture_time": ("capture_time", True),
    "sharpness": ("sharpness", False), "-sharpness": ("sharpness", True),
    "confidence": ("suggestion_confidence", False), "-confidence": ("suggestion_confidence", True),
}
MAX_LIMIT = 500
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class BrowseItem:
    """One capture of a page: what its tile shows and where its preview and capture page are."""

    capture_id: str
    file_name: str | None
    path: str | None
    preview_key: str  # the representative's sha256: the preview's name in the store
    camera: str | None
    capture_time: str | None
    rain_type: str | None  # the consensus
    suggested_rain_type: str | None
    suggestion_confidence: float | None
    sharpness: float | None
    flags: tuple[str, ...]
    group_kinds: tuple[str, ...]
    split: str | None = None


@dataclass(frozen=True)
class FacetValue:
    """How many matching captures have ``value``, and the filter that selects them (to add with 'and')."""

    value: str | None
    count: int
    where: str


@dataclass(frozen=True)
class Facet:
    """Counts of one field over the matching captures, most frequent first."""

    name: str
    values: tuple[FacetValue, ...]


@dataclass(frozen=True)
class BrowsePage:
    """A page of matching captures, how many match in all, and the facets of all matches."""

    items: tuple[BrowseItem, ...]
    total: int
    offset: int
    limit: int
    order: str
    where: str | None
    version: str | None
    facets: tuple[Facet, ...]


def quote(text: str) -> str:
    """``text`` as a filter string literal."""
    return "'" + text.replace("'", "''") + "'"


def _equals(column: str) -> Callable[[Any], str]:
    return lambda v: f"{column} is null" if v is None else f"{column} = {quote(str(v))}"


def _member(column: str) -> Callable[[Any], str]:
    return lambda v: f"{quote(str(v))} in {column}"


def _camera_where(value: Any) -> str:
    make, model = value
    return " and ".join(f"{col} is null" if v is None else f"{col} = {quote(v)}"
                        for col, v in (("make", make), ("model", model)))


def _camera_name(value: tuple[str | None, str | None]) -> str | None:
    return " ".join(p for p in value if p) or None


def _facet(name: str, counts: Counter, where_of: Callable[[Any], str],
           label: Callable[[Any], str | None] = lambda v: v) -> Facet:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], "" if kv[0] is None else str(kv[0])))
    return Facet(name, tuple(FacetValue(label(v), n, where_of(v)) for v, n in ranked))


def _check_paging(limit: Any, offset: Any, order: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError(f"offset: expected a whole number from 0 to {MAX_OFFSET}, got {offset!r}")
    if order not in ORDERS:
        raise InvalidInputError(f"order: unknown order {order!r} (known: {', '.join(ORDERS)})")


def _mask(snap: Snapshot, columns: dict[str, list[Any]], where: str,
          index_of: Callable[[str], ColumnIndex]) -> np.ndarray:
    try:
        test = compile_where(where, BROWSE_COLUMNS)
    except FilterError as exc:
        raise InvalidInputError(f"where: {exc}") from exc
    used = sorted(test.columns_used)
    missing = [c for c in used if c not in columns]
    if missing:
        raise InvalidInputError(f"where: column {missing[0]!r} needs a manifest version (version=NAME)")
    if not used:
        return np.full(len(snap), test({}), dtype=bool)
    try:
        found = evaluate(test.tree, index_of, len(snap))
    except TypeError:  # a column of unhashable values (``labels``): row by row below
        found = None
    if found is not None:
        return found
    return np.fromiter(matches(test, used, columns), dtype=bool, count=len(snap))


def matches(test: Any, used: list[str], columns: dict[str, list[Any]]) -> Iterable[bool]:
    """Whether each capture matches ``test``: once per distinct combination of the ``used`` columns' values."""
    keys: list[Any] = list(zip(*(columns[c] for c in used)))
    try:
        passing = {k for k in set(keys) if test(dict(zip(used, k)))}
    except TypeError:  # unhashable values
        return [test(dict(zip(used, k))) for k in keys]
    return [k in passing for k in keys]


def version_splits(store: Store, name: str) -> dict[str, str]:
    """The split of each capture exported in manifest version ``name``.

    Raises:
        InvalidInputError: no such version (or it cannot be read).
    """
    try:
        rows = open_version(store, name).rows(["sample_id", "split"])
    except ManifestError as exc:
        raise InvalidInputError(f"version: {exc}") from exc
    return {row["sample_id"]: row["split"] for row in rows}


def browse(session: Session, *, where: str | None = None, order: str = "-capture_time", limit: int = 48,
           offset: int = 0, version: str | None = None, store: Store | None = None,
           cache: SnapshotCache | None = None) -> BrowsePage:
    """The active captures matching ``where``, sorted by ``order``, ``limit`` of them from ``offset``.

    Args:
        where: a filter over :data:`BROWSE_COLUMNS` (``None`` or blank: every capture), e.g.
            ``rain_type = 'heavy' and 'blurry' in flags``.
        order: one of :data:`ORDERS` (``-`` first: descending); captures without the value come last.
        version: a manifest version: adds the ``split`` column and facet (needs ``store``).
        cache: keeps the catalog snapshot between calls (without one, every call reads the catalog).

    Raises:
        InvalidInputError: a filter that does not parse or names an unknown column, an unknown order
            or version, a limit outside 1..500 or a negative offset.
    """
    _check_paging(limit, offset, order)
    if version is not None and store is None:
        raise InvalidInputError("version: browsing by version needs the store")
    snap = cache.get(session) if cache is not None else build_snapshot(session)
    columns = dict(snap.columns)
    if version is not None:
        assert store is not None
        splits = cache.splits(version, lambda n: version_splits(store, n)) if cache is not None \
            else version_splits(store, version)
        columns["split"] = [splits.get(cid) for cid in snap.ids]
    def index_of(name: str) -> ColumnIndex:
        if name == "split":
            return snap.index(name, lambda: columns["split"], key=("split", version))
        return snap.index(name)

    text = where.strip() if isinstance(where, str) else where
    mask = _mask(snap, columns, text, index_of) if text else np.ones(len(snap), dtype=bool)
    column, descending = ORDERS[order]
    positions = snap.order(column, descending)
    ordered = positions[mask[positions]][offset:offset + limit].tolist()
    page = [_item(snap, columns, i) for i in ordered]
    return BrowsePage(tuple(page), int(mask.sum()), offset, limit, order, text or None, version,
                      _facets(snap, columns, mask, index_of))


def _item(snap: Snapshot, columns: dict[str, list[Any]], i: int) -> BrowseItem:
    c = {name: values[i] for name, values in columns.items()}
    return BrowseItem(snap.ids[i], c["file_name"], snap.paths[i], snap.preview_keys[i],
                      _camera_name((c["make"], c["model"])), c["capture_time"], c["rain_type"],
                      c["suggested_rain_type"], c["suggestion_confidence"], c["sharpness"],
                      tuple(c["flags"] or ()), c["group_kinds"], c.get("split"))


def _facets(snap: Snapshot, columns: dict[str, list[Any]], mask: np.ndarray,
            index_of: Callable[[str], ColumnIndex]) -> tuple[Facet, ...]:
    def tally(index: ColumnIndex) -> list[tuple[Any, int]]:
        counts = np.bincount(index.codes[mask], minlength=len(index.values))
        return [(index.values[k], int(counts[k])) for k in np.flatnonzero(counts)]

    def count(name: str) -> Counter:
        out: Counter = Counter()
        for value, n in tally(index_of(name)):
            out[value] += n
        return out

    def count_members(name: str) -> Counter:
        out: Counter = Counter()
        for value, n in tally(index_of(name)):
            for member in value or ():
                out[member] += n
        return out

    cameras = snap.index("camera", lambda: list(zip(columns["make"], columns["model"])))
    camera: Counter = Counter()
    for value, n in tally(cameras):
        camera[value] += n
    facets = [
        _facet("rain_type", count("rain_type"), _equals("rain_type")),
        _facet("suggested_rain_type", count("suggested_rain_type"), _equals("suggested_rain_type")),
        _facet("camera", camera, _camera_where, _camera_name),
        _facet("source_name", count("source_name"), _equals("source_name")),
        _facet("flags", count_members("flags"), _member("flags")),
        _facet("group_kinds", count_members("group_kinds"), _member("group_kinds")),
    ]
    if "split" in columns:
        facets.append(_facet("split", count("split"), _equals("split")))
    return tuple(facets)
