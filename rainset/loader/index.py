"""Read a shard folder's ``index.json`` from a local path or any fsspec URL.

The index is the contract between ``rainset shards`` (which writes it) and the loader (which plans
every epoch from its per-shard sample and label counts, without opening a single tar).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import fsspec

from rainset.errors import ShardsError

INDEX_KIND = "rainset-shard-index-v1"
INDEX_NAME = "index.json"
UNLABELLED = "unlabelled"


@dataclass(frozen=True)
class ShardInfo:
    """One tar shard: its absolute URL (or path), sample count, size, checksum and label counts."""

    url: str
    nsamples: int
    filesize: int | None = None
    sha256: str | None = None
    labels: dict[str, int] | None = None

    def kept(self, labels: frozenset[str] | None, exclude: frozenset[str]) -> int:
        """How many of this shard's samples pass a label filter (all of them without one)."""
        if labels is None and not exclude:
            return self.nsamples
        if self.labels is None:
            raise ShardsError(f"{self.url}: the index has no per-shard label counts, so it cannot be filtered by label")
        counts = self.labels
        chosen = counts.keys() if labels is None else labels
        return sum(counts.get(name, 0) for name in chosen if name not in exclude)


@dataclass(frozen=True)
class SplitIndex:
    """The shards of one split, in the order the writer listed them."""

    nsamples: int
    shards: tuple[ShardInfo, ...]


@dataclass(frozen=True)
class ShardIndex:
    """A parsed ``index.json``: where it was read from, its name, settings and splits."""

    base: str
    name: str
    manifest: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, SplitIndex] = field(default_factory=dict)

    def split(self, name: str) -> SplitIndex:
        """The named split, or a ShardsError listing the splits that exist."""
        if name not in self.splits:
            have = ", ".join(sorted(self.splits)) or "none"
            raise ShardsError(f"{self.base}: shards {self.name!r} have no split {name!r} (splits: {have})")
        return self.splits[name]


def is_url(source: str) -> bool:
    """True for ``proto://…`` sources (fsspec URLs), false for plain local paths."""
    return "://" in source


def join(base: str, relative: str) -> str:
    """Resolve a shard URL from the index against the folder that holds the index."""
    if is_url(relative) or os.path.isabs(relative):
        return relative
    if is_url(base):
        return base.rstrip("/") + "/" + relative
    return os.path.join(base, relative)


def open_binary(url: str):
    """Open ``url`` for sequential binary reading: a local file, or a streaming fsspec file."""
    if not is_url(url):
        return open(url, "rb")
    options = {"block_size": 0} if url.startswith(("http://", "https://")) else {}
    return fsspec.open(url, "rb", **options).open()


def _folder_of(source: str) -> str:
    text = os.fspath(source)
    if text.rstrip("/").endswith("/" + INDEX_NAME) or text == INDEX_NAME:
        return text.rstrip("/")[: -len(INDEX_NAME)].rstrip("/") or "."
    return text.rstrip("/") if is_url(text) else text


def _shard(base: str, row: dict[str, Any], where: str) -> ShardInfo:
    if not isinstance(row, dict) or "url" not in row or "nsamples" not in row:
        raise ShardsError(f"{where}: a shardlist entry lacks 'url' or 'nsamples': {row!r}")
    labels = row.get("labels")
    return ShardInfo(url=join(base, str(row["url"])), nsamples=int(row["nsamples"]),
                     filesize=row.get("filesize"), sha256=row.get("sha256"),
                     labels={str(k): int(v) for k, v in labels.items()} if labels is not None else None)


def parse_index(data: dict[str, Any], base: str, where: str) -> ShardIndex:
    """Build a ShardIndex from the decoded JSON of ``index.json`` found in folder ``base``."""
    if not isinstance(data, dict) or data.get("__kind__") != INDEX_KIND:
        kind = data.get("__kind__") if isinstance(data, dict) else type(data).__name__
        raise ShardsError(f"{where}: not a rainset shard index (__kind__ {kind!r}, expected {INDEX_KIND!r})")
    splits = {}
    for name, entry in (data.get("splits") or {}).items():
        shards = tuple(_shard(base, row, where) for row in entry.get("shardlist", []))
        total = sum(s.nsamples for s in shards)
        if int(entry.get("nsamples", total)) != total:
            raise ShardsError(f"{where}: split {name!r} says {entry['nsamples']} samples but its shards hold {total}")
        splits[name] = SplitIndex(nsamples=total, shards=shards)
    return ShardIndex(base=base, name=str(data.get("name", "")), manifest=data.get("manifest"),
                      settings=dict(data.get("settings") or {}), splits=splits)


def read_index(source: str | os.PathLike[str]) -> ShardIndex:
    """Read ``index.json`` of a shard folder.

    Args:
        source: the shard folder (``STORE/shards/NAME``), its ``index.json``, or an fsspec URL of
            either (``https://host/shards/v1``, ``s3://bucket/v1``, ``file:///data/v1``).

    Returns:
        The parsed index; shard URLs are resolved against the folder, so they can be opened as is.

    Raises:
        ShardsError: the index is missing, unreadable, or not a rainset shard index.
    """
    base = _folder_of(os.fspath(source))
    where = join(base, INDEX_NAME)
    try:
        with open_binary(where) as handle:
            raw = handle.read()
    except FileNotFoundError as exc:
        raise ShardsError(f"{where}: no shard index there ({exc})") from exc
    except OSError as exc:
        raise ShardsError(f"{where}: cannot read the shard index: {exc}") from exc
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardsError(f"{where}: the shard index is not valid JSON: {exc}") from exc
    return parse_index(data, base, where)
