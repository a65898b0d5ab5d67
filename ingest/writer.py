"""The driver's side: write the workers' results into the catalog, one batch per transaction.

Pairing rules (one shot = one capture):
- files of one unit (same folder and stem) with a RAW and a raster file pair up;
- a new file pairs with an existing capture whose file in the same folder has the same stem,
  or whose camera serial and capture time (with SubSec) match, when that capture lacks a file of
  the new file's role (RAW or raster);
- a file whose bytes are already known (same sha256 elsewhere) joins that file's capture as an
  exact copy; nothing is decoded or stored twice.
The RAW file becomes the representative when a capture has one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture, File, Hash, Reject
from rainset.records import FileResult

from rainset.ingest.sources import SourceFile


@dataclass(frozen=True)
class Provenance:
    """Recorded on every capture an ingest creates."""

    source_name: str | None = None
    license: str | None = None
    owner: str | None = None


@dataclass
class BatchCounts:
    """What a batch (or a whole run) added to the catalog."""

    new_captures: int = 0
    new_files: int = 0
    exact_copies: int = 0
    paired: int = 0
    rejects: Counter = field(default_factory=Counter)
    bytes_stored: int = 0
    warnings: int = 0
    videos: int = 0

    def add(self, other: "BatchCounts") -> None:
        self.new_captures += other.new_captures
        self.new_files += other.new_files
        self.exact_copies += other.exact_copies
        self.paired += other.paired
        self.rejects.update(other.rejects)
        self.bytes_stored += other.bytes_stored
        self.warnings += other.warnings
        self.videos += other.videos


def capture_id_for(sha256: str) -> str:
    """The stable id of a capture created by the file with this content."""
    return "c" + sha256[:24]


def _role(fmt: str | None) -> str:
    return "raw" if fmt == "raw" else "raster"


EXIF_TO_CAPTURE = {"offset": "time_offset"}


def _exif_columns(result: FileResult) -> dict:
    exif = asdict(result.exif) if result.exif else {}
    exif.pop("warnings", None)
    return {EXIF_TO_CAPTURE.get(k, k): v for k, v in exif.items()}


def _capture_has_role(session: Session, capture_id: str, role: str) -> bool:
    return session.scalar(select(File.id).where(File.capture_id == capture_id, File.role == role).limit(1)) is not None


def _find_partner(session: Session, src: SourceFile, result: FileResult, role: str) -> str | None:
    """An existing capture this new file is the other half of (RAW+JPEG of one shot)."""
    rows = session.scalars(select(File.capture_id).where(File.source_dir == src.source_dir,
                                                         File.stem == src.stem.lower(), File.role != role))
    for cap_id in rows:
        if not _capture_has_role(session, cap_id, role):
            return cap_id
    exif = result.exif
    if exif and exif.serial and exif.capture_time:
        caps = session.scalars(select(Capture.id).where(Capture.serial == exif.serial,
                                                        Capture.capture_time == exif.capture_time))
        for cap_id in caps:
            if not _capture_has_role(session, cap_id, role):
                return cap_id
    return None


def _new_capture(result: FileResult, prov: Provenance, run_id: int) -> Capture:
    assert result.sha256 and result.format
    return Capture(
        id=capture_id_for(result.sha256), representative_sha256=result.sha256, format=result.format,
        width=result.width, height=result.height, bit_depth=result.bit_depth,
        source_name=prov.source_name, license=prov.license, owner=prov.owner,
        warnings=list(result.warnings), created_run_id=run_id, **_exif_columns(result),
    )


def _merge_into(capture: Capture, result: FileResult) -> None:
    """A second file of the same shot: fill missing EXIF; a RAW becomes the representative."""
    for key, value in _exif_columns(result).items():
        if getattr(capture, key) is None and value is not None:
            setattr(capture, key, value)
    if result.format == "raw" and capture.format != "raw":
        capture.representative_sha256 = result.sha256
        capture.format, capture.width, capture.height = result.format, result.width, result.height
        capture.bit_depth = result.bit_depth
    if result.warnings:
        capture.warnings = list(capture.warnings or []) + list(result.warnings)


def _file_row(src: SourceFile, result: FileResult, capture_id: str, run_id: int, link: bool,
              duplicate_of: int | None) -> File:
    q = result.quality
    exif = asdict(result.exif) if result.exif else {}
    exif["warnings"] = list(exif.get("warnings", ()))
    return File(
        capture_id=capture_id, uri=src.uri, source_dir=src.source_dir, stem=src.stem.lower(),
        sha256=result.sha256, size=result.size, mtime=result.mtime, format=result.format,
        role=_role(result.format), storage="link" if link else "copy",
        width=result.width, height=result.height, bit_depth=result.bit_depth, decoder=result.decoder,
        exif=exif, sharpness=q.sharpness if q else None, clip_low=q.clip_low if q else None,
        clip_high=q.clip_high if q else None, megapixels=q.megapixels if q else None,
        duplicate_of=duplicate_of, run_id=run_id,
    )


def _write_reject(session: Session, result: FileResult, run_id: int, counts: BatchCounts) -> None:
    sha = result.sha256 or ""
    exists = session.scalar(select(Reject.id).where(Reject.uri == result.uri, Reject.sha256 == sha))
    if exists is None:
        session.add(Reject(uri=result.uri, sha256=sha, size=result.size, mtime=result.mtime,
                           reason=result.reject_reason, detail=result.reject_detail or "", run_id=run_id))
        counts.rejects[result.reject_reason] += 1


def write_unit(session: Session, unit: tuple[SourceFile, ...], results: tuple[FileResult, ...], *,
               run_id: int, prov: Provenance, link: bool) -> BatchCounts:
    """Write one unit's results; the caller commits the batch."""
    counts = BatchCounts()
    unit_capture: dict[str, str] = {}  # role -> capture id made or joined by this unit
    for src, result in zip(unit, results):
        if not result.ok:
            _write_reject(session, result, run_id, counts)
            continue
        if session.scalar(select(File.id).where(File.uri == src.uri)) is not None:
            continue  # already recorded (a rerun racing a previous batch)
        role = _role(result.format)
        same = session.scalars(select(File).where(File.sha256 == result.sha256).order_by(File.id).limit(1)).first()
        if same is not None:
            session.add(_file_row(src, result, same.capture_id, run_id, link, duplicate_of=same.id))
            counts.new_files += 1
            counts.exact_copies += 1
            continue
        if session.get(Hash, result.sha256) is None:
            h = result.hashes
            assert h is not None
            session.add(Hash(sha256=result.sha256, phash=h.phash, dhash=h.dhash, pixel_hash=h.pixel_hash,
                             thumb=h.thumb, decoder=result.decoder))
        other_role = "raster" if role == "raw" else "raw"
        capture_id = unit_capture.get(other_role) if role not in unit_capture else None
        if capture_id is None:
            capture_id = _find_partner(session, src, result, role)
        if capture_id is not None:
            capture = session.get(Capture, capture_id)
            assert capture is not None
            _merge_into(capture, result)
            counts.paired += 1
        else:
            capture = _new_capture(result, prov, run_id)
            capture_id = capture.id
            session.add(capture)
            counts.new_captures += 1
        unit_capture.setdefault(role, capture_id)
        session.add(_file_row(src, result, capture_id, run_id, link, duplicate_of=None))
        session.flush()
        counts.new_files += 1
        counts.bytes_stored += result.size if result.stored else 0
        counts.warnings += bool(result.warnings)
    return counts
