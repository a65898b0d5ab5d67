"""The per-file stage: one opened source in (streamed in chunks), a FileResult out. Runs in worker processes (local or Dask).

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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, BinaryIO

import cv2

from rainset.capture import check_header_budget, decode_working, make_preview, read_exif, sniff_format
from rainset.capture.sniff import has_video_extension, sniff_video
from rainset.errors import RejectError, exception_text
from rainset.hashing import FILE_CHUNK, compute_hashes
from rainset.quality import measure_quality
from rainset.records import FileResult
from rainset.store import Store, commit_object, flush_file, tmp_file, write_atomic, write_chunk
from rainset.workers import worker_init

from rainset.ingest.heap import keep_freed_memory
from rainset.ingest.sources import SourceFile
from rainset.ingest.stage_io import StageOptions, reject_result  # StageOptions: also used from here

if TYPE_CHECKING:
    from rainset.ingest.video import VideoResult


DECODER_ERRORS: tuple[type[BaseException], ...] = (
    cv2.error, ValueError, OverflowError, MemoryError, EOFError, struct.error, OSError)


NOT_REGULAR_DETAIL = "not a regular file (FIFO, socket or device); not read"


class NotRegularFile(Exception):
    """The path names a FIFO, socket or device when opened (replaced after discovery).

    Attributes:
        mtime: its modification time as seen then (None when it could not be told).
    """

    def __init__(self, mtime: float | None) -> None:
        super().__init__(NOT_REGULAR_DETAIL)
        self.mtime = mtime


HEAD_BYTES = 1 << 20  # read first: format sniffing and the header budget checks look only at these


def init_worker() -> None:
    """Set up a local ingest worker: :func:`rainset.workers.worker_init`, and freed buffers kept for
    the next file (:func:`rainset.ingest.heap.keep_freed_memory`)."""
    worker_init()
    keep_freed_memory()


def open_local(path: str) -> BinaryIO:
    """Open a local file through one descriptor opened without blocking, for reading.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer; the
    descriptor is then checked with ``fstat`` and returned only when it is a regular file, so what
    was checked is what is read even if the path was replaced after discovery. Symbolic links
    are followed, as discovery follows them.

    Raises:
        NotRegularFile: a FIFO, socket or device (opening a socket fails with ENXIO).
        OSError: cannot be opened.
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
    fh = os.fdopen(fd, "rb")
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        fh.close()
        raise NotRegularFile(opened.st_mtime)
    return fh


@contextmanager
def open_source(src: SourceFile) -> Iterator[BinaryIO]:
    """The source open for reading: a local path (see :func:`open_local`) or any fsspec URL."""
    if src.protocol == "local":
        with open_local(src.location) as fh:
            yield fh
    else:
        import fsspec  # heavy (asyncio, ~0.25 s per worker start-up): only URL sources need it

        with fsspec.open(src.location, "rb") as fh:
            yield fh


def _seen_mtime(src: SourceFile, fh: BinaryIO) -> float | None:
    """The mtime on the opened descriptor, after reading (a file touched meanwhile is recorded as read)."""
    if src.protocol == "local":
        return os.fstat(fh.fileno()).st_mtime
    return src.mtime


@dataclass(frozen=True)
class Streamed:
    """One pass over a source: its sha256 and size as read, and the copy under tmp/ when one was made."""

    sha256: str
    size: int
    copied: bool


def stream(head: bytes, fh: BinaryIO, out: BinaryIO | None, limit: int | None) -> Streamed:
    """Hash ``head`` and the rest of ``fh`` in ``FILE_CHUNK`` chunks, writing them to ``out`` while
    the total stays within ``limit`` (None: no limit); memory does not grow with the file.

    ``copied`` is False when ``out`` is None or the file went past ``limit`` (the copy is then partial
    and must be discarded by its owner).
    """
    h = hashlib.sha256()
    size = 0
    copying = out is not None
    chunk = head
    while chunk:
        h.update(chunk)
        size += len(chunk)
        if copying and limit is not None and size > limit:
            copying = False
        if copying:
            assert out is not None
            write_chunk(out, chunk)
        chunk = fh.read(FILE_CHUNK)
    if copying:
        assert out is not None
        flush_file(out)
    return Streamed(h.hexdigest(), size, copying)


def process_file(src: SourceFile, store: Store, options: StageOptions) -> FileResult | VideoResult:
    """Fingerprint, decode, read EXIF, hash, measure, preview and store one file.

    The file is read through one descriptor: its first ``HEAD_BYTES`` are checked (format, header
    size against ``max_pixels`` and ``max_decode_bytes``, file size against ``max_decode_bytes``)
    before anything else is read. A file that fails them is only hashed, streaming. One that
    passes is read whole, once (the decoders need it in memory anyway), and hashed; in copy mode
    those same bytes are written into tmp/ on a writer thread while the file is decoded, unless
    an object with that sha256 is already stored (then nothing is written), and moved into
    ``objects/`` only when the file is not rejected.

    Never raises for a bad file: every problem becomes a reject result with a reason.

    Raises:
        StoreError: the store cannot be written (full disk, permission denied, read-only).
    """
    if src.problem:
        return reject_result(src, src.problem, src.problem_detail or src.problem)
    try:
        with open_source(src) as fh:
            return _process_open(src, fh, store, options)
    except NotRegularFile as exc:
        return reject_result(src, "not-a-regular-file", NOT_REGULAR_DETAIL, size=0, mtime=exc.mtime)
    except (OSError, ValueError) as exc:
        return reject_result(src, "unreadable", f"cannot read: {getattr(exc, 'strerror', None) or exception_text(exc)}")


def _seen_size(src: SourceFile, fh: BinaryIO) -> int | None:
    """The size on the opened descriptor (the source's listed size for fsspec URLs)."""
    if src.protocol == "local":
        return os.fstat(fh.fileno()).st_size
    return src.size


def _precheck(src: SourceFile, head: bytes, fmt: str, size: int | None,
              options: StageOptions) -> tuple[tuple[str, str] | None, tuple[int, int] | None]:
    """(reason, detail) of a reject decided on the first bytes and the size alone, else None; and
    the stored (width, height) when ``head`` held the whole header (see
    :func:`rainset.capture.check_header_budget`), so the decode does not parse it again."""
    if fmt == "unknown":
        return ("unsupported-format", "not a RAW, JPEG, PNG, TIFF or HEIC image, nor an MP4, MOV, MKV or AVI video"), None
    budget = options.max_decode_bytes
    if budget and size is not None and size > budget:
        return ("too-large", f"the file is {size} bytes > max_decode_bytes {budget}; not read into memory"), None
    try:
        header_size = check_header_budget(head, src.name, fmt, max_pixels=options.max_pixels,
                                          min_side=options.working_min_side, max_decode_bytes=budget)
    except RejectError as exc:
        return (exc.reason, exc.detail), None
    return None, header_size


def _read_within(head: bytes, fh: BinaryIO, budget: int | None, size_hint: int | None) -> bytes | None:
    """The whole file (``head`` and the rest of ``fh``) in memory when it is at most ``budget``
    bytes (None: no limit), else None (the file grew past the budget, or its size was not known
    beforehand). The decoders need the whole file in memory anyway, so reading it once here costs
    no more memory than decoding it. ``size_hint`` (the size seen on the descriptor) sizes the
    first read, so a whole file is usually one read."""
    parts, total = [head], len(head)
    want = max(size_hint - total, 0) + 1 if size_hint is not None else FILE_CHUNK
    while True:
        if budget is not None:
            want = min(want, budget + 1 - total)
        chunk = fh.read(want)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
        if budget is not None and total > budget:
            return None
        want = FILE_CHUNK


def _process_open(src: SourceFile, fh: BinaryIO, store: Store, options: StageOptions) -> FileResult | VideoResult:
    head = fh.read(HEAD_BYTES)
    fmt = sniff_format(head[:64], src.name)
    video = sniff_video(head[:64], src.name) if fmt == "unknown" and head else None
    if video is not None or (fmt == "unknown" and head and has_video_extension(src.name)):
        # heavy: PyAV and fsspec (~0.15 s of CPU per worker start-up), only for videos
        from rainset.ingest.video import FrameSampling, process_video

        if options.video is None:
            options = replace(options, video=FrameSampling())
        return process_video(src, fh, head, video or "unknown", store, options, stream=stream, seen_mtime=_seen_mtime)
    early, header_size = (_precheck(src, head, fmt, _seen_size(src, fh), options) if head
                          else (("empty-file", "the file is empty (0 bytes)"), None))
    if early is not None:
        read = stream(head, fh, None, None)
        return reject_result(src, *early, size=read.size, sha=read.sha256, mtime=_seen_mtime(src, fh))
    budget = options.max_decode_bytes or None
    data = _read_within(head, fh, budget, _seen_size(src, fh))
    if data is None:  # grew past the budget since it was listed: hash it from the start, streaming
        fh.seek(0)
        read = stream(fh.read(FILE_CHUNK), fh, None, None)
        return reject_result(src, "too-large", f"the file is {read.size} bytes > max_decode_bytes {budget}; "
                       "not read into memory", size=read.size, sha=read.sha256, mtime=_seen_mtime(src, fh))
    sha = hashlib.sha256(data).hexdigest()
    mtime = _seen_mtime(src, fh)
    if options.link or store.object_path(sha).exists():
        # Link mode, or content already stored (an exact copy): nothing is written into tmp/.
        return _finish(src, data, sha, mtime, store, options, header_size)
    with tmp_file(store) as (tmp, out):
        # The copy into tmp/ (write + fsync) runs on a thread while this one decodes: both
        # release the GIL, and the fsync's wait overlaps the decode instead of adding to it.
        copying = background().submit(write_object_copy, out, data)
        try:
            result = _finish(src, data, sha, mtime, store, options, header_size)
        finally:
            copying.result()  # a failed write raises its StoreError here
        if result.ok:
            commit_object(store, sha, tmp)
        return result


def write_object_copy(out: BinaryIO, data: bytes) -> None:
    """Write the bytes that were hashed into a :func:`~rainset.store.tmp_file` and fsync it."""
    write_chunk(out, data)
    flush_file(out)


_BACKGROUND: ThreadPoolExecutor | None = None


def background() -> ThreadPoolExecutor:
    """This process's one writer thread (object copies, previews), made on first use."""
    global _BACKGROUND
    if _BACKGROUND is None:
        _BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rainset-write")
    return _BACKGROUND


def _finish(src: SourceFile, data: bytes, sha: str, mtime: float | None, store: Store,
            options: StageOptions, header_size: tuple[int, int] | None = None) -> FileResult:
    """Decode, hash, measure and preview a file already read whole and hashed (the caller copies
    it into the store when the result is not a reject). ``header_size``: from :func:`_precheck`."""
    size = len(data)
    fmt = sniff_format(data[:64], src.name)
    exif = read_exif(data, fmt, src.name)
    try:
        frame = decode_working(data, src.name, fmt, orientation=exif.orientation,
                               max_pixels=options.max_pixels, min_side=options.working_min_side,
                               max_decode_bytes=options.max_decode_bytes, header_size=header_size)
    except RejectError as exc:
        return reject_result(src, exc.reason, exc.detail, size=size, sha=sha, mtime=mtime)
    except DECODER_ERRORS as exc:  # a decoder failing in a way the capture layer did not foresee
        return reject_result(src, "decode-failed", exception_text(exc), size=size, sha=sha, mtime=mtime)
    preview_path = store.preview_path(sha)
    previewing = None
    if not preview_path.exists():
        # Encoded here, written (with its fsync) on the writer thread while the hashes are computed.
        previewing = background().submit(write_atomic, store, preview_path,
                                         make_preview(frame, options.preview_max_side, options.preview_quality))
    try:
        hashes = compute_hashes(frame)
        quality = measure_quality(frame)
    finally:
        if previewing is not None:
            previewing.result()  # on disk before the result leaves the worker; a StoreError is raised here
    return FileResult(
        uri=src.uri, size=size, mtime=mtime, sha256=sha, format=frame.format, exif=exif,
        width=frame.width, height=frame.height, bit_depth=frame.bit_depth, decoder=frame.decoder,
        hashes=hashes, quality=quality, stored=not options.link, warnings=exif.warnings + frame.warnings,
    )


def process_unit(unit: tuple[SourceFile, ...], store: Store,
                 options: StageOptions) -> tuple[FileResult | VideoResult, ...]:
    """Process the files of one unit (a single file, or the RAW+JPEG of one shot)."""
    return tuple(process_file(src, store, options) for src in unit)
