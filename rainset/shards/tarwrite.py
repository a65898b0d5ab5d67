"""Deterministic tar shards: fixed member metadata, sha256 computed while writing.

Every member is a regular file with mtime 0, uid/gid 0, empty user/group names and mode 0o444,
in USTAR format, so the same members in the same order give the same bytes on any machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 20 blocks: tar files end on a record boundary


def member_bytes(size: int) -> int:
    """Bytes one member takes in the tar: a header block plus its data padded to whole blocks."""
    return BLOCK + -(-size // BLOCK) * BLOCK


def closed_size(offset: int) -> int:
    """Size of a tar whose members end at ``offset``, once closed (two zero blocks, record padding)."""
    end = offset + 2 * BLOCK
    return -(-end // RECORD) * RECORD


class _HashingFile:
    """A write-only file that hashes what goes through it (tarfile needs write and tell)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._pos = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self._pos += len(data)
        return self._fh.write(data)

    def tell(self) -> int:
        return self._pos


@dataclass(frozen=True)
class ShardInfo:
    """One finished shard, as index.json lists it."""

    url: str
    nsamples: int
    filesize: int
    sha256: str
    labels: dict[str, int]
    images: dict[str, int]

    def to_dict(self) -> dict:
        return {"url": self.url, "nsamples": self.nsamples, "filesize": self.filesize, "sha256": self.sha256,
                "labels": dict(sorted(self.labels.items())), "images": dict(sorted(self.images.items()))}


class ShardWriter:
    """Writes one tar shard; ``add_sample`` appends a sample's members in the given order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = open(path, "wb")
        self._hashing = _HashingFile(self._fh)
        self._tar = tarfile.open(fileobj=self._hashing, mode="w", format=tarfile.USTAR_FORMAT)  # type: ignore[call-overload]
        self.nsamples = 0
        self.labels: Counter[str] = Counter()
        self.images: Counter[str] = Counter()

    @property
    def offset(self) -> int:
        """Bytes written so far (members only)."""
        return self._tar.offset

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o444
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        self._tar.addfile(info, io.BytesIO(data))

    def add_sample(self, key: str, members: list[tuple[str, bytes]], label: str, image_ext: str) -> None:
        """Append ``KEY.ext`` for each (ext, bytes) of one sample; count its label and image type."""
        for ext, data in members:
            self._add(f"{key}.{ext}", data)
        self.nsamples += 1
        self.labels[label] += 1
        self.images[image_ext] += 1

    def close(self) -> ShardInfo:
        """Finish the tar, fsync it and return its index entry."""
        self._tar.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return ShardInfo(self.path.name, self.nsamples, self._hashing.tell(), self._hashing.sha256.hexdigest(),
                         dict(self.labels), dict(self.images))

    def abort(self) -> None:
        """Close without caring about the content (the build folder is being thrown away)."""
        self._fh.close()
