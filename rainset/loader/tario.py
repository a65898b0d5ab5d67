"""Stream samples out of one WebDataset tar shard, optionally checking its sha256 on the way.

A shard is read once, front to back: ``tarfile`` in ``r|`` stream mode over a streaming fsspec file
(HTTP, object stores) or while hashing; in ``r:`` mode over a local file otherwise, which seeks over
the members it does not need instead of reading them. Members are grouped into samples
by key (the name up to the first dot of its last path part): ``KEY.json`` first, then the image,
then optional extras (original RAW bytes), which are skipped without being kept in memory.

A pair sample (``rainset shards`` of a pairs version) has ``KEY.rainy.png``, ``KEY.clean.png`` and
``KEY.mask.png`` instead of one image: the rainy frame is the record's image, the other two its
``pair`` members.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from rainset.errors import ShardsError
from rainset.loader.index import is_url, open_binary

IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "tif", "tiff", "webp"})
PAIR_PARTS = ("rainy", "clean", "mask")  # KEY.<part>.<image ext> of a pair sample
CHUNK = 1 << 20


class Record(NamedTuple):
    """One undecoded sample: key, image extension and bytes, the JSON row, and the shard it came from."""

    key: str
    ext: str
    data: bytes
    meta: dict[str, Any]
    url: str
    pair: dict[str, tuple[str, bytes]] | None = None  # a pair sample: {"clean": (ext, bytes), "mask": (ext, bytes)}


def _pair_part(ext: str) -> tuple[str, str] | None:
    """``"clean.png"`` → ("clean", "png"); None for any other member extension."""
    part, _, image = ext.partition(".")
    return (part, image) if part in PAIR_PARTS and image in IMAGE_EXTS else None


class _HashingReader:
    """A read-only file wrapper that feeds every byte it passes on into a sha256."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _split_name(name: str) -> tuple[str, str]:
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _check_sha(url: str, reader: _HashingReader, expected: str) -> None:
    reader.drain()
    got = reader.sha.hexdigest()
    if got != expected.lower():
        raise ShardsError(f"{url}: sha256 mismatch: expected {expected}, got {got} ({reader.size} bytes read); "
                          "the shard is damaged or was changed after it was written")


def read_shard(url: str, *, start: int = 0, stop: int | None = None, sha256: str | None = None,
               keep: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[Record]:
    """Yield the samples ``start <= i < stop`` of a shard, counting only samples that pass ``keep``.

    Args:
        url: a local path or fsspec URL of the tar shard.
        start, stop: the range of kept samples to yield (``stop=None``: to the end).
        sha256: when given, the whole shard is read and hashed and a mismatch raises ShardsError
            (after the samples before the damage were yielded: consumers see the error before the
            epoch ends, never a silently wrong epoch).
        keep: a predicate on the JSON row (the label filter); samples it rejects are not counted.

    Raises:
        ShardsError: naming ``url``: unreadable or damaged tar, a sample without JSON or image,
            or a sha256 mismatch.
    """
    try:
        handle = open_binary(url)
    except OSError as exc:
        raise ShardsError(f"{url}: cannot open the shard: {exc}") from exc
    with handle:
        reader = _HashingReader(handle) if sha256 else None
        # local files without a checksum: random access, so skipped members are seeked over, not read
        mode = "r:" if reader is None and not is_url(url) else "r|"
        try:
            yield from _samples(url, reader or handle, mode, start, stop, keep, done_early=sha256 is None)
        except (tarfile.TarError, UnicodeDecodeError, json.JSONDecodeError, EOFError) as exc:
            if reader is not None:
                _check_sha(url, reader, sha256)  # raises the clearer mismatch error when that is the cause
            raise ShardsError(f"{url}: damaged shard: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise ShardsError(f"{url}: reading the shard failed: {exc}") from exc
        if reader is not None:
            _check_sha(url, reader, sha256)


def _parts_note(parts: dict[str, tuple[str, bytes]]) -> str:
    if not parts:
        return ""
    return f" (a pair sample with only {', '.join(sorted(parts))}; it needs {', '.join(PAIR_PARTS)})"


def _samples(url: str, fileobj, mode: str, start: int, stop: int | None, keep, *,
             done_early: bool) -> Iterator[Record]:
    index = -1  # index of the current sample among kept samples
    key: str | None = None
    meta: dict[str, Any] | None = None
    wanted = False
    yielded = True
    parts: dict[str, tuple[str, bytes]] = {}
    with tarfile.open(fileobj=fileobj, mode=mode) as tar:
        for info in tar:
            if not info.isfile():
                continue
            name, ext = _split_name(info.name)
            if name != key:
                if wanted and not yielded:
                    raise ShardsError(f"{url}: sample {key!r} has no image member" + _parts_note(parts))
                key, meta, wanted, yielded = name, None, False, False
                if stop is not None and index + 1 >= stop and done_early:
                    return
            part = _pair_part(ext)
            if ext == "json":
                meta = json.loads(tar.extractfile(info).read())
                parts = {}
                if keep is None or keep(meta):
                    index += 1
                    wanted = start <= index and (stop is None or index < stop)
            elif meta is None and (ext in IMAGE_EXTS or part):
                raise ShardsError(f"{url}: sample {name!r} has its image before its JSON (expected KEY.json first)")
            elif ext in IMAGE_EXTS and wanted and not yielded:
                yielded = True
                yield Record(name, ext, tar.extractfile(info).read(), meta, url)
            elif part and wanted and not yielded:
                parts[part[0]] = (part[1], tar.extractfile(info).read())
                if len(parts) == len(PAIR_PARTS):
                    yielded = True
                    rainy_ext, rainy = parts.pop("rainy")
                    yield Record(name, rainy_ext, rainy, meta, url, parts)
    if wanted and not yielded:
        raise ShardsError(f"{url}: sample {key!r} has no image member" + _parts_note(parts))
    if stop is not None and index + 1 < stop:
        raise ShardsError(f"{url}: the shard ends after {index + 1} (filtered) samples, but the index promises "
                          f"at least {stop}: it is truncated or damaged, or the index does not belong to it")
