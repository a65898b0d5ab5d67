"""The per-file stage: bytes in, a FileResult out. Runs in worker processes (local or Dask).

Workers never open the catalog. They write only content-addressed files (the original into
``objects/``, the preview into ``previews/``), atomically and never over an existing one, so a
killed run leaves nothing half-written and a rerun writes the same bytes.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import cv2
import fsspec

from rainset.capture import decode_working, make_preview, read_exif, sniff_format
from rainset.errors import RejectError
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


def read_source(src: SourceFile) -> bytes:
    """The whole file, from a local path or any fsspec URL."""
    if src.protocol == "local":
        with open(src.location, "rb") as fh:
            return fh.read()
    with fsspec.open(src.location, "rb") as fh:
        return fh.read()


def _reject(src: SourceFile, reason: str, detail: str, *, size: int | None = None, sha: str | None = None) -> FileResult:
    return FileResult(uri=src.uri, size=size if size is not None else (src.size or 0), mtime=src.mtime,
                      sha256=sha, reject_reason=reason, reject_detail=detail)


def process_file(src: SourceFile, store: Store, options: StageOptions) -> FileResult:
    """Fingerprint, decode, read EXIF, hash, measure, preview and store one file.

    Never raises for a bad file: every problem becomes a reject result with a reason.
    """
    if src.problem:
        return _reject(src, src.problem, src.problem_detail or src.problem)
    try:
        data = read_source(src)
    except (OSError, ValueError) as exc:
        return _reject(src, "unreadable", f"cannot read: {getattr(exc, 'strerror', None) or exc}")
    sha = hashlib.sha256(data).hexdigest()
    if not data:
        return _reject(src, "empty-file", "the file is empty (0 bytes)", size=0, sha=sha)
    fmt = sniff_format(data[:64], src.name)
    if fmt == "unknown":
        return _reject(src, "unsupported-format", "not a RAW, JPEG, PNG, TIFF or HEIC image", size=len(data), sha=sha)
    exif = read_exif(data, fmt, src.name)
    try:
        frame = decode_working(data, src.name, fmt, orientation=exif.orientation,
                               max_pixels=options.max_pixels, min_side=options.working_min_side)
    except RejectError as exc:
        return _reject(src, exc.reason, exc.detail, size=len(data), sha=sha)
    except DECODER_ERRORS as exc:  # a decoder failing in a way the capture layer did not foresee
        return _reject(src, "decode-failed", f"{type(exc).__name__}: {exc}", size=len(data), sha=sha)
    hashes = compute_hashes(frame)
    quality = measure_quality(frame)
    preview_path = store.preview_path(sha)
    if not preview_path.exists():
        write_atomic(store, preview_path, make_preview(frame, options.preview_max_side, options.preview_quality))
    if not options.link:
        put_object(store, sha, data)
    return FileResult(
        uri=src.uri, size=len(data), mtime=src.mtime, sha256=sha, format=frame.format, exif=exif,
        width=frame.width, height=frame.height, bit_depth=frame.bit_depth, decoder=frame.decoder,
        hashes=hashes, quality=quality, stored=not options.link, warnings=exif.warnings + frame.warnings,
    )


def process_unit(unit: tuple[SourceFile, ...], store: Store, options: StageOptions) -> tuple[FileResult, ...]:
    """Process the files of one unit (a single file, or the RAW+JPEG of one shot)."""
    return tuple(process_file(src, store, options) for src in unit)
