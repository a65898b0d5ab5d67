"""The per-file stage: bytes in, a FileResult out. Runs in worker processes (local or Dask).

Workers never open the catalog. They write only content-addressed files (the original into
``objects/``, the preview into ``previews/``), atomically and never over an existing one, so a
killed run leaves nothing half-written and a rerun writes the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import struct
from dataclasses import dataclass

import cv2
import fsspec

from rainset.capture import decode_working, make_preview, read_exif, sniff_format
from rainset.errors import RejectError, exception_text
from rainset.hashing import compute_hashes
from rainset.quality import measure_quality
from rainset.records import FileResult
from rainset.store import Store, put_object, write_atomic

from rainset.ingest.sources import SourceFile


DECODER_ERRORS: tuple[type[BaseException], ...] = (
    cv2.error, ValueError, OverflowError, MemoryError, EOFError, struct.error, OSError)


@dataclass(frozen=True)
class StageOptions:
    """What a worker needs to know beyond the file itself."""

    link: bool = False
    max_pixels: int = 250_000_000
    working_min_side: int = 1000
    preview_max_side: int = 1024
    preview_quality: int = 85
    max_decode_bytes: int = 1 << 30


NOT_REGULAR_DETAIL = "not a regular file (FIFO, socket or device); not read"


class NotRegularFile(Exception):
    """The path names a FIFO, socket or device when opened (replaced after discovery).

    Attributes:
        mtime: its modification time as seen then (None when it could not be told).
    """

    def __init__(self, mtime: float | None) -> None:
        super().__init__(NOT_REGULAR_DETAIL)
        self.mtime = mtime


@dataclass(frozen=True)
class SourceBytes:
    """What was read from one source, and its size and mtime as seen on the opened descriptor."""

    data: bytes
    size: int | None
    mtime: float | None


def read_local(path: str) -> SourceBytes:
    """Read a local file through one descriptor opened without blocking.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer; the
    descriptor is then checked with ``fstat`` and read only when it is a regular file, so what
    was checked is what is read even if the path was replaced after discovery. Symbolic links
    are followed, as discovery follows them. Size and mtime come from the same descriptor, after
    reading: a file changed or cut short meanwhile is recorded as it was read.

    Raises:
        NotRegularFile: a FIFO, socket or device (opening a socket fails with ENXIO).
        OSError: cannot be opened or read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (or a device without its driver)
            try:
                mtime: float | None = os.stat(path).st_mtime
            except OSError:
                mtime = None
            raise NotRegularFile(mtime) from exc
        raise
    with os.fdopen(fd, "rb") as fh:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise NotRegularFile(opened.st_mtime)
        data = fh.read()
        st = os.fstat(fd)
    return SourceBytes(data, st.st_size, st.st_mtime)


def read_source(src: SourceFile) -> SourceBytes:
    """The whole file, from a local path (see :func:`read_local`) or any fsspec URL."""
    if src.protocol == "local":
        return read_local(src.location)
    with fsspec.open(src.location, "rb") as fh:
        return SourceBytes(fh.read(), src.size, src.mtime)


def _reject(src: SourceFile, reason: str, detail: str, *, size: int | None = None, sha: str | None = None,
            mtime: float | None = None) -> FileResult:
    return FileResult(uri=src.uri, size=size if size is not None else (src.size or 0),
                      mtime=mtime if mtime is not None else src.mtime,
                      sha256=sha, reject_reason=reason, reject_detail=detail)


def worker_died(unit: tuple[SourceFile, ...], why: str) -> tuple[FileResult, ...]:
    """The results of a unit whose worker process died on it even when retried alone."""
    detail = f"the worker process died on this file twice ({why}); not retried again"
    return tuple(_reject(src, "worker-died", detail) for src in unit)


def process_file(src: SourceFile, store: Store, options: StageOptions) -> FileResult:
    """Fingerprint, decode, read EXIF, hash, measure, preview and store one file.

    Never raises for a bad file: every problem becomes a reject result with a reason.
    """
    if src.problem:
        return _reject(src, src.problem, src.problem_detail or src.problem)
    try:
        read = read_source(src)
    except NotRegularFile as exc:
        return _reject(src, "not-a-regular-file", NOT_REGULAR_DETAIL, size=0, mtime=exc.mtime)
    except (OSError, ValueError) as exc:
        return _reject(src, "unreadable", f"cannot read: {getattr(exc, 'strerror', None) or exception_text(exc)}")
    data, mtime = read.data, read.mtime
    sha = hashlib.sha256(data).hexdigest()
    if not data:
        return _reject(src, "empty-file", "the file is empty (0 bytes)", size=0, sha=sha, mtime=mtime)
    fmt = sniff_format(data[:64], src.name)
    if fmt == "unknown":
        return _reject(src, "unsupported-format", "not a RAW, JPEG, PNG, TIFF or HEIC image", size=len(data), sha=sha,
                       mtime=mtime)
    exif = read_exif(data, fmt, src.name)
    try:
        frame = decode_working(data, src.name, fmt, orientation=exif.orientation,
                               max_pixels=options.max_pixels, min_side=options.working_min_side,
                               max_decode_bytes=options.max_decode_bytes)
    except RejectError as exc:
        return _reject(src, exc.reason, exc.detail, size=len(data), sha=sha, mtime=mtime)
    except DECODER_ERRORS as exc:  # a decoder failing in a way the capture layer did not foresee
        return _reject(src, "decode-failed", exception_text(exc), size=len(data), sha=sha, mtime=mtime)
    hashes = compute_hashes(frame)
    quality = measure_quality(frame)
    preview_path = store.preview_path(sha)
    if not preview_path.exists():
        write_atomic(store, preview_path, make_preview(frame, options.preview_max_side, options.preview_quality))
    if not options.link:
        put_object(store, sha, data)
    return FileResult(
        uri=src.uri, size=len(data), mtime=mtime, sha256=sha, format=frame.format, exif=exif,
        width=frame.width, height=frame.height, bit_depth=frame.bit_depth, decoder=frame.decoder,
        hashes=hashes, quality=quality, stored=not options.link, warnings=exif.warnings + frame.warnings,
    )


def process_unit(unit: tuple[SourceFile, ...], store: Store, options: StageOptions) -> tuple[FileResult, ...]:
    """Process the files of one unit (a single file, or the RAW+JPEG of one shot)."""
    return tuple(process_file(src, store, options) for src in unit)
