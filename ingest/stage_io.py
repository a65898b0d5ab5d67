"""What the ingest driver needs of the per-file stage without importing it.

The options the driver sends each worker, and the results it makes itself for files no worker
could finish. :mod:`rainset.ingest.stage` (OpenCV, the decoders) is imported only by the workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rainset.records import FileResult

from rainset.ingest.sources import SourceFile

if TYPE_CHECKING:
    from rainset.ingest.video_records import FrameSampling


@dataclass(frozen=True)
class StageOptions:
    """What a worker needs to know beyond the file itself."""

    link: bool = False
    max_pixels: int = 250_000_000
    working_min_side: int = 1000
    preview_max_side: int = 1024
    preview_quality: int = 85
    max_decode_bytes: int = 1 << 30
    video: FrameSampling | None = None  # None: the defaults (and workers need not import the video code)


def reject_result(src: SourceFile, reason: str, detail: str, *, size: int | None = None, sha: str | None = None,
                  mtime: float | None = None) -> FileResult:
    """A reject for ``src`` (size and mtime as discovered unless given)."""
    return FileResult(uri=src.uri, size=size if size is not None else (src.size or 0),
                      mtime=mtime if mtime is not None else src.mtime,
                      sha256=sha, reject_reason=reason, reject_detail=detail)


def worker_died(unit: tuple[SourceFile, ...], why: str) -> tuple[FileResult, ...]:
    """The results of a unit whose worker process died on it even when retried alone."""
    detail = f"the worker process died on this file twice ({why}); not retried again"
    return tuple(reject_result(src, "worker-died", detail) for src in unit)
