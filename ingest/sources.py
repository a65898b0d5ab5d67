"""Source discovery: turn folders, files and fsspec URLs into a sorted list of source files.

Local folders are walked without following a symlinked folder twice (symlink loops end);
dangling links and non-regular files (FIFOs, sockets, devices) are listed with a problem so
that they become rejects instead of hanging or vanishing. Files sharing a folder and stem
(``IMG_1.CR2`` + ``IMG_1.JPG``) are grouped into one unit: the RAW+JPEG pair of one shot.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections import defaultdict
from dataclasses import dataclass

from rainset.errors import SourceError
from rainset.local_uri import path_to_uri


def display_path(path: str) -> str:
    """The printable, storable URI of a local path: backslashes doubled, undecodable bytes as
    ``\\xNN`` (see :mod:`rainset.local_uri`), so two different paths never share a URI."""
    return path_to_uri(path)


@dataclass(frozen=True)
class SourceFile:
    """One file to ingest.

    Attributes:
        uri: the stable, printable identity stored in the catalog (absolute path or URL).
        location: what to open: a local path (may hold undecodable bytes) or an fsspec URL.
        protocol: ``local`` or the fsspec protocol (``http``, ``s3``, ``memory`` …).
        name: the file name (printable).
        source_dir: the printable folder (or URL prefix) holding it.
        size: bytes, or None when unknown.
        mtime: modification time, or None.
        problem: ``unreadable`` or ``not-a-regular-file`` when the file must not be opened.
        problem_detail: why.
    """

    uri: str
    location: str
    protocol: str
    name: str
    source_dir: str
    size: int | None
    mtime: float | None
    problem: str | None = None
    problem_detail: str | None = None

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0] if "." in self.name[1:] else self.name


def _local_entry(path: str) -> SourceFile:
    uri = display_path(path)
    folder, name = os.path.split(uri)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return SourceFile(uri, path, "local", name, folder, None, None, "unreadable", "dangling symbolic link")
    except OSError as exc:
        return SourceFile(uri, path, "local", name, folder, None, None, "unreadable", exc.strerror or str(exc))
    if not stat.S_ISREG(st.st_mode):
        return SourceFile(uri, path, "local", name, folder, None, st.st_mtime, "not-a-regular-file",
                          "not a regular file (FIFO, socket or device); not opened")
    return SourceFile(uri, path, "local", name, folder, st.st_size, st.st_mtime)


def walk_local(root: str) -> list[SourceFile]:
    """Every file under ``root`` (or ``root`` itself), sorted; symlinked folders followed once."""
    if not os.path.lexists(root):
        raise SourceError(f"{display_path(root)}: no such file or folder")
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        return [_local_entry(root)]
    out: list[SourceFile] = []
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # a symlink loop or a folder reached twice
        seen.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: os.fsencode(e.name))
        except OSError as exc:
            if folder == root:
                raise SourceError(f"{display_path(folder)}: cannot list folder: {exc.strerror}") from exc
            out.append(SourceFile(display_path(folder), folder, "local", os.path.basename(display_path(folder)),
                                  display_path(os.path.dirname(folder)), None, None, "unreadable",
                                  f"cannot list folder: {exc.strerror}"))
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.path)
            else:
                out.append(_local_entry(entry.path))
        stack.extend(reversed(subdirs))
    return sorted(out, key=lambda s: os.fsencode(s.location))


def walk_fsspec(url: str) -> list[SourceFile]:
    """Every file under an fsspec URL (``http://…/folder/``, ``s3://bucket/prefix``, ``memory://…``)."""
    import fsspec  # heavy (asyncio): kept out of the workers, which import this module for SourceFile

    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise SourceError(f"{url}: cannot open: {exc}") from exc
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    try:
        if fs.isdir(path):
            listing = fs.find(path, detail=True)
        else:
            listing = {path: fs.info(path)}
    except (OSError, ValueError) as exc:
        raise SourceError(f"{url}: cannot list: {exc}") from exc
    out = []
    for name, info in sorted(listing.items()):
        full = fs.unstrip_protocol(name) if protocol not in ("http", "https") else name
        folder, base = posixpath.split(full.rstrip("/"))
        mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
        mtime_f = float(mtime.timestamp()) if hasattr(mtime, "timestamp") else (float(mtime) if mtime else None)
        size = info.get("size")
        out.append(SourceFile(full, full, protocol, base, folder, int(size) if size is not None else None, mtime_f))
    return out


def discover(sources: list[str]) -> list[SourceFile]:
    """All files of all ``sources`` (folders, files, URLs), de-duplicated by uri, sorted."""
    found: dict[str, SourceFile] = {}
    for source in sources:
        if "://" in source and not source.startswith("file://"):
            files = walk_fsspec(source)
        else:
            files = walk_local(source[len("file://"):] if source.startswith("file://") else source)
        for f in files:
            found.setdefault(f.uri, f)
    return [found[k] for k in sorted(found)]


def group_units(files: list[SourceFile]) -> list[tuple[SourceFile, ...]]:
    """Group files of one folder with the same stem (RAW+JPEG of one shot) into units, in order."""
    groups: dict[tuple[str, str], list[SourceFile]] = defaultdict(list)
    order: list[tuple[str, str]] = []
    for f in files:
        key = (f.source_dir, f.stem.lower())
        if key not in groups:
            order.append(key)
        groups[key].append(f)
    return [tuple(groups[k]) for k in order]


__all__ = ["SourceFile", "discover", "group_units", "walk_local", "walk_fsspec", "display_path"]
